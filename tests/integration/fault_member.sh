#!/usr/bin/env bash
# fault.member: a sick member must not slow down the healthy ones, and its conditions must say what
# is wrong (issue #8: "member slow (answers after 20 s), member black hole, member returning 500s or
# 429s: others keep their probe period; conditions say what happened").
# Real clusters: host (kwok node, the Federation lorien served for real by `k8s serve-federation`),
# members A and B. FederatedCluster alpha joins A directly, beta joins B directly, and sick joins B
# through `k8s fault-proxy` with a ServiceAccount token (forwarded as is: the apiserver itself
# authorizes it). sick is then made slow (answers after 20 s), a black hole, a 500 source and a 429
# source; after each, `fault pass` must bring it back. Checks, per fault: sick Ready=False and
# Offline=True with a message naming the fault; alpha and beta keep probing at their period (the
# operator's kubefed_member_probes_total, and A's own apiserver request count) and never flap; the
# requests reaching the proxy stay bounded by the probe period (no retry storm); a full re-join
# against a black hole ends in a bounded time with a condition naming the timeout; the operator
# stays up.
TEST=fault.member RESOURCE=federatedcluster CLUSTER=fmember NODES=1 NS="fmember-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
START=$SECONDS

MA="fm-a-$$" MB="fm-b-$$" FED=lorien
RUN_ROOT="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}"
on_finish() {
  for c in "fed-$NS-$FED" "$MA" "$MB"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  stop_operator
  say "fault.member ran $((SECONDS - START)) s"
}
PERIOD=3   # spec.health.periodSeconds of every member here (timeoutSeconds 2)

AKC=$("$HARNESS" up "$MA" --nodes 1) || { fail "up $MA"; exit 1; }
BKC=$("$HARNESS" up "$MB" --nodes 1) || { fail "up $MB"; exit 1; }
PROXY=$("$HARNESS" fault-proxy "$MB") || { fail "fault-proxy $MB"; exit 1; }
REQS="$RUN_ROOT/$MB/fault-proxy.requests"
BK() { "$KUBECTL" --kubeconfig "$BKC" --request-timeout=20s "$@"; }

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator

# ---- the federation, served for real -------------------------------------------------------------
serve_federation "$FED"

# ---- member credentials: A and B's admin certificates; a ServiceAccount token through the proxy ---
BK create serviceaccount -n kube-system fault-joiner >/dev/null
BK create clusterrolebinding fault-joiner --clusterrole=cluster-admin --serviceaccount=kube-system:fault-joiner >/dev/null
TOKEN=$(BK create token -n kube-system fault-joiner --duration=2h) || { fail "token for fault-joiner"; exit 1; }
cat >"$TMP/sick.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: sick, cluster: {server: "$PROXY", certificate-authority-data: $(base64 -w0 <"$RUN_ROOT/$MB/pki/ca.crt")}}]
users: [{name: fault-joiner, user: {token: "$TOKEN"}}]
contexts: [{name: sick, context: {cluster: sick, user: fault-joiner}}]
current-context: sick
EOF
# The proxy forwards the token as is: a wrong token is the apiserver's 401, not the proxy's admin.
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$RUN_ROOT/$MB/pki/ca.crt" -H "Authorization: Bearer not-a-token" "$PROXY/api/v1/namespaces")
check "through the proxy, a bogus token is refused by the member (401, got $code)" test "$code" = 401
check "through the proxy, the token is the ServiceAccount's" \
  bash -c "'$KUBECTL' --kubeconfig '$TMP/sick.kubeconfig' auth whoami -o jsonpath='{.status.userInfo.username}' | grep -qx system:serviceaccount:kube-system:fault-joiner"

K create secret generic -n "$NS" alpha-admin --from-file=kubeconfig="$AKC" >/dev/null
K create secret generic -n "$NS" beta-admin --from-file=kubeconfig="$BKC" >/dev/null
K create secret generic -n "$NS" sick-admin --from-file=kubeconfig="$TMP/sick.kubeconfig" >/dev/null
for fc in alpha beta sick; do
  K apply -f - >/dev/null <<EOF || { fail "FederatedCluster $fc refused"; exit 1; }
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: $fc, namespace: $NS}
spec:
  federationRef: {name: $FED}
  kubeconfigSecretRef: {name: $fc-admin}
  dns: {mode: None}
  health: {periodSeconds: $PERIOD, timeoutSeconds: 2, failureThreshold: 2, successThreshold: 1}
EOF
done
for fc in alpha beta sick; do
  wait_until "$fc: Ready" 90 cond_is federatedcluster "$fc" Ready "True Healthy" || exit 1
done
check "sick joined through the proxy (its ServiceAccount exists in B)" BK get serviceaccount -n federation-system "kubefed-$FED-sick"
check "the proxy saw sick's join (POST requests in its log)" grep -q " pass POST " "$REQS"
ltt() { J federatedcluster "$1" | jq -r '.status.conditions[] | select(.type=="Ready") | .lastTransitionTime'; }
ALPHA_LTT=$(ltt alpha) BETA_LTT=$(ltt beta)

# ---- measurements ----------------------------------------------------------------------------------
probes() {  # probes FC RESULT: the operator's count of FC's probes with RESULT
  curl -sf "http://127.0.0.1:$METRICS/metrics" |
    awk -v k="kubefed_member_probes_total{federatedcluster=\"$NS/$1\",result=\"$2\"}" '$1 == k {print $2; f=1} END {if (!f) print 0}'
}
a_readyz() {  # GET /readyz requests A's own apiserver served (only alpha probes A)
  curl -sf --max-time 10 --cacert "$RUN_ROOT/$MA/pki/ca.crt" --cert "$RUN_ROOT/$MA/pki/admin.crt" \
    --key "$RUN_ROOT/$MA/pki/admin.key" "$(cat "$RUN_ROOT/$MA/server")/metrics" |
    awk '/^apiserver_request_total\{/ && /subresource="\/readyz"/ && /verb="GET"/ {s += $2} END {print s + 0}'
}
reqs() { wc -l <"$REQS"; }
msg() { J federatedcluster "$1" | jq -r --arg t "$2" '.status.conditions[]? | select(.type==$t) | .message'; }
sick_says() {  # sick_says REGEX: Ready False (Offline) and Offline True, both naming REGEX
  cond_is federatedcluster sick Ready "False Offline" && cond_is federatedcluster sick Offline "True ProbeFailed" &&
    msg sick Ready | grep -qE "$1" && msg sick Offline | grep -qE "$1"
}
check "A's apiserver counts /readyz requests (the independent probe count works)" test "$(a_readyz)" -gt 0

WINDOW=20   # seconds each fault is held and measured
# fault_window DESC REGEX MODE...: make sick sick, check what it says and what the others keep doing.
fault_window() {
  local desc="$1" re="$2"; shift 2
  local t0 a0 b0 s0 m0 r0 dt da db ds dm dr
  t0=$(date +%s.%N) a0=$(probes alpha success) b0=$(probes beta success) s0=$(probes sick failure)
  m0=$(a_readyz) r0=$(reqs)
  "$HARNESS" fault "$MB" "$@" || { fail "fault $MB $*"; return; }
  wait_until "sick $desc: Ready False Offline, Offline True, both saying /$re/" 30 sick_says "$re"
  say "sick: $(msg sick Ready)"
  sleep "$(awk -v t0="$t0" -v w="$WINDOW" -v now="$(date +%s.%N)" 'BEGIN {d = w - (now - t0); print (d > 0 ? d : 0)}')"
  dt=$(awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN {printf "%d", now - t0}')
  da=$(($(probes alpha success) - a0)) db=$(($(probes beta success) - b0)) ds=$(($(probes sick failure) - s0))
  dm=$(($(a_readyz) - m0)) dr=$(($(reqs) - r0))
  say "$desc: ${dt}s: alpha $da probes (A's apiserver saw $dm), beta $db, sick $ds failed; $dr requests reached the proxy"
  # A probe every period plus the probe's own time: at least half the ideal count is generous
  # slack on 2 shared cores; a healthy member stuck behind the sick one would get next to none.
  local want=$((dt / PERIOD / 2)) most=$((dt / PERIOD + 3))
  check "$desc: alpha kept probing every ${PERIOD}s ($da in ${dt}s, want >= $want)" test "$da" -ge "$want"
  check "$desc: A's apiserver confirms alpha's probes ($dm in ${dt}s, want >= $want)" test "$dm" -ge "$want"
  check "$desc: beta kept probing every ${PERIOD}s ($db in ${dt}s, want >= $want)" test "$db" -ge "$want"
  if cond_is federatedcluster alpha Ready "True Healthy" && cond_is federatedcluster beta Ready "True Healthy"; then
    pass "$desc: alpha and beta stay Ready"
  else
    fail "$desc: alpha or beta not Ready: $(cond federatedcluster alpha Ready) / $(cond federatedcluster beta Ready)"
  fi
  check "$desc: sick is still probed ($ds failed probes)" test "$ds" -ge 2
  check "$desc: no retry storm: $dr requests reached the proxy in ${dt}s (<= one per period + 3 = $most)" test "$dr" -le "$most"
  "$HARNESS" fault "$MB" pass || fail "fault $MB pass"
  wait_until "sick Ready again after 'fault pass' ($desc)" 30 cond_is federatedcluster sick Ready "True Healthy"
  check "sick: Offline False again" cond_is federatedcluster sick Offline "False Reachable"
}

# The join's own tail (its last reconciles, the drift watches' first lists) must be over before a fault
# starts: "no retry storm" counts what the fault causes, not a join still finishing through the proxy.
join_settled() { local a b; a=$(reqs); sleep $((2 * PERIOD)); b=$(reqs); [ $((b - a)) -le 3 ]; }
wait_until "sick's join settled (only its probes reach the proxy)" 60 join_settled
fault_window "slow (answers after 20 s)" "timed out" delay 20
fault_window "black hole" "timed out" blackhole
fault_window "HTTP 500" "500" status 500
fault_window "HTTP 429" "throttled.*429" status 429 2

# ---- a full re-join against a black hole: bounded, and it says so ----------------------------------
# A spec change makes the next reconcile a full join (namespace, RBAC, token, ...), not a probe.
"$HARNESS" fault "$MB" blackhole
r0=$(reqs) t0=$SECONDS
K patch -n "$NS" federatedcluster sick --type=merge -p '{"spec":{"health":{"timeoutSeconds":1}}}' >/dev/null ||
  fail "patching sick's spec refused"
rejoin_says() { cond_is federatedcluster sick Ready "False Unreachable" && msg sick Ready | grep -q "timed out"; }
wait_until "re-join against a black hole: Ready False Unreachable naming the timeout" 90 rejoin_says
took=$((SECONDS - t0))
say "re-join: $(cond federatedcluster sick CredentialsValid): $(msg sick CredentialsValid)"
check "the re-join gave up within 60 s (${took}s)" test "$took" -le 60
sleep 10
dr=$(($(reqs) - r0)) dt=$((SECONDS - t0))
# Join attempts (each at most 2 requests, about 20 s apart) plus the member's health probe, which
# runs on its own timer every period, also while a join fails.
most=$((12 + dt / PERIOD + 1))
check "re-join: $dr requests reached the proxy in ${dt}s (bounded: <= 12 + one probe per period = $most)" test "$dr" -le "$most"
"$HARNESS" fault "$MB" pass
wait_until "sick Ready again after the black hole is lifted" 60 cond_is federatedcluster sick Ready "True Healthy"
check "sick: Joined True again" cond_is federatedcluster sick Joined "True Joined"

check "alpha never flapped (Ready lastTransitionTime unchanged)" test "$(ltt alpha)" = "$ALPHA_LTT"
check "beta never flapped (Ready lastTransitionTime unchanged)" test "$(ltt beta)" = "$BETA_LTT"
check "the operator is still running" operator_alive
if grep -q "ERROR: AddressSanitizer\|runtime error:" "$OPLOG"; then fail "sanitizer report in the operator log"; else pass "no sanitizer report in the operator log"; fi
