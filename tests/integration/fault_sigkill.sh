#!/usr/bin/env bash
# fault.sigkill: the operator SIGKILLed at KILLS (20) random points of a join and KILLS random points
# of a teardown (unjoin), under leader election: each time it is restarted, must take the Lease
# again, and must converge to exactly the inventory of an undisturbed run (host + both members +
# the federation API: every object of ours, per-kind counts, token Secrets per ServiceAccount,
# the credential holding the member's current token, finalizers, conditions, the members' DNS
# ConfigMaps): no duplicate, no orphan, and after each teardown the members as they were before the
# first join, DNS ConfigMaps byte for byte. Members: gondor (CoreDNS Corefile with a user block),
# noldor (kube-dns with user stubDomains, credentials under a custom secretName). The host is
# served for real (`k8s serve-federation`).
#   SEED=N reproduces a run's kill points (printed at the start); KILLS=N changes the count.
TEST=fault.sigkill RESOURCE=federatedcluster CLUSTER=fkill NODES=1 NS="fkill-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# A SIGKILLed leader cannot release its Lease: the next one waits out the lease duration. 2 s keeps
# 40 restarts affordable; the renew deadline and retry period keep client-go's proportions.
OP_LE_FLAGS="--leader-elect-lease-duration=2s --leader-elect-renew-deadline=1500ms --leader-elect-retry-period=500ms"
# shellcheck source=tests/integration/fault_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

SEED="${SEED:-$(( $(date +%s%N) / 1000 % 32768 ))}"
RANDOM=$SEED
KILLS="${KILLS:-20}"
say "SEED=$SEED KILLS=$KILLS (reproduce the kill points with SEED=$SEED)"
echo "SEED=$SEED"

GONDOR="kgondor-$$" NOLDOR="knoldor-$$"
on_finish() {
  op_stop
  keep_logs
  for c in "fed-$NS-fellowship" "$GONDOR" "$NOLDOR"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  if [ "$FAILED" -gt 0 ]; then show_oplog; fi
  say "SEED=$SEED; runtime ${SECONDS}s"
}

# ---- clusters: the host (lib.sh) and two members, started side by side --------------------------------
"$HARNESS" up "$GONDOR" --nodes 1 >"$TMP/gondor.path" 2>"$TMP/gondor.up.log" &
gpid=$!
"$HARNESS" up "$NOLDOR" --nodes 1 >"$TMP/noldor.path" 2>"$TMP/noldor.up.log" &
npid=$!
install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
api_login host "$KC"
op_start || exit 1
pass "operator leads (first start ${OP_READY_MS} ms)"
NODEPORT=$(free_port 30000 32767)
fed_json fellowship "$NODEPORT" | api_create host "/apis/kubefed.dev/v1alpha1/namespaces/$NS/federations"
wait_until "fellowship: apiserver Deployment" 60 exists deployment fellowship-apiserver
"$HARNESS" serve-federation "$KC" "$NS" fellowship >/dev/null || { fail "serve-federation fellowship"; exit 1; }
wait_until "fellowship: Federation Ready" 120 fed_ready fellowship || exit 1
fapi_login fellowship || { fail "federation admin kubeconfig"; exit 1; }
wait "$gpid" && GKC=$(cat "$TMP/gondor.path") || { fail "up $GONDOR: $(tail -n 5 "$TMP/gondor.up.log")"; exit 1; }
wait "$npid" && NKC=$(cat "$TMP/noldor.path") || { fail "up $NOLDOR: $(tail -n 5 "$TMP/noldor.up.log")"; exit 1; }
api_login gondor "$GKC" && api_login noldor "$NKC" || { fail "member credentials"; exit 1; }

# ---- member DNS as users have it ----------------------------------------------------------------------
printf '%s\n' '.:53 {' '    errors' '    kubernetes cluster.local in-addr.arpa ip6.arpa {' '       pods insecure' \
  '       fallthrough in-addr.arpa ip6.arpa' '    }' '    forward . /etc/resolv.conf' '    cache 30' '}' \
  'consul.local:53 {' '    forward . 127.0.0.9' '}' >"$TMP/Corefile"
"$KUBECTL" --kubeconfig "$GKC" create configmap coredns -n kube-system --from-file=Corefile="$TMP/Corefile" >/dev/null
"$KUBECTL" --kubeconfig "$NKC" create configmap kube-dns -n kube-system \
  --from-literal=stubDomains='{"acme.local": ["127.0.0.8"]}' --from-literal=upstreamNameservers='["127.0.0.7"]' >/dev/null
K create secret generic -n "$NS" gondor-admin --from-file=kubeconfig="$GKC" >/dev/null
K create secret generic -n "$NS" noldor-admin --from-file=kubeconfig="$NKC" >/dev/null
api gondor /api/v1/namespaces/kube-system/configmaps/coredns | jq -r .data.Corefile >"$TMP/Corefile.before"
api noldor /api/v1/namespaces/kube-system/configmaps/kube-dns | jq -S '{data, annotations: (.metadata.annotations // {})}' >"$TMP/kube-dns.before"

# The inventory of all three clusters and the federation API. Each join uses a new member namespace
# (kf-I): an unjoin deletes the namespace it created, and the member's namespace controller takes
# 10-20 s to finish that, which the next join must not wait for. So kf-I reads kf-N, and namespaces
# already being deleted are left out (they must all be gone at the end).
inventory() {
  inventory_of host:host gondor:member:coredns noldor:member:kube-dns fapi-fellowship:fapi |
    sed -E 's/\bkf-[0-9]+\b/kf-N/g' | grep -v ' Namespace /kf-N .*deleting=yes'
}
FCS=/apis/kubefed.dev/v1alpha1/namespaces/$NS/federatedclusters
join() {  # join I: both members, into member namespace kf-I
  jq -n --arg ns "$NS" --arg mns "kf-$1" '{apiVersion: "kubefed.dev/v1alpha1", kind: "FederatedCluster",
    metadata: {name: "gondor", namespace: $ns},
    spec: {federationRef: {name: "fellowship"}, kubeconfigSecretRef: {name: "gondor-admin"}, memberNamespace: $mns}}' |
    api_create host "$FCS" &&
  jq -n --arg ns "$NS" --arg mns "kf-$1" '{apiVersion: "kubefed.dev/v1alpha1", kind: "FederatedCluster",
    metadata: {name: "noldor", namespace: $ns},
    spec: {federationRef: {name: "fellowship"}, kubeconfigSecretRef: {name: "noldor-admin"}, secretName: "noldor-secret",
           memberNamespace: $mns}}' | api_create host "$FCS"
}
unjoin() { api host -X DELETE "$FCS/gondor" >/dev/null && api host -X DELETE "$FCS/noldor" >/dev/null; }
both_ready() {
  [ "$(api host "$FCS" | jq -r '[.items[] | .status.conditions[]? | select(.type=="Ready" and .status=="True")] | length')" = 2 ]
}
none_left() { [ "$(api host "$FCS" | jq '.items | length')" = 0 ]; }
# converge WANT SECS DESC: poll the inventory until it is WANT's; on timeout show the difference.
converge() {
  local want="$1" secs="$2" desc="$3" end=$((SECONDS + $2)) t0
  t0=$(now_ms)
  while [ $SECONDS -lt $end ]; do
    inventory >"$TMP/inv.now"
    if cmp -s "$want" "$TMP/inv.now"; then pass "$desc: inventory as undisturbed ($(( $(now_ms) - t0 )) ms)"; return 0; fi
    operator_alive || { fail "$desc: the operator died"; return 1; }
    sleep 0.3
  done
  fail "$desc: inventory differs from the undisturbed run's after ${secs}s (- want, + got):"
  diff "$want" "$TMP/inv.now" | sed -n 's/^[<>]/    &/p' | head -n 40
  return 1
}
# timed CMD...: wait (10 ms polls) until CMD holds; prints the milliseconds it took.
timed() {
  local t0 end=$((SECONDS + 60))
  t0=$(now_ms)
  until "$@" 2>/dev/null; do [ $SECONDS -lt $end ] || return 1; sleep 0.01; done
  echo $(($(now_ms) - t0))
}

# ---- the undisturbed run: the inventories to compare against and the operation's duration ---------
inventory >"$TMP/inv.original"
check "before any join: nothing of ours in the members" \
  bash -c "! grep -E '^(gondor|noldor) (Namespace|ClusterRole|ClusterRoleBinding|ServiceAccount|Secret) ' '$TMP/inv.original'"
t0=$(now_ms) w0=$(op_writes)
join 0 || { fail "create FederatedClusters"; exit 1; }
timed both_ready >/dev/null || { fail "undisturbed join: not Ready within 60 s"; exit 1; }
D_JOIN=$(( $(now_ms) - t0 ))   # from the create request
W_JOIN=$(( $(op_writes) - w0 ))
pass "undisturbed join: both members Ready after ${D_JOIN} ms, $W_JOIN writes"
sleep 1
t0=$(now_ms)
inventory >"$TMP/inv.joined"
say "an inventory takes $(( $(now_ms) - t0 )) ms"
inventory >"$TMP/inv.joined2"
must "undisturbed join: the inventory is stable" cmp -s "$TMP/inv.joined" "$TMP/inv.joined2"
check "joined: the host credentials hold each member's current token" test "$(grep -c 'credentials=match' "$TMP/inv.joined")" = 2
check "joined: one token Secret per member ServiceAccount" test "$(grep -c 'token-secrets-for-sa kf-N/kubefed-fellowship-.* 1$' "$TMP/inv.joined")" = 2
check "joined: one kubefed block in gondor's Corefile" grep -q "gondor dns coredns our-blocks=1" "$TMP/inv.joined"
say "joined inventory: $(wc -l <"$TMP/inv.joined") lines"
t0=$(now_ms) w0=$(op_writes)
unjoin || { fail "delete FederatedClusters"; exit 1; }
timed none_left >/dev/null || { fail "undisturbed unjoin: FederatedClusters not gone within 60 s"; exit 1; }
D_TEARDOWN=$(( $(now_ms) - t0 ))
sleep 0.5   # (the last status or event writes)
W_TEARDOWN=$(( $(op_writes) - w0 ))
pass "undisturbed unjoin: both FederatedClusters gone after ${D_TEARDOWN} ms, $W_TEARDOWN writes"
converge "$TMP/inv.original" 60 "undisturbed unjoin: nothing left (but the namespace being deleted)" || exit 1
say "D_JOIN=${D_JOIN}ms D_TEARDOWN=${D_TEARDOWN}ms: kill points are drawn from [0, D]"

# ---- the kills --------------------------------------------------------------------------------------
# kill_at D W WHAT: SIGKILL after a random delay in [0, D] ms, then a new operator (which waits out
# the Lease). Says how many of the operation's W undisturbed writes were done when it was killed.
kill_at() {
  local d=$((RANDOM % ($1 + 1))) w
  ms_sleep "$d"
  w=$(( $(op_writes) - W0 ))
  op_kill
  op_start || return 1
  say "$3: killed at ${d} ms, after $w of $2 writes; successor leads after ${OP_READY_MS} ms"
  KILL_POINTS+=("$d") KILL_WRITES+=("$w/$2") READY_TIMES+=("$OP_READY_MS")
}
KILL_POINTS=() KILL_WRITES=() READY_TIMES=()
for i in $(seq 1 "$KILLS"); do
  W0=$(op_writes)
  join "$i" || { fail "join #$i: create FederatedClusters"; break; }
  kill_at "$D_JOIN" "$W_JOIN" "join #$i" || break
  converge "$TMP/inv.joined" 60 "join #$i (killed at ${KILL_POINTS[-1]} ms, ${KILL_WRITES[-1]} writes)" || break
  W0=$(op_writes)
  unjoin || { fail "teardown #$i: delete FederatedClusters"; break; }
  kill_at "$D_TEARDOWN" "$W_TEARDOWN" "teardown #$i" || break
  converge "$TMP/inv.original" 60 "teardown #$i (killed at ${KILL_POINTS[-1]} ms, ${KILL_WRITES[-1]} writes)" || break
done

# ---- afterwards ---------------------------------------------------------------------------------------
if ! none_left; then   # the loop stopped at a failure: unjoin, so what follows checks the teardown
  unjoin; wait_until "cleanup after the failure: FederatedClusters gone" 60 none_left
fi
# The member namespaces the unjoins deleted are gone too: then everything is exactly as at the start.
all_gone() { inventory_of host:host gondor:member:coredns noldor:member:kube-dns fapi-fellowship:fapi >"$TMP/inv.end" &&
             cmp -s "$TMP/inv.original" "$TMP/inv.end"; }
wait_until "every member namespace the unjoins deleted is gone: the inventory is the original one" 120 all_gone ||
  diff "$TMP/inv.original" "$TMP/inv.end" | sed -n 's/^[<>]/    &/p' | head -n 20
api gondor /api/v1/namespaces/kube-system/configmaps/coredns | jq -r .data.Corefile >"$TMP/Corefile.after"
check "gondor's Corefile byte for byte as before the first join" cmp "$TMP/Corefile.before" "$TMP/Corefile.after"
api noldor /api/v1/namespaces/kube-system/configmaps/kube-dns | jq -S '{data, annotations: (.metadata.annotations // {})}' >"$TMP/kube-dns.after"
check "noldor's kube-dns ConfigMap (data and annotations) exactly as before" cmp "$TMP/kube-dns.before" "$TMP/kube-dns.after"
forced=$(api host "/api/v1/namespaces/$NS/events?fieldSelector=reason%3DForcedUnjoin" | jq '.items | length')
check "no unjoin reported leftovers (ForcedUnjoin events: $forced)" test "$forced" = 0
check "the federation API holds no Cluster" test "$(api fapi-fellowship /apis/federation.kubefed.dev/v1beta1/clusters | jq '.items | length')" = 0
check "the last operator is still running" operator_alive
op_stop
check "no sanitizer report in any of the $OPN operator logs" sanitizer_clean
if grep -qE "PRIVATE KEY|token: \"ey|client-key-data" "$TMP"/operator.*.log; then fail "an operator log holds secret material"; else pass "no key or token in the operator logs"; fi
say "kill points (ms, join and teardown alternating): ${KILL_POINTS[*]}"
say "writes done when killed: ${KILL_WRITES[*]}"
say "successor ready after (ms): ${READY_TIMES[*]}"
