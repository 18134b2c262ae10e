#!/usr/bin/env bash
# packaging.lint: the packaging without a cluster. helm lint; deploy/manifests drift
# (deploy/render-manifests.sh --check); the chart's crds/ are the repo's crds/ files (symlinks,
# byte-identical, without the federation-side Cluster CRD); values.schema.json refuses bad values
# and the watchNamespace variant renders namespaced RBAC; the Dockerfile's build steps
# (deploy/build-image-steps.sh) build a Release binary on this host that runs --version and
# whose shared libraries the runtime stage provides.
set -uo pipefail
TEST=packaging.lint
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/tests/harness/k8s}"
. "$ROOT/tests/assert.sh"   # say pass fail must check wait_until free_port operator_alive
CHART="$ROOT/deploy/helm/kubefed-operator"
TMP="$(mktemp -d)"
lacks() { local text="$1"; shift; ! grep -q "$@" <<<"$text"; }   # lacks TEXT GREP-ARGS...
finish() {
  trap - EXIT INT TERM
  rm -rf "$TMP"
  exit_with_summary
}
trap finish EXIT
trap 'fail "interrupted"; finish' INT TERM

HELM="$("$HARNESS" bin helm)" || { fail "harness has no helm (run: $HARNESS build)"; exit 1; }
export HELM
# The chart's CRDs are symlinks: helm logs "found symbolic link in path" for each, as expected.
H() { "$HELM" "$@" 2> >(grep -v 'found symbolic link in path' >&2); }
# helm template has no cluster: assume the chart's minimum Kubernetes (as render-manifests.sh).
render() { H template kubefed-operator "$CHART" --namespace kubefed-system --kube-version v1.31.0 "$@"; }

# ---- helm lint ------------------------------------------------------------------------------
if out="$(H lint --strict "$CHART" 2>&1)"; then
  pass "helm lint --strict deploy/helm/kubefed-operator"
else
  fail "helm lint --strict: $out"
fi
if out="$(H lint --strict "$CHART" --set watchNamespace=team-a 2>&1)"; then
  pass "helm lint --strict with watchNamespace=team-a"
else
  fail "helm lint --strict with watchNamespace: $out"
fi

# ---- manifests drift ------------------------------------------------------------------------
if out="$("$ROOT/deploy/render-manifests.sh" --check 2>&1)"; then
  pass "deploy/render-manifests.sh --check: deploy/manifests/kubefed-operator.yaml matches the chart"
else
  fail "deploy/manifests/kubefed-operator.yaml drifted from the chart:"; printf '%s\n' "$out" | head -n 60
fi
check "deploy/manifests starts with the Namespace kubefed-system" \
  sh -c "grep -m1 '^kind:' '$ROOT/deploy/manifests/kubefed-operator.yaml' | grep -qx 'kind: Namespace'"

# ---- the chart's CRDs are the repo's --------------------------------------------------------
want="kubefed.dev_federatedclusters.yaml kubefed.dev_federations.yaml"
have="$(find "$CHART/crds" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | paste -sd' ' -)"
check "chart crds/ holds exactly: $want (not federation.kubefed.dev_clusters.yaml)" test "$have" = "$want"
for f in $want; do
  check "chart crds/$f is a symlink to ../../../../crds/$f" test "$(readlink "$CHART/crds/$f")" = "../../../../crds/$f"
  check "chart crds/$f is byte-identical to crds/$f" cmp "$CHART/crds/$f" "$ROOT/crds/$f"
done
crds="$(render --include-crds 2>/dev/null | awk '/^kind: CustomResourceDefinition/ {c = 1} c && /^  name:/ {print $2; c = 0}' | sort | paste -sd' ' -)"
check "helm template --include-crds renders the CRDs federatedclusters.kubefed.dev federations.kubefed.dev ($crds)" \
  test "$crds" = "federatedclusters.kubefed.dev federations.kubefed.dev"
# CEL's IP library (isIP, ip()) is usable in a CRD from Kubernetes 1.31: an older floor installs CRDs
# the apiserver refuses.
floor="$(sed -n 's/^kubeVersion: ">=\([0-9]*\.[0-9]*\).*/\1/p' "$CHART/Chart.yaml")"
if grep -qE 'isIP\(|ip\(' "$ROOT"/crds/*.yaml; then
  check "the chart's kubeVersion floor ($floor) admits the CRDs' CEL IP library (>= 1.31)" \
    test "$(printf '%s\n1.31\n' "$floor" | sort -V | head -1)" = 1.31
fi
# helm built as Helm's releases are (the harness) assumes a current Kubernetes, so a plain
# `helm template` passes the chart's kubeVersion; the README's GitOps line names one explicitly.
check "helm template without --kube-version renders (a release-built helm assumes no v1.20)" \
  sh -c "'$HELM' template kubefed-operator '$CHART' --namespace kubefed-system >/dev/null 2>&1"
readme_line="$(sed -n '/^helm template kubefed-operator/{N;s/\\\n */ /;p}' "$ROOT/README.md" | sed 's/ \[--set[^]]*\]//')"
check "README has a helm template line with --kube-version" grep -q -- "--kube-version" <<<"$readme_line"
check "the README's helm template line renders: ${readme_line:-none}" \
  sh -c "cd '$ROOT' && '$HELM' ${readme_line#helm } >/dev/null 2>&1"
H package "$CHART" -d "$TMP" >/dev/null 2>&1 &&
  tar -xzf "$TMP/kubefed-operator-0.1.0.tgz" -C "$TMP" 2>/dev/null
for f in $want; do
  check "helm package: crds/$f packaged with the file's content (symlink followed)" \
    cmp "$TMP/kubefed-operator/crds/$f" "$ROOT/crds/$f"
done

# ---- values.schema.json ---------------------------------------------------------------------
refused() {  # refused DESC FIELD --set ...: helm template must fail naming FIELD
  local desc="$1" field="$2" out; shift 2
  if out="$(render "$@" 2>&1)"; then
    fail "schema refuses $desc: rendered"
  elif grep -q "values don't meet the specifications of the schema" <<<"$out" && grep -qF -- "$field" <<<"$out"; then
    pass "schema refuses $desc (names $field)"
  else
    fail "schema refuses $desc: failed for another reason: $out"
  fi
}
refused "replicas=abc" /replicas --set replicas=abc
refused "replicas=-1" /replicas --set replicas=-1
refused "an unknown top-level value" bogus --set bogus=1
refused "image.pullPolicy=Sometimes" /image/pullPolicy --set image.pullPolicy=Sometimes
refused "logLevel=verbose" /logLevel --set logLevel=verbose
refused "federationAPIAccess=proxy" /federationAPIAccess --set federationAPIAccess=proxy
refused "watchNamespace=Not_A_Namespace" /watchNamespace --set watchNamespace=Not_A_Namespace
refused "metricsService.port=70000" /metricsService/port --set metricsService.port=70000
check "defaults render" render
check "replicas=2 renders replicas: 2" sh -c "'$HELM' template k '$CHART' --kube-version v1.31.0 --set replicas=2 2>/dev/null | grep -qx '  replicas: 2'"

# ---- watchNamespace: namespaced RBAC --------------------------------------------------------
ns_out="$(render --set watchNamespace=team-a 2>/dev/null)"
kinds="$(awk '/^kind:/ {k = $2} /^  namespace:/ {print k "/" $2}' <<<"$ns_out" | sort | paste -sd' ' -)"
check "watchNamespace=team-a: Role and RoleBinding in team-a, leader election in kubefed-system ($kinds)" \
  test "$kinds" = "Deployment/kubefed-system Role/kubefed-system Role/team-a RoleBinding/kubefed-system RoleBinding/team-a Service/kubefed-system ServiceAccount/kubefed-system"
check "watchNamespace=team-a: no ClusterRole or ClusterRoleBinding" lacks "$ns_out" -E '^kind: Cluster'
check "watchNamespace=team-a: the operator gets --namespace=team-a" grep -qx -- '            - --namespace=team-a' <<<"$ns_out"
check "default: no --namespace (every namespace)" lacks "$(render 2>/dev/null)" -e '--namespace='

# ---- versions agree: Chart appVersion, CMake project version ---------------------------------
app="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CHART/Chart.yaml")"
proj="$(sed -n 's/^project(kubefed-operator VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")"
check "Chart appVersion ($app) is the CMake project version ($proj)" test -n "$app" -a "$app" = "$proj"

# ---- the image build steps, on this host ----------------------------------------------------
check "Dockerfile: build stage debian:bookworm runs deploy/build-image-steps.sh /out" \
  sh -c "grep -q '^FROM debian:bookworm AS build' '$ROOT/Dockerfile' && grep -qx 'RUN deploy/build-image-steps.sh /out' '$ROOT/Dockerfile'"
check "Dockerfile: runtime stage debian:bookworm-slim, binary in /usr/local/bin, USER 65532:65532, ENTRYPOINT" \
  sh -c "grep -qx 'FROM debian:bookworm-slim' '$ROOT/Dockerfile' && grep -q 'COPY --from=build /out/kubefed-operator /usr/local/bin/kubefed-operator' '$ROOT/Dockerfile' && grep -qx 'USER 65532:65532' '$ROOT/Dockerfile' && grep -q '^ENTRYPOINT \[\"/usr/local/bin/kubefed-operator\"\]' '$ROOT/Dockerfile'"
# The operator's F-controller-manager Deployments run the program at this path from this image.
cm_cmd="$(sed -n 's/^#define FED_CM_COMMAND "\(.*\)"$/\1/p' "$ROOT/reconcilers/federation/objects.h")"
check "Dockerfile: kubefed-controller-manager at $cm_cmd, the command of the generated F-controller-manager Deployment" \
  sh -c "[ -n '$cm_cmd' ] && grep -qx 'COPY --from=build /out/kubefed-controller-manager $cm_cmd' '$ROOT/Dockerfile'"
check ".dockerignore keeps .git and build dirs out of the context" \
  sh -c "grep -qx '.git' '$ROOT/.dockerignore' && grep -qx 'build' '$ROOT/.dockerignore' && grep -qx 'build-\*' '$ROOT/.dockerignore'"
say "deploy/build-image-steps.sh $TMP/image (Release build)"
t=$SECONDS
if out="$("$ROOT/deploy/build-image-steps.sh" "$TMP/image" 2>&1)"; then
  pass "deploy/build-image-steps.sh: Release build, shared libraries all in the runtime stage ($((SECONDS - t))s)"
  printf '%s\n' "$out" | grep -v '^\[' | sed 's/^/  /' >&2
else
  fail "deploy/build-image-steps.sh ($((SECONDS - t))s):"; printf '%s\n' "$out" | tail -n 40
fi
if v="$("$TMP/image/kubefed-operator" --version 2>&1)" && [ "$v" = "kubefed-operator $app" ]; then
  pass "the built binary runs: $v"
else
  fail "the built binary --version: '${v:-}' (want 'kubefed-operator $app')"
fi
if v="$("$TMP/image/kubefed-controller-manager" --version 2>&1)" && [ "$v" = "kubefed-controller-manager $app" ]; then
  pass "the built controller manager runs: $v"
else
  fail "the built kubefed-controller-manager --version: '${v:-}' (want 'kubefed-controller-manager $app')"
fi
direct_libs() {
  local l
  for l in libuv.so.1 libcurl.so.4 libjson-c.so.5 libcrypto.so.3 libyaml-0.so.2; do
    grep -qP "^\\Q$l\\E\\t.*direct=yes" "$TMP/image/shared-libraries.txt" || return 1
  done
}
check "shared-libraries.txt lists libuv, libcurl, json-c, libcrypto and libyaml as linked directly" direct_libs
