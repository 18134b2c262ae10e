#!/usr/bin/env bash
# fault.leader-failover (issue #8): leader failover while reconciling 100 members. A host (the
# fellowship Federation served for real by `k8s serve-federation`), two member apiservers and 100
# FederatedClusters, each with its own credential Secret (as tests/bench/bench-joins.sh). Operators
# run with --leader-elect on one Lease, each as its own user (a client certificate of its own, so
# the host's audit log tells their requests apart). Round 1: a spec change touching all 100 members,
# then the leader is SIGKILLed mid-reconcile; round 2: the same, with SIGTERM (the leader drains and
# releases the Lease). Checks: the standby's /readyz is 503 until it leads; it takes over (time
# measured; SIGKILL within lease duration + 2 retry periods, SIGTERM well before the lease would
# expire; the signal handled within 3 s mid-reconcile); no member is ever seen Ready!=True or
# Offline=True (a watch records every change); no
# double writes: from the audit logs, every FederatedCluster's status is written exactly once per
# spec change by old and new leader together, nothing else of ours on the host or the members is
# written, the standby writes nothing before it leads, the old leader nothing after the new one
# acquired (SIGKILL) or after its release (SIGTERM), and at steady state the leader writes nothing.
# Members need kube-controller-manager (its token controller fills the join's token Secrets), so
# they run with one kwok node.
TEST=fault.leader-failover RESOURCE=federatedcluster CLUSTER=failover NODES=1 NS="failover-$$"
N=${FAILOVER_MEMBERS:-100}
AUDIT="$(mktemp -d)"
# Writes only (who, what, when; the body of status writes), of the operators on the host and of
# admin (the member credentials the FederatedClusters use) on the members.
cat >"$AUDIT/host-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Request
  users: [kubefed-op-a, kubefed-op-b, kubefed-op-c]
  verbs: [create, update, patch, delete, deletecollection]
  resources: [{group: kubefed.dev, resources: [federatedclusters/status]}]
- level: Metadata
  users: [kubefed-op-a, kubefed-op-b, kubefed-op-c]
  verbs: [create, update, patch, delete, deletecollection]
- level: None
EOF
sed 's/users: .*/users: [admin]/' "$AUDIT/host-policy.yaml" >"$AUDIT/member-policy.yaml"
audit_args() { echo "--apiserver-arg=--audit-policy-file=$AUDIT/$1-policy.yaml --apiserver-arg=--audit-log-path=$AUDIT/$2.log"; }
read -ra UP_ARGS <<<"$(audit_args host host)"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

M1="fom1-$$" M2="fom2-$$"
RUN_ROOT="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}"
declare -A OP_PID OP_HEALTH OP_METRICS
WATCH_PID=""
on_finish() {
  stop_watch
  local id
  for id in "${!OP_PID[@]}"; do kill "${OP_PID[$id]}" 2>/dev/null; wait "${OP_PID[$id]}" 2>/dev/null; done
  if [ "$FAILED" -gt 0 ]; then
    for id in "${!OP_PID[@]}"; do
      say "---- operator $id log (last 40 lines) ----"; tail -n 40 "$TMP/op-$id.log" >&2
    done
  fi
  if [ "$FAILED" -gt 0 ]; then  # what a failure needs explaining: audit logs, the watch, operator logs
    local keep="${TMPDIR:-/tmp}/$TEST-$$.artifacts"
    mkdir -p "$keep" && cp -r "$AUDIT"/*.log "$TMP"/watch.* "$TMP"/op-*.log "$TMP"/*.writes "$RUN_ROOT/$NAME/logs/kube-apiserver.log" "$keep"/ 2>/dev/null
    say "artifacts kept in $keep"
  fi
  for c in "fed-$NS-fellowship" "$M1" "$M2"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  rm -rf "$AUDIT"
  say "runtime: $((SECONDS - T0)) s"
}

# Both members at once (each about 6 s); their kubeconfigs are the FederatedClusters' credentials.
read -ra a1 <<<"$(audit_args member m1)"
read -ra a2 <<<"$(audit_args member m2)"
"$HARNESS" up "$M1" --nodes 1 "${a1[@]}" >"$TMP/m1.path" 2>"$TMP/m1.err" & p1=$!
"$HARNESS" up "$M2" --nodes 1 "${a2[@]}" >"$TMP/m2.path" 2>"$TMP/m2.err" & p2=$!
wait $p1 || { fail "up $M1: $(tail -n 5 "$TMP/m1.err")"; exit 1; }
wait $p2 || { fail "up $M2: $(tail -n 5 "$TMP/m2.err")"; exit 1; }
MKC1=$(cat "$TMP/m1.path") MKC2=$(cat "$TMP/m2.path")

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml

# Each operator with a client certificate of its own (system:masters), told apart in the audit log.
for id in a b c; do
  must "client certificate for kubefed-op-$id" mint_client "kubefed-op-$id" "/O=system:masters/CN=kubefed-op-$id"
done

# start_op ID: an operator as user kubefed-op-ID with --leader-elect, up (/healthz) within 60 s.
start_op() {
  local id=$1
  OP_HEALTH[$id]=$(free_port 20000 29999)
  OP_METRICS[$id]=$(free_port 20000 29999)
  while [ "${OP_METRICS[$id]}" = "${OP_HEALTH[$id]}" ]; do OP_METRICS[$id]=$(free_port 20000 29999); done
  [ -x "${KF_OPERATOR:-}" ] || { fail "KF_OPERATOR is not an executable operator binary: '${KF_OPERATOR:-}'"; exit 1; }
  "$KF_OPERATOR" --kubeconfig "$TMP/kubefed-op-$id.kubeconfig" --namespace "$NS" --leader-elect \
    --health-bind-address "127.0.0.1:${OP_HEALTH[$id]}" --metrics-bind-address "127.0.0.1:${OP_METRICS[$id]}" \
    --controller-manager-image "$KF_CM_IMAGE" >"$TMP/op-$id.log" 2>&1 &
  OP_PID[$id]=$!
  wait_until "operator $id up (/healthz)" 60 curl -sf "http://127.0.0.1:${OP_HEALTH[$id]}/healthz"
}
readyz() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${OP_HEALTH[$1]}/readyz"; }
leading() { [ "$(readyz "$1")" = 200 ]; }
leader_metric() { curl -sf --max-time 5 "http://127.0.0.1:${OP_METRICS[$1]}/metrics" | awk '$1 == "kubefed_leader" {print $2}'; }
alive() { kill -0 "${OP_PID[$1]}" 2>/dev/null; }
# standby ID: not leading: /readyz 503 "not leading" (once its caches synced), kubefed_leader 0.
standby() {
  local id=$1 body
  wait_until "operator $id: caches synced, /readyz says not leading" 60 \
    bash -c "curl -s --max-time 5 http://127.0.0.1:${OP_HEALTH[$id]}/readyz | grep -qx 'not leading'"
  body=$(curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:${OP_HEALTH[$id]}/readyz")
  check "operator $id (standby): /readyz is 503 not leading (got: $body)" test "$body" = "not leading
 503"
  check "operator $id (standby): kubefed_leader 0" test "$(leader_metric "$id")" = 0
}
now_ts() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }   # the audit log's timestamp format, for comparisons

# ---- the federation and the first leader ------------------------------------------------------
start_op a
wait_until "operator a leads (/readyz 200)" 60 leading a
check "operator a: kubefed_leader 1" test "$(leader_metric a)" = 1
start_op b
standby b
serve_federation fellowship "{provider: google-clouddns, zoneName: example.com.}"

# ---- 100 members joined -----------------------------------------------------------------------
# fcs PERIOD: the FederatedClusters m-001.. (health period PERIOD s), alternating between the members.
fcs() {
  local i
  for i in $(seq 1 "$N"); do
    printf -- '---\napiVersion: kubefed.dev/v1alpha1\nkind: FederatedCluster\nmetadata: {name: m-%03d, namespace: %s}\n' "$i" "$NS"
    printf 'spec: {federationRef: {name: fellowship}, kubeconfigSecretRef: {name: m-%03d-admin}, dns: {mode: None}, health: {periodSeconds: %s, timeoutSeconds: 5}}\n' "$i" "$1"
  done
}
for i in $(seq 1 "$N"); do
  if [ $((i % 2)) -eq 0 ]; then kc=$MKC2; else kc=$MKC1; fi
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: m-%03d-admin, namespace: %s}\ndata: {kubeconfig: %s}\n' \
    "$i" "$NS" "$(base64 -w0 <"$kc")"
done >"$TMP/secrets.yaml"
fcs 10 >"$TMP/fcs-10.yaml"
t=$SECONDS
K apply -f "$TMP/secrets.yaml" -f "$TMP/fcs-10.yaml" >/dev/null || { fail "creating $N FederatedClusters"; exit 1; }
# count_converged GEN: FederatedClusters Ready, Offline False and status at generation GEN.
count_converged() {
  J federatedclusters | jq --argjson g "$1" '[.items[] | select(.metadata.generation == $g and .status.observedGeneration == $g
    and any(.status.conditions[]?; .type=="Ready" and .status=="True")
    and any(.status.conditions[]?; .type=="Offline" and .status=="False"))] | length'
}
all_converged() { [ "$(count_converged "$1")" -eq "$N" ]; }
OPPID=${OP_PID[a]}
wait_until "$N members joined and Ready" 180 all_converged 1
say "$N joins took $((SECONDS - t)) s"
# The Federation counts its members after their joins (its own reconcile, queued behind theirs):
# that write belongs to the joins, not to the rounds' changes, whose writes are checked below.
fed_joined() { [ "$(J federation fellowship | jq '.status.joinedClusters')" = "$N" ]; }
wait_until "the Federation counts the $N members joined" 60 fed_joined
check "operator b (standby) still not leading" test "$(readyz b)" = 503

# Every change of every member from here on: the list, then every watch event (one JSON a line),
# the watch resumed from the last resourceVersion whenever the server ends it (timeoutSeconds), so
# no change is missed; a 410 (history gone) would be a gap and fails the test.
SERVER=$(cat "$RUN_ROOT/$NAME/server")
K config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$TMP/ca.crt"
K config view --raw -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$TMP/admin.crt"
K config view --raw -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$TMP/admin.key"
acurl() { curl -sS --cacert "$TMP/ca.crt" --cert "$TMP/admin.crt" --key "$TMP/admin.key" "$@"; }
FCS_URL="$SERVER/apis/kubefed.dev/v1alpha1/namespaces/$NS/federatedclusters"
watch_loop() {
  local rv=$1 last
  while [ ! -e "$TMP/watch.stop" ]; do
    acurl -N "$FCS_URL?watch=1&allowWatchBookmarks=true&timeoutSeconds=20&resourceVersion=$rv" >>"$TMP/watch.jsonl" 2>>"$TMP/watch.err"
    [ -z "$(tail -c 1 "$TMP/watch.jsonl")" ] || echo >>"$TMP/watch.jsonl"
    last=$(tail -n 1 "$TMP/watch.jsonl" | jq -r 'select(.type != "ERROR") | .object.metadata.resourceVersion // empty' 2>/dev/null)
    if [ -z "$last" ] && tail -n 1 "$TMP/watch.jsonl" | grep -q '"type":"ERROR"'; then echo gap >>"$TMP/watch.gaps"; return; fi
    [ -z "$last" ] || rv=$last
  done
}
acurl "$FCS_URL" >"$TMP/list.json"
jq -c '.items[] | {type: "LISTED", object: .}' "$TMP/list.json" >"$TMP/watch.jsonl"
watch_loop "$(jq -r .metadata.resourceVersion "$TMP/list.json")" &
WATCH_PID=$!
stop_watch() {
  [ -n "$WATCH_PID" ] || return 0
  touch "$TMP/watch.stop"
  pkill -P "$WATCH_PID" curl 2>/dev/null
  kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null
  WATCH_PID=""
}
check "watch: all $N members listed" test "$(grep -c '"type":"LISTED"' "$TMP/watch.jsonl")" -eq "$N"

# ---- audit-log queries -------------------------------------------------------------------------
# writes LOG USER FROM [TO]: write requests (not to our Lease, not Events) by USER received in [FROM, TO).
writes() {
  jq -c --arg u "$2" --arg from "$3" --arg to "${4:-9999}" 'select(.user.username == $u and .requestReceivedTimestamp >= $from
    and .requestReceivedTimestamp < $to and .objectRef.resource != "leases" and .objectRef.resource != "events")
    | {verb, code: .responseStatus.code, res: .objectRef.resource, sub: (.objectRef.subresource // ""), name: .objectRef.name,
       at: .requestReceivedTimestamp}' "$AUDIT/$1.log"
}
lease_writes() {  # lease_writes USER: the received timestamps of USER's Lease writes
  jq -r --arg u "$1" 'select(.user.username == $u and .objectRef.resource == "leases") | .requestReceivedTimestamp' "$AUDIT/host.log"
}
member_writes() { { writes m1 admin "$1" "${2:-9999}"; writes m2 admin "$1" "${2:-9999}"; } | wc -l; }

# round OLD NEW SIGNAL PERIOD: a spec change on all members (health period PERIOD), OLD killed
# with SIGNAL mid-reconcile, NEW (standby) takes over; everything the issue asks is checked.
round() {
  local old=$1 new=$2 sig=$3 period=$4 gen t_change took done_at_kill first_new last_old end
  gen=$(($(J federatedcluster m-001 | jq .metadata.generation) + 1))
  fcs "$period" >"$TMP/fcs-$period.yaml"
  t_change=$(now_ts)
  # kubectl sends the 100 patches one by one (a few seconds) and the leader keeps up with them:
  # it is killed once it has written the first few statuses of the change, mid-way.
  K apply -f "$TMP/fcs-$period.yaml" >"$TMP/apply.out" 2>&1 &
  local apply_pid=$!
  end=$((SECONDS + 60))
  until [ "$(grep -c "\"observedGeneration\":$gen[,}]" "$TMP/watch.jsonl")" -ge 3 ] || [ $SECONDS -ge $end ]; do sleep 0.05; done
  kill -"$sig" "${OP_PID[$old]}"
  local k0=$SECONDS k0n; k0n=$(date +%s.%N)
  done_at_kill=$(grep "\"observedGeneration\":$gen[,}]" "$TMP/watch.jsonl" | jq -r -R 'fromjson? | .object.metadata.name' | sort -u | wc -l)
  OPPID=""
  end=$((SECONDS + 60))
  until leading "$new" || [ $SECONDS -ge $end ]; do sleep 0.1; done
  local ready_s; ready_s=$(echo "$(date +%s.%N) - $k0n" | bc)
  # The takeover: from the signal to the new leader's "became leader" (its log's ms timestamp).
  local became; became=$(grep -m1 'msg="became leader"' "$TMP/op-$new.log" | sed 's/^ts=\([^ ]*\) .*/\1/')
  took=$(echo "$(date -d "$became" +%s.%N) - $k0n" | bc)
  say "$sig of $old: $new became leader after $took s, its /readyz 200 after $ready_s s"
  say "$sig $old with $done_at_kill/$N members' statuses at the change's generation"
  check "$sig while reconciling: $done_at_kill of $N members done when $old was killed (< $N)" test "$done_at_kill" -lt "$N"
  wait "$apply_pid" || fail "spec change (periodSeconds $period): $(tail -n 3 "$TMP/apply.out")"
  if leading "$new"; then pass "$new takes over after $sig of $old: leads after $took s, /readyz 200 after $ready_s s"; else fail "$new did not take over within 60 s"; fi
  check "$new: kubefed_leader 1" test "$(leader_metric "$new")" = 1
  if [ "$sig" = KILL ]; then
    # The dead holder's Lease expires after its duration (15 s), seen by the standby's 2 s polls.
    check "takeover after SIGKILL within lease duration + 2 retry periods + slack: ${took} s <= 25" test "$(echo "$took <= 25" | bc)" = 1
  else
    check "takeover after SIGTERM well before the 15 s lease would expire: ${took} s <= 8" test "$(echo "$took <= 8" | bc)" = 1
    # The signal is handled at once even mid-reconcile (the loop keeps polling), then the drain.
    local handled; handled=$(grep -m1 'msg="shutting down"' "$TMP/op-$old.log" | sed 's/^ts=\([^ ]*\) .*/\1/')
    handled=$(echo "$(date -d "$handled" +%s.%N) - $k0n" | bc)
    check "$old handled SIGTERM ${handled} s after it was sent (<= 3 s)" test "$(echo "$handled <= 3" | bc)" = 1
    wait "${OP_PID[$old]}"; local rc=$?
    check "$old exits 0 after SIGTERM (exit $rc)" test "$rc" -eq 0
    check "$old released the Lease on SIGTERM (its log says so)" grep -q "released lease" "$TMP/op-$old.log"
  fi
  OPPID=${OP_PID[$new]}
  wait_until "all $N members converge on the change under $new" 120 all_converged "$gen"
  say "round $sig: converged $((SECONDS - k0)) s after the kill"
  sleep 2

  # Who wrote what, from the host's audit log.
  first_new=$(lease_writes "kubefed-op-$new" | sort | head -n 1)
  last_old=$(lease_writes "kubefed-op-$old" | sort | tail -n 1)
  check "$new wrote nothing before it led (first write is its Lease, at $first_new)" \
    test -z "$(writes host "kubefed-op-$new" "" "$first_new")"
  if [ "$sig" = KILL ]; then
    local late; late=$(writes host "kubefed-op-$old" "$first_new")
    check "$old (SIGKILLed) wrote nothing after $new acquired the Lease" test -z "$late"
  else
    # Its last Lease write is the release; the drain finished every other write before it.
    local late; late=$(writes host "kubefed-op-$old" "$last_old")
    check "$old (SIGTERM) wrote nothing after releasing the Lease at $last_old" test -z "$late"
  fi
  { writes host "kubefed-op-$old" "$t_change"; writes host "kubefed-op-$new" "$t_change"; } >"$TMP/round-$sig.writes"
  say "round $sig: writes since the change: $(jq -r '"\(.verb) \(.res)/\(.sub)"' "$TMP/round-$sig.writes" | sort | uniq -c | tr '\n' ';')"
  local per_fc bad other
  # Written: answered 2xx. A PATCH in flight when the old leader was SIGKILLed is in the audit log
  # too, as 500 "client disconnected" (seen in CI), and was not made twice.
  per_fc=$(jq -r 'select(.res == "federatedclusters" and .sub == "status" and .code < 300) | .name' "$TMP/round-$sig.writes" | sort | uniq -c)
  bad=$(awk '$1 != 1' <<<"$per_fc" | head -n 5)
  check "no double writes: each of the $N statuses written exactly once by $old and $new together ($(wc -l <<<"$per_fc") written${bad:+; not once: $bad})" \
    test -z "$bad" -a "$(grep -c . <<<"$per_fc")" -eq "$N"
  other=$(jq -c 'select(.res != "federatedclusters" or .sub != "status")' "$TMP/round-$sig.writes" | head -n 5)
  check "no other host writes by $old or $new after the change${other:+: $other}" test -z "$other"
  check "no writes on the members after the change ($(member_writes "$t_change"))" test "$(member_writes "$t_change")" -eq 0
  check "$old's operator log has no error besides the lost lease" \
    bash -c "! grep 'level=error' '$TMP/op-$old.log' | grep -v 'leader election lost' | grep -q ."
}

# steady ID SECONDS: the leader writes nothing over SECONDS once converged.
steady() {
  local id=$1 s=$2 t0 t1 host_w mem_w
  sleep 3
  t0=$(now_ts); sleep "$s"; t1=$(now_ts)
  host_w=$(writes host "kubefed-op-$id" "$t0" "$t1" | wc -l)
  mem_w=$(member_writes "$t0" "$t1")
  check "steady state: $id writes nothing over ${s} s (host: $host_w, members: $mem_w)" test "$host_w" -eq 0 -a "$mem_w" -eq 0
}

round a b KILL 9
steady b 10
start_op c
standby c
round b c TERM 8
steady c 10

# ---- no flap: every change the watch saw ----------------------------------------------------------
if kill -0 "$WATCH_PID" 2>/dev/null && [ ! -e "$TMP/watch.gaps" ]; then pass "the watch ran throughout, without a gap"
else fail "the watch ended or had a gap: $(tail -n 3 "$TMP/watch.err")"; fi
stop_watch
jq -c -R 'fromjson? // empty | select(.type != "BOOKMARK" and .type != "ERROR") | .object |
        {n: .metadata.name, g: .metadata.generation, og: .status.observedGeneration,
        ready: ([.status.conditions[]? | select(.type=="Ready") | .status][0] // "-"),
        offline: ([.status.conditions[]? | select(.type=="Offline") | .status][0] // "-")}' "$TMP/watch.jsonl" >"$TMP/watch.states"
events=$(wc -l <"$TMP/watch.states")
check "the watch saw the members' updates ($events: >= $N listed + 2 x $N status writes)" test "$events" -ge $((3 * N))
flaps=$(jq -c 'select(.ready != "True" or .offline != "False")' "$TMP/watch.states")
check "no member was ever seen Ready!=True or Offline!=False during the failovers ($(grep -c . <<<"$flaps") events${flaps:+: $(head -n 3 <<<"$flaps" | tr '\n' ' ')})" test -z "$flaps"
say "Ready/Offline states seen: $(jq -r '"\(.ready)/\(.offline)"' "$TMP/watch.states" | sort | uniq -c | tr '\n' ' ')"
check "operator c (the leader) alive" alive c
