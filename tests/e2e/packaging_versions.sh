#!/usr/bin/env bash
# packaging.versions: the image defaults are images Kubernetes publishes for the pinned version,
# and the tests run the same versions (issue 17, B2). tests/harness/versions records the tags
# kubeadm pins for KUBERNETES_VERSION; this fails when
#  * kubeadm's constants (cmd/kubeadm/app/constants/constants.go of k8s.io/kubernetes at
#    KUBERNETES_VERSION, from the Go module cache `k8s build` fills) say other tags,
#  * the harness's etcd (ETCD_VERSION) is not the etcd of ETCD_IMAGE_TAG,
#  * a default in the code (reconcilers/federation/objects.h) differs from them,
#  * a doc, example, CRD or chart file names another etcd, kube-apiserver or CoreDNS tag.
# No cluster; seconds.
set -uo pipefail
TEST=packaging.versions
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/tests/harness/k8s}"
. "$ROOT/tests/assert.sh"   # say pass fail must check
trap exit_with_summary EXIT
# shellcheck source=tests/harness/versions
. "$ROOT/tests/harness/versions"

for v in KUBERNETES_VERSION ETCD_VERSION ETCD_IMAGE_TAG COREDNS_IMAGE_TAG; do
  must "tests/harness/versions sets $v" test -n "${!v:-}"
done

# ---- kubeadm's pins ---------------------------------------------------------------------------
command -v go >/dev/null || { fail "go is not installed: kubeadm's constants cannot be read"; exit 1; }
modcache="$(GOWORK=off go env GOMODCACHE)"
consts="$modcache/k8s.io/kubernetes@$KUBERNETES_VERSION/cmd/kubeadm/app/constants/constants.go"
if [ ! -f "$consts" ]; then
  # `k8s build` downloads the module; fetch it here if the cache was cleaned since.
  say "k8s.io/kubernetes@$KUBERNETES_VERSION is not in $modcache: go mod download"
  (cd "$(mktemp -d)" && GOWORK=off GOFLAGS=-mod=mod go mod download "k8s.io/kubernetes@$KUBERNETES_VERSION") >&2 ||
    true
fi
must "kubeadm's constants.go of k8s.io/kubernetes@$KUBERNETES_VERSION is readable" test -r "$consts"
# `NAME = "value"` inside the const block; the first match (each is declared once).
const_of() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$consts" | head -n1; }
kubeadm_etcd="$(const_of DefaultEtcdVersion)"
kubeadm_coredns="$(const_of CoreDNSVersion)"
check "kubeadm $KUBERNETES_VERSION pins etcd $kubeadm_etcd = ETCD_IMAGE_TAG $ETCD_IMAGE_TAG" \
  test "$kubeadm_etcd" = "$ETCD_IMAGE_TAG"
check "kubeadm $KUBERNETES_VERSION pins CoreDNS $kubeadm_coredns = COREDNS_IMAGE_TAG $COREDNS_IMAGE_TAG" \
  test "$kubeadm_coredns" = "$COREDNS_IMAGE_TAG"

# ---- the harness runs the etcd of the image ---------------------------------------------------
check "ETCD_VERSION $ETCD_VERSION is the etcd of image tag $ETCD_IMAGE_TAG" \
  test "v${ETCD_IMAGE_TAG%-*}" = "$ETCD_VERSION"
if etcd="$("$HARNESS" bin etcd 2>/dev/null)"; then
  got="$("$etcd" --version 2>/dev/null | sed -n 's/^etcd Version: //p')"
  check "the harness's etcd binary reports $got = ${ETCD_VERSION#v}" test "$got" = "${ETCD_VERSION#v}"
else
  say "etcd $ETCD_VERSION is not built yet (tests/harness/k8s build): its --version is not checked"
fi

# ---- the code's defaults ----------------------------------------------------------------------
define_of() { sed -n "s/^#define $1 \"\\([^\"]*\\)\".*/\\1/p" "$ROOT/reconcilers/federation/objects.h"; }
check "FED_DEFAULT_APISERVER_IMAGE is registry.k8s.io/kube-apiserver:$KUBERNETES_VERSION" \
  test "$(define_of FED_DEFAULT_APISERVER_IMAGE)" = "registry.k8s.io/kube-apiserver:$KUBERNETES_VERSION"
check "FED_DEFAULT_ETCD_IMAGE is registry.k8s.io/etcd:$ETCD_IMAGE_TAG" \
  test "$(define_of FED_DEFAULT_ETCD_IMAGE)" = "registry.k8s.io/etcd:$ETCD_IMAGE_TAG"

# ---- what users read --------------------------------------------------------------------------
# Every tag of these images in the docs, examples, CRDs and chart is the pinned one (tests may
# use other tags on purpose: they are not looked at).
want_tag() {
  case "$1" in
    kube-apiserver) echo "$KUBERNETES_VERSION" ;;
    etcd) echo "$ETCD_IMAGE_TAG" ;;
    coredns/coredns|coredns) echo "$COREDNS_IMAGE_TAG" ;;
  esac
}
bad=""
while IFS= read -r hit; do
  file="${hit%%:*}"; ref="${hit#*:}"; ref="${ref#*:}"
  img="${ref#registry.k8s.io/}"; name="${img%%:*}"; tag="${img#*:}"
  case "$tag" in *X*|*KUBERNETES_VERSION*|*ETCD_IMAGE_TAG*) continue ;; esac   # placeholders
  [ "$tag" = "$(want_tag "$name")" ] || bad="$bad ${file#"$ROOT"/}:$ref"
done < <(grep -rnoE 'registry\.k8s\.io/(kube-apiserver|etcd|coredns/coredns|coredns):[A-Za-z0-9._-]+' \
  "$ROOT/README.md" "$ROOT/docs" "$ROOT/examples" "$ROOT/crds" "$ROOT/deploy" "$ROOT/reconcilers" \
  "$ROOT/operator" 2>/dev/null)
if [ -z "$bad" ]; then
  pass "README, docs, examples, CRDs, chart and code name only the pinned image tags"
else
  fail "image tags other than the pinned ones:$bad"
fi
