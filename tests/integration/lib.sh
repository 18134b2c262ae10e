# Shared by the bash integration tests (federation_crd.sh, cluster_crd.sh,
# federation_controlplane.sh, cluster_join.sh): a cluster of their own, PASS/FAIL bookkeeping
# ending in "N passed, M failed", helpers that assert what the apiserver accepts and refuses,
# and, for the tests that run the operator binary, start_operator / wait_until / check.
# Source it after setting TEST (the ctest name, for logs), RESOURCE (the kubectl resource
# under test) and optionally CLUSTER (name prefix) and NODES (kwok nodes: controllers run).
set -uo pipefail
shopt -s lastpipe   # `producer | check` runs check in this shell, so the counters survive

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/tests/harness/k8s}"
. "$ROOT/tests/assert.sh"   # say pass fail must check wait_until free_port operator_alive
NAME="${CLUSTER:-${TEST%%.*}-crd}-$$"
NS="${NS:-federation-system}"
TMP="$(mktemp -d)"

finish() {
  local rc=$?
  trap - EXIT INT TERM
  # A script that stopped early (a syntax error, an unbound variable, a failed last command) has not
  # checked all it should: never a pass.
  [ "$rc" -eq 0 ] || [ "$FAILED" -gt 0 ] || fail "the script stopped with status $rc before its end"
  if declare -F on_finish >/dev/null; then on_finish; fi
  say "cleanup: down $NAME"
  "$HARNESS" down "$NAME" >&2 || true
  rm -rf "$TMP"
  exit_with_summary
}
trap finish EXIT
trap 'fail "interrupted"; finish' INT TERM

KUBECTL="$("$HARNESS" bin kubectl)" || { fail "harness has no kubectl (run: $HARNESS build)"; exit 1; }
# UP_ARGS (an array, optional): more `k8s up` flags for this cluster, e.g. --apiserver-arg=...
KC="$("$HARNESS" up "$NAME" ${NODES:+--nodes "$NODES"} ${UP_ARGS[@]+"${UP_ARGS[@]}"})" || { fail "harness up $NAME"; exit 1; }
K() { "$KUBECTL" --kubeconfig "$KC" --cache-dir "$TMP/kcache" --request-timeout=20s "$@"; }

# install_crds FILE...: apply crds/FILE and wait until each CRD is Established.
install_crds() {
  local f out crd
  for f in "$@"; do
    if out=$(K apply -f "$ROOT/crds/$f" -o name 2>&1); then pass "CRD $f applied"; else fail "CRD $f: $out"; exit 1; fi
    crd="${out##*/}"
    # kubectl wait can also fail at once (an error reading the CRD just created, seen once in a full
    # run on a loaded machine): that is tried again within the same minute, and its message shown.
    local deadline=$((SECONDS + 60))
    until out=$(K wait --for=condition=Established "crd/$crd" --timeout=60s 2>&1); do
      [ $SECONDS -lt $deadline ] || { fail "CRD $crd not Established: $out"; exit 1; }
      sleep 1
    done
    pass "CRD $crd Established"
  done
  K create namespace "$NS" >/dev/null
}

# accepted DESC [create-flags]: stdin must be accepted (server-side dry run unless "real").
accepted() {
  local desc="$1" mode="${2:-dry}" out
  local args=(create -f -)
  [ "$mode" = dry ] && args=(create --dry-run=server -f -)
  if out=$(K "${args[@]}" 2>&1); then pass "accepted: $desc"; else fail "accepted: $desc: $out"; fi
}
# refused DESC FIELD...: stdin must be refused and the error must mention every FIELD.
refused() {
  local desc="$1"; shift
  local out f
  if out=$(K create --dry-run=server -f - 2>&1); then
    fail "refused: $desc: was accepted"; return
  fi
  for f in "$@"; do
    if ! grep -qF -- "$f" <<<"$out"; then fail "refused: $desc: error does not name '$f': $out"; return; fi
  done
  pass "refused: $desc (names $*)"
}
# update_refused DESC OBJ PATCH FIELD...: a merge patch on an existing object is refused.
update_refused() {
  local desc="$1" obj="$2" patch="$3"; shift 3
  local out f
  if out=$(K patch -n "$NS" "$RESOURCE/$obj" --type=merge -p "$patch" --dry-run=server 2>&1); then
    fail "update refused: $desc: was accepted"; return
  fi
  for f in "$@"; do
    if ! grep -qF -- "$f" <<<"$out"; then fail "update refused: $desc: error does not name '$f': $out"; return; fi
  done
  pass "update refused: $desc (names $*)"
}
update_accepted() {
  local desc="$1" obj="$2" patch="$3" out
  if out=$(K patch -n "$NS" "$RESOURCE/$obj" --type=merge -p "$patch" 2>&1); then
    pass "update accepted: $desc"
  else
    fail "update accepted: $desc: $out"
  fi
}
# field OBJ JSONPATH WANT
field() {
  local got
  got=$(K get -n "$NS" "$RESOURCE/$1" -o "jsonpath={$2}" 2>&1)
  if [ "$got" = "$3" ]; then pass "field $1 $2 = $3"; else fail "field $1 $2: want '$3', got '$got'"; fi
}


# ---- for tests that run the operator binary ($KF_OPERATOR) ----------------------------------
OPLOG="$TMP/operator.log"
OPPID=""
# start_operator [FLAG...]: the operator on $KC, watching $NS, health and metrics on free loopback
# ports ($HEALTH, $METRICS), --controller-manager-image $KF_CM_IMAGE, extra FLAGs appended (e.g.
# --log-level debug; a later flag wins), ready within 60 s; stopped (and its log shown on failure)
# by finish. A restarted operator appends to the same $OPLOG.
start_operator() {
  [ -x "${KF_OPERATOR:-}" ] || { fail "KF_OPERATOR is not an executable operator binary: '${KF_OPERATOR:-}'"; exit 1; }
  command -v jq >/dev/null || { fail "jq is missing (tests/install-deps.sh installs it)"; exit 1; }
  HEALTH=$(free_port 20000 29999) METRICS=$(free_port 20000 29999)
  "$KF_OPERATOR" --kubeconfig "$KC" --namespace "$NS" --health-bind-address "127.0.0.1:$HEALTH" \
    --metrics-bind-address "127.0.0.1:$METRICS" --controller-manager-image "$KF_CM_IMAGE" "$@" >>"$OPLOG" 2>&1 &
  OPPID=$!
  wait_until "operator ready (/readyz)" 60 curl -sf "http://127.0.0.1:$HEALTH/readyz"
}
stop_operator() {
  if [ -n "$OPPID" ]; then kill "$OPPID" 2>/dev/null; wait "$OPPID" 2>/dev/null; fi
  if [ "$FAILED" -gt 0 ] && [ -f "$OPLOG" ]; then say "---- operator log (last 60 lines) ----"; tail -n 60 "$OPLOG" >&2; fi
}
J() { K get -n "$NS" "$@" -o json 2>/dev/null; }
# mint_client ID SUBJECT: $TMP/ID.kubeconfig, the host's kubeconfig with a client certificate of its
# own for SUBJECT (e.g. /CN=someone), signed by the host's CA ($TMP/ID.crt, $TMP/ID.key).
mint_client() {
  local id=$1 subject=$2 pki="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}/$NAME/pki"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/$id.key" 2>/dev/null &&
    openssl req -new -key "$TMP/$id.key" -subj "$subject" -out "$TMP/$id.csr" 2>/dev/null &&
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$TMP/$id.ext" &&
    openssl x509 -req -in "$TMP/$id.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
      -days 1 -sha256 -extfile "$TMP/$id.ext" -out "$TMP/$id.crt" 2>/dev/null &&
    cp "$KC" "$TMP/$id.kubeconfig" &&
    "$KUBECTL" --kubeconfig "$TMP/$id.kubeconfig" config set-credentials "$NAME" --embed-certs \
      --client-certificate="$TMP/$id.crt" --client-key="$TMP/$id.key" >/dev/null
}
# cond KIND NAME TYPE: "STATUS REASON" of NAME's condition TYPE; cond_is KIND NAME TYPE "STATUS REASON".
cond() { J "$1" "$2" | jq -r --arg t "$3" '.status.conditions[]? | select(.type==$t) | "\(.status) \(.reason)"'; }
cond_is() { [ "$(cond "$1" "$2" "$3")" = "$4" ]; }
# serve_federation NAME [DNS]: Federation NAME in $NS (spec.dns DNS, a YAML flow mapping; default
# CoreDNS with zone NAME.example.com.) on a free NodePort advertised on 127.0.0.1, its apiserver
# Deployment run for real by `k8s serve-federation`, then Ready. Ends the test when one step fails.
serve_federation() {
  local name=$1 port
  local dns=${2:-"{provider: coredns, zoneName: $name.example.com., corednsNameservers: [\"127.0.0.1:15353\"]}"}
  port=$(free_port 30000 32767)
  K apply -f - >/dev/null <<EOF || { fail "Federation $name refused"; exit 1; }
apiVersion: kubefed.dev/v1alpha1
kind: Federation
metadata: {name: $name, namespace: $NS}
spec:
  dns: $dns
  apiServer: {service: {type: NodePort, nodePort: $port}, advertiseAddress: 127.0.0.1}
EOF
  wait_until "$name: apiserver Deployment" 60 exists deployment "$name-apiserver" || exit 1
  "$HARNESS" serve-federation "$KC" "$NS" "$name" >/dev/null || { fail "serve-federation $name"; exit 1; }
  wait_until "$name: Federation Ready" 120 cond_is federation "$name" Ready "True Ready" || exit 1
}
# finish_federation CLUSTER...: teardown of a test with a federation served as fellowship: a failure
# when the controller manager's logs (this run's and earlier runs') hold a sanitizer report; on failure
# its last 40 log lines; then CLUSTER... and the federation down, the operator
# stopped. Call it from on_finish.
finish_federation() {
  local logs="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}/fed-$NS-fellowship/logs" reports
  # A crash that serve-federation restarted shows only as missing results: its sanitizer report says it.
  reports=$(grep -h -A12 -E 'ERROR: AddressSanitizer|runtime error:' "$logs"/kubefed-controller-manager*.log 2>/dev/null)
  if [ -n "$reports" ]; then
    fail "the controller manager's log has a sanitizer report"
    printf '%s\n' "$reports" | head -n 60 >&2
  fi
  if [ "$FAILED" -gt 0 ]; then
    say "---- controller manager log (last 40 lines) ----"
    tail -n 40 "$logs/kubefed-controller-manager.log" >&2 2>/dev/null || true
  fi
  # In parallel: each down waits up to 15 s per phase for an apiserver's graceful shutdown.
  local c pids=()
  for c in "$@" "fed-$NS-fellowship"; do
    "$HARNESS" down "$c" >&2 2>/dev/null &
    pids+=($!)
  done
  wait "${pids[@]}" 2>/dev/null || true
  stop_operator
}
# join_member NAME KUBECONFIG [LABELS]: FederatedCluster NAME of Federation fellowship from KUBECONFIG
# (stored as Secret NAME-admin), spec.clusterLabels LABELS (a YAML flow mapping), no DNS, probed every
# 2 s. Does not wait: callers wait for Ready once every member is created (joins run in parallel).
join_member() {
  local name=$1 kubeconfig=$2 labels=${3:-"{}"}
  K create secret generic -n "$NS" "$name-admin" --from-file=kubeconfig="$kubeconfig" >/dev/null
  K apply -f - >/dev/null <<EOF || { fail "FederatedCluster $name refused"; exit 1; }
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: $name, namespace: $NS}
spec:
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: $name-admin}
  clusterLabels: $labels
  dns: {mode: None}
  health: {periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1}
EOF
}
exists() { K get -n "$NS" "$@" >/dev/null 2>&1; }
gone() { ! K get -n "$NS" "$@" >/dev/null 2>&1; }
secret_key() { J secret "$1" | jq -r --arg k "$2" '.data[$k] // empty' | base64 -d; }
