#!/usr/bin/env bash
# Join benchmark (issue #7) on real clusters from tests/harness/k8s: a host with the fellowship
# Federation served for real, two member apiservers, and the operator binary. For each size in
# SIZES (default "10 100 1000"), that many FederatedClusters are created at once (each with its own
# credential Secret, pointing at one of the two members, dns.mode None), then unjoined. Measured:
# time to all Ready, reconcile latency, API requests and writes per join, the same writes issued
# bare by a minimal client at full concurrency (the ratio), RSS and CPU of the operator, writes and
# probe traffic at steady state, Federation create -> children applied, drift recovery, unjoin time
# and leftovers. Prints a Markdown table, writes it and a JSON copy to tests/bench/results/, and a
# PNG chart with gnuplot. Fails loudly if the operator errors, dies, leaks objects or never
# converges; asserts no timing.
#   usage: bench-joins.sh PATH/TO/kubefed-operator PATH/TO/informer_bench
set -euo pipefail
OPERATOR=$1 BENCH=$2
SIZES=${SIZES:-"10 100 1000"}
STEADY_S=${STEADY_S:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
harness=${HARNESS:-$root/tests/harness/k8s}
out=$root/tests/bench/results
mkdir -p "$out"
run_root=${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}
host=bjh-$$ m1=bjm1-$$ m2=bjm2-$$ ns=bench-$$  # per run: the served federation is fed-NS-fellowship
tmp=$(mktemp -d)
oppid=""
cleanup() {
  [ -z "$oppid" ] || kill "$oppid" 2>/dev/null || true
  for c in "fed-$ns-fellowship" "$host" "$m1" "$m2"; do "$harness" down "$c" >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "bench-joins: $*" >&2; [ ! -f "$tmp/operator.log" ] || tail -n 30 "$tmp/operator.log" >&2; exit 1; }
now() { date +%s.%N; }
since() { printf '%.2f' "$(echo "$(now) - $1" | bc)"; }   # seconds since $1, two decimals
kubectl=$("$harness" bin kubectl)
HK=$("$harness" up "$host" --nodes 1)
M1=$("$harness" up "$m1" --nodes 1)
M2=$("$harness" up "$m2" --nodes 1)
K() { "$kubectl" --kubeconfig "$HK" --request-timeout=60s "$@"; }
"$kubectl" --kubeconfig "$HK" apply -f "$root/crds/kubefed.dev_federations.yaml" -f "$root/crds/kubefed.dev_federatedclusters.yaml" >/dev/null
K wait --for=condition=Established crd/federations.kubefed.dev crd/federatedclusters.kubefed.dev --timeout=60s >/dev/null
K create namespace "$ns" >/dev/null

free_port() { "$harness" free-port "$1" "$2"; }
metrics_port=$(free_port 20000 29999) health_port=$(free_port 20000 29999)
"$OPERATOR" --kubeconfig "$HK" --namespace "$ns" --health-bind-address "127.0.0.1:$health_port" \
  --metrics-bind-address "127.0.0.1:$metrics_port" --controller-manager-image kubefed-operator:bench \
  --log-level warn >"$tmp/operator.log" 2>&1 &
oppid=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$health_port/readyz" >/dev/null && break; sleep 0.1; done
alive() { kill -0 "$oppid" 2>/dev/null || die "the operator died"; }
metric() {  # metric REGEX: the sum of matching kubefed metric lines
  curl -sf --max-time 10 "http://127.0.0.1:$metrics_port/metrics" | awk -v re="$1" '$0 ~ re && $0 !~ /^#/ {n += $NF} END {printf "%.0f\n", n + 0}'
}
writes() { metric '^kubefed_api_requests_total.*verb="(POST|PUT|PATCH|DELETE)"'; }
requests() { metric '^kubefed_api_requests_total'; }
gets() { metric '^kubefed_api_requests_total.*verb="GET"'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$oppid/status"; }
anon_kib() { awk '/^RssAnon/ {print $2}' "/proc/$oppid/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$oppid/status"; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / t}' "/proc/$oppid/stat"; }
# cluster_cpu: "cluster/component seconds" lines, the CPU the four clusters' processes (apiservers,
# etcd, controller managers, kwok) have used so far: what the operator's requests
# cost the servers, next to what the bare client's cost them, on the same two cores.
cluster_cpu() {
  local c f pid bin role
  for c in "host:$host" "member-1:$m1" "member-2:$m2" "federation:fed-$ns-fellowship"; do
    role=${c%%:*} c=${c#*:}
    for f in "$run_root/$c"/pids/*.pid; do
      [ -f "$f" ] && read -r pid bin <"$f" && [ -r "/proc/$pid/stat" ] || continue
      echo "$role/$(basename "$f" .pid) $(awk '{print $14 + $15}' "/proc/$pid/stat")"
    done
  done | awk -v t="$(getconf CLK_TCK)" '{s[$1] += $2} END {for (k in s) printf "%s %.2f\n", k, s[k] / t}' | sort
}
cpu_diff() { awk 'FILENAME == ARGV[1] {o[$1] = $2; next} {printf "%s %.2f\n", $1, $2 - o[$1]}' "$1" "$2"; }
wait_for() {  # wait_for DESC SECONDS CMD...
  local desc=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do alive; [ $SECONDS -lt $end ] || die "$desc: not within ${secs}s"; sleep 0.2; done
}
rss0=$(rss_kib) anon0=$(anon_kib)

# ---- Federation create -> all children applied; drift recovery -------------------------------------
nodeport=$(free_port 30000 32767)
t0=$(now)
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: Federation
metadata: {name: fellowship, namespace: $ns}
spec:
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {service: {type: NodePort, nodePort: $nodeport}, advertiseAddress: 127.0.0.1}
EOF
wait_for "Federation children" 60 K get -n "$ns" deployment/fellowship-apiserver secret/fellowship-admin-kubeconfig \
  secret/fellowship-apiserver-credentials secret/fellowship-controller-manager-kubeconfig pvc/fellowship-apiserver-etcd-claim \
  service/fellowship-apiserver
fed_children_s=$(since "$t0")
"$harness" serve-federation "$HK" "$ns" fellowship >/dev/null
ready_fed() { [ "$(K get -n "$ns" federation fellowship -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for "Federation Ready" 120 ready_fed
fed_ready_s=$(since "$t0")
uid=$(K get -n "$ns" service fellowship-apiserver -o jsonpath='{.metadata.uid}')
t0=$(now)
K delete -n "$ns" service fellowship-apiserver --wait=false >/dev/null
svc_back() { local u; u=$(K get -n "$ns" service fellowship-apiserver -o jsonpath='{.metadata.uid}') && [ -n "$u" ] && [ "$u" != "$uid" ]; }
wait_for "drift restored" 30 svc_back
drift_s=$(since "$t0")
wait_for "Federation Ready after drift" 60 ready_fed
K get -n "$ns" secret fellowship-admin-kubeconfig -o jsonpath='{.data.kubeconfig}' | base64 -d >"$tmp/fed.kubeconfig"
FK() { "$kubectl" --kubeconfig "$tmp/fed.kubeconfig" --request-timeout=60s "$@"; }

# ---- joins -------------------------------------------------------------------------------------------------
# secrets_yaml N, fcs_yaml N: N member credential Secrets and N FederatedClusters (m-00001 ...),
# alternating between the two members.
secrets_yaml() {
  local i kc
  for i in $(seq 1 "$1"); do
    if [ $((i % 2)) -eq 0 ]; then kc=$M2; else kc=$M1; fi
    printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: m-%05d-admin, namespace: %s}\ndata: {kubeconfig: %s}\n' \
      "$i" "$ns" "$(base64 -w0 <"$kc")"
  done
}
fcs_yaml() {
  local i
  for i in $(seq 1 "$1"); do
    printf -- '---\napiVersion: kubefed.dev/v1alpha1\nkind: FederatedCluster\nmetadata: {name: m-%05d, namespace: %s}\n' "$i" "$ns"
    printf 'spec: {federationRef: {name: fellowship}, kubeconfigSecretRef: {name: m-%05d-admin}, dns: {mode: None}}\n' "$i"
  done
}
ready_count() {
  K get -n "$ns" federatedclusters -o json |
    jq '[.items[] | select(any(.status.conditions[]?; .type=="Ready" and .status=="True"))] | length'
}
fc_count() { K get -n "$ns" federatedclusters -o name | wc -l; }
leftovers() {  # objects of ours that should be gone after unjoin, on every cluster
  local n=0 c
  n=$((n + $(K get -n "$ns" secrets -l kubefed.dev/cluster -o name | wc -l)))
  for c in "$M1" "$M2"; do
    n=$((n + $("$kubectl" --kubeconfig "$c" get clusterroles,clusterrolebindings -l kubefed.dev/cluster -o name | wc -l)))
    n=$((n + $("$kubectl" --kubeconfig "$c" get serviceaccounts,secrets -A -l kubefed.dev/cluster -o name | wc -l)))
  done
  n=$((n + $(FK get clusters -o name | wc -l)))
  echo "$n"
}
# bare N_host N_member N_fed [N_tokens]: the same writes from a minimal client, all apiservers at
# once. With N_tokens, each member also gets N_tokens ServiceAccounts with token Secrets and the
# client waits until the member's token controller has filled them all (what a join cannot avoid).
bare() {
  local pids=() t0 rc=0 tag=$1${5:+t}
  for kc in "$HK" "$M1" "$M2" "$tmp/fed.kubeconfig"; do
    "$kubectl" --kubeconfig "$kc" create namespace "bare-$tag" >/dev/null 2>&1 || true
  done
  t0=$(now)
  "$BENCH" create "$HK" "bare-$tag" "$2" >"$tmp/bare-h" & pids+=($!)
  "$BENCH" create "$M1" "bare-$tag" "$3" >"$tmp/bare-1" & pids+=($!)
  "$BENCH" create "$M2" "bare-$tag" "$3" >"$tmp/bare-2" & pids+=($!)
  if [ -n "${5:-}" ]; then
    "$BENCH" tokens "$M1" "bare-$tag" "$5" >"$tmp/bare-t1" & pids+=($!)
    "$BENCH" tokens "$M2" "bare-$tag" "$5" >"$tmp/bare-t2" & pids+=($!)
  fi
  "$BENCH" create "$tmp/fed.kubeconfig" "bare-$tag" "$4" >"$tmp/bare-f" & pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  [ $rc -eq 0 ] || die "the bare-write client failed: $(tail -n 3 "$tmp"/bare-* 2>/dev/null)"
  since "$t0"
  for kc in "$HK" "$M1" "$M2" "$tmp/fed.kubeconfig"; do
    "$kubectl" --kubeconfig "$kc" delete namespace "bare-$tag" --wait=false >/dev/null 2>&1 || true
  done
}
# by_target: "target verb resource count" lines of api_requests_by_target_total
by_target() {
  curl -sf --max-time 10 "http://127.0.0.1:$metrics_port/metrics" |
    sed -n 's/^kubefed_api_requests_by_target_total{target="\([^"]*\)",verb="\([^"]*\)",resource="\([^"]*\)"} \(.*\)$/\1 \2 \3 \4/p'
}
# steps: "step sum count" of the join's step_duration_seconds
steps() {
  curl -sf --max-time 10 "http://127.0.0.1:$metrics_port/metrics" | awk -v seq="${1:-join}" '
    /^kubefed_step_duration_seconds_(sum|count)\{/ && index($0, "sequence=\"" seq "\"") {
      match($0, /step="[^"]*"/); st = substr($0, RSTART + 6, RLENGTH - 7)
      if ($0 ~ /_sum/) s[st] = $NF; else c[st] = $NF
    }
    seq == "join" && /^kubefed_member_token_wait_seconds_sum/ {s["(token-controller-wait)"] = $NF}
    seq == "join" && /^kubefed_member_token_wait_seconds_count/ {c["(token-controller-wait)"] = $NF}
    END {for (k in s) print k, s[k], c[k]}'
}
steps_diff() { awk 'FILENAME == ARGV[1] {s[$1] = $2; c[$1] = $3; next} {if ($3 - c[$1] > 0) print $1, $2 - s[$1], $3 - c[$1]}' "$1" "$2"; }
# diff_by KEYFIELDS OLD NEW: per key, NEW - OLD of the last field
diff_counts() { awk 'FILENAME == ARGV[1] {k = $1 " " $2 " " $3; o[k] = $4; next} {k = $1 " " $2 " " $3; d = $4 - o[k]; if (d > 0) print k, d}' "$1" "$2"; }

declare -A R
for n in $SIZES; do
  fcs_yaml "$n" >"$tmp/fcs-$n.yaml"
  # The credential Secrets exist before the round, as a user's (or GitOps') inputs do: a client-side
  # kubectl apply of 1,000 kubeconfig Secrets with the FederatedClusters took 18.7 s and 14.3 s of
  # the host apiserver's CPU on its own, which the round would have counted as the joins'.
  secrets_yaml "$n" | K create -f - >/dev/null
  R[$n,load]=$(awk '{print $1}' /proc/loadavg)
  # Join latency at the resolution of watch events: each FederatedCluster's ADDED event to the event
  # that shows it Joined=True, from a watcher started before the creates.
  "$BENCH" joins "$HK" "$ns" "$n" $((120 + n / 2)) >"$tmp/lat-$n" 2>&1 &
  latpid=$!
  for _ in $(seq 1 100); do grep -q watching=1 "$tmp/lat-$n" && break; sleep 0.1; done
  by_target >"$tmp/req0-$n"
  steps join >"$tmp/steps0-$n"
  w0=$(writes) q0=$(requests) c0=$(cpu_s)
  cluster_cpu >"$tmp/ccpu0-$n"
  perfpid=""
  if [ -n "${PROFILE:-}" ] && [ "$n" = "$(echo "$SIZES" | awk '{print $NF}')" ] && command -v perf >/dev/null; then
    # PROFILE=1: where the operator's CPU goes during the largest round (no hardware counters here).
    perf record -q -e cpu-clock -F 499 -p "$oppid" -o "$tmp/perf.data" >/dev/null 2>&1 &
    perfpid=$!
  fi
  t0=$(now)
  K create -f "$tmp/fcs-$n.yaml" >/dev/null
  R[$n,create_s]=$(since "$t0")
  # The watcher's events tell when the last one turned Ready: polling a list of 1,000 objects with
  # kubectl and jq every 0.2 s took a large share of the two cores from the round it measured.
  wait "$latpid" || die "the latency watcher did not see $n joins Ready: $(cat "$tmp/lat-$n")"
  cluster_cpu >"$tmp/ccpu1-$n"
  R[$n,join_s]=$(printf '%.2f' "$(echo "$(awk -F= '$1 == "all_ready_at" {print $2}' "$tmp/lat-$n") - $t0" | bc)")
  [ "$(ready_count)" -ge "$n" ] || die "the watcher saw $n Ready, a list does not"
  if [ -n "$perfpid" ]; then
    kill -INT "$perfpid"; wait "$perfpid" || true
    perf report -i "$tmp/perf.data" --stdio --no-children --sort dso,symbol 2>/dev/null | grep -v '^#' | grep -v '^$' |
      head -n 40 >"$out/joins-profile.txt" || true
  fi
  sleep 3
  R[$n,writes]=$(( $(writes) - w0 )) R[$n,requests]=$(( $(requests) - q0 ))
  R[$n,cpu_s]=$(printf "%.2f" "$(echo "$(cpu_s) - $c0" | bc)")
  by_target >"$tmp/req1-$n"
  diff_counts "$tmp/req0-$n" "$tmp/req1-$n" >"$tmp/req-$n"
  steps join >"$tmp/steps1-$n"
  steps_diff "$tmp/steps0-$n" "$tmp/steps1-$n" >"$tmp/steps-$n"
  R[$n,p50]=$(awk -F= '$1 == "join_p50_ms" {print $2}' "$tmp/lat-$n")
  R[$n,p99]=$(awk -F= '$1 == "join_p99_ms" {print $2}' "$tmp/lat-$n")
  R[$n,rss]=$(rss_kib) R[$n,anon]=$(anon_kib)
  R[$n,heap]=$(( $(metric '^kubefed_process_heap_inuse_bytes') / 1024 )) R[$n,heapfree]=$(( $(metric '^kubefed_process_heap_free_bytes') / 1024 ))
  # The host writes of a join: finalizer, credential Secret, status; member: ServiceAccount, ClusterRole,
  # binding, token Secret (2 per member on each); federation API: Cluster and its status.
  R[$n,bare_s]=$(bare "$n" $((3 * n)) $((2 * n)) $((2 * n)))
  # The same with the member side done as a join needs it: n/2 ServiceAccounts and token Secrets per
  # member and their tokens awaited, plus n ConfigMaps for the ClusterRoles and bindings.
  cluster_cpu >"$tmp/bcpu0-$n"
  R[$n,bare_tok_s]=$(bare "$n" $((3 * n)) "$n" $((2 * n)) $((n / 2)))
  cluster_cpu >"$tmp/bcpu1-$n"
  R[$n,ratio]=$(echo "scale=2; ${R[$n,join_s]} / ${R[$n,bare_tok_s]}" | bc)
  R[$n,ratio_w]=$(echo "scale=2; ${R[$n,join_s]} / ${R[$n,bare_s]}" | bc)
  if [ "$n" = "$(echo "$SIZES" | awk '{print $NF}')" ]; then
    sleep 5
    w1=$(writes) g1=$(gets)
    by_target >"$tmp/steady0"
    sleep "$STEADY_S"
    R[steady_writes]=$(( $(writes) - w1 ))
    by_target >"$tmp/steady1"
    diff_counts "$tmp/steady0" "$tmp/steady1" | awk '$2 ~ /^(POST|PUT|PATCH|DELETE)$/' >"$tmp/steady-writes"
    R[probes_per_member_min]=$(echo "scale=2; ($(gets) - $g1) * 60 / $STEADY_S / $n" | bc)
  fi
  steps unjoin >"$tmp/usteps0-$n"
  t0=$(now)
  K delete -n "$ns" federatedclusters --all --wait=false >/dev/null
  none_left() { [ "$(fc_count)" -eq 0 ]; }
  wait_for "unjoin of $n" $((120 + n / 2)) none_left
  R[$n,unjoin_s]=$(since "$t0")
  steps unjoin >"$tmp/usteps1-$n"
  steps_diff "$tmp/usteps0-$n" "$tmp/usteps1-$n" >"$tmp/usteps-$n"
  R[$n,leftovers]=$(leftovers)
  [ "${R[$n,leftovers]}" -eq 0 ] || die "unjoin of $n left ${R[$n,leftovers]} objects behind"
  K delete -n "$ns" secrets -l '!kubefed.dev/federation' --field-selector type=Opaque >/dev/null 2>&1 || true
  alive
done
errors=$(grep -c 'level=error' "$tmp/operator.log" || true)
[ "$errors" -eq 0 ] || die "the operator logged $errors errors"
# Warnings by message and resource, for the report: a watch that keeps failing shows here first.
sed -n 's/.*level=warn msg="\([^"]*\)".*resource="\{0,1\}\([a-z]*\).*/\1 (\2)/p; t; s/.*level=warn msg="\([^"]*\)".*/\1/p' \
  "$tmp/operator.log" | sort | uniq -c | sort -rn | head -n 8 >"$tmp/warnings"
hwm=$(hwm_kib)

# ---- report ----------------------------------------------------------------------------------------------------
last=$(echo "$SIZES" | awk '{print $NF}')
mib() { echo "scale=1; $1 / 1024" | bc; }
{
echo "# Join benchmark"
echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo). Kubernetes v1.37.2 (tests/harness), $(date -u +%F)."
echo "Command: \`ctest --test-dir build-bench -R bench.joins\` (tests/bench/bench-joins.sh; SIZES=\"$SIZES\", STEADY_S=$STEADY_S)."
echo "Setup: one host apiserver, the fellowship federation apiserver (serve-federation) and two member apiservers;"
echo "each FederatedCluster has its own credential Secret and points at one of the two members; dns.mode None."
echo
echo "| figure | $(for n in $SIZES; do printf '%s members | ' "$n"; done)target |"
echo "|---|$(for n in $SIZES; do printf -- '---|'; done)---|"
row() { local label=$1 key=$2 unit=$3 target=$4; printf '| %s | ' "$label"; for n in $SIZES; do printf '%s%s | ' "${R[$n,$key]}" "$unit"; done; echo "$target |"; }
row "load average (1 min) when the round began" load "" "2 cores"
row "time until all Ready" join_s " s" "≤ 1.5 × bare writes"
row "of which kubectl create of the FederatedClusters (one at a time)" create_s " s" ""
row "bare writes + token wait (member tokens filled), minimal client, full concurrency" bare_tok_s " s" ""
row "ratio" ratio "×" "≤ 1.5"
row "bare writes alone (no token wait)" bare_s " s" ""
row "ratio to the bare writes alone" ratio_w "×" ""
row "join latency p50 (ADDED → Joined=True, watch events)" p50 " ms" "≤ 1 s at 100"
row "join latency p99" p99 " ms" "≤ 3 s at 100"
printf '| API requests per join (watches not counted) | '; for n in $SIZES; do printf '%s | ' "$(echo "scale=1; ${R[$n,requests]} / $n" | bc)"; done; echo " |"
printf '| writes per join | '; for n in $SIZES; do printf '%s | ' "$(echo "scale=1; ${R[$n,writes]} / $n" | bc)"; done; echo " |"
row "operator CPU for the joins" cpu_s " s" ""
printf '| operator RSS after the joins | '; for n in $SIZES; do printf '%s MiB | ' "$(mib "${R[$n,rss]}")"; done; echo "< 10 MiB at 100 |"
printf '| malloc: in use / free (mallinfo2) | '; for n in $SIZES; do printf '%s / %s MiB | ' "$(mib "${R[$n,heap]}")" "$(mib "${R[$n,heapfree]}")"; done; echo " |"
printf '| of which private (RssAnon) | '; for n in $SIZES; do printf '%s MiB | ' "$(mib "${R[$n,anon]}")"; done; echo "≤ 40 MiB at 1000 |"
row "unjoin time" unjoin_s " s" ""
row "objects left after unjoin" leftovers "" "0"
echo
echo "| figure | value | target |"
echo "|---|---|---|"
echo "| operator RSS with 0 members | $(mib "$rss0") MiB ($(mib "$anon0") MiB private) | |"
if [ -n "${R[100,rss]:-}" ] && [ -n "${R[$last,rss]:-}" ] && [ "$last" != 100 ]; then
  echo "| RSS per extra member (100 → $last) | $(echo "scale=1; (${R[$last,rss]} - ${R[100,rss]}) / ($last - 100)" | bc) KiB | |"
  echo "| private memory (RssAnon) per extra member (100 → $last), connection and watches included | $(echo "scale=1; (${R[$last,anon]} - ${R[100,anon]}) / ($last - 100)" | bc) KiB | ≤ 32 KiB |"
fi
echo "| peak RSS (VmHWM) over the run | $(mib "$hwm") MiB | |"
echo "| writes at steady state over ${STEADY_S} s with $last members | ${R[steady_writes]} | 0 |"
echo "| health probes per member per minute | ${R[probes_per_member_min]} | 6 (periodSeconds 10) |"
echo "| Federation create → all children applied (no pod start) | ${fed_children_s} s | |"
echo "| Federation create → Ready (with the apiserver started by serve-federation) | ${fed_ready_s} s | |"
echo "| drift: deleted Service restored | ${drift_s} s | |"
echo
echo "Latency is measured by a watcher started before the creates (\`informer_bench joins\`): from each"
echo "FederatedCluster's ADDED event to the event that shows Joined=True. Probe traffic counts GETs of the whole"
echo "operator."
echo
echo "### Requests per join at $last members, by target, verb and resource (watches included)"
echo
echo "| target | verb | resource | per join |"
echo "|---|---|---|---|"
sort -k1,1 -k2,2 "$tmp/req-$last" | awk -v n="$last" '{printf "| %s | %s | %s | %.2f |\n", $1, $2, $3, $4 / n}'
echo
if [ -s "$tmp/steady-writes" ]; then
  echo "Writes at steady state, by target, verb and resource: $(awk '{printf "%s%s %s %s: %d", (NR > 1 ? "; " : ""), $1, $2, $3, $4}' "$tmp/steady-writes")."
  echo
fi
echo "### CPU on the two cores during the round at $last members: the joins against the bare writes with the token wait"
echo
echo "| process | joins (${R[$last,join_s]} s) | bare (${R[$last,bare_tok_s]} s) |"
echo "|---|---|---|"
cpu_diff "$tmp/ccpu0-$last" "$tmp/ccpu1-$last" >"$tmp/ccpu-$last"
cpu_diff "$tmp/bcpu0-$last" "$tmp/bcpu1-$last" >"$tmp/bcpu-$last"
join -a1 -a2 -e 0 -o 0,1.2,2.2 "$tmp/ccpu-$last" "$tmp/bcpu-$last" | awk '$2 + $3 >= 0.1 {printf "| %s | %.1f s | %.1f s |\n", $1, $2, $3}'
echo "| kubefed-operator | ${R[$last,cpu_s]} s | |"
echo "| all of the above, over the round's wall time (2 cores = 2.0) | $(awk -v o="${R[$last,cpu_s]}" -v w="${R[$last,join_s]}" '{s += $2} END {printf "%.2f", (s + o) / w}' "$tmp/ccpu-$last") | $(awk -v w="${R[$last,bare_tok_s]}" '{s += $2} END {printf "%.2f", s / w}' "$tmp/bcpu-$last") |"
echo
echo "The clusters' processes are the four clusters' apiservers, etcds, controller managers and kwok; the bare"
echo "column leaves out its client (informer_bench), the joins column adds the operator."
echo
if [ -s "$tmp/warnings" ]; then
  echo "The operator's warnings over the run, by message: $(awk '{n = $1; $1 = ""; printf "%s%s:%s", (NR > 1 ? "; " : ""), n, $0}' "$tmp/warnings")."
  echo
fi
echo "### Where a join's time went at $last members (step_duration_seconds, summed over all joins)"
echo
echo "| step | total s | runs | mean ms |"
echo "|---|---|---|---|"
sort "$tmp/steps-$last" | awk '{printf "| %s | %.1f | %d | %.1f |\n", $1, $2, $3, $3 ? $2 * 1000 / $3 : 0}'
echo
echo "### Where an unjoin's time went at $last members"
echo
echo "| step | total s | runs | mean ms |"
echo "|---|---|---|---|"
sort "$tmp/usteps-$last" | awk '{printf "| %s | %.1f | %d | %.1f |\n", $1, $2, $3, $3 ? $2 * 1000 / $3 : 0}'
} >"$out/joins.md"
{
printf '{"machine":{"cores":%s},"sizes":[%s],"steady_seconds":%s,' "$(nproc)" "$(echo "$SIZES" | tr ' ' ',')" "$STEADY_S"
printf '"rss0_kib":%s,"hwm_kib":%s,"steady_writes":%s,"probes_per_member_min":%s,"federation_children_s":%s,"federation_ready_s":%s,"drift_s":%s,"runs":{' \
  "$rss0" "$hwm" "${R[steady_writes]}" "${R[probes_per_member_min]}" "$fed_children_s" "$fed_ready_s" "$drift_s"
sep=""
for n in $SIZES; do
  printf '%s"%s":{"load":%s,"join_s":%s,"bare_s":%s,"bare_tokens_s":%s,"ratio":%s,"p50_ms":%s,"p99_ms":%s,"requests":%s,"writes":%s,"cpu_s":%s,"rss_kib":%s,"anon_kib":%s,"unjoin_s":%s,"leftovers":%s}' \
    "$sep" "$n" "${R[$n,load]}" "${R[$n,join_s]}" "${R[$n,bare_s]}" "${R[$n,bare_tok_s]}" "${R[$n,ratio]}" "${R[$n,p50]}" "${R[$n,p99]}" "${R[$n,requests]}" \
    "${R[$n,writes]}" "${R[$n,cpu_s]}" "${R[$n,rss]}" "${R[$n,anon]}" "${R[$n,unjoin_s]}" "${R[$n,leftovers]}"
  sep=","
done
echo "}}"
} | sed 's/:\./:0./g' >"$out/joins.json"
for n in $SIZES; do echo "$n ${R[$n,join_s]} $(mib "${R[$n,rss]}")"; done >"$tmp/plot.dat"
if command -v gnuplot >/dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 800,480 noenhanced
set output "$out/joins.png"
set title "kubefed-operator: join time and RSS against member count"
set logscale x
set xlabel "FederatedClusters joined at once"
set ylabel "seconds until all Ready"
set y2label "operator RSS (MiB)"
set ytics nomirror
set y2tics
set key left top
plot "$tmp/plot.dat" using 1:2 with linespoints title "join time (s)", "$tmp/plot.dat" using 1:3 axes x1y2 with linespoints title "RSS (MiB)"
EOF
fi
cat "$out/joins.md"
