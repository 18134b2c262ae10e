# shellcheck shell=bash
# Shared by tests/e2e/packaging_helm.sh and packaging_manifests.sh: one install flow of the
# operator's packaging on a harness cluster of its own, then the operator binary run out of
# cluster as the packaged ServiceAccount (a TokenRequest token, never the admin credentials), a
# Federation reconciled and a member joined with only that RBAC (no request refused: the RBAC is
# sufficient), and an uninstall that leaves nothing of the release behind. That the RBAC is also
# no more than RBAC.md documents is security.rbac's part (tests/integration/security_rbac.sh).
# Source after setting TEST (ctest name) and CLUSTER (harness cluster name prefix); then define
# do_install and do_uninstall and call run_packaging_flow.
set -uo pipefail
shopt -s lastpipe

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/tests/harness/k8s}"
. "$ROOT/tests/assert.sh"   # say pass fail must check wait_until free_port operator_alive
OPERATOR="${KF_OPERATOR:-}"
NAME="$CLUSTER-$$"
REL=kubefed-operator            # release name, and so the ServiceAccount's name
REL_NS=kubefed-system           # the release namespace
FED_NS="fed-$$"                 # where the Federation lives (the operator's --namespace); unique, so
                                # its serve-federation state never meets another run's
SA_USER="system:serviceaccount:$REL_NS:$REL"
INSTANCE_LABEL="app.kubernetes.io/instance=$REL"
CHART="$ROOT/deploy/helm/kubefed-operator"
# shellcheck disable=SC2034 # used by packaging_manifests.sh
MANIFESTS="$ROOT/deploy/manifests/kubefed-operator.yaml"
TMP="$(mktemp -d)"
OPLOG="$TMP/operator.log"
OPPID=""


stop_operator() {
  [ -n "$OPPID" ] || return 0
  kill -TERM "$OPPID" 2>/dev/null
  local _
  for _ in $(seq 1 60); do kill -0 "$OPPID" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$OPPID" 2>/dev/null
  wait "$OPPID" 2>/dev/null
  OPPID=""
}
finish() {
  trap - EXIT INT TERM
  stop_operator
  if [ "$FAILED" -gt 0 ] && [ -s "$OPLOG" ]; then
    say "---- operator log (last 60 lines) ----"; tail -n 60 "$OPLOG" >&2
  fi
  say "cleanup: down $NAME"
  "$HARNESS" down "fed-$FED_NS-fellowship" >&2 2>/dev/null || true
  "$HARNESS" down "$NAME" >&2 || true
  rm -rf "$TMP"
  exit_with_summary
}
trap finish EXIT
trap 'fail "interrupted"; finish' INT TERM

[ -x "$OPERATOR" ] || { fail "KF_OPERATOR is not an executable operator binary: '$OPERATOR'"; exit 1; }
command -v jq >/dev/null || { fail "jq is missing (tests/install-deps.sh installs it)"; exit 1; }
KUBECTL="$("$HARNESS" bin kubectl)" || { fail "harness has no kubectl (run: $HARNESS build)"; exit 1; }
HELM="$("$HARNESS" bin helm)" || { fail "harness has no helm (run: $HARNESS build)"; exit 1; }
say "harness up $NAME --nodes 1"
KC="$("$HARNESS" up "$NAME" --nodes 1)" || { fail "harness up $NAME"; exit 1; }
pass "cluster $NAME up"
K() { "$KUBECTL" --kubeconfig "$KC" --cache-dir "$TMP/kcache" --request-timeout=20s "$@"; }
SAKC="$TMP/sa.kubeconfig"
KS() { "$KUBECTL" --kubeconfig "$SAKC" --cache-dir "$TMP/kcache-sa" --request-timeout=20s "$@"; }
# helm logs "found symbolic link in path" for the chart's CRDs (symlinks to crds/): expected.
H() { "$HELM" --kubeconfig "$KC" "$@" 2> >(grep -v 'found symbolic link in path' >&2); }


# ---- the installed objects -------------------------------------------------------------------
check_installed() {
  must "Deployment $REL Available" \
    K -n "$REL_NS" wait --for=condition=Available "deployment/$REL" --timeout=120s
  wait_until "Deployment $REL: 1 replica ready (kwok runs the pod)" 60 \
    test "$(K -n "$REL_NS" get deployment "$REL" -o jsonpath='{.status.readyReplicas}')" = 1
  local d
  d="$(K -n "$REL_NS" get deployment "$REL" -o json)"
  local spec='.spec.template.spec' c='.spec.template.spec.containers[0]'
  check "pod runs as the ServiceAccount $REL" test "$(jq -r "$spec.serviceAccountName" <<<"$d")" = "$REL"
  check "pod: runAsNonRoot, uid/gid 65532, seccomp RuntimeDefault" test "$(jq -r "$spec.securityContext | [.runAsNonRoot, .runAsUser, .runAsGroup, .seccompProfile.type] | join(\" \")" <<<"$d")" = "true 65532 65532 RuntimeDefault"
  check "container: read-only root, no privilege escalation, all capabilities dropped" test "$(jq -r "$c.securityContext | [.readOnlyRootFilesystem, .allowPrivilegeEscalation, (.capabilities.drop | join(\",\"))] | join(\" \")" <<<"$d")" = "true false ALL"
  check "image kubefed-operator:0.1.0, IfNotPresent" test "$(jq -r "$c | .image + \" \" + .imagePullPolicy" <<<"$d")" = "kubefed-operator:0.1.0 IfNotPresent"
  check "args: leader election in the pod's namespace, :8081/:8080, json logs, service access, the controller manager image is the chart's own" test "$(jq -r "$c.args | join(\" \")" <<<"$d")" = "--leader-elect --leader-election-namespace=\$(POD_NAMESPACE) --leader-election-id=$REL --health-bind-address=:8081 --metrics-bind-address=:8080 --log-format=json --log-level=info --federation-api-access=service --controller-manager-image=kubefed-operator:0.1.0"
  check "env POD_NAMESPACE from metadata.namespace" test "$(jq -r "$c.env[] | select(.name==\"POD_NAMESPACE\") | .valueFrom.fieldRef.fieldPath" <<<"$d")" = metadata.namespace
  check "probes: liveness /healthz, readiness /readyz on 8081" test "$(jq -r "$c | [.livenessProbe.httpGet.path, .readinessProbe.httpGet.path, (.ports[] | select(.name==\"health\") | .containerPort)] | map(tostring) | join(\" \")" <<<"$d")" = "/healthz /readyz 8081"
  check "resources: requests 50m/32Mi, limit 128Mi" test "$(jq -r "$c.resources | [.requests.cpu, .requests.memory, .limits.memory] | join(\" \")" <<<"$d")" = "50m 32Mi 128Mi"
  check "metrics Service: port 8080 named metrics" test "$(K -n "$REL_NS" get service "$REL-metrics" -o jsonpath='{.spec.ports[0].name} {.spec.ports[0].port}')" = "metrics 8080"
  local kind nsflag
  for kind in serviceaccount/$REL clusterrole/$REL clusterrolebinding/$REL role/$REL-leader-election rolebinding/$REL-leader-election; do
    nsflag=(-n "$REL_NS"); [[ $kind == cluster* ]] && nsflag=()
    check "$kind exists, labelled $INSTANCE_LABEL" \
      test "$(K "${nsflag[@]}" get "$kind" -o jsonpath='{.metadata.labels.app\.kubernetes\.io/instance}')" = "$REL"
  done
  local crd
  for crd in federations.kubefed.dev federatedclusters.kubefed.dev; do
    check "CRD $crd Established" K wait --for=condition=Established "crd/$crd" --timeout=30s
  done
  check "the federation-side Cluster CRD is not installed on the host" \
    sh -c "! '$KUBECTL' --kubeconfig '$KC' get crd clusters.federation.kubefed.dev"
}

# ---- a kubeconfig that is the ServiceAccount ----------------------------------------------------
make_sa_kubeconfig() {
  local token server ca
  token="$(K -n "$REL_NS" create token "$REL" --duration=2h)" ||
    { fail "kubectl create token $REL (TokenRequest API)"; exit 1; }
  pass "TokenRequest: a token for ServiceAccount $REL_NS/$REL"
  server="$(K config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$(K config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
  umask 077
  cat >"$SAKC" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $NAME
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: $REL
  user:
    token: $token
contexts:
- name: $REL
  context: {cluster: $NAME, user: $REL, namespace: $REL_NS}
current-context: $REL
EOF
  must "the kubeconfig authenticates as $SA_USER" \
    test "$(KS auth whoami -o jsonpath='{.status.userInfo.username}' 2>/dev/null)" = "$SA_USER"
  check "as the ServiceAccount: listing nodes is forbidden (not an admin)" \
    sh -c "'$KUBECTL' --kubeconfig '$SAKC' get nodes 2>&1 | grep -q Forbidden"
  check "as the ServiceAccount: creating namespaces is not allowed" \
    test "$(KS auth can-i create namespaces 2>/dev/null)" = no
}

# ---- the operator binary, out of cluster, as that ServiceAccount ------------------------------
start_operator() {
  local health
  health="$(free_port 20000 29999)"; METRICS_PORT="$(free_port 20000 29999)"
  say "starting $OPERATOR as $SA_USER (health 127.0.0.1:$health, metrics 127.0.0.1:$METRICS_PORT)"
  "$OPERATOR" --kubeconfig "$SAKC" --namespace "$FED_NS" --leader-elect --leader-election-namespace "$REL_NS" \
    --health-bind-address "127.0.0.1:$health" --metrics-bind-address "127.0.0.1:$METRICS_PORT" \
    --controller-manager-image "$KF_CM_IMAGE" >"$OPLOG" 2>&1 &
  OPPID=$!
  wait_until "operator leads with synced caches (/readyz)" 90 curl -sf --max-time 3 "http://127.0.0.1:$health/readyz" ||
    exit 1
  check "Lease $REL_NS/$REL held by the operator" \
    test -n "$(K -n "$REL_NS" get lease "$REL" -o jsonpath='{.spec.holderIdentity}')"
}

no_forbidden() {  # no_forbidden WHEN
  local hits denied
  hits="$(grep -ci 'forbidden' "$OPLOG")"
  if [ "$hits" -eq 0 ]; then
    pass "operator log has no \"forbidden\" ($1)"
  else
    fail "operator log has $hits \"forbidden\" lines ($1):"; grep -i forbidden "$OPLOG" | head -n 10 >&2
  fi
  # The client counts every response by code: a 403 the log did not mention still shows here.
  local m
  if m="$(curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics")" && grep -q '^kubefed_api_requests_total' <<<"$m"; then
    denied="$(awk '/^kubefed_api_requests_total/ && /code="40[13]"/ {n += $NF} END {print n + 0}' <<<"$m")"
  else
    denied="unreachable"
  fi
  check "no API request answered 401 or 403 ($1; /metrics: $denied)" test "$denied" = 0
}
no_sanitizer_reports() {
  if grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$OPLOG"; then
    fail "sanitizer report in the operator log"; grep -E -A 20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$OPLOG" | head -n 40 >&2
  else
    pass "no sanitizer report in the operator log"
  fi
}

# ---- a Federation reconciled with the packaged RBAC ------------------------------------------
federation_flow() {
  K create namespace "$FED_NS" >/dev/null 2>&1
  K apply -f - >/dev/null <<EOF || { fail "apply Federation fellowship"; exit 1; }
apiVersion: kubefed.dev/v1alpha1
kind: Federation
metadata: {name: fellowship, namespace: $FED_NS}
spec:
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer:
    service: {type: NodePort}
    advertiseAddress: 127.0.0.1
EOF
  pass "Federation fellowship applied (google-clouddns, NodePort, advertiseAddress 127.0.0.1)"
  wait_until "fellowship: CertificatesReady True" 90 sh -c \
    "'$KUBECTL' --kubeconfig '$KC' -n '$FED_NS' get federation fellowship -o json | jq -e '.status.conditions[]? | select(.type==\"CertificatesReady\" and .status==\"True\")'"
  wait_until "fellowship: Deployment fellowship-apiserver created" 60 K -n "$FED_NS" get deployment fellowship-apiserver
  local obj
  for obj in secret/fellowship-ca secret/fellowship-apiserver-credentials service/fellowship-apiserver \
             pvc/fellowship-apiserver-etcd-claim; do
    wait_until "fellowship: $obj created by the operator" 30 K -n "$FED_NS" get "$obj"
  done
  # The controller manager needs nothing on the host: no ServiceAccount, Role or RoleBinding.
  check "fellowship: no host ServiceAccount, Role or RoleBinding for the controller manager" sh -c \
    "! '$KUBECTL' --kubeconfig '$KC' -n '$FED_NS' get serviceaccount/fellowship-controller-manager role/fellowship-controller-manager rolebinding/fellowship-controller-manager -o name 2>/dev/null | grep -q ."
  check "fellowship: the finalizer was added" sh -c \
    "'$KUBECTL' --kubeconfig '$KC' -n '$FED_NS' get federation fellowship -o json | jq -e '.metadata.finalizers | length > 0'"
  check "fellowship: status.observedGeneration written (status subresource)" sh -c \
    "'$KUBECTL' --kubeconfig '$KC' -n '$FED_NS' get federation fellowship -o json | jq -e '.status.observedGeneration >= 1'"
  no_forbidden "after the Federation reconciled"
}

# ---- teardown -------------------------------------------------------------------------------
# The full join with the chart's RBAC: the federation API served for real, then the host itself
# joined as a member (as kubefed v1's walkthrough joined rivendell) and unjoined.
join_flow() {
  "$HARNESS" serve-federation "$KC" "$FED_NS" fellowship >/dev/null || { fail "serve-federation fellowship"; return; }
  pass "serve-federation runs fellowship's apiserver"
  wait_until "kubectl wait --for=condition=Ready federation/fellowship" 120 \
    K -n "$FED_NS" wait --for=condition=Ready federation/fellowship --timeout=2s
  K -n "$FED_NS" create secret generic rivendell-admin --from-file=kubeconfig="$KC" >/dev/null
  K apply -f - >/dev/null <<EOF || { fail "apply FederatedCluster rivendell"; return; }
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: rivendell, namespace: $FED_NS}
spec: {federationRef: {name: fellowship}, kubeconfigSecretRef: {name: rivendell-admin}, dns: {mode: None}}
EOF
  wait_until "kubectl wait --for=condition=Ready federatedcluster/rivendell" 90 \
    K -n "$FED_NS" wait --for=condition=Ready federatedcluster/rivendell --timeout=2s
  check "the credential Secret rivendell-credentials exists" K -n "$FED_NS" get secret rivendell-credentials
  K -n "$FED_NS" delete federatedcluster rivendell --wait=false >/dev/null
  wait_until "rivendell unjoined" 60 sh -c "! '$KUBECTL' --kubeconfig '$KC' -n '$FED_NS' get federatedcluster rivendell"
  check "unjoin removed the credential Secret" sh -c "! '$KUBECTL' --kubeconfig '$KC' -n '$FED_NS' get secret rivendell-credentials"
  no_forbidden "after the join and unjoin"
}

delete_federation() {
  K -n "$FED_NS" delete federation fellowship --wait=false >/dev/null 2>&1
  wait_until "fellowship deleted (the operator removed its finalizer)" 120 \
    sh -c "! '$KUBECTL' --kubeconfig '$KC' -n '$FED_NS' get federation fellowship"
  no_forbidden "after the Federation's deletion"
  stop_operator
  no_sanitizer_reports
}
release_objects() {  # every object, namespaced or not, that carries the release's instance label
  K get all,serviceaccounts,roles,rolebindings,secrets,configmaps,leases,endpointslices -A -l "$INSTANCE_LABEL" -o name &&
    K get clusterroles,clusterrolebindings,namespaces,customresourcedefinitions -l "$INSTANCE_LABEL" -o name
}
release_gone() { local out; out="$(release_objects)" || return 1; [ -z "$out" ]; }
nothing_left() {
  wait_until "no object labelled $INSTANCE_LABEL remains" 120 release_gone ||
    { say "left behind:"; release_objects >&2; }
}

run_packaging_flow() {
  say "install"
  do_install
  check_installed
  make_sa_kubeconfig
  start_operator
  federation_flow
  join_flow
  delete_federation
  say "uninstall"
  do_uninstall
  nothing_left
}
