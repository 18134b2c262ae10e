#!/usr/bin/env bash
# Informer benchmark on a real kube-apiserver (its own harness cluster, kube-bench):
# N ConfigMaps listed into an informer (time, RSS), then M updates watched through it,
# beside the same list+watch done by `kubectl get -w`. Prints a Markdown table and
# writes it, with a JSON copy, to tests/bench/results/. Fails loudly on any error;
# asserts no timing.
#   usage: run-bench.sh PATH/TO/informer_bench [N] [M]
set -euo pipefail
bench=$1 N=${2:-10000} M=${3:-2000}
root=$(cd "$(dirname "$0")/../.." && pwd)
harness=${HARNESS:-$root/tests/harness/k8s}
out=$root/tests/bench/results
mkdir -p "$out"
kc=$("$harness" up kube-bench)
trap '"$harness" down kube-bench >/dev/null 2>&1 || true; [ -z "${kpid:-}" ] || kill "$kpid" 2>/dev/null || true' EXIT
kubectl=$("$harness" bin kubectl)
ns=bench-$$
"$kubectl" --kubeconfig "$kc" create namespace "$ns" >/dev/null

val() { sed -n "s/^$1=//p" "$2"; }
now() { date +%s.%N; }

"$bench" create "$kc" "$ns" "$N" >"$out/.create"
"$bench" informer "$kc" "$ns" "$N" "$M" >"$out/.informer"

# kubectl get -w: list (in chunks of 500, as the informer) then watch the same M updates.
fifo_out=$(mktemp)
t0=$(now)
"$kubectl" --kubeconfig "$kc" get configmaps -n "$ns" -l app=bench -w -o name --chunk-size=500 >"$fifo_out" 2>/dev/null &
kpid=$!
for _ in $(seq 1 1200); do [ "$(wc -l <"$fifo_out")" -ge "$N" ] && break; sleep 0.05; done
t1=$(now)
[ "$(wc -l <"$fifo_out")" -ge "$N" ] || { echo "kubectl never listed $N objects" >&2; exit 1; }
k_rss=$(( $(awk '/VmRSS/ {print $2}' "/proc/$kpid/status") * 1024 ))
k_anon=$(( $(awk '/RssAnon/ {print $2}' "/proc/$kpid/status") * 1024 ))
t2=$(now)
"$bench" update "$kc" "$ns" "$N" "$M" >"$out/.update"
for _ in $(seq 1 2400); do [ "$(wc -l <"$fifo_out")" -ge $((N + M)) ] && break; sleep 0.05; done
t3=$(now)
[ "$(wc -l <"$fifo_out")" -ge $((N + M)) ] || { echo "kubectl never saw $M updates" >&2; exit 1; }
k_rss_after=$(( $(awk '/VmRSS/ {print $2}' "/proc/$kpid/status") * 1024 ))
kill "$kpid"; wait "$kpid" 2>/dev/null || true; kpid=
rm -f "$fifo_out"

I=$out/.informer
k_list_s=$(echo "$t1 - $t0" | bc -l); k_watch_s=$(echo "$t3 - $t2" | bc -l)
mib() { echo "scale=1; $1 / 1048576" | bc -l; }
cores=$(nproc); mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
k8s=$("$kubectl" --kubeconfig "$kc" version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')
{
  echo "# Informer benchmark"
  echo
  echo "Machine: $cores cores, $mem. kube-apiserver $k8s (tests/harness). $(date -u +%F)."
  echo "Command: \`ctest --test-dir build-bench -L bench\` (tests/bench/run-bench.sh, N=$N, M=$M)."
  echo
  echo "| figure | kubefed-operator informer | kubectl get -w |"
  echo "|---|---|---|"
  echo "| list $N ConfigMaps (pages of 500) | $(val list_seconds "$I") s ($(val list_objects_per_second "$I")/s) | $(printf '%.3f' "$k_list_s") s |"
  echo "| resident memory holding $N objects | $(mib "$(val rss_synced_bytes "$I")") MiB ($(val rss_per_object_bytes "$I") B/object over a $(mib "$(val rss_before_bytes "$I")") MiB base) | $(mib "$k_rss") MiB |"
  echo "| of which private (RssAnon; the rest is shared library pages) | $(mib "$(val anon_synced_bytes "$I")") MiB ($(mib "$(val anon_before_bytes "$I")") MiB before the informer) | $(mib "$k_anon") MiB |"
  echo "| watch $M updates (written 64 in flight) | $(val watch_seconds "$I") s ($(val watch_events_per_second "$I") events/s) | $(printf '%.3f' "$k_watch_s") s |"
  echo "| resident memory after the updates | $(mib "$(val rss_after_watch_bytes "$I")") MiB | $(mib "$k_rss_after") MiB |"
  echo "| bare creates, same apiserver (64 in flight) | $(val create_seconds "$out/.create") s ($(val create_per_second "$out/.create")/s) | |"
  echo
  echo "The informer caches objects without managedFields; kubectl keeps only names (-o name)."
  echo "Watch times include writing the updates, which bounds both columns."
} >"$out/informer.md"
python3 - "$out" "$N" "$M" "$k_list_s" "$k_rss" "$k_watch_s" "$k_rss_after" <<'PY'
import json, sys
out, n, m, kl, kr, kw, kra = sys.argv[1:]
def kv(path):
    d = {}
    for line in open(path):
        k, _, v = line.strip().partition("=")
        d[k] = float(v) if v.replace(".", "", 1).isdigit() else v
    return d
res = {"n": int(n), "m": int(m), "create": kv(f"{out}/.create"), "informer": kv(f"{out}/.informer"),
       "kubectl": {"list_seconds": float(kl), "rss_bytes": int(kr), "watch_seconds": float(kw),
                   "rss_after_watch_bytes": int(kra)}}
json.dump(res, open(f"{out}/informer.json", "w"), indent=2)
PY
rm -f "$out/.create" "$out/.informer" "$out/.update"
cat "$out/informer.md"
