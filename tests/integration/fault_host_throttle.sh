#!/usr/bin/env bash
# fault.host-throttle (issue #8): a storm of 429s from the host apiserver's own flow control (API
# Priority and Fairness, switched on for this host). The operator runs as a user of its own (not
# system:masters, which APF exempts), bound to cluster-admin. The storm: a PriorityLevelConfiguration
# with no seats (nominalConcurrencyShares 0, nothing lent or borrowed, limitResponse Reject), a
# FlowSchema sending every request of that user to it, and a loader keeping the level busy, so each
# new request of the operator to the host is answered 429 (its open watches stay). During the storm: a Federation spec edit, a new
# FederatedCluster, a deleted one, a spec edit of another, and a deleted child Secret (drift). Then
# the FlowSchemas go. Checks: the storm is real (the changes are not applied during it); the
# operator stays alive and backs off (its request rate during the storm, from the apiserver's
# apiserver_flowcontrol_rejected_requests_total and its own kubefed_api_requests_total, is bounded);
# after the storm every change is reflected (no lost update), conditions converge, and nothing was
# deleted or duplicated (object inventories on host, member and federation API).
TEST=fault.host-throttle RESOURCE=federatedcluster CLUSTER=throttle NODES=1 NS="throttle-$$"
UP_ARGS=(--apiserver-arg=--enable-priority-and-fairness=true)
STORM_S=${STORM_S:-30}
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MEMBER="thm-$$" USER_NAME="kubefed-throttled-$$"
RUN_ROOT="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}"
on_finish() {
  if declare -F stop_storm_load >/dev/null; then stop_storm_load; fi
  stop_operator
  for c in "fed-$NS-fellowship" "$MEMBER"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  say "runtime: $((SECONDS - T0)) s"
}
MKC=$("$HARNESS" up "$MEMBER" --nodes 1) || { fail "up $MEMBER"; exit 1; }
MK() { "$KUBECTL" --kubeconfig "$MKC" --request-timeout=20s "$@"; }
install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml

# The operator's identity: a client certificate of its own (no group), cluster-admin by binding.
pki="$RUN_ROOT/$NAME/pki"
must "client certificate for $USER_NAME" mint_client op "/CN=$USER_NAME"
K create clusterrolebinding "$USER_NAME" --clusterrole=cluster-admin --user="$USER_NAME" >/dev/null
KC="$TMP/op.kubeconfig" start_operator

metric() {  # metric REGEX: the sum of the operator's matching metric lines
  curl -sf --max-time 10 "http://127.0.0.1:$METRICS/metrics" | awk -v re="$1" '$0 ~ re && $0 !~ /^#/ {n += $NF} END {printf "%.0f\n", n + 0}'
}
op_requests() { metric '^kubefed_api_requests_total'; }
op_429() { metric '^kubefed_api_requests_total.*code="429"'; }
rejected() {  # requests the host's APF rejected for our FlowSchema
  K get --raw /metrics | awk '/^apiserver_flowcontrol_rejected_requests_total/ && /flow_schema="kf-storm"/ {n += $NF} END {printf "%.0f\n", n + 0}'
}
cond_status() { J "$1" "$2" | jq -r --arg t "$3" '.status.conditions[]? | select(.type==$t) | .status'; }
fc_settled() {  # fc_settled NAME: Ready True at its current generation
  J federatedcluster "$1" | jq -e '.status.observedGeneration == .metadata.generation and
    any(.status.conditions[]?; .type=="Ready" and .status=="True")' >/dev/null
}

# ---- the federation, served for real, and four members -----------------------------------------
serve_federation fellowship "{provider: google-clouddns, zoneName: example.com.}"
fed_settled() { J federation fellowship | jq -e '.status.observedGeneration == .metadata.generation and
  any(.status.conditions[]?; .type=="Ready" and .status=="True")' >/dev/null; }
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/fed.kubeconfig"
FK() { "$KUBECTL" --kubeconfig "$TMP/fed.kubeconfig" --request-timeout=20s "$@"; }
member() {  # member NAME: its credential Secret and FederatedCluster
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s-admin, namespace: %s}\ndata: {kubeconfig: %s}\n' \
    "$1" "$NS" "$(base64 -w0 <"$MKC")"
  printf -- '---\napiVersion: kubefed.dev/v1alpha1\nkind: FederatedCluster\nmetadata: {name: %s, namespace: %s}\n' "$1" "$NS"
  printf 'spec: {federationRef: {name: fellowship}, kubeconfigSecretRef: {name: %s-admin}, dns: {mode: None}}\n' "$1"
}
for m in m-1 m-2 m-3 m-4; do member "$m"; done | K apply -f - >/dev/null
for m in m-1 m-2 m-3 m-4; do wait_until "$m joined and Ready" 90 fc_settled "$m"; done
uids_before=$(J federatedclusters | jq -r '.items[] | select(.metadata.name != "m-2") | "\(.metadata.name) \(.metadata.uid)"' | sort)

# ---- the storm ------------------------------------------------------------------------------------
# A priority level with no seats still runs one request when none is executing, so a loader (a user
# of its own, in the same priority level) keeps one request executing at all times: configmap creates
# held for 10 s each by a validating webhook whose URL accepts connections and never answers
# (failurePolicy Ignore). Every request of the operator's user then finds the level full: 429.
HANG_PORT=$(free_port 20000 29999)
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024)
held = []
while True:
    held.append(s.accept()[0])   # accepted, never answered: the webhook call times out
' "$HANG_PORT" >/dev/null 2>&1 &
HANG_PID=$!
LOAD_USER="kf-storm-load-$$"
mint_user() {  # mint_user USER FILE-PREFIX: a client certificate (no group) signed by the host's CA
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2.key" 2>/dev/null &&
    openssl req -new -key "$2.key" -subj "/CN=$1" -out "$2.csr" 2>/dev/null &&
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$2.ext" &&
    openssl x509 -req -in "$2.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
      -days 1 -sha256 -extfile "$2.ext" -out "$2.crt" 2>/dev/null
}
must "client certificate for the loader $LOAD_USER" mint_user "$LOAD_USER" "$TMP/load"
K create namespace "load-$$" >/dev/null
K create role -n "load-$$" load --verb=create --resource=configmaps >/dev/null
K create rolebinding -n "load-$$" load --role=load --user="$LOAD_USER" >/dev/null
K apply -f - >/dev/null <<EOF || { fail "creating the storm's webhook, PriorityLevelConfiguration and FlowSchemas"; exit 1; }
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: kf-storm-$$}
webhooks:
- name: hang.kf-storm.test
  clientConfig: {url: "https://127.0.0.1:$HANG_PORT/", caBundle: $(base64 -w0 <"$pki/ca.crt")}
  rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps], scope: Namespaced}]
  objectSelector: {matchLabels: {kf-storm: load}}
  failurePolicy: Ignore
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {name: kf-storm}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 0
    lendablePercent: 0
    borrowingLimitPercent: 0
    limitResponse: {type: Reject}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: kf-storm}
spec:
  priorityLevelConfiguration: {name: kf-storm}
  matchingPrecedence: 100
  distinguisherMethod: {type: ByUser}
  rules:
  - subjects: [{kind: User, user: {name: $USER_NAME}}]
    resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"], clusterScope: true}]
    nonResourceRules: [{verbs: ["*"], nonResourceURLs: ["*"]}]
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: kf-storm-load}
spec:
  priorityLevelConfiguration: {name: kf-storm}
  matchingPrecedence: 101
  rules:
  - subjects: [{kind: User, user: {name: $LOAD_USER}}]
    resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"], clusterScope: true}]
EOF
SERVER=$(cat "$RUN_ROOT/$NAME/server")
load_loop() {  # one request of the loader at a time, back to back (after a 429, 0.1 s later)
  local code
  while [ ! -e "$TMP/load.stop" ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 --cacert "$pki/ca.crt" --cert "$TMP/load.crt" --key "$TMP/load.key" \
      -H 'Content-Type: application/json' -X POST "$SERVER/api/v1/namespaces/load-$$/configmaps" \
      -d '{"metadata":{"generateName":"load-","labels":{"kf-storm":"load"}}}')
    [ "$code" != 429 ] || sleep 0.1
  done
}
LOAD_PIDS=()
for _ in 1 2 3; do load_loop & LOAD_PIDS+=($!); done
stop_storm_load() {
  touch "$TMP/load.stop"
  local p; for p in "${LOAD_PIDS[@]}"; do pkill -P "$p" curl 2>/dev/null; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  LOAD_PIDS=()
  [ -z "${HANG_PID:-}" ] || { kill "$HANG_PID" 2>/dev/null; wait "$HANG_PID" 2>/dev/null; HANG_PID=""; }
}
throttled() { [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$pki/ca.crt" --cert "$TMP/op.crt" --key "$TMP/op.key" \
  "$SERVER/api/v1/namespaces/$NS/secrets?limit=1")" = 429 ]; }
wait_until "storm on: the operator's user gets 429 from the host" 30 throttled
retry_after=$(curl -s -D - -o /dev/null --cacert "$pki/ca.crt" --cert "$TMP/op.crt" --key "$TMP/op.key" \
  "$SERVER/api/v1/namespaces/$NS/secrets?limit=1" | awk -F': ' 'tolower($1)=="retry-after" {print $2+0}')
say "the host's 429s say Retry-After: ${retry_after:-none}"
r0=$(rejected) q0=$(op_requests) t429_0=$(op_429) t_storm=$SECONDS
gen_fed=$(($(J federation fellowship | jq .metadata.generation) + 1))
gen_m1=$(($(J federatedcluster m-1 | jq .metadata.generation) + 1))
check "during the storm: Federation spec edit (controllerManager.extraArgs v=4)" \
  K patch -n "$NS" federation fellowship --type=merge -p '{"spec":{"controllerManager":{"extraArgs":{"v":"4"}}}}'
add_m5() { member m-5 | K apply -f -; }
check "during the storm: new FederatedCluster m-5" add_m5
check "during the storm: delete FederatedCluster m-2" K delete -n "$NS" federatedcluster m-2 --wait=false
check "during the storm: m-1's health period 10 -> 7" \
  K patch -n "$NS" federatedcluster m-1 --type=merge -p '{"spec":{"health":{"periodSeconds":7}}}'
check "during the storm: delete m-3's credential Secret m-3-credentials (drift)" K delete -n "$NS" secret m-3-credentials
end=$((t_storm + STORM_S))
while [ $SECONDS -lt $end ]; do
  operator_alive || break
  sleep 2
done
check "the operator stayed alive through the ${STORM_S} s storm" operator_alive
storm_s=$((SECONDS - t_storm))
r1=$(rejected) q1=$(op_requests) t429_1=$(op_429)
rej=$((r1 - r0)) reqs=$((q1 - q0)) own429=$((t429_1 - t429_0))
say "storm: ${storm_s} s, host rejected $rej requests of the operator ($(echo "scale=1; $rej / $storm_s" | bc)/s); the operator counted $reqs requests, $own429 of them 429"
check "the storm was real: the host rejected the operator's requests ($rej > 0, operator saw $own429 429s)" test "$rej" -gt 0 -a "$own429" -gt 0
storm_held() { exists federatedcluster m-2 && ! fc_settled m-5; }
check "the storm was real: m-2 still there (its unjoin needs the host), m-5 not joined" storm_held
# Backing off: APF's Retry-After grows with the rejections (1, 4, 8 ... s; the client waits as told,
# at most 30 s) and the work queue backs off per item, so well under one request a second here; a
# client retrying at once would send hundreds.
check "backed off: $(echo "scale=1; $rej / $storm_s" | bc) rejected requests/s during the storm <= 10/s" test "$rej" -le $((10 * storm_s))

# ---- after the storm ----------------------------------------------------------------------------------
K delete flowschema kf-storm kf-storm-load >/dev/null && K delete prioritylevelconfiguration kf-storm >/dev/null
stop_storm_load
K delete validatingwebhookconfiguration "kf-storm-$$" >/dev/null
t_off=$SECONDS
served() { ! throttled; }
wait_until "storm over: the operator's user is served again" 30 served
wait_until "no lost update: m-5 joined and Ready" 120 fc_settled m-5
wait_until "no lost update: m-2 unjoined and gone" 120 gone federatedcluster m-2
m1_done() { fc_settled m-1 && [ "$(J federatedcluster m-1 | jq .status.observedGeneration)" = "$gen_m1" ]; }
wait_until "no lost update: m-1 at its new generation ($gen_m1), Ready" 120 m1_done
wait_until "no lost update: drift repaired, m-3-credentials back" 120 exists secret m-3-credentials
fed_done() { fed_settled && [ "$(J federation fellowship | jq .status.observedGeneration)" = "$gen_fed" ]; }
wait_until "no lost update: Federation at generation $gen_fed, Ready" 120 fed_done
cm_v4() { J deployment fellowship-controller-manager | jq -e '[.spec.template.spec.containers[] | (.command // [])[], (.args // [])[]] | any(. == "--v=4")' >/dev/null; }
check "no lost update: the controller-manager Deployment runs with --v=4" cm_v4
conds_ok() { [ "$(cond_status federatedcluster "$1" Ready)/$(cond_status federatedcluster "$1" Offline)/$(cond_status federatedcluster "$1" Joined)" = True/False/True ]; }
for m in m-1 m-3 m-4 m-5; do wait_until "$m: Ready, Offline False, Joined" 60 conds_ok "$m"; done
say "recovered $((SECONDS - t_off)) s after the storm"

# ---- nothing deleted, nothing duplicated ---------------------------------------------------------
want="m-1 m-3 m-4 m-5"
check "host: FederatedClusters are exactly $want" test "$(J federatedclusters | jq -r '[.items[].metadata.name] | sort | join(" ")')" = "$want"
uids_after=$(J federatedclusters | jq -r '.items[] | select(.metadata.name != "m-5") | "\(.metadata.name) \(.metadata.uid)"' | sort)
check "host: m-1, m-3, m-4 are the same objects (UIDs unchanged)" test "$uids_before" = "$uids_after"
check "host: one credential Secret per member" test "$(K get secrets -n "$NS" -l kubefed.dev/cluster -o json | jq -r '[.items[].metadata.name] | sort | join(" ")')" = "m-1-credentials m-3-credentials m-4-credentials m-5-credentials"
check "federation API: Clusters are exactly $want" test "$(FK get clusters -o json | jq -r '[.items[].metadata.name] | sort | join(" ")')" = "$want"
for kind in serviceaccounts clusterroles clusterrolebindings; do
  got=$(MK get "$kind" -A -l kubefed.dev/cluster -o json | jq -r '[.items[].metadata.labels["kubefed.dev/cluster"]] | sort | join(" ")')
  check "member: one $kind per member ($got)" test "$got" = "$want"
done
check "the operator is alive after the storm" operator_alive
check "the operator warned about the throttling (429) it waited out" grep -q 'level=warn msg="the API server is throttling requests (429)' "$OPLOG"
say "the operator's warnings: $(grep -c 'level=warn' "$OPLOG"), of them about throttling: $(grep -c 'throttling requests' "$OPLOG")"
