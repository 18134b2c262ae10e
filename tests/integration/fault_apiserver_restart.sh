#!/usr/bin/env bash
# fault.apiserver-restart: the host's kube-apiserver SIGKILLed and restarted (`k8s restart`) while
# the operator works, and etcd compacted under its watches; each run must converge to the
# inventory of an undisturbed run.
#   1. Federation create: alpha undisturbed; beta with a restart at a random point of its children's
#      creation and another during its bootstrap of the (served) federation API. Host children,
#      finalizers, conditions and the federation API's namespaces/CRDs must match alpha's (names
#      normalized).
#   2. Join: gondor into alpha undisturbed, unjoined, then joined again with a restart at a random
#      point of the join: member, host and federation API inventory as undisturbed.
#   3. Compaction: `k8s compact` with the watches open, then `k8s restart --compact` (watches resume
#      from a compacted resourceVersion: 410 Gone, relist). After each, changes made afterwards
#      must still be acted on: a deleted child Service and credential Secret restored, an edited
#      FederatedCluster's new generation observed.
#   SEED=N reproduces the restart points (printed at the start).
TEST=fault.apiserver-restart RESOURCE=federation CLUSTER=frst NODES=1 NS="frst-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# An apiserver restart takes 3-15 s on a busy machine; with client-go's 10 s renew deadline the
# leader would give up and exit (as designed, for its supervisor to restart it). That is not what
# is tested here: a renew deadline above the restart time keeps one process throughout.
OP_LE_FLAGS="--leader-elect-lease-duration=60s --leader-elect-renew-deadline=45s --leader-elect-retry-period=2s"
# shellcheck source=tests/integration/fault_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"

SEED="${SEED:-$(( $(date +%s%N) / 1000 % 32768 ))}"
RANDOM=$SEED
say "SEED=$SEED (reproduce the restart points with SEED=$SEED)"
echo "SEED=$SEED"
GONDOR="rgondor-$$"
on_finish() {
  op_stop
  keep_logs
  for c in "fed-$NS-alpha" "fed-$NS-beta" "$GONDOR"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  if [ "$FAILED" -gt 0 ]; then show_oplog; fi
  say "SEED=$SEED; runtime ${SECONDS}s"
}
"$HARNESS" up "$GONDOR" --nodes 1 >"$TMP/gondor.path" 2>"$TMP/gondor.up.log" &
gpid=$!
install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
api_login host "$KC"
op_start || exit 1
pass "operator leads (${OP_READY_MS} ms)"

# restart_host WHY: SIGKILL and restart the host's kube-apiserver; the operator must survive it.
restart_host() {
  local t0; t0=$(now_ms)
  if "$HARNESS" restart "$NAME" "${@:2}" >/dev/null 2>"$TMP/restart.log"; then
    pass "$1: host kube-apiserver killed and restarted ($(( $(now_ms) - t0 )) ms)"
  else
    fail "$1: k8s restart: $(tail -n 3 "$TMP/restart.log")"
  fi
  check "$1: the operator is still running" operator_alive
}
FEDS=/apis/kubefed.dev/v1alpha1/namespaces/$NS/federations
FCS=/apis/kubefed.dev/v1alpha1/namespaces/$NS/federatedclusters
deployment_exists() { api host "/apis/apps/v1/namespaces/$NS/deployments/$1-apiserver" >/dev/null 2>&1; }
# fed_inventory F: F's host children, its Federation and its federation API's namespaces and CRDs,
# with F written as F.
fed_inventory() {
  inventory_of host:host "fapi-$1:fapi-all" | grep -E "^fapi-$1 |fed=$1 |^host federation $1 " |
    grep -v " count " | grep -v " cluster=gondor " | sed -E "s/\\b$1\\b/F/g" | sort
}
# cmp_inv WANT GOT DESC: PASS, or FAIL with the difference.
cmp_inv() {
  if cmp -s "$1" "$2"; then pass "$3: inventory as undisturbed ($(wc -l <"$1") lines)"; return 0; fi
  fail "$3: inventory differs from the undisturbed run's (- want, + got):"
  diff "$1" "$2" | sed -n 's/^[<>]/    &/p' | head -n 30
  return 1
}
# converge_to WANT SECS DESC CMD...: poll CMD's inventory until it is WANT's.
converge_to() {
  local want="$1" secs="$2" desc="$3" end=$(($SECONDS + $2))
  shift 3
  while [ $SECONDS -lt $end ]; do
    "$@" >"$TMP/inv.now" 2>/dev/null
    if cmp -s "$want" "$TMP/inv.now"; then cmp_inv "$want" "$TMP/inv.now" "$desc"; return 0; fi
    operator_alive || { fail "$desc: the operator died"; return 1; }
    sleep 0.5
  done
  cmp_inv "$want" "$TMP/inv.now" "$desc (after ${secs}s)"
}
serve() {  # serve F: run F's apiserver Deployment for real
  "$HARNESS" serve-federation "$KC" "$NS" "$1" >/dev/null 2>"$TMP/serve-$1.log" ||
    { fail "serve-federation $1: $(tail -n 3 "$TMP/serve-$1.log")"; return 1; }
}

# ---- 1. Federation create -------------------------------------------------------------------------
t0=$(now_ms)
fed_json alpha "$(free_port 30000 32767)" | api_create host "$FEDS"
wait_until "alpha: apiserver Deployment" 60 deployment_exists alpha || exit 1
D_CHILDREN=$(( $(now_ms) - t0 ))
serve alpha || exit 1
wait_until "alpha (undisturbed): Federation Ready" 120 fed_ready alpha || exit 1
D_FED=$(( $(now_ms) - t0 ))
fapi_login alpha || exit 1
sleep 2
fed_inventory alpha >"$TMP/inv.alpha"
say "undisturbed Federation create: children in ${D_CHILDREN} ms, Ready in ${D_FED} ms; $(wc -l <"$TMP/inv.alpha") inventory lines"
check "alpha's inventory names the federation API's Cluster CRD" grep -q "clusters.federation.kubefed.dev" "$TMP/inv.alpha"

d=$((RANDOM % (D_CHILDREN + 1)))
fed_json beta "$(free_port 30000 32767)" | api_create host "$FEDS"
ms_sleep "$d"
restart_host "beta: restart ${d} ms into the create"
wait_until "beta: apiserver Deployment after the restart" 90 deployment_exists beta || exit 1
serve beta || exit 1
restart_host "beta: restart during the bootstrap of the served federation API"
wait_until "beta: Federation Ready" 180 fed_ready beta || exit 1
fapi_login beta || exit 1
converge_to "$TMP/inv.alpha" 60 "beta (two restarts)" fed_inventory beta

# ---- 2. Join ----------------------------------------------------------------------------------------
wait "$gpid" && GKC=$(cat "$TMP/gondor.path") || { fail "up $GONDOR: $(tail -n 5 "$TMP/gondor.up.log")"; exit 1; }
api_login gondor "$GKC" || exit 1
"$KUBECTL" --kubeconfig "$GKC" create configmap coredns -n kube-system \
  --from-literal=Corefile=$'.:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n' >/dev/null
K create secret generic -n "$NS" gondor-admin --from-file=kubeconfig="$GKC" >/dev/null
join_inventory() {
  inventory_of host:host gondor:member:coredns fapi-alpha:fapi |
    grep -E "^gondor |^fapi-alpha |cluster=gondor |^host federatedcluster |^token " | grep -v " count " |
    sed -E 's/\bkf-[0-9]+\b/kf-N/g' | grep -v ' Namespace /kf-N .*deleting=yes' | sort
}
join() {  # join I: gondor into alpha, member namespace kf-I
  jq -n --arg ns "$NS" --arg mns "kf-$1" '{apiVersion: "kubefed.dev/v1alpha1", kind: "FederatedCluster",
    metadata: {name: "gondor", namespace: $ns},
    spec: {federationRef: {name: "alpha"}, kubeconfigSecretRef: {name: "gondor-admin"}, memberNamespace: $mns}}' |
    api_create host "$FCS"
}
fc_ready() { [ "$(api host "$FCS/gondor" | jq -r '.status.conditions[]? | select(.type=="Ready") | .status')" = True ]; }
fc_gone() { ! api host "$FCS/gondor" >/dev/null 2>&1; }
join_inventory >"$TMP/inv.unjoined"
t0=$(now_ms)
join 0
wait_until "gondor (undisturbed): joined, Ready" 60 fc_ready || exit 1
D_JOIN=$(( $(now_ms) - t0 ))
sleep 2
join_inventory >"$TMP/inv.joined"
check "joined: the credential holds gondor's current token" grep -q "token gondor credentials=match" "$TMP/inv.joined"
say "undisturbed join: Ready in ${D_JOIN} ms; $(wc -l <"$TMP/inv.joined") inventory lines"
api host -X DELETE "$FCS/gondor" >/dev/null
wait_until "gondor (undisturbed): unjoined" 60 fc_gone
converge_to "$TMP/inv.unjoined" 30 "undisturbed unjoin" join_inventory

d=$((RANDOM % (D_JOIN + 1)))
join 1
ms_sleep "$d"
restart_host "join: restart ${d} ms into the join"
converge_to "$TMP/inv.joined" 90 "join with a restart at ${d} ms" join_inventory

# ---- 3. Compaction under the operator's watches -------------------------------------------------------
fc_observed() {  # the FederatedCluster's status has caught up with its generation
  api host "$FCS/gondor" | jq -e '.metadata.generation == .status.observedGeneration' >/dev/null
}
svc_uid() { api host "/api/v1/namespaces/$NS/services/$1-apiserver" | jq -r .metadata.uid; }
secret_uid() { api host "/api/v1/namespaces/$NS/secrets/$1" | jq -r .metadata.uid; }
restored() {  # restored KIND-FN NAME OLDUID: exists again, as a new object
  local u; u=$("$1" "$2" 2>/dev/null); [ -n "$u" ] && [ "$u" != null ] && [ "$u" != "$3" ]
}
changes_seen() {  # changes_seen WHEN PERIOD: three changes made now, each must be acted on
  local u
  u=$(svc_uid beta)
  api host -X DELETE "/api/v1/namespaces/$NS/services/beta-apiserver" >/dev/null
  wait_until "$1: a deleted Federation child (Service beta-apiserver) is restored" 60 restored svc_uid beta "$u"
  u=$(secret_uid gondor-credentials)
  api host -X DELETE "/api/v1/namespaces/$NS/secrets/gondor-credentials" >/dev/null
  wait_until "$1: a deleted credential Secret (gondor-credentials) is restored" 60 restored secret_uid gondor-credentials "$u"
  api host -X PATCH -H 'Content-Type: application/merge-patch+json' \
    --data "{\"spec\":{\"health\":{\"periodSeconds\":$2}}}" "$FCS/gondor" >/dev/null
  wait_until "$1: an edited FederatedCluster's new generation is observed" 60 fc_observed
}
relists_before=$(grep -c "watch expired, relisting" "$OPLOG")
if "$HARNESS" compact "$NAME" 2>"$TMP/compact.log"; then pass "etcd compacted with the watches open"
else fail "k8s compact: $(tail -n 3 "$TMP/compact.log")"; fi
changes_seen "after a compaction" 7
restart_host "restart with compaction (watches resume from a compacted resourceVersion)" --compact
changes_seen "after a restart with compaction" 8
relists=$(( $(grep -c "watch expired, relisting" "$OPLOG") - relists_before ))
check "watches resumed from a compacted resourceVersion were relisted after 410 Gone ($relists informers)" test "$relists" -gt 0
all_ready() { fed_ready alpha && fed_ready beta && fc_ready; }
wait_until "afterwards: alpha, beta and gondor Ready" 60 all_ready
converge_to "$TMP/inv.joined" 30 "afterwards: gondor's join" join_inventory
converge_to "$TMP/inv.alpha" 30 "afterwards: beta" fed_inventory beta
check "the operator is still running (one process throughout)" test "$OPN" = 1 -a -n "$OPPID"
op_stop
check "no sanitizer report in the operator log" sanitizer_clean
if grep -qE "PRIVATE KEY|token: \"ey|client-key-data" "$OPLOG"; then fail "the operator log holds secret material"; else pass "no key or token in the operator log"; fi
