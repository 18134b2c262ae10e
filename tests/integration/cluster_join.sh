#!/usr/bin/env bash
# cluster.join: the FederatedCluster controller (the declarative `kubefed join` / `unjoin`) on three
# real clusters: host rivendell-like (kwok nodes, the fellowship Federation served for real by
# `k8s serve-federation`), members gondor (joined through a context named gondor_needs-no_king, a
# CoreDNS Corefile with a user block) and noldor (secret name 11kingdom, kube-dns with user
# stubDomains). Checks: both Ready; Cluster objects point at the right Secrets, which the
# federation API holds too (restored when deleted or edited there); spec.clusterLabels on the
# Cluster (a spec key wins over kubectl label, removed keys go, other labels stay); the stored
# kubeconfig works (exactly RBAC.md's member rows: security.rbac); DNS entries added exactly and two
# federations on one member keep both; Offline within failureThreshold x period + timeout and back;
# rotated or broken credentials picked up without restart; exec credentials refused; unjoin restores
# DNS byte for byte and leaves nothing; an unreachable member holds unjoin until force-unjoin.
TEST=cluster.join RESOURCE=federatedcluster CLUSTER=join NODES=1 NS="join-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GONDOR="gondor-$$" NOLDOR="noldor-$$"
RUN_ROOT="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}"
on_finish() {
  for c in "fed-$NS-fellowship" "fed-$NS-rohan" "$GONDOR" "$NOLDOR"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  stop_operator
}


GKC=$("$HARNESS" up "$GONDOR" --nodes 1) || { fail "up $GONDOR"; exit 1; }
NKC=$("$HARNESS" up "$NOLDOR" --nodes 1) || { fail "up $NOLDOR"; exit 1; }
GK() { "$KUBECTL" --kubeconfig "$GKC" --request-timeout=20s "$@"; }
NKm() { "$KUBECTL" --kubeconfig "$NKC" --request-timeout=20s "$@"; }

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator

# ---- the federations, served for real -----------------------------------------------------------
serve_federation fellowship
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/fellowship.kubeconfig"
FK() { "$KUBECTL" --kubeconfig "$TMP/fellowship.kubeconfig" --request-timeout=20s "$@"; }

# ---- realistic member DNS configs ----------------------------------------------------------------
# kubeadm's Corefile plus a block of the user's own
{ cat "$ROOT/tests/data/Corefile"; cat <<'EOF'
consul.local:53 {
    errors
    cache 30
    forward . 127.0.0.9
}
EOF
} >"$TMP/Corefile"
GK create configmap coredns -n kube-system --from-file=Corefile="$TMP/Corefile" >/dev/null
NKm create configmap kube-dns -n kube-system --from-literal=stubDomains='{"acme.local": ["127.0.0.8"]}' \
  --from-literal=upstreamNameservers='["127.0.0.7"]' >/dev/null
NKm get configmap kube-dns -n kube-system -o json | jq -S '{data, annotations: (.metadata.annotations // {})}' >"$TMP/kube-dns.before"

# ---- join -----------------------------------------------------------------------------------------
sed 's/\b'"$GONDOR"'\b/gondor_needs-no_king/g' "$GKC" >"$TMP/gondor.kubeconfig"
check "gondor kubeconfig has the context gondor_needs-no_king" grep -q "name: gondor_needs-no_king" "$TMP/gondor.kubeconfig"
K create secret generic -n "$NS" gondor-admin --from-file=kubeconfig="$TMP/gondor.kubeconfig" >/dev/null
K create secret generic -n "$NS" noldor-admin --from-file=kubeconfig="$NKC" >/dev/null
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: gondor, namespace: $NS}
spec:
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin, context: gondor_needs-no_king}
  health: {periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1}
---
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: noldor, namespace: $NS}
spec:
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: noldor-admin}
  secretName: 11kingdom
EOF
wait_until "kubectl wait --for=condition=Ready federatedcluster/gondor" 60 \
  K wait -n "$NS" --for=condition=Ready federatedcluster/gondor --timeout=2s
wait_until "kubectl wait --for=condition=Ready federatedcluster/noldor" 60 \
  K wait -n "$NS" --for=condition=Ready federatedcluster/noldor --timeout=2s
for fc in gondor noldor; do
  check "$fc: Joined" cond_is federatedcluster "$fc" Joined "True Joined"
  check "$fc: CredentialsValid" cond_is federatedcluster "$fc" CredentialsValid "True Loaded"
  st=$(J federatedcluster "$fc")
  check "$fc: version v1.37.2 in status" test "$(jq -r .status.kubernetesVersion <<<"$st")" = v1.37.2
  check "$fc: region and zones from node labels" test "$(jq -r '.status.region + " " + (.status.zones|join(","))' <<<"$st")" = \
    "$([ $fc = gondor ] && echo "$GONDOR" || echo "$NOLDOR")-region $([ $fc = gondor ] && echo "$GONDOR" || echo "$NOLDOR")-zone-a"
done
joined_clusters_is() { [ "$(J federation fellowship | jq -r .status.joinedClusters)" = "$1" ]; }
wait_until "Federation fellowship: status.joinedClusters 2" 30 joined_clusters_is 2
check "noldor's credentials are in Secret 11kingdom" test "$(J federatedcluster noldor | jq -r .status.credentialSecretRef.name)" = 11kingdom
check "gondor's credentials are in Secret gondor-credentials" exists secret gondor-credentials
check "federation API: Cluster gondor -> Secret gondor-credentials" test "$(FK get cluster gondor -o jsonpath='{.spec.secretRef.name}')" = gondor-credentials
check "federation API: Cluster noldor -> Secret 11kingdom" test "$(FK get cluster noldor -o jsonpath='{.spec.secretRef.name}')" = 11kingdom
check "federation API: Cluster noldor's server is noldor's" test "$(FK get cluster noldor -o jsonpath='{.spec.serverAddressByClientCIDRs[0].serverAddress}')" = "$(cat "$RUN_ROOT/$NOLDOR/server" 2>/dev/null || "$KUBECTL" --kubeconfig "$NKC" config view -o jsonpath='{.clusters[0].cluster.server}')"
# cluster_ready_is STATUS REASON: Cluster gondor's Ready condition in the federation API.
cluster_ready_is() {
  [ "$(FK get cluster gondor -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}')" = "$1 $2" ]
}
wait_until "federation API: Cluster gondor status Ready mirrored" 30 cluster_ready_is True Healthy
# The controller manager places workloads by that status: written there by somebody else (or left
# behind by a mirror that failed), it is mirrored again, with nothing changed on the member.
FK patch cluster gondor --subresource=status --type=merge \
  -p '{"status":{"conditions":[{"type":"Ready","status":"False","reason":"Edited","message":"by hand"}]}}' >/dev/null ||
  fail "federation API: Cluster gondor's status not edited"
wait_until "federation API: Cluster gondor's status edited to Ready False is mirrored back" 30 cluster_ready_is True Healthy
secret_key 11kingdom kubeconfig >"$TMP/11kingdom.kubeconfig"
SK() { "$KUBECTL" --kubeconfig "$TMP/11kingdom.kubeconfig" --request-timeout=20s "$@"; }
check "the stored kubeconfig works against noldor (get namespaces: a propagated type)" SK get namespaces
check "the stored kubeconfig is a token, not noldor's admin certificate" grep -q "token:" "$TMP/11kingdom.kubeconfig"
# That it can do exactly RBAC.md's "member" rows (no more) is security.rbac's check.
check "the member SA cannot escalate (create clusterroles refused)" bash -c "! '$KUBECTL' --kubeconfig '$TMP/11kingdom.kubeconfig' auth can-i create clusterroles | grep -qx yes"
check "member objects are labelled ours" test "$(NKm get serviceaccount -n federation-system kubefed-fellowship-noldor -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}')" = kubefed-operator

# ---- the credentials in the federation API, where the controller manager reads them ----------------
fsecret_key() { FK get secret -n federation-system "$1" -o json 2>/dev/null | jq -r --arg k "$2" '.data[$k] // empty'; }
for pair in gondor:gondor-credentials noldor:11kingdom; do
  fc=${pair%%:*} sec=${pair#*:}
  host_b64=$(J secret "$sec" | jq -r '.data.kubeconfig')
  check "federation API: Secret federation-system/$sec holds the host Secret's kubeconfig ($fc)" \
    test -n "$host_b64" -a "$(fsecret_key "$sec" kubeconfig)" = "$host_b64"
  check "federation API: Secret federation-system/$sec is labelled ours, with no ownerReference" \
    test "$(FK get secret -n federation-system "$sec" -o json | jq -r '.metadata.labels["app.kubernetes.io/managed-by"] + " " + .metadata.labels["kubefed.dev/federation"] + " " + .metadata.labels["kubefed.dev/cluster"] + " " + ((.metadata.ownerReferences // []) | length | tostring)')" = "kubefed-operator fellowship $fc 0"
done
FK delete secret -n federation-system 11kingdom --wait=false >/dev/null
fsecret_back() { [ "$(fsecret_key 11kingdom kubeconfig)" = "$(J secret 11kingdom | jq -r .data.kubeconfig)" ]; }
t0=$SECONDS
wait_until "federation API: a deleted credential Secret is restored" 30 fsecret_back
say "restored after $((SECONDS - t0)) s"
FK patch secret -n federation-system 11kingdom --type=merge -p '{"data":{"kubeconfig":"ZWRpdGVk"}}' >/dev/null
wait_until "federation API: an edited credential Secret is restored" 30 fsecret_back

# ---- spec.clusterLabels: the Cluster's labels, declaratively -------------------------------------------
clabel() { FK get cluster gondor -o json | jq -r --arg k "$1" '.metadata.labels[$k] // "<none>"'; }
K patch -n "$NS" federatedcluster gondor --type=merge -p '{"spec":{"clusterLabels":{"env":"prod","region":"west"}}}' >/dev/null
labels_are() { [ "$(clabel env) $(clabel region) $(clabel team)" = "$1" ]; }
wait_until "clusterLabels env=prod region=west on Cluster gondor" 30 labels_are "prod west <none>"
FK label cluster gondor team=rangers >/dev/null
FK label cluster gondor env=dev --overwrite >/dev/null
t0=$SECONDS
wait_until "a spec key wins over kubectl label (env back to prod), other kubectl labels kept (team)" 30 labels_are "prod west rangers"
say "restored after $((SECONDS - t0)) s"
K patch -n "$NS" federatedcluster gondor --type=merge -p '{"spec":{"clusterLabels":{"region":null}}}' >/dev/null
wait_until "a key removed from spec is removed from the Cluster (region), the rest kept" 30 labels_are "prod <none> rangers"
check "the Cluster keeps our own labels" test "$(clabel kubefed.dev/cluster) $(clabel app.kubernetes.io/managed-by)" = "gondor kubefed-operator"
check "clusterLabels cannot set our own labels (refused by the CRD)" bash -c \
  "! '$KUBECTL' --kubeconfig '$KC' patch -n '$NS' federatedcluster gondor --type=merge -p '{\"spec\":{\"clusterLabels\":{\"kubefed.dev/cluster\":\"x\"}}}' --dry-run=server"
check "clusterLabels must be label keys and values (refused by the CRD)" bash -c \
  "! '$KUBECTL' --kubeconfig '$KC' patch -n '$NS' federatedcluster gondor --type=merge -p '{\"spec\":{\"clusterLabels\":{\"bad key\":\"-x-\"}}}' --dry-run=server"

# ---- DNS --------------------------------------------------------------------------------------------
corefile() { GK get configmap coredns -n kube-system -o jsonpath='{.data.Corefile}'; }
has_block() { corefile | grep -q "# BEGIN kubefed.dev $1"; }
forwards_fellowship() { corefile | grep -A4 '# BEGIN kubefed.dev fellowship' | grep -q 'forward . 127.0.0.1:15353'; }
user_blocks_kept() { corefile | head -c "$(wc -c <"$TMP/Corefile")" | cmp -s - "$TMP/Corefile"; }
both_blocks() { has_block fellowship && has_block rohan; }
only_fellowship() { has_block fellowship && ! has_block rohan; }
wait_until "gondor: DNSConfigured (CoreDNS)" 30 cond_is federatedcluster gondor DNSConfigured "True Configured"
check "gondor: our marked block forwards fellowship.example.com to 127.0.0.1:15353" forwards_fellowship
check "gondor: the user's blocks are untouched (the original is a prefix)" user_blocks_kept
kd() { NKm get configmap kube-dns -n kube-system -o json; }
wait_until "noldor: DNSConfigured (kube-dns)" 30 cond_is federatedcluster noldor DNSConfigured "True Configured"
check "noldor: federations key has fellowship" test "$(kd | jq -r .data.federations)" = "fellowship=fellowship.example.com"
check "noldor: stubDomains keeps acme.local and adds the zone" test "$(kd | jq -c '.data.stubDomains | fromjson | [.["acme.local"], .["fellowship.example.com"]]')" = '[["127.0.0.8"],["127.0.0.1:15353"]]'
check "noldor: upstreamNameservers untouched" test "$(kd | jq -r .data.upstreamNameservers)" = '["127.0.0.7"]'

serve_federation rohan
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: gondor-rohan, namespace: $NS}
spec:
  federationRef: {name: rohan}
  kubeconfigSecretRef: {name: gondor-admin, context: gondor_needs-no_king}
  memberNamespace: rohan-system
EOF
wait_until "gondor joined to a second Federation (rohan)" 60 cond_is federatedcluster gondor-rohan Ready "True Healthy"
check "gondor's Corefile keeps both federations' blocks" both_blocks
# A user's ConfigMap in the namespace we created: unjoin must keep the namespace (and it).
GK create configmap -n rohan-system users-own --from-literal=k=v >/dev/null
K delete -n "$NS" federatedcluster gondor-rohan --timeout=60s >/dev/null
check "unjoin keeps a namespace we created once it holds a user's object" GK get configmap -n rohan-system users-own
check "unjoin removed rohan's ServiceAccount from it" bash -c "! '$KUBECTL' --kubeconfig '$GKC' get serviceaccount -n rohan-system kubefed-rohan-gondor-rohan"

check "unjoin of rohan removes only its block" only_fellowship
check "gondor still joined to fellowship (its SA kept)" GK get serviceaccount -n federation-system kubefed-fellowship-gondor

# ---- health: Offline within failureThreshold x period + timeout, and back ---------------------------
read -r apid _ <"$RUN_ROOT/$GONDOR/pids/kube-apiserver.pid"
t0=$SECONDS
kill -STOP "$apid"   # a hung member: connections open, no answer
wait_until "gondor Offline after its API server hangs" 20 cond_is federatedcluster gondor Offline "True ProbeFailed"
took=$((SECONDS - t0))
check "Offline within failureThreshold x period + timeout (+ reconcile slack): ${took}s <= 2*2+1+3" test "$took" -le 8
check "noldor keeps Ready meanwhile" cond_is federatedcluster noldor Ready "True Healthy"
kill -CONT "$apid"
wait_until "gondor Ready again once it answers" 30 cond_is federatedcluster gondor Ready "True Healthy"

# ---- credentials: picked up without restart; exec refused -----------------------------------------------
echo "not a kubeconfig" >"$TMP/garbage"
K create secret generic -n "$NS" gondor-admin --from-file=kubeconfig="$TMP/garbage" --dry-run=client -o yaml | K apply -f - >/dev/null
wait_until "broken member credentials: CredentialsValid False" 30 cond_is federatedcluster gondor CredentialsValid "False InvalidKubeconfig"
K create secret generic -n "$NS" gondor-admin --from-file=kubeconfig="$TMP/gondor.kubeconfig" --dry-run=client -o yaml | K apply -f - >/dev/null
wait_until "restored credentials picked up without restart" 30 cond_is federatedcluster gondor CredentialsValid "True Loaded"
cat >"$TMP/exec.kubeconfig" <<'EOF'
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: gke-gcloud-auth-plugin}}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
EOF
K create secret generic -n "$NS" exec-admin --from-file=kubeconfig="$TMP/exec.kubeconfig" >/dev/null
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: mordor, namespace: $NS}
spec: {federationRef: {name: fellowship}, kubeconfigSecretRef: {name: exec-admin}}
EOF
wait_until "exec credentials refused: CredentialsValid False UnsupportedCredentials" 30 \
  cond_is federatedcluster mordor CredentialsValid "False UnsupportedCredentials"
msg=$(J federatedcluster mordor | jq -r '.status.conditions[] | select(.type=="CredentialsValid") | .message')
check "the message says what to supply instead ($msg)" grep -q "token or a client certificate" <<<"$msg"
K delete -n "$NS" federatedcluster mordor --timeout=30s >/dev/null 2>&1 || true

# ---- unjoin noldor: exact ----------------------------------------------------------------------------
for o in clusterrole/kubefed.dev:fellowship:noldor clusterrolebinding/kubefed.dev:fellowship:noldor \
         serviceaccount/kubefed-fellowship-noldor secret/kubefed-fellowship-noldor-token; do
  check "member: $o exists while joined" NKm get -n federation-system "$o"
done
check "federation API: Cluster noldor exists while joined" FK get cluster noldor
K delete -n "$NS" federatedcluster noldor --wait=false >/dev/null
wait_until "noldor unjoined (FederatedCluster gone)" 60 gone federatedcluster noldor
check "host: Secret 11kingdom removed" gone secret 11kingdom
wait_until "Federation fellowship: status.joinedClusters 1 (gondor-rohan counts for rohan only)" 30 joined_clusters_is 1
check "federation API: Cluster noldor removed" bash -c "! '$KUBECTL' --kubeconfig '$TMP/fellowship.kubeconfig' get cluster noldor"
check "federation API: Secret federation-system/11kingdom removed" bash -c "! '$KUBECTL' --kubeconfig '$TMP/fellowship.kubeconfig' get secret -n federation-system 11kingdom"
check "member: ClusterRole removed" bash -c "! '$KUBECTL' --kubeconfig '$NKC' get clusterrole kubefed.dev:fellowship:noldor"
check "member: ClusterRoleBinding removed" bash -c "! '$KUBECTL' --kubeconfig '$NKC' get clusterrolebinding kubefed.dev:fellowship:noldor"
check "member: ServiceAccount and token Secret removed" bash -c "! '$KUBECTL' --kubeconfig '$NKC' get -n federation-system serviceaccount/kubefed-fellowship-noldor secret/kubefed-fellowship-noldor-token 2>/dev/null | grep -q kubefed"
check "member: namespace we created removed" bash -c "! '$KUBECTL' --kubeconfig '$NKC' get namespace federation-system -o jsonpath='{.status.phase}' | grep -qx Active"
NKm get configmap kube-dns -n kube-system -o json | jq -S '{data, annotations: (.metadata.annotations // {})}' >"$TMP/kube-dns.after"
if diff "$TMP/kube-dns.before" "$TMP/kube-dns.after" >"$TMP/kd.diff"; then pass "member: kube-dns ConfigMap restored exactly"
else fail "member: kube-dns ConfigMap differs after unjoin: $(cat "$TMP/kd.diff")"; fi
check "noldor's admin Secret (the user's) kept" exists secret noldor-admin

# ---- unjoin gondor while unreachable: waits, then force-unjoin ---------------------------------------
read -r apid _ <"$RUN_ROOT/$GONDOR/pids/kube-apiserver.pid"
kill -STOP "$apid"
K delete -n "$NS" federatedcluster gondor --wait=false >/dev/null
wait_until "unreachable member: unjoin waits (Joined True UnjoinBlocked)" 30 cond_is federatedcluster gondor Joined "True UnjoinBlocked"
check "gondor still exists" exists federatedcluster gondor
K annotate -n "$NS" federatedcluster gondor kubefed.dev/force-unjoin=true >/dev/null
wait_until "force-unjoin finishes the host side" 30 gone federatedcluster gondor
check "host: Secret gondor-credentials removed" gone secret gondor-credentials
check "federation API: Secret federation-system/gondor-credentials removed (the federation API was reachable)" \
  bash -c "! '$KUBECTL' --kubeconfig '$TMP/fellowship.kubeconfig' get secret -n federation-system gondor-credentials"
check "a Warning event lists what was left in the member" bash -c "'$KUBECTL' --kubeconfig '$KC' get events -n '$NS' --field-selector reason=ForcedUnjoin -o jsonpath='{.items[*].message}' | grep -q 'left behind'"
kill -CONT "$apid"

check "the operator is still running" operator_alive
if grep -qE "PRIVATE KEY|token: \"ey|client-key-data" "$OPLOG"; then fail "the operator log holds secret material"; else pass "no key or token in the operator log"; fi
