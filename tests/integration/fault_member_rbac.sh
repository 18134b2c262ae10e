#!/usr/bin/env bash
# fault.member-rbac: the member's DNS ConfigMap write refused mid-run (issue #8: "permission-denied
# writes of the member DNS ConfigMap (RBAC removed mid-run): clear condition, no partial Corefile").
# Real clusters: host (kwok node, the Federation moria served for real by `k8s serve-federation`) and
# member khazad with a realistic CoreDNS Corefile. khazad joins with the token of a ServiceAccount
# bound to a ClusterRole holding just what a join and an unjoin need. Then the ClusterRole loses
# configmaps update/patch:
# * a DNS rewrite (the Federation's nameservers change) stops with DNSConfigured False
#   DNSUpdateForbidden naming the API's message, a Warning event, the Corefile byte for byte as it
#   was, Joined/Ready/CredentialsValid intact; permission back: the new Corefile.
# * an unjoin (FederatedCluster deleted) waits: Joined True UnjoinBlocked and DNSConfigured False
#   shown on the object, a Warning event, Corefile, ServiceAccount and RBAC in the member untouched;
#   permission back: the unjoin completes and the Corefile is byte for byte the original.
TEST=fault.member-rbac RESOURCE=federatedcluster CLUSTER=frbac NODES=1 NS="frbac-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
START=$SECONDS

MEMBER="khazad-$$" FED=moria FC=khazad
on_finish() {
  for c in "fed-$NS-$FED" "$MEMBER"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  stop_operator
  say "fault.member-rbac ran $((SECONDS - START)) s"
}
msg() { J federatedcluster "$FC" | jq -r --arg t "$1" '.status.conditions[]? | select(.type==$t) | .message'; }

MKC=$("$HARNESS" up "$MEMBER" --nodes 1) || { fail "up $MEMBER"; exit 1; }
MK() { "$KUBECTL" --kubeconfig "$MKC" --request-timeout=20s "$@"; }
install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator

serve_federation "$FED"

# ---- the member: a realistic Corefile, a least-privilege joiner ---------------------------------------
cp "$ROOT/tests/data/Corefile" "$TMP/Corefile"  # kubeadm's default
MK create configmap coredns -n kube-system --from-file=Corefile="$TMP/Corefile" >/dev/null
corefile() { MK get configmap coredns -n kube-system -o jsonpath='{.data.Corefile}'; }
corefile >"$TMP/Corefile.original"
# What a join and an unjoin do in the member (reconcilers/federatedcluster): the namespace, its
# ServiceAccount and token Secret, a ClusterRole with fc_member_rules and its binding (escalate and
# bind: the joiner need not hold those rules itself), the kube-system DNS ConfigMap, /version and
# node zones; unjoin also lists what the namespace holds.
joiner_role() {  # joiner_role CONFIGMAP-VERBS
  cat <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kubefed-joiner}
rules:
- apiGroups: [""]
  resources: [namespaces, serviceaccounts, secrets]
  verbs: [get, list, create, update, patch, delete]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [$1]
- apiGroups: [""]
  resources: [nodes, services, persistentvolumeclaims]
  verbs: [get, list]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterroles, clusterrolebindings]
  verbs: [get, create, update, patch, delete, escalate, bind]
EOF
}
joiner_role "get, list, update, patch" | MK apply -f - >/dev/null || { fail "joiner ClusterRole"; exit 1; }
MK create serviceaccount -n kube-system kubefed-joiner >/dev/null
MK create clusterrolebinding kubefed-joiner --clusterrole=kubefed-joiner --serviceaccount=kube-system:kubefed-joiner >/dev/null
TOKEN=$(MK create token -n kube-system kubefed-joiner --duration=2h) || { fail "token for kubefed-joiner"; exit 1; }
cat >"$TMP/joiner.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: khazad, cluster: {server: "$(MK config view --minify -o jsonpath='{.clusters[0].cluster.server}')", certificate-authority-data: $(MK config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')}}]
users: [{name: kubefed-joiner, user: {token: "$TOKEN"}}]
contexts: [{name: khazad, context: {cluster: khazad, user: kubefed-joiner}}]
current-context: khazad
EOF
check "the joiner is no cluster-admin (create deployments refused)" \
  bash -c "'$KUBECTL' --kubeconfig '$TMP/joiner.kubeconfig' auth can-i create deployments -n kube-system | grep -qx no"

K create secret generic -n "$NS" khazad-joiner --from-file=kubeconfig="$TMP/joiner.kubeconfig" >/dev/null
K apply -f - >/dev/null <<EOF || { fail "FederatedCluster refused"; exit 1; }
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: $FC, namespace: $NS}
spec:
  federationRef: {name: $FED}
  kubeconfigSecretRef: {name: khazad-joiner}
  dns: {mode: CoreDNS}
  health: {periodSeconds: 3, timeoutSeconds: 2, failureThreshold: 2, successThreshold: 1}
EOF
wait_until "$FC: Ready (joined with the least-privilege token)" 90 cond_is federatedcluster "$FC" Ready "True Healthy" || exit 1
wait_until "$FC: DNSConfigured True" 30 cond_is federatedcluster "$FC" DNSConfigured "True Configured" || exit 1
check "$FC: Joined True" cond_is federatedcluster "$FC" Joined "True Joined"
check "the Corefile forwards $FED.example.com to 127.0.0.1:15353" bash -c "'$KUBECTL' --kubeconfig '$MKC' get configmap coredns -n kube-system -o jsonpath='{.data.Corefile}' | grep -A4 '# BEGIN kubefed.dev $FED' | grep -q 'forward . 127.0.0.1:15353'"
corefile >"$TMP/Corefile.joined"
same_corefile() { corefile | cmp -s - "$1"; }
conds_intact() {
  cond_is federatedcluster "$FC" Joined "True Joined" && cond_is federatedcluster "$FC" Ready "True Healthy" &&
    cond_is federatedcluster "$FC" CredentialsValid "True Loaded" && cond_is federatedcluster "$FC" Offline "False Reachable"
}

# ---- a DNS rewrite with configmaps update/patch taken away --------------------------------------------
joiner_role "get, list" | MK apply -f - >/dev/null || fail "removing configmaps update from the joiner"
check "the joiner can no longer update the coredns ConfigMap" \
  bash -c "'$KUBECTL' --kubeconfig '$TMP/joiner.kubeconfig' auth can-i update configmaps/coredns -n kube-system | grep -qx no"
K patch -n "$NS" federation "$FED" --type=merge -p '{"spec":{"dns":{"corednsNameservers":["127.0.0.2:15353"]}}}' >/dev/null ||
  fail "changing the Federation's nameservers"
dns_forbidden() { cond_is federatedcluster "$FC" DNSConfigured "False DNSUpdateForbidden"; }
wait_until "$FC: DNSConfigured False DNSUpdateForbidden" 60 dns_forbidden
m=$(msg DNSConfigured); say "DNSConfigured: $m"
says() { local m; m=$(msg "$1"); shift; for w in "$@"; do grep -qF -- "$w" <<<"$m" || return 1; done; }
check "the message carries the API's answer (forbidden, update, configmaps)" says DNSConfigured forbidden "cannot update" configmaps
check "the message says nothing was changed" says DNSConfigured "nothing was changed"
wait_until "a Warning event DNSUpdateForbidden" 30 bash -c "[ -n \"\$(\"\$0\" --kubeconfig \"\$1\" get events -n \"\$2\" --field-selector involvedObject.name=$FC,type=Warning,reason=DNSUpdateForbidden -o name)\" ]" "$KUBECTL" "$KC" "$NS"
check "the Corefile is byte for byte what it was (never partial)" same_corefile "$TMP/Corefile.joined"
check "Joined, Ready, CredentialsValid, Offline intact" conds_intact
sleep 20   # a retry (every 15 s) must not change anything either
check "after a retry: the Corefile is still byte for byte what it was" same_corefile "$TMP/Corefile.joined"
if dns_forbidden && conds_intact; then pass "after a retry: still DNSConfigured False DNSUpdateForbidden, others intact"
else fail "conditions after a retry: $(J federatedcluster "$FC" | jq -c '[.status.conditions[] | [.type, .status, .reason]]')"; fi
check "the operator is still running" operator_alive

joiner_role "get, list, update, patch" | MK apply -f - >/dev/null || fail "restoring configmaps update"
new_ns() { corefile | grep -A4 "# BEGIN kubefed.dev $FED" | grep -q 'forward . 127.0.0.2:15353'; }
wait_until "permission back: DNSConfigured True" 60 cond_is federatedcluster "$FC" DNSConfigured "True Configured"
check "permission back: the Corefile forwards to the new nameserver" new_ns
check "permission back: the user's part of the Corefile untouched (the original is a prefix)" \
  bash -c "'$KUBECTL' --kubeconfig '$MKC' get configmap coredns -n kube-system -o jsonpath='{.data.Corefile}' | head -c $(wc -c <"$TMP/Corefile.original") | cmp -s - '$TMP/Corefile.original'"
check "Joined, Ready, CredentialsValid, Offline intact" conds_intact

# ---- an unjoin with configmaps update/patch taken away ------------------------------------------------
corefile >"$TMP/Corefile.joined2"
joiner_role "get, list" | MK apply -f - >/dev/null || fail "removing configmaps update from the joiner"
K delete -n "$NS" federatedcluster "$FC" --wait=false >/dev/null
unjoin_blocked() { cond_is federatedcluster "$FC" Joined "True UnjoinBlocked" && cond_is federatedcluster "$FC" DNSConfigured "False DNSUpdateForbidden"; }
wait_until "unjoin blocked: Joined True UnjoinBlocked, DNSConfigured False DNSUpdateForbidden" 60 unjoin_blocked
say "Joined: $(msg Joined)"
check "the Joined message names the refused update" says Joined "unjoin waits" forbidden "cannot update"
check "a Warning event for the blocked unjoin" bash -c "[ -n \"\$(\"\$0\" --kubeconfig \"\$1\" get events -n \"\$2\" --field-selector involvedObject.name=$FC,type=Warning,reason=DNSUpdateForbidden -o jsonpath='{.items[?(@.action==\"Unjoin\")].message}')\" ]" "$KUBECTL" "$KC" "$NS"
check "the FederatedCluster stays (finalizer held)" exists federatedcluster "$FC"
check "the Corefile is byte for byte what it was (never partial)" same_corefile "$TMP/Corefile.joined2"
check "nothing half-removed: the member's ServiceAccount stays" MK get serviceaccount -n federation-system "kubefed-$FED-$FC"
check "nothing half-removed: the member's ClusterRole and binding stay" MK get clusterrole,clusterrolebinding "kubefed.dev:$FED:$FC"
check "nothing half-removed: the host credential Secret stays" exists secret "$FC-credentials"

joiner_role "get, list, update, patch" | MK apply -f - >/dev/null || fail "restoring configmaps update"
wait_until "permission back: the unjoin completes (FederatedCluster gone)" 60 gone federatedcluster "$FC"
check "the Corefile is byte for byte the original" same_corefile "$TMP/Corefile.original"
check "the member's ServiceAccount removed" bash -c "! '$KUBECTL' --kubeconfig '$MKC' get serviceaccount -n federation-system kubefed-$FED-$FC 2>/dev/null"
check "the member's ClusterRole removed" bash -c "! '$KUBECTL' --kubeconfig '$MKC' get clusterrole kubefed.dev:$FED:$FC 2>/dev/null"
check "the host credential Secret removed" gone secret "$FC-credentials"
check "the operator is still running" operator_alive
if grep -q "ERROR: AddressSanitizer\|runtime error:" "$OPLOG"; then fail "sanitizer report in the operator log"; else pass "no sanitizer report in the operator log"; fi
