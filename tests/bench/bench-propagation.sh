#!/usr/bin/env bash
# Propagation benchmark (issue #14) on real apiservers from tests/harness/k8s: a federation API
# (a plain kube-apiserver with the Cluster CRD, as the operator makes it) and members, with the
# kubefed-controller-manager binary run against it; the Cluster objects and their credential
# Secrets in federation-system are written here as the operator writes them at join.
#   round A: 1,000 ConfigMaps to two members; round B: 100 ConfigMaps to 10 members
#   (apiserver-only: `k8s up NAME` without nodes).
# Measured per round: time from the first federated create until every copy is written, against the
# bare creates of the same member objects by a minimal client at full concurrency (the ratio);
# member requests per object; controller-manager CPU and private memory per propagated copy. Then,
# on the two members, federation write -> member write latency at sub-second resolution
# (prop-latency.py: paced creates, a member watch), and writes at steady state. Prints a Markdown
# table, writes it and a JSON copy to tests/bench/results/, and a PNG chart with gnuplot. Fails
# loudly if the controller manager errors, dies or never converges; asserts no timing.
#   usage: bench-propagation.sh PATH/TO/kubefed-controller-manager PATH/TO/informer_bench
#   (CM_ARGS: more controller-manager flags, e.g. --concurrent-replicaset-syncs=50)
set -euo pipefail
CM=$1 BENCH=$2
N_A=${N_A:-1000} N_B=${N_B:-100} MEMBERS_B=${MEMBERS_B:-10} STEADY_S=${STEADY_S:-60} LAT_N=${LAT_N:-200}
fed=bpf-$$ bench_name=bench-propagation
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"
start_cm ${CM_ARGS:-}
created() { metric '^kubefed_propagations_total.*result="created"'; }
anon_kib() { awk '/^RssAnon/ {print $2}' "/proc/$cmpid/status"; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / t}' "/proc/$cmpid/stat"; }

declare -A R
# round NAME N MEMBER...: N ConfigMaps in namespace NAME to the members (already joined).
round() {
  local name=$1 n=$2; shift 2
  local m count=$# pids=() rc=0 t0 c0 q0 a0 want
  FK create namespace "$name" >/dev/null
  want=$(( $(created) + n * count ))
  local e0 d0
  e0=$(metric '^kubefed_events_total.*accepted') d0=$(metric '^kubefed_events_total.*dropped')
  a0=$(anon_kib) c0=$(cpu_s) q0=$(requests) k0=$(clusters_cpu_s "$@") f0=$(clusters_cpu_s "$fed")
  t0=$(now)
  "$BENCH" create "$FKC" "$name" "$n" >/dev/null || die "creating $n ConfigMaps failed"
  all_copied() { [ "$(created)" -ge "$want" ]; }
  wait_for "$n ConfigMaps to $count members" $((120 + n / 5)) all_copied
  R[$name,prop_s]=$(since "$t0")
  R[$name,members_cpu_s]=$(echo "$(clusters_cpu_s "$@") - $k0" | bc)
  R[$name,fed_cpu_s]=$(echo "$(clusters_cpu_s "$fed") - $f0" | bc)
  sleep 2
  R[$name,requests]=$(echo "scale=1; ($(requests) - $q0) / ($n * $count)" | bc)
  R[$name,events]=$(echo "$(metric '^kubefed_events_total.*accepted') - $e0" | bc)
  R[$name,events_dropped]=$(echo "$(metric '^kubefed_events_total.*dropped') - $d0" | bc)
  R[$name,cpu_s]=$(printf '%.2f' "$(echo "$(cpu_s) - $c0" | bc)")
  R[$name,per_copy_b]=$(( ($(anon_kib) - a0) * 1024 / (n * count) ))
  # Bare: the same member objects created by a minimal client, every member at once.
  for m in "$@"; do "$kubectl" --kubeconfig "${KCS[$m]}" create namespace "bare-$name" >/dev/null; done
  t0=$(now) k0=$(clusters_cpu_s "$@")
  for m in "$@"; do "$BENCH" create "${KCS[$m]}" "bare-$name" "$n" >/dev/null & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  [ $rc -eq 0 ] || die "the bare-write client failed"
  R[$name,bare_s]=$(since "$t0")
  R[$name,bare_clusters_cpu_s]=$(echo "$(clusters_cpu_s "$@") - $k0" | bc)
  # The same as server-side applies (copies are created by POST and updated by apply; the issue's
  # baseline is the applies).
  for m in "$@"; do "$kubectl" --kubeconfig "${KCS[$m]}" create namespace "bare-apply-$name" >/dev/null; done
  t0=$(now) k0=$(clusters_cpu_s "$@") pids=()
  for m in "$@"; do "$BENCH" update "${KCS[$m]}" "bare-apply-$name" "$n" "$n" >/dev/null & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  [ $rc -eq 0 ] || die "the bare-apply client failed"
  R[$name,apply_s]=$(since "$t0")
  R[$name,apply_clusters_cpu_s]=$(echo "$(clusters_cpu_s "$@") - $k0" | bc)
  # The federation API's CPU for the user's creates alone (kube-* namespaces are never propagated).
  FK create namespace "kube-floor-$name" >/dev/null
  f0=$(clusters_cpu_s "$fed")
  "$BENCH" create "$FKC" "kube-floor-$name" "$n" >/dev/null || die "creating $n ConfigMaps in kube-floor-$name failed"
  R[$name,fed_create_cpu_s]=$(echo "$(clusters_cpu_s "$fed") - $f0" | bc)
  # On cores shared by all, no propagation is faster than its unavoidable CPU: the user's creates and
  # the members' creates, against the bare creates' CPU.
  R[$name,floor]=$(echo "scale=2; (${R[$name,fed_create_cpu_s]} + ${R[$name,bare_clusters_cpu_s]}) / ${R[$name,bare_clusters_cpu_s]}" | bc)
  R[$name,ratio]=$(echo "scale=2; ${R[$name,prop_s]} / ${R[$name,bare_s]}" | bc)
  R[$name,n]=$n R[$name,members]=$count
  alive
}

declare -A KCS
for i in 1 2; do
  m=bpm$i-$$; members+=("$m"); KCS[$m]=$("$harness" up "$m"); join "$m" "${KCS[$m]}"
done
round a "$N_A" "${members[@]}"
sleep 3
w1=$(writes)
sleep "$STEADY_S"
R[steady_writes]=$(( $(writes) - w1 ))
R[steady_anon_kib]=$(anon_kib)
FK create namespace lat >/dev/null
sleep 2 # the namespace itself is propagated
read -r R[lat] < <(python3 "$root/tests/bench/prop-latency.py" "$FKC" "${KCS[${members[0]}]}" lat "$LAT_N" 20) ||
  die "the latency probe failed"
# Cascade: the round's namespaces deleted in the federation API, every copy deleted in the members.
t0=$(now)
FK delete namespace a lat --wait=false >/dev/null
gone() { ! FK get namespace a >/dev/null 2>&1 && ! FK get namespace lat >/dev/null 2>&1; }
wait_for "cascade delete of round A" 900 gone
R[cascade_s]=$(since "$t0")
for m in "${members[@]}"; do
  left=$("$kubectl" --kubeconfig "${KCS[$m]}" get configmaps -A -l kubefed.dev/propagated-by -o name | wc -l)
  [ "$left" -eq 0 ] || die "$left copies left in $m after the cascade"
done
for m in "${members[@]}"; do unjoin "$m"; "$harness" down "$m" >/dev/null; done
members=()

for i in $(seq 1 "$MEMBERS_B"); do
  m=bpn$i-$$; members+=("$m"); KCS[$m]=$("$harness" up "$m"); join "$m" "${KCS[$m]}"
done
round b "$N_B" "${members[@]}"
errors=$(grep -c 'level=error' "$tmp/cm.log" || true)
[ "$errors" -eq 0 ] || die "the controller manager logged $errors errors"

# ---- report ------------------------------------------------------------------------------------------
lat=${R[lat]}
p50=$(sed -n 's/.*p50=\([0-9.]*\).*/\1/p' <<<"$lat") p99=$(sed -n 's/.*p99=\([0-9.]*\).*/\1/p' <<<"$lat")
{
echo "# Propagation benchmark"
echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo). Kubernetes v1.37.2 (tests/harness), $(date -u +%F); load before the run: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Command: \`ctest --test-dir build-bench -R bench.propagation\` (tests/bench/bench-propagation.sh; N_A=$N_A, N_B=$N_B, MEMBERS_B=$MEMBERS_B, STEADY_S=$STEADY_S)."
echo "Setup: a federation API (kube-apiserver + the Cluster CRD) and apiserver-only members; kubefed-controller-manager"
echo "run against it; Cluster objects and credential Secrets written as the operator writes them at join."
echo
echo "| figure | A: $N_A ConfigMaps × 2 members | B: $N_B ConfigMaps × $MEMBERS_B members | target |"
echo "|---|---|---|---|"
echo "| time from the first federated create until every copy is written | ${R[a,prop_s]} s | ${R[b,prop_s]} s | |"
echo "| bare creates of the same member objects, minimal client, every member at once | ${R[a,bare_s]} s | ${R[b,bare_s]} s | |"
echo "| ratio | ${R[a,ratio]}× | ${R[b,ratio]}× | ≤ 1.5 |"
echo "| bare server-side applies of the same member objects, every member at once | ${R[a,apply_s]} s | ${R[b,apply_s]} s | |"
echo "| ratio to the bare applies | $(echo "scale=2; ${R[a,prop_s]} / ${R[a,apply_s]}" | bc)× | $(echo "scale=2; ${R[b,prop_s]} / ${R[b,apply_s]}" | bc)× | |"
echo "| API requests per copy (federation API and members) | ${R[a,requests]} | ${R[b,requests]} | |"
echo "| Events written / dropped (one CreateInCluster per object) | ${R[a,events]} / ${R[a,events_dropped]} | ${R[b,events]} / ${R[b,events_dropped]} | |"
echo "| controller-manager CPU | ${R[a,cpu_s]} s | ${R[b,cpu_s]} s | |"
echo "| CPU of the federation API (apiserver and etcd) while propagating | ${R[a,fed_cpu_s]} s | ${R[b,fed_cpu_s]} s | |"
echo "| CPU of the members' apiservers and etcds while propagating | ${R[a,members_cpu_s]} s | ${R[b,members_cpu_s]} s | |"
echo "| CPU of the members' apiservers and etcds for the bare creates | ${R[a,bare_clusters_cpu_s]} s | ${R[b,bare_clusters_cpu_s]} s | |"
echo "| CPU of the members' apiservers and etcds for the bare applies | ${R[a,apply_clusters_cpu_s]} s | ${R[b,apply_clusters_cpu_s]} s | |"
echo "| CPU of the federation API for the user's creates alone (in a kube-* namespace, never propagated) | ${R[a,fed_create_cpu_s]} s | ${R[b,fed_create_cpu_s]} s | |"
echo "| floor of the ratio on shared cores: (user's creates + bare creates) CPU / bare creates CPU | ${R[a,floor]}× | ${R[b,floor]}× | |"
echo "| private memory (RssAnon) per propagated copy | ${R[a,per_copy_b]} B | ${R[b,per_copy_b]} B | |"
echo
echo "| figure | value | target |"
echo "|---|---|---|"
echo "| federation write → member write, p50 ($LAT_N creates at 20/s, one member watched) | ${p50} s | < 0.1 s |"
echo "| federation write → member write, p99 | ${p99} s | |"
echo "| writes at steady state over ${STEADY_S} s with $((N_A * 2)) copies | ${R[steady_writes]} | 0 |"
echo "| controller-manager RssAnon at steady state, round A | $(echo "scale=1; ${R[steady_anon_kib]} / 1024" | bc) MiB | |"
echo "| namespace delete → every copy of round A gone from the federation API and members | ${R[cascade_s]} s | |"
echo
echo "Where the time goes: this machine's two cores run the federation API, the members and the controller manager"
echo "at once, so the time follows the CPU they use (the CPU rows; the bare rows use the members only). A new object"
echo "costs the federation API the user's create, one JSON patch (the status annotation, with v1's finalizers the"
echo "first time) and one CreateInCluster event (written one at a time, behind the copies), and each member one POST"
echo "(a same-named object that is not ours makes it fail with 409: it is read then, and left alone). The ratio's floor"
echo "on two cores is the floor row: the CPU of what no propagation can skip (the user's own creates in the federation"
echo "API, and the members' creates) over the bare creates' CPU."
echo "At steady state nothing is written; an edit in a member costs one apply."
} >"$out/propagation.md"
printf '{"machine":{"cores":%s},"a":{"n":%s,"members":2,"prop_s":%s,"bare_s":%s,"ratio":%s,"requests_per_copy":%s,"cpu_s":%s,"per_copy_bytes":%s,"floor":%s},"b":{"n":%s,"members":%s,"prop_s":%s,"bare_s":%s,"ratio":%s,"requests_per_copy":%s,"cpu_s":%s,"per_copy_bytes":%s,"floor":%s},"latency_p50_s":%s,"latency_p99_s":%s,"steady_writes":%s,"cascade_s":%s}\n' \
  "$(nproc)" "$N_A" "${R[a,prop_s]}" "${R[a,bare_s]}" "${R[a,ratio]}" "${R[a,requests]}" "${R[a,cpu_s]}" "${R[a,per_copy_b]}" "${R[a,floor]}" \
  "$N_B" "$MEMBERS_B" "${R[b,prop_s]}" "${R[b,bare_s]}" "${R[b,ratio]}" "${R[b,requests]}" "${R[b,cpu_s]}" "${R[b,per_copy_b]}" "${R[b,floor]}" \
  "$p50" "$p99" "${R[steady_writes]}" "${R[cascade_s]}" | sed 's/:\./:0./g' >"$out/propagation.json"
if command -v gnuplot >/dev/null; then
  printf '"A: %s x 2" %s %s\n"B: %s x %s" %s %s\n' "$N_A" "${R[a,prop_s]}" "${R[a,bare_s]}" "$N_B" "$MEMBERS_B" "${R[b,prop_s]}" "${R[b,bare_s]}" >"$tmp/plot.dat"
  gnuplot <<EOF
set terminal pngcairo size 800,480 noenhanced
set output "$out/propagation.png"
set title "kubefed-controller-manager: propagation against bare member writes"
set style data histograms
set style fill solid 0.6
set ylabel "seconds"
set key left top
plot "$tmp/plot.dat" using 2:xtic(1) title "propagated", "" using 3 title "bare creates"
EOF
fi
cat "$out/propagation.md"
