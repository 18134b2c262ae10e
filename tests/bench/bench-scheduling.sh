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
fed=bsf-$$ bench_name=bench-scheduling
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"

declare -A KCS
for i in 1 2 3; do
  m=bsm$i-$$; members+=("$m"); KCS[$m]=$("$harness" up "$m"); join "$m" "${KCS[$m]}"
done

start_cm
created() { metric '^kubefed_propagations_total.*type="deployments".*result="created"'; }

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
R[requests]=$(echo "scale=1; ($(requests) - $q0) / ($N * 3)" | bc)
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
