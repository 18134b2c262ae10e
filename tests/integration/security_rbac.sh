#!/usr/bin/env bash
# security.rbac: least privilege, checked against deploy/helm/kubefed-operator/RBAC.md.
#  * the chart's ServiceAccount: `helm template` of deploy/helm/kubefed-operator, its RBAC applied
#    to a real cluster; `kubectl auth can-i --list --as=system:serviceaccount:...` minus what an
#    unbound ServiceAccount may do equals RBAC.md's rows exactly, cluster-wide (watched namespace,
#    release namespace) and with watchNamespace (that namespace, the release namespace, any
#    other: nothing); no cluster-scoped right in either mode;
#  * what the operator grants: after a real join (Federation served by `k8s serve-federation`,
#    a member with a token controller), the member credential (ServiceAccount kubefed-F-C, the
#    token the host Secret C-credentials holds) can do exactly RBAC.md's "member" rows in any
#    member namespace and nothing cluster-scoped beyond them; the controller manager has no host
#    identity (no F-controller-manager ServiceAccount, Role or RoleBinding, no token mounted, the
#    name can do nothing an unbound ServiceAccount cannot) and is what RBAC.md says in the
#    federation API (its client certificate: `auth can-i '*' '*'`, namespace federation-system).
TEST=security.rbac RESOURCE=federatedcluster CLUSTER=rbac NODES=1 NS="rbac-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHART="$ROOT/deploy/helm/kubefed-operator"
DOC="$CHART/RBAC.md"
REL=kubefed-operator REL_NS=kubefed-system WATCH="team-$$"
MEMBER="rbacm-$$"
on_finish() {
  "$HARNESS" down "fed-$NS-fellowship" >&2 2>/dev/null || true
  "$HARNESS" down "$MEMBER" >&2 2>/dev/null || true
  stop_operator
  say "runtime $((SECONDS - T0))s"
}
HELM="$("$HARNESS" bin helm)" || { fail "harness has no helm (run: $HARNESS build)"; exit 1; }

# ---- can-i rows and RBAC.md rows, both as "resource [names] verb,verb,..." ------------------------------
# can_i_rows KUBECTL-FN USER NAMESPACE: `auth can-i --list` rows, one per resource and names, verbs
# of equal keys merged and sorted.
can_i_rows() {
  "$1" auth can-i --list --as="$2" -n "$3" | awk '
    NR > 1 && $0 ~ /^[^ ]/ {
      res = $1; rest = substr($0, length($1) + 1); n = 0
      while (match(rest, /\[[^]]*\]/)) { g[++n] = substr(rest, RSTART + 1, RLENGTH - 2); rest = substr(rest, RSTART + RLENGTH) }
      key = res " [" g[2] "]"; nv = split(g[3], v, " ")
      for (i = 1; i <= nv; i++) verbs[key, v[i]] = 1; keys[key] = 1
    }
    END { for (k in keys) { s = ""; for (kv in verbs) { split(kv, p, SUBSEP); if (p[1] == k) s = s " " p[2] } print k "|" s } }' |
    while IFS='|' read -r key vs; do printf '%s %s\n' "$key" "$(tr ' ' '\n' <<<"$vs" | sed '/^$/d' | sort | paste -sd, -)"; done | sort
}
# doc_rows SCOPE...: RBAC.md's table rows of those scopes.
doc_rows() {
  local scopes=" $* "
  awk -F'|' '/^\| *[a-z-]+ *\| *[a-z]/ {
      for (i = 2; i <= 5; i++) { gsub(/^ +| +$/, "", $i) }
      print $2 "|" $3 "|" $4 "|" $5 }' "$DOC" |
    while IFS='|' read -r scope res names verbs; do
      [[ "$scopes" == *" $scope "* ]] || continue
      printf '%s [%s] %s\n' "$res" "$names" "$(tr ' ' '\n' <<<"$verbs" | sed '/^$/d' | sort | paste -sd, -)"
    done | sort
}
# matches_doc KUBECTL-FN USER NAMESPACE SCOPE...: USER's rights in NAMESPACE beyond an unbound
# ServiceAccount's are exactly RBAC.md's SCOPE rows (no SCOPE: none at all).
matches_doc() {
  local fn="$1" user="$2" ns="$3"; shift 3
  local base got want
  base="$(can_i_rows "$fn" "system:serviceaccount:default:unbound-$$" "$ns")"
  got="$(comm -23 <(can_i_rows "$fn" "$user" "$ns") <(printf '%s\n' "$base"))"
  want="$([ $# -gt 0 ] && doc_rows "$@")"
  if [ "$got" = "$want" ]; then
    pass "auth can-i --list -n $ns --as=$user is exactly RBAC.md's ${*:-(no)} rows ($(grep -c . <<<"$want") rules)"
  else
    fail "auth can-i --list -n $ns --as=$user differs from RBAC.md's ${*:-(no)} rows (< can-i, > RBAC.md): $(diff <(printf '%s\n' "$got") <(printf '%s\n' "$want") | grep '^[<>]' | paste -sd';' -)"
  fi
}
for scope in watched release member; do
  check "RBAC.md documents $scope rows ($(doc_rows "$scope" | wc -l))" test "$(doc_rows "$scope" | wc -l)" -gt 0
done
# Cluster-scoped kinds nobody generated here may touch (the baseline may already read some).
no_cluster_rights() {  # no_cluster_rights KUBECTL-FN USER
  local r bad=""
  for r in nodes namespaces clusterroles.rbac.authorization.k8s.io clusterrolebindings.rbac.authorization.k8s.io \
           customresourcedefinitions.apiextensions.k8s.io validatingwebhookconfigurations.admissionregistration.k8s.io \
           persistentvolumes; do
    [ "$("$1" auth can-i create "$r" --as="$2" 2>/dev/null)" = yes ] && bad+=" create:$r"
    [ "$("$1" auth can-i delete "$r" --as="$2" 2>/dev/null)" = yes ] && bad+=" delete:$r"
  done
  [ "$("$1" auth can-i impersonate users --as="$2" 2>/dev/null)" = yes ] && bad+=" impersonate"
  [ "$("$1" auth can-i escalate clusterroles --as="$2" 2>/dev/null)" = yes ] && bad+=" escalate"
  [ -z "$bad" ] || { say "$2 may:$bad"; return 1; }
}

# ---- the chart's ServiceAccount, both modes --------------------------------------------------------------
SA_USER="system:serviceaccount:$REL_NS:$REL"
rbac_only() {  # the chart's ServiceAccount and RBAC objects (a JSON List), nothing else
  "$HELM" template "$REL" "$CHART" --namespace "$REL_NS" --kube-version v1.31.0 "$@" 2> >(grep -v 'symbolic link' >&2) |
    K create --dry-run=client -o json -f - |
    jq -s '{apiVersion: "v1", kind: "List", items: [.[] |
         select(.kind | IN("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"))]}'
}
K create namespace "$REL_NS" >/dev/null
K create namespace "$WATCH" >/dev/null
K create namespace "other-$$" >/dev/null
rbac_only >"$TMP/chart-cluster.yaml" || fail "helm template (default values)"
kinds() { jq -r '[.items[].kind] | sort | join(",")' "$1"; }
check "helm template (default): ClusterRole, ClusterRoleBinding, leader-election Role, RoleBinding, ServiceAccount" \
  test "$(kinds "$TMP/chart-cluster.yaml")" = "ClusterRole,ClusterRoleBinding,Role,RoleBinding,ServiceAccount"
must "chart RBAC (cluster-wide) applied" K apply -f "$TMP/chart-cluster.yaml" -o name
matches_doc K "$SA_USER" "$WATCH" watched
matches_doc K "$SA_USER" "other-$$" watched
matches_doc K "$SA_USER" "$REL_NS" watched release
check "cluster-wide: no cluster-scoped right (nodes, namespaces, RBAC, CRDs, webhooks, PVs, impersonate, escalate)" \
  no_cluster_rights K "$SA_USER"
K delete -f "$TMP/chart-cluster.yaml" --wait >/dev/null

rbac_only --set watchNamespace="$WATCH" >"$TMP/chart-ns.yaml" || fail "helm template --set watchNamespace"
check "helm template --set watchNamespace: Roles and RoleBindings only" \
  test "$(kinds "$TMP/chart-ns.yaml")" = "Role,Role,RoleBinding,RoleBinding,ServiceAccount"
must "chart RBAC (watchNamespace=$WATCH) applied" K apply -f "$TMP/chart-ns.yaml" -o name
matches_doc K "$SA_USER" "$WATCH" watched
matches_doc K "$SA_USER" "$REL_NS" release
matches_doc K "$SA_USER" "other-$$"
check "watchNamespace: no cluster-scoped right" no_cluster_rights K "$SA_USER"

# ---- what the operator grants: a real join -----------------------------------------------------------------
MKC=$("$HARNESS" up "$MEMBER" --nodes 1) || { fail "up $MEMBER"; exit 1; }
MK() { "$KUBECTL" --kubeconfig "$MKC" --cache-dir "$TMP/kcache-m" --request-timeout=20s "$@"; }
install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator
serve_federation fellowship "{provider: google-clouddns, zoneName: example.com.}"
K create secret generic -n "$NS" gondor-admin --from-file=kubeconfig="$MKC" >/dev/null
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: gondor, namespace: $NS}
spec: {federationRef: {name: fellowship}, kubeconfigSecretRef: {name: gondor-admin}, memberNamespace: fed-$$, dns: {mode: None}}
EOF
wait_until "gondor Ready" 90 K wait -n "$NS" --for=condition=Ready federatedcluster/gondor --timeout=2s

MEMBER_SA="system:serviceaccount:fed-$$:kubefed-fellowship-gondor"
secret_key gondor-credentials kubeconfig >"$TMP/cred.kubeconfig"
CK() { "$KUBECTL" --kubeconfig "$TMP/cred.kubeconfig" --cache-dir "$TMP/kcache-c" --request-timeout=20s "$@"; }
check "the stored credential is the member ServiceAccount $MEMBER_SA" \
  test "$(CK auth whoami -o jsonpath='{.status.userInfo.username}' 2>/dev/null)" = "$MEMBER_SA"
matches_doc MK "$MEMBER_SA" "fed-$$" member
matches_doc MK "$MEMBER_SA" default member
matches_doc MK "$MEMBER_SA" kube-system member
check "member credential: no cluster-scoped right beyond its rows (RBAC, CRDs, webhooks, PVs, impersonate, escalate)" \
  bash -c "for r in clusterroles.rbac.authorization.k8s.io clusterrolebindings.rbac.authorization.k8s.io roles.rbac.authorization.k8s.io customresourcedefinitions.apiextensions.k8s.io mutatingwebhookconfigurations.admissionregistration.k8s.io persistentvolumes; do [ \"\$('$KUBECTL' --kubeconfig '$TMP/cred.kubeconfig' auth can-i create \$r -A 2>/dev/null)\" = no ] || exit 1; done;
           [ \"\$('$KUBECTL' --kubeconfig '$TMP/cred.kubeconfig' auth can-i impersonate users 2>/dev/null)\" = no ] &&
           [ \"\$('$KUBECTL' --kubeconfig '$TMP/cred.kubeconfig' auth can-i create pods/exec -A 2>/dev/null)\" = no ]"
# The ClusterRole itself, spelt as the rows are: the object holds nothing can-i would not show.
MK get clusterrole kubefed.dev:fellowship:gondor -o json | jq -r '.rules[] | (.apiGroups[0]) as $g | (.verbs | sort | join(",")) as $v |
  .resources[] | "\(if $g == "" then . else "\(.).\($g)" end) [] \($v)"' | sort >"$TMP/clusterrole.rows"
check "ClusterRole kubefed.dev:fellowship:gondor holds exactly RBAC.md's member rows" \
  diff "$TMP/clusterrole.rows" <(doc_rows member)

# The controller manager: nothing on the host (RBAC.md "controller-manager": no rows).
CM_SA="system:serviceaccount:$NS:fellowship-controller-manager"
check "RBAC.md has no controller-manager rows" test "$(doc_rows controller-manager | grep -c .)" = 0
for kind in serviceaccount role rolebinding; do
  check "host: no $kind fellowship-controller-manager" gone "$kind" fellowship-controller-manager
done
matches_doc K "$CM_SA" "$NS"
check "controller-manager: no cluster-scoped right" no_cluster_rights K "$CM_SA"
check "controller-manager pod: no token mounted, the default ServiceAccount" test \
  "$(J deployment fellowship-controller-manager | jq -r '.spec.template.spec | (.automountServiceAccountToken|tostring) + " " + .serviceAccountName')" = "false default"
# In the federation API: cluster-admin there, as RBAC.md says (and kubefed v1 did).
secret_key fellowship-controller-manager-kubeconfig kubeconfig >"$TMP/cm.kubeconfig"
FED_URL="$(cat "${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}/fed-$NS-fellowship/server")"
FCM() { "$KUBECTL" --kubeconfig "$TMP/cm.kubeconfig" --server "$FED_URL" --request-timeout=20s "$@"; }
check "federation API: the controller manager's certificate is federation-controller-manager" \
  test "$(FCM auth whoami -o jsonpath='{.status.userInfo.username}')" = federation-controller-manager
check "federation API: it may do everything (auth can-i '*' '*' --all-namespaces), as RBAC.md says" \
  test "$(FCM auth can-i '*' '*' --all-namespaces)" = yes
check "federation API: namespace federation-system exists (the operator's bootstrap)" FCM get namespace federation-system

K delete -n "$NS" federatedcluster gondor --wait=false >/dev/null
wait_until "gondor unjoined" 60 gone federatedcluster gondor
check "unjoin removed the member ClusterRoleBinding (the credential can do nothing now)" \
  bash -c "! '$KUBECTL' --kubeconfig '$MKC' get clusterrolebinding kubefed.dev:fellowship:gondor"
