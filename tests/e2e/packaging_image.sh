#!/usr/bin/env bash
# packaging.image: the operator image built for real from the Dockerfile and its programs run from
# it (issue 17). No registry is reachable from the test machines, so:
#  * the base images debian:SUITE and debian:SUITE-slim are the root filesystems `k8s build` makes
#    with mmdebstrap from Debian packages (`k8s bin debian.tar`, `debian-slim.tar`), imported into
#    a private buildah store (vfs storage, so no overlay mount is needed);
#  * the Dockerfile is built with Debian's buildah (chroot isolation, host network for apt);
#  * the image is checked: its user is 65532, it holds the two programs and their runtime
#    libraries, and no compiler, build tool or test tool; its size is reported;
#  * its programs run from it (`buildah run --isolation chroot`, as the image's user, on the host's
#    network) against a harness host: the operator reconciles a Federation to Ready (its API
#    server run for real by `k8s serve-federation`) and joins a member cluster.
#  * the controller manager from the same image (the Deployment the operator made from
#    --controller-manager-image, its container run with buildah, as the image's user) propagates a
#    namespace and a ConfigMap from the federation API to the member.
set -uo pipefail
TEST=packaging.image
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/tests/harness/k8s}"
. "$ROOT/tests/assert.sh"   # say pass fail must check wait_until free_port operator_alive
# shellcheck source=tests/harness/versions
. "$ROOT/tests/harness/versions"
TMP="$(mktemp -d)"
IMAGE=localhost/kubefed-operator:packaging-test
HOST="imghost-$$" MEMBER="imgmember-$$" NS="img-$$" FED=fellowship
BPID="" CTR="" CMPID=""
B() { buildah --storage-driver vfs --root "$TMP/storage" --runroot "$TMP/run" "$@"; }

# The processes `buildah run` started for the operator (its descendants), by pid.
descendants() {
  local p c
  for p in "$@"; do
    for c in $(awk -v p="$p" '$4 == p {print $1}' /proc/[0-9]*/stat 2>/dev/null); do echo "$c"; descendants "$c"; done
  done
}
stop_run() {  # stop_run PID: a `buildah run` this test started, and what it runs
  [ -n "$1" ] || return 0
  local pids
  pids="$(descendants "$1")"
  # shellcheck disable=SC2086
  [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
  for _ in $(seq 1 40); do kill -0 "$1" 2>/dev/null || break; sleep 0.25; done
  # shellcheck disable=SC2086
  kill -0 "$1" 2>/dev/null && kill -KILL "$1" $pids 2>/dev/null
  wait "$1" 2>/dev/null
}
finish() {
  trap - EXIT INT TERM
  stop_run "$CMPID"
  stop_run "$BPID"
  for c in "fed-$NS-$FED" "$HOST" "$MEMBER"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  if [ "$FAILED" -gt 0 ]; then
    for l in operator controller-manager; do
      [ -f "$TMP/$l.log" ] && { say "---- last 40 lines of the $l's log ----"; tail -n 40 "$TMP/$l.log" >&2; }
    done
  fi
  B rm --all >/dev/null 2>&1 || true
  B rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$TMP"
  exit_with_summary
}
trap finish EXIT
trap 'fail "interrupted"; finish' INT TERM

command -v buildah >/dev/null || { fail "buildah is not installed (tests/install-deps.sh installs it)"; exit 1; }
KUBECTL="$("$HARNESS" bin kubectl)" || { fail "harness has no kubectl (run: $HARNESS build)"; exit 1; }

# ---- the base images ------------------------------------------------------------------------------
base_tar="$("$HARNESS" bin debian.tar)" && slim_tar="$("$HARNESS" bin debian-slim.tar)" ||
  { fail "the harness has no Debian base images (run: $HARNESS build)"; exit 1; }
check "the Dockerfile builds FROM debian:$DEBIAN_SUITE" grep -qx "FROM debian:$DEBIAN_SUITE AS build" "$ROOT/Dockerfile"
check "the Dockerfile's runtime stage is FROM debian:$DEBIAN_SUITE-slim" grep -qx "FROM debian:$DEBIAN_SUITE-slim" "$ROOT/Dockerfile"
import_base() {  # import_base TAR TAG: a root filesystem tarball as docker.io/library/debian:TAG
  local c
  c="$(B from scratch)" && B add "$c" "$1" / >/dev/null &&
    B config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$c" &&
    B commit --rm "$c" "docker.io/library/debian:$2" >/dev/null
}
t0=$SECONDS
must "debian:$DEBIAN_SUITE imported from $(basename "$base_tar")" import_base "$base_tar" "$DEBIAN_SUITE"
must "debian:$DEBIAN_SUITE-slim imported from $(basename "$slim_tar")" import_base "$slim_tar" "$DEBIAN_SUITE-slim"
say "base images imported in $((SECONDS - t0)) s"

# ---- the build ------------------------------------------------------------------------------------
t0=$SECONDS
if B bud --isolation chroot --pull=never --layers=false -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" \
    >"$TMP/build.log" 2>&1; then
  pass "buildah bud -f Dockerfile: built $IMAGE in $((SECONDS - t0)) s"
else
  fail "buildah bud -f Dockerfile failed:"; tail -n 40 "$TMP/build.log"; exit 1
fi
BUILD_S=$((SECONDS - t0))

# ---- what is in it --------------------------------------------------------------------------------
cfg="$(B inspect --type image --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}}' "$IMAGE" 2>&1)"
check "image config: user 65532:65532, entrypoint kubefed-operator ($cfg)" \
  test "$cfg" = '65532:65532 [/usr/local/bin/kubefed-operator]'
size_h="$(B images --format '{{.Size}}' "$IMAGE" 2>/dev/null | head -n1)"
say "image size: ${size_h:-?}"
CTR="$(B from --pull=never "$IMAGE")" || { fail "buildah from $IMAGE"; exit 1; }
MNT="$(B mount "$CTR")" || { fail "buildah mount"; exit 1; }
for p in usr/local/bin/kubefed-operator usr/local/bin/kubefed usr/local/bin/kubefed-controller-manager; do
  check "the image holds /$p" test -x "$MNT/$p"
done
tools=""
for t in gcc cc c++ g++ clang cmake make ld as pkg-config valgrind gdb go python3 kubectl etcd kube-apiserver helm; do
  for d in usr/bin usr/local/bin bin usr/sbin; do [ -e "$MNT/$d/$t" ] && tools="$tools /$d/$t"; done
done
check "no compiler, build or test tool in the image${tools:+ (found:$tools)}" test -z "$tools"
dev="$(find "$MNT/usr/include" "$MNT/usr/lib" -maxdepth 3 \( -name 'uv.h' -o -name 'curl.h' -o -name 'libcmocka*' -o -name 'json.h' \) 2>/dev/null | sed "s|^$MNT||" | head -n 5)"
check "no development headers or the unit-test library${dev:+ (found: $dev)}" test -z "$dev"
B umount "$CTR" >/dev/null
RUN() { B run --isolation chroot --user 65532:65532 "$@"; }
v="$(RUN "$CTR" -- /usr/local/bin/kubefed-operator --version 2>&1)"
check "kubefed-operator --version runs in the image as 65532 ($v)" grep -q "kubefed-operator" <<<"$v"
v="$(RUN "$CTR" -- /usr/local/bin/kubefed version 2>&1)"
check "kubefed version runs in the image ($v)" grep -q "kubefed" <<<"$v"

# ---- the operator from the image against a harness host -------------------------------------------
HKC="$("$HARNESS" up "$HOST" --nodes 1)" || { fail "harness up $HOST"; exit 1; }
MKC="$("$HARNESS" up "$MEMBER" --nodes 1)" || { fail "harness up $MEMBER"; exit 1; }
K() { "$KUBECTL" --kubeconfig "$HKC" --request-timeout=20s "$@"; }
# The kubeconfig inside the container, readable by the image's user.
mkdir -p "$TMP/kc" && cp "$HKC" "$TMP/kc/host.kubeconfig" && chmod 755 "$TMP/kc" && chmod 644 "$TMP/kc/host.kubeconfig"
K apply -f "$ROOT/crds/" >/dev/null && K wait --for=condition=Established crd --all --timeout=60s >/dev/null ||
  { fail "CRDs"; exit 1; }
K create namespace "$NS" >/dev/null
HEALTH=$(free_port 20000 29999) METRICS=$(free_port 20000 29999)
RUN --volume "$TMP/kc:/kc:ro" "$CTR" -- /usr/local/bin/kubefed-operator --kubeconfig /kc/host.kubeconfig \
  --namespace "$NS" --health-bind-address "127.0.0.1:$HEALTH" --metrics-bind-address "127.0.0.1:$METRICS" \
  --controller-manager-image "$IMAGE" >"$TMP/operator.log" 2>&1 &
BPID=$!
OPPID=$BPID   # wait_until stops early if it dies
wait_until "the operator from the image is ready (/readyz on the host's network)" 60 \
  curl -sf "http://127.0.0.1:$HEALTH/readyz" || exit 1
# The operator process under `buildah run`: its uid is the image's user.
op_uid() {
  local p
  for p in $(descendants "$BPID"); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q '^/usr/local/bin/kubefed-operator ' || continue
    awk '/^Uid:/ {print $2}' "/proc/$p/status"; return 0
  done
  return 1
}
check "the operator process runs as uid 65532 (the image's user)" test "$(op_uid)" = 65532

PORT=$(free_port 30000 32767)
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: Federation
metadata: {name: $FED, namespace: $NS}
spec:
  dns: {provider: coredns, zoneName: example.com., corednsNameservers: ["127.0.0.1:15353"]}
  apiServer: {service: {type: NodePort, nodePort: $PORT}, advertiseAddress: 127.0.0.1}
EOF
wait_until "the operator created Deployment $FED-apiserver" 60 K get deployment -n "$NS" "$FED-apiserver" || exit 1
# serve-federation runs processes, not images: given no controller-manager binary it serves the
# apiserver alone (cm-error), and this test runs the controller manager from the image below.
URL="$(KUBEFED_CONTROLLER_MANAGER="$TMP/no-such-binary" "$HARNESS" serve-federation "$HKC" "$NS" "$FED")" ||
  { fail "serve-federation $FED"; exit 1; }
cond() { K get -n "$NS" "$1" "$2" -o json 2>/dev/null | jq -r --arg t "$3" '.status.conditions[]? | select(.type==$t) | "\(.status) \(.reason)"'; }
cond_is() { [ "$(cond "$1" "$2" "$3")" = "$4" ]; }
wait_until "the Federation reconciled by the image's operator is Ready" 120 cond_is federation "$FED" Ready "True Ready" || exit 1
K create secret generic -n "$NS" member-admin --from-file=kubeconfig="$MKC" >/dev/null
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: gondor, namespace: $NS}
spec:
  federationRef: {name: $FED}
  kubeconfigSecretRef: {name: member-admin}
EOF
wait_until "the member joined by the image's operator: Joined True" 90 cond_is federatedcluster gondor Joined "True Joined"
wait_until "the member is Ready (probed from the image)" 60 cond_is federatedcluster gondor Ready "True Healthy"
check "the member holds the federation's ServiceAccount" \
  "$KUBECTL" --kubeconfig "$MKC" get serviceaccount -n federation-system "kubefed-$FED-gondor"

# ---- the controller manager from the same image -------------------------------------------------
J() { K get -n "$NS" "$@" -o json 2>/dev/null; }
cm="$(J deployment "$FED-controller-manager")"
check "Deployment $FED-controller-manager runs the image the operator was given" \
  test "$(jq -r '.spec.template.spec.containers[0].image' <<<"$cm")" = "$IMAGE"
cm_cmd="$(jq -r '.spec.template.spec.containers[0].command | join(" ")' <<<"$cm")"
check "its command is the image's program ($cm_cmd)" test "$cm_cmd" = /usr/local/bin/kubefed-controller-manager
# Its container as a kubelet would run it: the Deployment's args, the kubeconfig Secret mounted
# where the Deployment mounts it (readable by the image's group), the served URL as --master, the
# health and metrics ports moved to free loopback ports (host network).
kc_mount="$(jq -r '.spec.template.spec.containers[0].volumeMounts[] | select(.name=="kubeconfig") | .mountPath' <<<"$cm")"
mkdir -p "$TMP/cm-kubeconfig"
J secret "$FED-controller-manager-kubeconfig" | jq -r '.data.kubeconfig' | base64 -d >"$TMP/cm-kubeconfig/kubeconfig"
chgrp -R 65532 "$TMP/cm-kubeconfig" && chmod 0750 "$TMP/cm-kubeconfig" && chmod 0640 "$TMP/cm-kubeconfig/kubeconfig"
CMH=$(free_port 20000 29999) CMM=$(free_port 20000 29999)
mapfile -t cm_args < <(jq -r '.spec.template.spec.containers[0].args[]' <<<"$cm" |
  sed -e "s|^--master=.*|--master=$URL|" -e "s|^--health-bind-address=.*|--health-bind-address=127.0.0.1:$CMH|" \
      -e "s|^--metrics-bind-address=.*|--metrics-bind-address=127.0.0.1:$CMM|")
CMCTR="$(B from --pull=never "$IMAGE")" || { fail "buildah from $IMAGE (controller manager)"; exit 1; }
RUN --volume "$TMP/cm-kubeconfig:$kc_mount:ro" --env "POD_NAMESPACE=$NS" "$CMCTR" -- "$cm_cmd" "${cm_args[@]}" \
  >"$TMP/controller-manager.log" 2>&1 &
CMPID=$!
wait_until "the controller manager from the image is healthy (/healthz)" 60 curl -sf "http://127.0.0.1:$CMH/healthz"
K get secret -n "$NS" "$FED-admin-kubeconfig" -o jsonpath='{.data.kubeconfig}' | base64 -d >"$TMP/fed.kubeconfig"
FK() { "$KUBECTL" --kubeconfig "$TMP/fed.kubeconfig" --request-timeout=20s "$@"; }
FK create namespace shire >/dev/null && FK create configmap -n shire ring --from-literal=bearer=frodo >/dev/null ||
  fail "federation API: namespace shire and ConfigMap shire/ring"
FED_UID="$(J federation "$FED" | jq -r .metadata.uid)"
MK() { "$KUBECTL" --kubeconfig "$MKC" --request-timeout=20s "$@"; }
propagated() {
  [ "$(MK get configmap -n shire ring -o jsonpath='{.metadata.labels.kubefed\.dev/propagated-by}/{.data.bearer}' 2>/dev/null)" = "$FED_UID/frodo" ]
}
wait_until "the controller manager from the image propagated ConfigMap shire/ring to the member" 60 propagated
check "the controller manager from the image is still running" kill -0 "$CMPID"
check "the operator from the image is still running" kill -0 "$BPID"
if grep -q "level=error\|ERROR" "$TMP/operator.log"; then
  say "errors in the operator's log:"; grep "level=error\|ERROR" "$TMP/operator.log" | head -n 5 >&2
fi
say "image ${size_h:-?}, built in ${BUILD_S} s"
