#!/usr/bin/env bash
# kube.harness.cluster: end-to-end check of tests/harness/k8s.
#   build -> up NAME --nodes 2 -> Deployment Available -> /version -> node labels -> PVC Bound
#   -> down -> no process left, state dir gone.
# Run from the repo root; HARNESS may point at the harness script.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/tests/harness/k8s}"
RUN_ROOT="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}"
NAME="harness-$$"
DIR="$RUN_ROOT/$NAME"
PASSED=0
FAILED=0
DOWNED=0

say()  { printf '[harness_test] %s\n' "$*" >&2; }
pass() { PASSED=$((PASSED + 1)); printf 'PASS: %s\n' "$*"; }
fail() {
  FAILED=$((FAILED + 1)); printf 'FAIL: %s\n' "$*"
  if [ -d "$DIR/logs" ]; then
    local f
    for f in "$DIR"/logs/*.log; do
      [ -f "$f" ] || continue
      printf -- '---- last 20 lines of %s ----\n' "$f" >&2
      tail -n 20 "$f" >&2
    done
  fi
  finish
}
finish() {
  trap - EXIT INT TERM
  if [ "$DOWNED" = 0 ] && [ -d "$DIR" ]; then
    say "cleanup: down $NAME"
    "$HARNESS" down "$NAME" >&2 || true
  fi
  printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
  [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ] && exit 0
  exit 1
}
trap 'say "interrupted"; FAILED=$((FAILED + 1)); finish' INT TERM
trap 'rc=$?; if [ $rc -ne 0 ] && [ "$FAILED" = 0 ]; then FAILED=1; fi; finish' EXIT

[ -x "$HARNESS" ] || { FAILED=1; printf 'FAIL: harness %s not executable\n' "$HARNESS"; finish; }
# shellcheck source=tests/harness/versions
. "$(dirname "$HARNESS")/versions"

# 1. build (warm cache: ~1 s; cold: builds everything).
t0=$SECONDS
if "$HARNESS" build; then pass "build ($((SECONDS - t0)) s)"; else fail "harness build"; fi
for tool in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm; do
  p="$("$HARNESS" bin "$tool")" && [ -x "$p" ] || fail "bin $tool"
done
pass "bin prints an executable for every tool"
KUBECTL="$("$HARNESS" bin kubectl)"
if "$HARNESS" bin no-such-tool >/dev/null 2>&1; then fail "bin of an unknown tool must fail"; fi

# 2. up with 2 fake nodes.
t0=$SECONDS
KC="$("$HARNESS" up "$NAME" --nodes 2)" || fail "up $NAME --nodes 2"
[ "$(printf '%s\n' "$KC" | wc -l)" -eq 1 ] && [ -f "$KC" ] && [ "${KC#/}" != "$KC" ] ||
  fail "up must print exactly one line, the absolute kubeconfig path (got: '$KC')"
pass "up $NAME --nodes 2 ($((SECONDS - t0)) s): $KC"
k() { "$KUBECTL" --kubeconfig "$KC" --request-timeout=30s "$@"; }

# kubeconfig names: context, cluster and user are all NAME.
[ "$(k config current-context)" = "$NAME" ] || fail "current-context is not $NAME"
[ "$(k config view --minify -o jsonpath='{.contexts[0].context.cluster}/{.contexts[0].context.user}')" = "$NAME/$NAME" ] ||
  fail "context cluster/user are not $NAME/$NAME"
grep -q 'certificate-authority-data:' "$KC" && grep -q 'client-key-data:' "$KC" ||
  fail "kubeconfig is not self-contained"
server="$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
case "$server" in https://127.0.0.1:*) ;; *) fail "server $server is not https on 127.0.0.1" ;; esac
pass "kubeconfig: context/cluster/user $NAME, embedded credentials, $server"

# idempotent up.
KC2="$("$HARNESS" up "$NAME")" || fail "second up $NAME"
[ "$KC2" = "$KC" ] || fail "second up printed '$KC2', expected '$KC'"
pass "up of a running cluster is idempotent"

# 3. /version reports the pinned version.
gv="$(k get --raw /version | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p')"
[ "$gv" = "$KUBERNETES_VERSION" ] || fail "/version gitVersion '$gv' != pinned $KUBERNETES_VERSION"
pass "/version gitVersion = $gv"

# 4. nodes: 2 Ready with zone/region labels.
labels="$(k get nodes -o jsonpath='{range .items[*]}{.metadata.labels.topology\.kubernetes\.io/zone},{.metadata.labels.topology\.kubernetes\.io/region}{"\n"}{end}' | sort)"
expect="$(printf '%s\n' "$NAME-zone-a,$NAME-region" "$NAME-zone-b,$NAME-region" | sort)"
[ "$labels" = "$expect" ] || fail "node zone/region labels: got '$labels', expected '$expect'"
k wait --for=condition=Ready nodes --all --timeout=60s >/dev/null || fail "nodes not Ready"
pass "2 nodes Ready with zone/region labels"

# 5. a Deployment becomes Available.
k apply -f - >/dev/null <<'EOF' || fail "apply Deployment"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.invalid/web:1
        resources: {requests: {cpu: 100m, memory: 64Mi}}
EOF
t0=$SECONDS
k -n default wait --for=condition=Available deployment/web --timeout=120s >/dev/null ||
  { k -n default get deploy,rs,pods -o wide >&2; fail "Deployment web not Available within 120 s"; }
ready="$(k -n default get deployment web -o jsonpath='{.status.readyReplicas}')"
[ "$ready" = 2 ] || fail "Deployment web readyReplicas=$ready, expected 2"
pass "Deployment Available with 2 ready replicas ($((SECONDS - t0)) s)"

# 6. a PVC binds (default StorageClass standard, pre-made PVs).
[ "$(k get storageclass standard -o jsonpath='{.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}')" = true ] ||
  fail "default StorageClass standard missing"
k apply -f - >/dev/null <<'EOF' || fail "apply PVC"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 5Gi}}
EOF
deadline=$((SECONDS + 60)); phase=""
while [ $SECONDS -lt $deadline ]; do
  phase="$(k -n default get pvc data -o jsonpath='{.status.phase}')"
  [ "$phase" = Bound ] && break
  sleep 1
done
[ "$phase" = Bound ] || { k -n default describe pvc data >&2; fail "PVC not Bound within 60 s (phase '$phase')"; }
pass "PVC bound to $(k -n default get pvc data -o jsonpath='{.spec.volumeName}')"

# 7. down: processes gone, state dir removed.
pids=""
for f in "$DIR"/pids/*.pid; do read -r pid _ <"$f"; pids="$pids $pid"; done
[ "$(echo $pids | wc -w)" -eq 5 ] || fail "expected 5 recorded pids, got '$pids'"
"$HARNESS" down "$NAME" || fail "down $NAME"
DOWNED=1
left=""
for pid in $pids; do
  # A killed daemon may linger for a moment as a zombie until init reaps it; that is gone.
  for _ in $(seq 1 50); do
    [ -d "/proc/$pid" ] || break
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
    sleep 0.1
  done
  if [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    left="$left $pid"
  fi
done
[ -z "$left" ] || fail "processes still running after down:$left"
[ ! -e "$DIR" ] || fail "state dir $DIR still exists after down"
pass "down $NAME: pids$pids gone, $DIR removed"
"$HARNESS" down "$NAME" || fail "down of an unknown cluster must exit 0"
pass "down of an unknown cluster exits 0"
