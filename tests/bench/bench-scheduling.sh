#!/usr/bin/env bash
# Scheduling benchmark (issue 15) on real apiservers from tests/harness/k8s: a federation API (a plain
# kube-apiserver with the Cluster CRD, as the operator makes it) and three apiserver-only members,
# with the kubefed-controller-manager binary run against it; Cluster objects and credential Secrets
# written as the operator writes them at join.
#   N federated Deployments (default 200), 10 replicas each, default preferences: each member gets
#   its planned share (3 or 4).
# Measured: time from the first federated create until every member copy is written, against bare
# creates of the same member objects (kubectl create -f of one List per member, every member at
# once); API requests per copy; the federated status writes (one per Deployment: no member runs a
# controller, so the summed status settles at once); writes at steady state over STEADY_S seconds
# (target 0). Without member controllers every copy asks for more pods than it has ready, so each
# reconcile also lists the member's pending pods (the capacity probe): that is in the requests.
# Prints a Markdown table and writes it and a JSON copy to tests/bench/results/. Fails loudly if the
# controller manager errors, dies or never converges; asserts no timing.
#   usage: bench-scheduling.sh PATH/TO/kubefed-controller-manager
set -euo pipefail
CM=$1
N=${N:-200} STEADY_S=${STEADY_S:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
harness=${HARNESS:-$root/tests/harness/k8s}
out=$root/tests/bench/results
mkdir -p "$out"
fed=bsf-$$ tmp=$(mktemp -d) cmpid="" uid=bench-$$
members=()
cleanup() {
  [ -z "$cmpid" ] || kill "$cmpid" 2>/dev/null || true
  for c in "$fed" "${members[@]}"; do "$harness" down "$c" >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "bench-scheduling: $*" >&2; [ ! -f "$tmp/cm.log" ] || tail -n 30 "$tmp/cm.log" >&2; exit 1; }
now() { date +%s.%N; }
since() { printf '%.2f' "$(echo "$(now) - $1" | bc)"; }
kubectl=$("$harness" bin kubectl)
FKC=$("$harness" up "$fed")
FK() { "$kubectl" --kubeconfig "$FKC" --request-timeout=60s "$@"; }
FK apply -f "$root/crds/federation.kubefed.dev_clusters.yaml" >/dev/null
FK wait --for=condition=Established crd/clusters.federation.kubefed.dev --timeout=60s >/dev/null
FK create namespace federation-system >/dev/null

# join NAME KUBECONFIG: what the operator writes in the federation API at join.
join() {
  FK create secret generic -n federation-system "$1-credentials" --from-file=kubeconfig="$2" >/dev/null
  FK apply -f - >/dev/null <<EOF
apiVersion: federation.kubefed.dev/v1beta1
kind: Cluster
metadata: {name: $1}
spec:
  secretRef: {name: $1-credentials}
  serverAddressByClientCIDRs: [{clientCIDR: 0.0.0.0/0, serverAddress: "$(awk '/server:/ {print $2; exit}' "$2")"}]
EOF
  FK patch cluster "$1" --subresource=status --type=merge \
    -p '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Healthy","message":"bench","lastProbeTime":"2026-01-01T00:00:00Z","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}' >/dev/null
}

declare -A KCS
for i in 1 2 3; do
  m=bsm$i-$$; members+=("$m"); KCS[$m]=$("$harness" up "$m"); join "$m" "${KCS[$m]}"
done

free_port() { "$harness" free-port "$1" "$2"; }
metrics_port=$(free_port 20000 29999) health_port=$(free_port 20000 29999)
"$CM" --kubeconfig "$FKC" --federation-uid "$uid" --health-bind-address "127.0.0.1:$health_port" \
  --metrics-bind-address "127.0.0.1:$metrics_port" --log-level "${CM_LOG_LEVEL:-warn}" >"$tmp/cm.log" 2>&1 &
cmpid=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$health_port/readyz" >/dev/null && break; sleep 0.1; done
alive() { kill -0 "$cmpid" 2>/dev/null || die "the controller manager died"; }
metric() { # a scrape that fails (a loaded machine) is retried, never read as 0
  local body i
  for i in 1 2 3 4 5; do body=$(curl -sf --max-time 20 "http://127.0.0.1:$metrics_port/metrics") && break; sleep 1; done
  [ -n "$body" ] || die "cannot read the controller manager's metrics"
  awk -v re="$1" '$0 ~ re && $0 !~ /^#/ {n += $NF} END {printf "%.0f\n", n + 0}' <<<"$body"
}
created() { metric '^kubefed_propagations_total.*type="deployments".*result="created"'; }
writes() { metric '^kubefed_api_requests_total.*verb="(POST|PUT|PATCH|DELETE)"'; }
requests() { metric '^kubefed_api_requests_total'; }
wait_for() {
  local desc=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do alive; [ $SECONDS -lt $end ] || die "$desc: not within ${secs}s"; sleep 0.1; done
}

# The Deployments as one List (the federated ones, and the bare copies with each member's share).
deployments() { # deployments NAMESPACE REPLICAS
  jq -n --arg ns "$1" --argjson n "$N" --argjson r "$2" '{apiVersion: "v1", kind: "List", items: [range($n) | {
    apiVersion: "apps/v1", kind: "Deployment", metadata: {name: "web-\(.)", namespace: $ns},
    spec: {replicas: $r, selector: {matchLabels: {app: "web-\(.)"}},
      template: {metadata: {labels: {app: "web-\(.)"}}, spec: {containers: [{name: "web", image: "registry.example/web:1"}]}}}}]}'
}
declare -A R
FK create namespace shop >/dev/null
sleep 2 # the namespace itself is propagated first
want=$(($(created) + N * 3))
q0=$(requests) w0=$(writes)
t0=$(now)
deployments shop 10 | FK create -f - >/dev/null || die "creating $N Deployments failed"
all_copied() { [ "$(created)" -ge "$want" ]; }
wait_for "$N Deployments to 3 members" $((120 + N)) all_copied
R[prop_s]=$(since "$t0")
# Every member copy carries its share: 10 over three is 3/3/4 in some order per key.
for m in "${members[@]}"; do
  n=$("$kubectl" --kubeconfig "${KCS[$m]}" get deployments -n shop -o json | jq '[.items[].spec.replicas] | add')
  R[$m,replicas]=$n
done
total=0
for m in "${members[@]}"; do total=$((total + R[$m,replicas])); done
[ "$total" -eq $((N * 10)) ] || die "the members hold $total replicas, not $((N * 10))"
sleep 5
R[requests]=$(echo "scale=1; ($(requests) - q0) / ($N * 3)" | bc)
R[writes]=$(($(writes) - w0))
# No member controller ever observes its copy: the summed status is all zeros (omitted) and an
# Available=False condition; observedGeneration rightly stays unset.
with_status=$(FK get deployments -n shop -o json | jq '[.items[] | select(.status.conditions[0].type == "Available")] | length')
[ "$with_status" -eq "$N" ] || die "$with_status of $N federated Deployments have a summed status"
w1=$(writes) q1=$(requests)
sleep "$STEADY_S"
R[steady_writes]=$(($(writes) - w1))
R[steady_requests]=$(($(requests) - q1))
# Bare: the same member objects, one List per member, every member at once.
pids=() rc=0
t0=$(now)
for m in "${members[@]}"; do
  { "$kubectl" --kubeconfig "${KCS[$m]}" create namespace bare >/dev/null &&
    deployments bare 3 | "$kubectl" --kubeconfig "${KCS[$m]}" create -f - >/dev/null; } &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ $rc -eq 0 ] || die "the bare creates failed"
R[bare_s]=$(since "$t0")
R[ratio]=$(echo "scale=2; ${R[prop_s]} / ${R[bare_s]}" | bc)
alive
errors=$(grep -c 'level=error' "$tmp/cm.log" || true)
[ "$errors" -eq 0 ] || die "the controller manager logged $errors errors"

{
  echo "# Scheduling benchmark"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%F); load before the report: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Command: \`ctest --test-dir build-bench -R bench.scheduling\` (tests/bench/bench-scheduling.sh; N=$N, STEADY_S=$STEADY_S)."
  echo "Setup: a federation API (kube-apiserver + the Cluster CRD) and three apiserver-only members (no controllers: no"
  echo "pods ever run, so every copy stays short of ready and each reconcile runs the capacity probe, one pods list per member)."
  echo
  echo "| figure | value | target |"
  echo "|---|---|---|"
  echo "| $N federated Deployments (10 replicas) until every member copy is written, with its share | ${R[prop_s]} s | |"
  echo "| bare creates of the same member objects (one List per member, every member at once) | ${R[bare_s]} s | |"
  echo "| ratio | ${R[ratio]}× | |"
  echo "| replicas per member (sum over the $N copies) | $(for m in "${members[@]}"; do printf '%s ' "${R[$m,replicas]}"; done)| $((N * 10)) in all |"
  echo "| API requests per member copy (federation API and members, incl. the capacity probes) | ${R[requests]} | |"
  echo "| writes until settled (finalizers, copies, summed status, status annotation) | ${R[writes]} | |"
  echo "| writes at steady state over ${STEADY_S} s | ${R[steady_writes]} | 0 |"
  echo "| requests at steady state over ${STEADY_S} s | ${R[steady_requests]} | |"
} >"$out/scheduling.md"
printf '{"n":%s,"prop_s":%s,"bare_s":%s,"ratio":%s,"requests_per_copy":%s,"writes":%s,"steady_writes":%s,"steady_requests":%s}\n' \
  "$N" "${R[prop_s]}" "${R[bare_s]}" "${R[ratio]}" "${R[requests]}" "${R[writes]}" "${R[steady_writes]}" \
  "${R[steady_requests]}" | sed 's/:\./:0./g' >"$out/scheduling.json"
cat "$out/scheduling.md"
