#!/usr/bin/env bash
# cli.kubefed: the kubefed CLI runs kubefed v1's documented commands against real clusters and
# each ends in the state the CRs produce. A host (context rivendell) and two members (contexts
# gondor_needs-no_king and noldor) merged into one kubeconfig, the CRDs, the operator binary
# (KF_OPERATOR) watching federation-system; then KUBEFED:
#   init fellowship (coredns + provider config, NodePort on 127.0.0.1) while `k8s serve-federation`
#   runs its apiserver -> exit 0, endpoint printed, context fellowship added and working;
#   join gondor --cluster-context=gondor_needs-no_king; join noldor --secret-name=11kingdom ->
#   Ready, Cluster objects in the federation API, Secret 11kingdom; unjoin gondor -> gone;
#   plus exit codes: basic auth 2, unknown flag 2, exec credentials 2, timeout 3, --dry-run -o yaml.
# Its own harness run root, so its fed-federation-system-fellowship never meets another one.
set -uo pipefail
shopt -s lastpipe

TEST=cli.kubefed
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/tests/harness/k8s}"
. "$ROOT/tests/assert.sh"   # say pass fail must check wait_until free_port operator_alive
OPERATOR="${KF_OPERATOR:-}"
KUBEFED="${KUBEFED:-}"
HOST="cli-host-$$" GONDOR="cli-gondor-$$" NOLDOR="cli-noldor-$$"
NS=federation-system
TMP="$(mktemp -d)"
export KUBEFED_TEST_RUN="$TMP/clusters"
OPLOG="$TMP/operator.log"
OPPID="" INITPID=""


finish() {
  trap - EXIT INT TERM
  if [ -n "$INITPID" ]; then kill "$INITPID" 2>/dev/null; wait "$INITPID" 2>/dev/null; fi
  if [ -n "$OPPID" ]; then
    kill -TERM "$OPPID" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$OPPID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$OPPID" 2>/dev/null
    wait "$OPPID" 2>/dev/null
  fi
  if [ "$FAILED" -gt 0 ]; then
    for f in "$OPLOG" "$TMP"/*.err; do
      [ -s "$f" ] || continue
      say "---- $(basename "$f") (last 40 lines) ----"; tail -n 40 "$f" >&2
    done
  fi
  say "cleanup: down fed-$NS-fellowship $HOST $GONDOR $NOLDOR"
  for c in "fed-$NS-fellowship" "$HOST" "$GONDOR" "$NOLDOR"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  rm -rf "$TMP"
  exit_with_summary
}
trap finish EXIT
trap 'fail "interrupted"; finish' INT TERM

[ -x "$OPERATOR" ] || { fail "KF_OPERATOR is not an executable operator binary: '$OPERATOR'"; exit 1; }
[ -x "$KUBEFED" ] || { fail "KUBEFED is not an executable kubefed binary: '$KUBEFED'"; exit 1; }
command -v jq >/dev/null || { fail "jq is missing (tests/install-deps.sh installs it)"; exit 1; }
KUBECTL="$("$HARNESS" bin kubectl)" || { fail "harness has no kubectl (run: $HARNESS build)"; exit 1; }

# kf EXPECTED_RC NAME ARGS...: runs kubefed, output in $TMP/NAME.out / .err; checks the exit code.
kf() {
  local want="$1" name="$2" rc t=$SECONDS; shift 2
  "$KUBEFED" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  if [ "$rc" -eq "$want" ]; then
    pass "kubefed ${*:1:2}...: exit $rc ($((SECONDS - t))s)"
    return 0
  fi
  fail "kubefed $*: exit $rc, want $want; stderr: $(tail -n 5 "$TMP/$name.err")"
  return 1
}
has() { grep -qF -- "$2" "$TMP/$1"; }

# ---- three clusters, one kubeconfig with kubefed v1's context names ---------------------------------
say "harness up $HOST $GONDOR $NOLDOR (run root $KUBEFED_TEST_RUN)"
for c in "$HOST" "$GONDOR" "$NOLDOR"; do "$HARNESS" up "$c" --nodes 1 >"$TMP/$c.path" 2>"$TMP/$c.up" & done
wait
for c in "$HOST" "$GONDOR" "$NOLDOR"; do
  [ -s "$TMP/$c.path" ] || { fail "harness up $c: $(tail -n 5 "$TMP/$c.up")"; exit 1; }
done
pass "clusters $HOST, $GONDOR, $NOLDOR up"
HKC=$(cat "$TMP/$HOST.path") GKC=$(cat "$TMP/$GONDOR.path") NKC=$(cat "$TMP/$NOLDOR.path")
rename() {  # rename SRC OLD NEW: context, cluster and user OLD become NEW
  sed -E "s/^((- )?name|[[:space:]]+cluster|[[:space:]]+user|current-context): $2\$/\\1: $3/" "$1" >"$TMP/$3.kubeconfig"
}
rename "$HKC" "$HOST" rivendell
rename "$GKC" "$GONDOR" gondor_needs-no_king
rename "$NKC" "$NOLDOR" noldor
export KUBECONFIG="$TMP/merged.kubeconfig"
KUBECONFIG="$TMP/rivendell.kubeconfig:$TMP/gondor_needs-no_king.kubeconfig:$TMP/noldor.kubeconfig" \
  "$KUBECTL" config view --flatten >"$KUBECONFIG"
chmod 600 "$KUBECONFIG"
for ctx in rivendell gondor_needs-no_king noldor; do
  must "merged kubeconfig: context $ctx reaches its cluster" "$KUBECTL" --context "$ctx" --request-timeout=20s get ns default -o name
done
KX() { "$KUBECTL" --request-timeout=20s "$@"; }                                  # the merged kubeconfig
K() { "$KUBECTL" --kubeconfig "$HKC" --cache-dir "$TMP/kcache" --request-timeout=20s "$@"; }   # host
CUR_CTX=$(KX config current-context)

must "CRDs applied (kubectl apply -f crds/)" K apply -f "$ROOT/crds/" -o name >/dev/null
for crd in federations.kubefed.dev federatedclusters.kubefed.dev; do
  must "CRD $crd Established" K wait --for=condition=Established "crd/$crd" --timeout=60s >/dev/null
done
HEALTH=$(free_port 20000 29999) METRICS=$(free_port 20000 29999)
"$OPERATOR" --kubeconfig "$HKC" --namespace "$NS" --health-bind-address "127.0.0.1:$HEALTH" \
  --metrics-bind-address "127.0.0.1:$METRICS" --controller-manager-image "$KF_CM_IMAGE" >"$OPLOG" 2>&1 &
OPPID=$!
wait_until "operator ready" 60 curl -sf "http://127.0.0.1:$HEALTH/readyz" || exit 1

printf '[Global]\ncoredns-endpoints = 127.0.0.1:15353\n' >"$TMP/coredns-provider.conf"
PORT=$(free_port 30000 32767)
INIT=(init fellowship --host-cluster-context=rivendell --dns-provider=coredns --dns-zone-name=example.com.
      "--dns-provider-config=$TMP/coredns-provider.conf" --api-server-service-type=NodePort
      --api-server-advertise-address=127.0.0.1 "--api-server-port=$PORT")

# ---- usage errors and dry runs: exit codes, nothing sent ----------------------------------------------
kf 2 basic-auth init x --host-cluster-context=rivendell --dns-provider=coredns --dns-zone-name=example.com. \
  --coredns-nameservers=127.0.0.1:15353 --apiserver-enable-basic-auth=true
check "basic auth: the message says Kubernetes 1.19 removed it" has basic-auth.err "removed basic authentication from kube-apiserver in 1.19"
check "basic auth: the message points to token auth or client certificates" has basic-auth.err "--apiserver-enable-token-auth"
check "messages are prefixed 'kubefed: '" grep -q '^kubefed: ' "$TMP/basic-auth.err"
kf 2 bad-flag "${INIT[@]}" --no-such-flag
check "unknown flag named" has bad-flag.err "unknown flag: --no-such-flag"
kf 2 no-zone init fellowship --host-cluster-context=rivendell --dns-provider=coredns
kf 0 help-init init --help
for f in --host-cluster-context --dns-provider= --dns-zone-name --dns-provider-config --api-server-service-type \
         --api-server-advertise-address --api-server-port --etcd-persistent-storage --apiserver-arg-overrides; do
  check "init --help lists $f" has help-init.out "$f"
done
kf 0 version version
kf 0 dry-run "${INIT[@]}" --dry-run -o yaml
check "--dry-run -o yaml prints a Federation" has dry-run.out "kind: Federation"
check "--dry-run -o yaml prints the nodePort and advertise address" \
  bash -c "grep -q 'nodePort: $PORT\$' '$TMP/dry-run.out' && grep -Eq 'advertiseAddress: \"?127.0.0.1\"?\$' '$TMP/dry-run.out'"
check "--dry-run -o yaml never prints the provider config" bash -c "! grep -q \"$(base64 -w0 "$TMP/coredns-provider.conf")\" '$TMP/dry-run.out'"
check "--dry-run -o yaml is YAML kubectl reads (2 objects)" \
  test "$(KX create --dry-run=client -f "$TMP/dry-run.out" -o name 2>/dev/null | wc -l)" = 2
kf 0 dry-run-nohost init fellowship --host-cluster-context=no-such-context --dns-provider=coredns \
  --dns-zone-name=example.com. --coredns-nameservers=127.0.0.1:15353 --dry-run -o yaml
check "--dry-run contacted no cluster: namespace $NS still absent" bash -c "! '$KUBECTL' --kubeconfig '$HKC' get ns $NS"
# kubefed v1's documented command, verbatim, with its documented provider file (no
# coredns-endpoints): accepted, and the Federation has no corednsNameservers (issue 17).
mkdir -p "$TMP/home"
printf '[Global]\netcd-endpoints = http://etcd-cluster.ns:2379\nzones = example.com.\n' >"$TMP/home/coredns-provider.conf"
REALHOME="$HOME"; HOME="$TMP/home"
kf 0 v1-documented init fellowship --host-cluster-context=rivendell --dns-provider="coredns" \
  --dns-zone-name="example.com." --dns-provider-config="$HOME/coredns-provider.conf" --dry-run -o yaml
HOME="$REALHOME"
check "kubefed v1's documented init: a Federation without corednsNameservers" \
  bash -c "grep -q 'kind: Federation' '$TMP/v1-documented.out' && ! grep -q corednsNameservers '$TMP/v1-documented.out'"
kf 2 loop-ns init x --host-cluster-context=rivendell --dns-provider=coredns --dns-zone-name=example.com. \
  --coredns-nameservers=127.0.0.53:53 --dry-run -o yaml
check "--coredns-nameservers=127.0.0.53:53 refused: a member's DNS would forward to itself" has loop-ns.err "loopback"

# ---- a Federation that cannot become Ready: exit 3 with its conditions ----------------------------------
kf 3 timeout init slow --host-cluster-context=rivendell --dns-provider=google-clouddns --dns-zone-name=example.com. \
  --timeout=6s
check "timeout: says so and names --timeout" has timeout.err "timed out after"
check "timeout: prints the last conditions" grep -q '^kubefed: Federation federation-system/slow: Ready=False' "$TMP/timeout.err"
check "init created namespace $NS" K get ns "$NS"
K delete federation -n "$NS" slow --wait=false >/dev/null 2>&1
wait_until "Federation slow deleted (teardown by the operator)" 90 bash -c "! '$KUBECTL' --kubeconfig '$HKC' get federation -n $NS slow"

# ---- kubefed init fellowship (kubefed v1's documented example, on 127.0.0.1) ------------------------------
say "kubefed ${INIT[*]}"
t_init=$SECONDS
"$KUBEFED" "${INIT[@]}" >"$TMP/init.out" 2>"$TMP/init.err" &
INITPID=$!
wait_until "init: Deployment fellowship-apiserver created by the operator" 60 K get deployment -n "$NS" fellowship-apiserver
if URL=$("$HARNESS" serve-federation "$HKC" "$NS" fellowship 2>"$TMP/serve.err"); then
  pass "serve-federation: $URL"
else
  fail "serve-federation: $(tail -n 5 "$TMP/serve.err")"
fi
rc=0
for _ in $(seq 1 240); do kill -0 "$INITPID" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$INITPID" 2>/dev/null; then fail "init still running after 120s"; kill "$INITPID"; fi
wait "$INITPID"; rc=$?
INITPID=""
must "kubefed init fellowship: exit 0 ($((SECONDS - t_init))s); stderr: $(tail -n 3 "$TMP/init.err")" test "$rc" -eq 0
check "init printed 'Federation API server is running at: https://127.0.0.1:$PORT'" \
  grep -qx "Federation API server is running at: https://127.0.0.1:$PORT" "$TMP/init.out"
check "init printed progress (conditions as they changed)" grep -q '^kubefed: Federation federation-system/fellowship: .*=' "$TMP/init.err"
check "init printed the Ready condition" grep -q '^kubefed: Federation federation-system/fellowship: Ready=True' "$TMP/init.err"
check "init never printed a key or certificate" bash -c "! grep -q -e 'BEGIN' -e 'client-key' '$TMP/init.out' '$TMP/init.err'"
check "kubectl wait --for=condition=Ready federation/fellowship" K wait -n "$NS" --for=condition=Ready federation/fellowship --timeout=10s
F=$(K get federation -n "$NS" fellowship -o json)
check "Federation: coredns nameservers from the provider config" test "$(jq -c .spec.dns.corednsNameservers <<<"$F")" = '["127.0.0.1:15353"]'
check "Federation: providerConfigSecretRef fellowship-dns-provider-config/provider.conf" \
  test "$(jq -r '.spec.dns.providerConfigSecretRef | .name + "/" + .key' <<<"$F")" = fellowship-dns-provider-config/provider.conf
check "Federation: NodePort $PORT, advertise 127.0.0.1" \
  test "$(jq -r '.spec.apiServer | .service.type + " " + (.service.nodePort|tostring) + " " + .advertiseAddress' <<<"$F")" = "NodePort $PORT 127.0.0.1"
applied_by_cli() {
  K get federation -n "$NS" fellowship --show-managed-fields -o json |
    jq -e '.metadata.managedFields[] | select(.manager=="kubefed-cli" and .operation=="Apply")'
}
check "Federation: server-side applied by field manager kubefed-cli" applied_by_cli
check "Secret fellowship-dns-provider-config holds the file" \
  cmp -s "$TMP/coredns-provider.conf" <(K get secret -n "$NS" fellowship-dns-provider-config -o jsonpath='{.data.provider\.conf}' | base64 -d)
check "kubeconfig: context fellowship added" test "$(KX config get-contexts fellowship -o name)" = fellowship
check "kubeconfig: current-context unchanged ($CUR_CTX)" test "$(KX config current-context)" = "$CUR_CTX"
check "kubeconfig: the other contexts kept" test "$(KX config get-contexts -o name | sort | tr '\n' ' ')" = "fellowship gondor_needs-no_king noldor rivendell "
check "kubeconfig: mode 0600" test "$(stat -c %a "$KUBECONFIG")" = 600
check "kubeconfig: server https://127.0.0.1:$PORT" test "$(KX config view -o jsonpath='{.clusters[?(@.name=="fellowship")].cluster.server}')" = "https://127.0.0.1:$PORT"
must "kubectl --context fellowship get ns" KX --context fellowship get ns -o name >/dev/null
# The printed Federation is one the apiserver accepts (now that the namespace exists).
awk '/^---$/{n++} n==2' "$TMP/dry-run.out" | tail -n +2 >"$TMP/dry-run-fed.yaml"
check "--dry-run -o yaml Federation accepted by the apiserver (server dry run)" K apply --dry-run=server -f "$TMP/dry-run-fed.yaml"
# Running init again changes nothing and leaves one context.
kf 0 init-again "${INIT[@]}" --timeout=60s
check "init again: one context fellowship" test "$(KX config get-contexts -o name | grep -cx fellowship)" = 1

# ---- kubefed join --------------------------------------------------------------------------------------
kf 0 join-gondor join gondor --host-cluster-context=rivendell --cluster-context=gondor_needs-no_king --timeout=120s
check "join gondor printed the result" has join-gondor.out 'cluster "gondor" joined federation "fellowship"'
kf 0 join-noldor join noldor --host-cluster-context=rivendell --secret-name=11kingdom --timeout=120s
for fc in gondor noldor; do
  check "kubectl wait --for=condition=Ready federatedcluster/$fc" K wait -n "$NS" --for=condition=Ready "federatedcluster/$fc" --timeout=10s
  check "FederatedCluster $fc joins fellowship" test "$(K get federatedcluster -n "$NS" "$fc" -o jsonpath='{.spec.federationRef.name}')" = fellowship
  check "Secret $fc-kubeconfig labelled managed-by kubefed-cli" \
    test "$(K get secret -n "$NS" "$fc-kubeconfig" -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}')" = kubefed-cli
done
check "gondor: kubeconfigSecretRef context gondor_needs-no_king" \
  test "$(K get federatedcluster -n "$NS" gondor -o jsonpath='{.spec.kubeconfigSecretRef.name}/{.spec.kubeconfigSecretRef.key}/{.spec.kubeconfigSecretRef.context}')" = gondor-kubeconfig/kubeconfig/gondor_needs-no_king
K get secret -n "$NS" gondor-kubeconfig -o jsonpath='{.data.kubeconfig}' | base64 -d >"$TMP/gondor-stored.kubeconfig"
check "stored kubeconfig is minified: only context gondor_needs-no_king" \
  test "$("$KUBECTL" --kubeconfig "$TMP/gondor-stored.kubeconfig" config get-contexts -o name)" = gondor_needs-no_king
check "stored kubeconfig reaches gondor" "$KUBECTL" --kubeconfig "$TMP/gondor-stored.kubeconfig" --request-timeout=20s get ns default
check "noldor: spec.secretName 11kingdom" test "$(K get federatedcluster -n "$NS" noldor -o jsonpath='{.spec.secretName}')" = 11kingdom
check "Secret 11kingdom exists on the host" K get secret -n "$NS" 11kingdom
check "federation API: kubectl --context fellowship get clusters lists gondor and noldor" \
  test "$(KX --context fellowship get clusters -o name | sort | tr '\n' ' ')" = "cluster.federation.kubefed.dev/gondor cluster.federation.kubefed.dev/noldor "
check "federation API: Cluster noldor -> Secret 11kingdom" \
  test "$(KX --context fellowship get cluster noldor -o jsonpath='{.spec.secretRef.name}')" = 11kingdom

# exec credentials cannot be stored for the operator: refused with kcfg's message, exit 2.
KX config set-credentials cli-exec --exec-api-version=client.authentication.k8s.io/v1 --exec-command=/bin/true >/dev/null
KX config set-context cli-exec --cluster=noldor --user=cli-exec >/dev/null
kf 2 join-exec join exec-member --host-cluster-context=rivendell --cluster-context=cli-exec
check "exec refused: the message names exec" has join-exec.err "exec"
check "exec refused: nothing applied" bash -c "! '$KUBECTL' --kubeconfig '$HKC' get federatedcluster -n $NS exec-member"
kf 0 join-dry join gondor2 --host-cluster-context=rivendell --cluster-context=gondor_needs-no_king --federation=fellowship \
  --dry-run -o yaml
check "join --dry-run -o yaml prints the FederatedCluster" has join-dry.out "kind: FederatedCluster"
check "join --dry-run -o yaml redacts the kubeconfig" has join-dry.out 'kubeconfig: "<redacted: '
check "join --dry-run applied nothing" bash -c "! '$KUBECTL' --kubeconfig '$HKC' get federatedcluster -n $NS gondor2"

# ---- kubefed unjoin ------------------------------------------------------------------------------------
kf 0 unjoin-gondor unjoin gondor --host-cluster-context=rivendell --timeout=120s
check "unjoin printed the result" has unjoin-gondor.out 'Successfully removed cluster "gondor" from federation "fellowship"'
check "FederatedCluster gondor gone" bash -c "! '$KUBECTL' --kubeconfig '$HKC' get federatedcluster -n $NS gondor"
check "federation API: Cluster gondor gone" bash -c "! '$KUBECTL' --context fellowship get cluster gondor"
check "Secret gondor-kubeconfig (created by join) gone" bash -c "! '$KUBECTL' --kubeconfig '$HKC' get secret -n $NS gondor-kubeconfig"
check "noldor still joined and Ready" K wait -n "$NS" --for=condition=Ready federatedcluster/noldor --timeout=10s
check "federation API: Cluster noldor still there" KX --context fellowship get cluster noldor
kf 0 unjoin-again unjoin gondor --host-cluster-context=rivendell
check "unjoin of a cluster not joined warns" has unjoin-again.err "not found"
