# Shared by the controller-manager benchmarks (bench-propagation.sh, bench-scheduling.sh,
# bench-dns.sh): a federation API from tests/harness/k8s (a plain kube-apiserver with the Cluster
# CRD, as the operator makes it, and namespace federation-system), join/unjoin as the operator writes
# them, the kubefed-controller-manager binary started on free loopback ports, its metrics, and a
# wait loop that fails loudly when the controller manager dies. Source it after setting
#   bench_name  die's prefix (e.g. bench-propagation)
#   fed         the federation API's harness cluster name
#   FED_UP_ARGS (optional array) more `k8s up` flags for it, e.g. --apiserver-arg=...
# What it starts is stopped on exit: the controller manager ($cmpid), $fed, every name in
# members and downs (`k8s down`). KEEP_LOG=PATH keeps the controller manager's log (and a last
# metrics scrape in PATH.metrics).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
harness=${HARNESS:-$root/tests/harness/k8s}
out=$root/tests/bench/results
mkdir -p "$out"
tmp=$(mktemp -d) cmpid="" uid=bench-$$
members=() downs=()
metrics_port=0
cleanup() {
  [ -z "${KEEP_LOG:-}" ] || curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$KEEP_LOG.metrics" 2>/dev/null || true
  [ -z "$cmpid" ] || { kill -CONT "$cmpid" 2>/dev/null; kill "$cmpid" 2>/dev/null; } || true
  [ -z "${KEEP_LOG:-}" ] || cp "$tmp/cm.log" "$KEEP_LOG" 2>/dev/null || true
  for c in "$fed" "${members[@]}" "${downs[@]}"; do "$harness" down "$c" >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "$bench_name: $*" >&2; [ ! -f "$tmp/cm.log" ] || tail -n 30 "$tmp/cm.log" >&2; exit 1; }
now() { date +%s.%N; }
since() { printf '%.2f' "$(echo "$(now) - $1" | bc)"; }
kubectl=$("$harness" bin kubectl)
FKC=$("$harness" up "$fed" ${FED_UP_ARGS[@]+"${FED_UP_ARGS[@]}"})
FK() { "$kubectl" --kubeconfig "$FKC" --request-timeout=60s "$@"; }
FK apply -f "$root/crds/federation.kubefed.dev_clusters.yaml" >/dev/null
FK wait --for=condition=Established crd/clusters.federation.kubefed.dev --timeout=60s >/dev/null
FK create namespace federation-system >/dev/null

# join NAME KUBECONFIG [STATUS]: what the operator writes in the federation API at join. STATUS
# (optional, JSON members) is added to the Cluster's status beside Ready, e.g. "zones":[..],"region":"..".
join() {
  FK create secret generic -n federation-system "$1-credentials" --from-file=kubeconfig="$2" >/dev/null
  FK apply -f - >/dev/null <<EOT
apiVersion: federation.kubefed.dev/v1beta1
kind: Cluster
metadata: {name: $1}
spec:
  secretRef: {name: $1-credentials}
  serverAddressByClientCIDRs: [{clientCIDR: 0.0.0.0/0, serverAddress: "$(awk '/server:/ {print $2; exit}' "$2")"}]
EOT
  FK patch cluster "$1" --subresource=status --type=merge \
    -p '{"status":{'"${3:+$3,}"'"conditions":[{"type":"Ready","status":"True","reason":"Healthy","message":"bench","lastProbeTime":"2026-01-01T00:00:00Z","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}' >/dev/null
}
unjoin() { FK delete cluster "$1" >/dev/null; FK delete secret -n federation-system "$1-credentials" >/dev/null; }

free_port() { "$harness" free-port "$1" "$2"; }
# start_cm [FLAG...]: the controller manager ($CM) on the federation API, log in $tmp/cm.log.
start_cm() {
  metrics_port=$(free_port 20000 29999) health_port=$(free_port 20000 29999)
  "$CM" --kubeconfig "$FKC" --federation-uid "$uid" --health-bind-address "127.0.0.1:$health_port" \
    --metrics-bind-address "127.0.0.1:$metrics_port" --log-level "${CM_LOG_LEVEL:-warn}" "$@" >"$tmp/cm.log" 2>&1 &
  cmpid=$!
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$health_port/readyz" >/dev/null && break; sleep 0.1; done
}
alive() { kill -0 "$cmpid" 2>/dev/null || die "the controller manager died"; }
metric() { # a scrape that fails (a loaded machine) is retried, never read as 0
  local body i
  for i in 1 2 3 4 5; do body=$(curl -sf --max-time 20 "http://127.0.0.1:$metrics_port/metrics") && break; sleep 1; done
  [ -n "$body" ] || die "cannot read the controller manager's metrics"
  awk -v re="$1" '$0 ~ re && $0 !~ /^#/ {n += $NF} END {printf "%.0f\n", n + 0}' <<<"$body"
}
writes() { metric '^kubefed_api_requests_total.*verb="(POST|PUT|PATCH|DELETE)"'; }
requests() { metric '^kubefed_api_requests_total'; }
wait_for() {
  local desc=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do alive; [ $SECONDS -lt $end ] || die "$desc: not within ${secs}s"; sleep 0.1; done
}
# clusters_cpu_s NAME...: CPU seconds the clusters' apiservers and etcds have used (the harness's pid files).
clusters_cpu_s() {
  local c f pids=()
  for c in "$@"; do
    for f in "${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}/$c"/pids/*.pid; do pids+=("$(cut -d' ' -f1 "$f")"); done
  done
  for c in "${pids[@]}"; do cat "/proc/$c/stat"; done | awk -v t="$(getconf CLK_TCK)" '{n += $14 + $15} END {printf "%.2f\n", n / t}'
}
