#!/usr/bin/env bash
# federation.controlplane: the Federation controller (the declarative `kubefed init`) end to end,
# on a harness host cluster with kwok nodes and the operator binary (KF_OPERATOR) running:
#   fellowship (coredns + provider config, NodePort + advertise 127.0.0.1) -> every child with
#   kubefed v1's names and keys -> `k8s serve-federation` runs the generated Deployment (real
#   kube-apiserver + etcd from the generated Secret and args) -> Ready, the admin kubeconfig from
#   status reaches it with verified TLS, namespaces and the Cluster CRD exist -> zero writes at
#   steady state -> drift restored -> certificate rotation (served serial changes) -> variants
#   (LoadBalancer, ClusterIP, token auth, existing claim, EmptyDir, external etcd, arg overrides,
#   bring-your-own CA) -> a table of bad Federations (refused or Degraded, among them one whose
#   pods a ResourceQuota rejects: Degraded ReplicaFailure) while others reconcile ->
#   teardown waits for FederatedClusters, keeps the retained PVC, removes the rest. The controller
#   manager: kubefed-controller-manager from --controller-manager-image, its args, probes, no host
#   identity (an earlier version's ServiceAccount, Role and RoleBinding deleted), run for real by
#   serve-federation; extraArgs it would refuse: InvalidExtraArgs and the Deployment untouched; no
#   image: NoImage and the Deployment deleted.
# Everything runs in a namespace enforcing PodSecurity restricted: the generated pods are admitted.
TEST=federation.controlplane RESOURCE=federation CLUSTER=fedcp NODES=1 NS="cp-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

on_finish() {
  "$HARNESS" down "fed-$NS-fellowship" >&2 2>/dev/null || true
  stop_operator
}

# cond FED TYPE: "status reason" of a Federation condition.
cond() { J federation "$1" | jq -r --arg t "$2" '.status.conditions[]? | select(.type==$t) | "\(.status) \(.reason)"'; }
cond_is() { [ "$(cond "$1" "$2")" = "$3" ]; }
writes() {  # mutating API requests the operator has made so far
  curl -sf --max-time 5 "http://127.0.0.1:$METRICS/metrics" |
    awk '/^kubefed_api_requests_total/ && /verb="(POST|PUT|PATCH|DELETE)"/ {n += $NF} END {print n + 0}'
}
fedm() {  # fedm NAME: a Federation manifest; spec lines (indented 2) from stdin
  printf 'apiVersion: kubefed.dev/v1alpha1\nkind: Federation\nmetadata: {name: %s, namespace: %s}\nspec:\n' "$1" "$NS"
  cat
}

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
# Every Federation here lives in a namespace enforcing PodSecurity `restricted` (issue 17, D5): its
# pods are admitted for real by the apiserver even though kwok only pretends to run them.
K label namespace "$NS" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest >/dev/null
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: rootful, namespace: %s}\nspec: {containers: [{name: c, image: x}]}\n' "$NS" >"$TMP/rootful.yaml"
check "namespace $NS enforces restricted (a plain pod is refused)" \
  bash -c "'$KUBECTL' --kubeconfig '$KC' create --dry-run=server -f '$TMP/rootful.yaml' 2>&1 | grep -q 'violates PodSecurity \"restricted'"
# What an earlier version made for the controller manager on the host (labelled ours): deleted by
# the reconcile. A same-named ServiceAccount of somebody else's (unlabelled) for `args` is kept.
for kind in serviceaccount role rolebinding; do
  case $kind in
    serviceaccount) spec="" ;;
    role) spec='rules: [{apiGroups: [""], resources: [secrets], verbs: [get, list, watch]}]' ;;
    rolebinding) spec="roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: fellowship-controller-manager}
subjects: [{kind: ServiceAccount, name: fellowship-controller-manager, namespace: $NS}]" ;;
  esac
  K apply -f - >/dev/null <<EOF || fail "create the legacy $kind"
apiVersion: $([ $kind = serviceaccount ] && echo v1 || echo rbac.authorization.k8s.io/v1)
kind: $(case $kind in serviceaccount) echo ServiceAccount ;; role) echo Role ;; *) echo RoleBinding ;; esac)
metadata:
  name: fellowship-controller-manager
  namespace: $NS
  labels: {app.kubernetes.io/managed-by: kubefed-operator, kubefed.dev/federation: fellowship}
$spec
EOF
done
K create serviceaccount -n "$NS" args-controller-manager >/dev/null
start_operator

# ---- 1. fellowship: every child, with kubefed v1's names and keys -------------------------------
NODEPORT=$(free_port 30000 32767)
K apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata: {name: fellowship-dns, namespace: $NS}
stringData:
  provider.conf: |
    [Global]
    etcd-endpoints = http://127.0.0.1:2379
    zones = example.com.
    coredns-endpoints = 127.0.0.1:15353
EOF
fedm fellowship <<EOF | K apply -f - >/dev/null
  dns:
    provider: coredns
    zoneName: example.com.
    providerConfigSecretRef: {name: fellowship-dns}
    corednsNameservers: ["127.0.0.1:15353"]
  apiServer:
    service: {type: NodePort, nodePort: $NODEPORT}
    advertiseAddress: 127.0.0.1
EOF
wait_until "fellowship: apiserver Deployment created" 60 exists deployment fellowship-apiserver
for obj in service/fellowship-apiserver secret/fellowship-ca secret/fellowship-apiserver-credentials \
           secret/fellowship-controller-manager-kubeconfig secret/fellowship-admin-kubeconfig \
           secret/fellowship-dns-provider pvc/fellowship-apiserver-etcd-claim deployment/fellowship-apiserver; do
  o=$(J "$obj")
  if [ "$(jq -r '.metadata.labels["app.kubernetes.io/managed-by"] + "/" + .metadata.labels["kubefed.dev/federation"]' <<<"$o")" = "kubefed-operator/fellowship" ]; then
    pass "$obj exists, labelled"
  else
    fail "$obj missing or unlabelled"
  fi
  owner=$(jq -r '[.metadata.ownerReferences[]? | select(.kind=="Federation" and .controller==true) | .name] | join(",")' <<<"$o")
  if [ "$obj" = pvc/fellowship-apiserver-etcd-claim ]; then
    check "$obj has no ownerReference (retainOnDelete keeps the data)" test -z "$owner"
  else
    check "$obj is owned by the Federation" test "$owner" = fellowship
  fi
done
keys=$(J secret fellowship-apiserver-credentials | jq -r '.data | keys | join(",")')
check "apiserver-credentials keys are kubefed v1's plus the service-account pair ($keys)" test "$keys" = "ca.crt,sa.key,sa.pub,server.crt,server.key"
check "dns-provider Secret holds the provider config under federation-dns-provider.conf" \
  grep -q "coredns-endpoints = 127.0.0.1:15353" <(secret_key fellowship-dns-provider federation-dns-provider.conf)
args=$(J deployment fellowship-apiserver | jq -r '.spec.template.spec.containers[] | select(.name=="apiserver") | .args | join(" ")')
for a in --secure-port=8443 --client-ca-file=/etc/federation/apiserver/ca.crt --etcd-servers=http://127.0.0.1:2379 \
         --tls-cert-file=/etc/federation/apiserver/server.crt --service-account-key-file=/etc/federation/apiserver/sa.pub \
         --advertise-address=127.0.0.1 --authorization-mode=RBAC; do
  check "apiserver arg $a" grep -qF -- "$a" <<<"$args"
done
for obj in serviceaccount role rolebinding; do
  wait_until "no host $obj fellowship-controller-manager (an earlier version's, deleted)" 30 gone "$obj" fellowship-controller-manager
done
check "Service is NodePort $NODEPORT, 443 -> https" test "$(J service fellowship-apiserver | jq -r '.spec.type + " " + (.spec.ports[0].nodePort|tostring) + " " + (.spec.ports[0].port|tostring) + " " + .spec.ports[0].targetPort')" = "NodePort $NODEPORT 443 https"

# Pods of the Deployment DEP (by its selector) exist: admitted, here under PodSecurity restricted.
pods_of() {
  local sel
  sel=$(J deployment "$1" | jq -r '.spec.selector.matchLabels | to_entries | map("\(.key)=\(.value)") | join(",")')
  [ -n "$sel" ] && K get pods -n "$NS" -l "$sel" -o name
}
admitted() { [ -n "$(pods_of "$1")" ]; }
wait_until "fellowship-apiserver's pod admitted under PodSecurity restricted" 60 admitted fellowship-apiserver
check "fellowship-apiserver reports no ReplicaFailure" \
  test "$(J deployment fellowship-apiserver | jq -r '[.status.conditions[]? | select(.type=="ReplicaFailure")] | length')" = 0

# ---- 2. serve-federation runs the generated pod; the Federation becomes Ready --------------------
URL=$("$HARNESS" serve-federation "$KC" "$NS" fellowship) && pass "serve-federation started $URL" || fail "serve-federation"
check "served at the NodePort" test "$URL" = "https://127.0.0.1:$NODEPORT"
wait_until "kubectl wait --for=condition=Ready federation/fellowship" 120 \
  K wait -n "$NS" --for=condition=Ready federation/fellowship --timeout=2s
check "status.endpoint is the NodePort URL" test "$(J federation fellowship | jq -r .status.endpoint)" = "$URL"
ref=$(J federation fellowship | jq -r '.status.kubeconfigSecretRef.name + "/" + .status.kubeconfigSecretRef.key')
check "status.kubeconfigSecretRef names the admin kubeconfig" test "$ref" = "fellowship-admin-kubeconfig/kubeconfig"
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/admin.kubeconfig"
FK() { "$KUBECTL" --kubeconfig "$TMP/admin.kubeconfig" --request-timeout=20s "$@"; }
check "admin kubeconfig reaches the federation API with verified TLS" FK get --raw /readyz
check "federation API: namespace default exists" FK get namespace default
check "federation API: namespace federation-system exists" FK get namespace federation-system
check "federation API: Cluster CRD installed" FK get crd clusters.federation.kubefed.dev
wait_until "controller manager Deployment applied after the bootstrap" 30 exists deployment fellowship-controller-manager
wait_until "fellowship-controller-manager's pod admitted under PodSecurity restricted" 60 admitted fellowship-controller-manager
cm=$(J deployment fellowship-controller-manager)
fuid=$(J federation fellowship | jq -r .metadata.uid)
check "controller manager args are kubefed v1's, the Federation's uid, health and metrics ports" test "$(jq -r '.spec.template.spec.containers[0].args | join(" ")' <<<"$cm")" = \
  "--dns-provider-config=/etc/federation/dns-provider/federation-dns-provider.conf --dns-provider=coredns --federation-name=fellowship --federation-uid=$fuid --health-bind-address=:8081 --kubeconfig=/etc/federation/controller-manager/kubeconfig --master=https://fellowship-apiserver --metrics-bind-address=:8080 --zone-name=example.com."
check "controller manager runs /usr/local/bin/kubefed-controller-manager from --controller-manager-image ($KF_CM_IMAGE)" \
  test "$(jq -r '.spec.template.spec.containers[0] | (.command | join(" ")) + " " + .image' <<<"$cm")" = "/usr/local/bin/kubefed-controller-manager $KF_CM_IMAGE"
check "controller manager probes: liveness /healthz, readiness /readyz on 8081" \
  test "$(jq -r '.spec.template.spec.containers[0] | .livenessProbe.httpGet.path + " " + .readinessProbe.httpGet.path + " " + (.readinessProbe.httpGet.port|tostring)' <<<"$cm")" = "/healthz /readyz 8081"
check "controller manager has no host identity: no token mounted, the default ServiceAccount" \
  test "$(jq -r '.spec.template.spec | (.automountServiceAccountToken|tostring) + " " + .serviceAccountName' <<<"$cm")" = "false default"
check "controller manager carries the federations annotation" test "$(jq -r '.metadata.annotations.federations' <<<"$cm")" = "fellowship=example.com"
check "somebody else's ServiceAccount args-controller-manager is kept" exists serviceaccount args-controller-manager
# serve-federation runs the generated controller manager Deployment with the build's program.
CMDIR="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}/fed-$NS-fellowship"
cm_healthz() { [ -f "$CMDIR/cm-health" ] && [ "$(curl -s --max-time 3 "$(cat "$CMDIR/cm-health")/healthz")" = ok ]; }
wait_until "the generated controller manager runs (serve-federation) and answers /healthz" 60 cm_healthz
for t in CertificatesReady EtcdReady APIServerReady ControllerManagerReady; do
  wait_until "condition $t True" 30 cond_is fellowship "$t" "True $(cond fellowship "$t" | cut -d' ' -f2)"
done
gen=$(J federation fellowship | jq -r '.metadata.generation')
check "every condition carries observedGeneration $gen" test "$(J federation fellowship | jq --argjson g "$gen" '[.status.conditions[] | select(.observedGeneration != $g)] | length')" = 0

# ---- 3. steady state: no writes ------------------------------------------------------------------
sleep 3
w0=$(writes); sleep 15; w1=$(writes)
check "no writes at steady state (mutating requests: $w0 -> $w1 over 15 s)" test "$w0" = "$w1"

# ---- 4. drift ------------------------------------------------------------------------------------
uid=$(J service fellowship-apiserver | jq -r .metadata.uid)
K delete -n "$NS" service fellowship-apiserver --wait=false >/dev/null
svc_back() { [ "$(J service fellowship-apiserver | jq -r '.metadata.uid + " " + (.spec.ports[0].nodePort|tostring)')" != "$uid $NODEPORT" ] &&
             [ "$(J service fellowship-apiserver | jq -r '.spec.ports[0].nodePort')" = "$NODEPORT" ]; }
wait_until "deleted Service restored (same nodePort)" 30 svc_back
K patch -n "$NS" deployment fellowship-apiserver --type=json \
  -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--v=9"}]' >/dev/null
no_v9() { ! J deployment fellowship-apiserver | jq -r '.spec.template.spec.containers[0].args[]' | grep -qx -- --v=9; }
wait_until "edited Deployment args restored" 30 no_v9
K delete -n "$NS" secret fellowship-controller-manager-kubeconfig --wait=false >/dev/null
wait_until "deleted kubeconfig Secret restored" 30 exists secret fellowship-controller-manager-kubeconfig
wait_until "Ready again after the drift" 90 cond_is fellowship Ready "True Ready"

# ---- 4b. the controller manager's extraArgs and image ---------------------------------------------
# An extraArg the program would refuse: a condition, and the running Deployment is left as it is.
cmgen=$(J deployment fellowship-controller-manager | jq -r .metadata.generation)
K patch -n "$NS" federation fellowship --type=merge -p '{"spec":{"controllerManager":{"extraArgs":{"no-such-flag":"1"}}}}' >/dev/null
wait_until "unknown extraArg: ControllerManagerReady False InvalidExtraArgs" 30 cond_is fellowship ControllerManagerReady "False InvalidExtraArgs"
msg=$(J federation fellowship | jq -r '.status.conditions[] | select(.type=="ControllerManagerReady") | .message')
check "InvalidExtraArgs names the flag, as the program would ($msg)" grep -qF -- "no-such-flag" <<<"$msg"
check "Degraded True InvalidExtraArgs" cond_is fellowship Degraded "True InvalidExtraArgs"
check "the Deployment was not changed (generation $cmgen)" test "$(J deployment fellowship-controller-manager | jq -r .metadata.generation)" = "$cmgen"
# A drift step above may have restarted it (a restored kubeconfig Secret changes the template hash).
wait_until "the controller manager still runs" 30 cm_healthz
K patch -n "$NS" federation fellowship --type=merge -p '{"spec":{"controllerManager":{"extraArgs":{"no-such-flag":null,"concurrent-replicaset-syncs":"5"}}}}' >/dev/null
has_arg() { J deployment fellowship-controller-manager | jq -r '.spec.template.spec.containers[0].args[]' | grep -qx -- "$1"; }
wait_until "a valid extraArg reaches the Deployment" 30 has_arg --concurrent-replicaset-syncs=5
wait_until "Ready again with valid extraArgs" 60 cond_is fellowship Ready "True Ready"
# No image anywhere (the operator without --controller-manager-image, the spec without one):
# NoImage, and the Deployment goes; serve-federation stops the process.
stop_operator
start_operator --controller-manager-image=
wait_until "no image: ControllerManagerReady False NoImage" 60 cond_is fellowship ControllerManagerReady "False NoImage"
msg=$(J federation fellowship | jq -r '.status.conditions[] | select(.type=="ControllerManagerReady") | .message')
check "NoImage says how to set one ($msg)" grep -qF -- "--controller-manager-image" <<<"$msg"
wait_until "no image: the controller manager Deployment is deleted" 30 gone deployment fellowship-controller-manager
cm_stopped() { ! cm_healthz; }
wait_until "no image: serve-federation stopped the controller manager" 30 cm_stopped
# spec.controllerManager.image alone is enough.
K patch -n "$NS" federation fellowship --type=merge -p '{"spec":{"controllerManager":{"image":"example.com/kubefed-operator:1"}}}' >/dev/null
image_is() { [ "$(J deployment fellowship-controller-manager | jq -r '.spec.template.spec.containers[0].image')" = "$1" ]; }
wait_until "spec.controllerManager.image: the Deployment is back with it" 30 image_is example.com/kubefed-operator:1
wait_until "the controller manager runs again" 60 cm_healthz
K patch -n "$NS" federation fellowship --type=merge -p '{"spec":{"controllerManager":{"image":null}}}' >/dev/null
stop_operator
start_operator
wait_until "--controller-manager-image again: the Deployment uses it" 30 image_is "$KF_CM_IMAGE"
wait_until "Ready again" 90 cond_is fellowship Ready "True Ready"

# ---- 5. certificate rotation ---------------------------------------------------------------------
serial() { secret_key fellowship-apiserver-credentials server.crt | openssl x509 -noout -serial; }
served_serial() { openssl s_client -connect "127.0.0.1:$NODEPORT" -servername fellowship-apiserver </dev/null 2>/dev/null | openssl x509 -noout -serial; }
s1=$(serial)
K patch -n "$NS" federation fellowship --type=merge -p '{"spec":{"certificates":{"validity":"1h","renewBefore":"30m"}}}' >/dev/null
wait_until "a new validity alone reissues nothing" 10 cond_is fellowship Ready "True Ready"
check "serving certificate unchanged by the validity edit" test "$(serial)" = "$s1"
K annotate -n "$NS" federation fellowship kubefed.dev/rotate-certificates=r1 >/dev/null
changed_from() { local s; s=$(serial); [ -n "$s" ] && [ "$s" != "$1" ]; }
wait_until "rotate annotation reissues the serving certificate" 30 changed_from "$s1"
s2=$(serial)
na=$(secret_key fellowship-apiserver-credentials server.crt | openssl x509 -noout -enddate | cut -d= -f2)
check "reissued certificate has 1h validity (notAfter $na)" test $(( $(date -d "$na" +%s) - $(date +%s) )) -le 3700
K patch -n "$NS" federation fellowship --type=merge -p '{"spec":{"certificates":{"validity":"24h","renewBefore":"2h"}}}' >/dev/null
wait_until "a 1h certificate with renewBefore 2h is replaced" 30 changed_from "$s2"
s3=$(serial)
check "old and new serials differ ($s1 / $s2 / $s3)" test "$s1" != "$s3" -a "$s2" != "$s3"
served_is_new() { [ "$(served_serial)" = "$s3" ]; }
wait_until "the federation API serves the new certificate" 90 served_is_new
wait_until "Ready after the rotation" 90 cond_is fellowship Ready "True Ready"
# (The pod rolls for the new credentials: allow for its restart.)
wait_until "the old admin kubeconfig still works (same CA)" 60 FK get --raw /readyz
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/admin.kubeconfig"
wait_until "the rotated admin kubeconfig works" 60 FK get --raw /readyz

# ---- 6. variants ---------------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=user-ca \
  -keyout "$TMP/ca.key" -out "$TMP/ca.crt" 2>/dev/null
K create secret tls -n "$NS" user-ca --cert="$TMP/ca.crt" --key="$TMP/ca.key" >/dev/null
K create secret generic -n "$NS" tokens --from-literal=token.csv='s3cr3t-t0ken,admin,1000' >/dev/null
K create secret generic -n "$NS" etcd-client --from-file=ca.crt="$TMP/ca.crt" --from-file=tls.crt="$TMP/ca.crt" \
  --from-file=tls.key="$TMP/ca.key" >/dev/null
K apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: my-etcd, namespace: $NS}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 20Gi}}}
EOF
{
fedm lb <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {service: {type: LoadBalancer}}
EOF
echo ---
fedm cip <<'EOF'
  dns: {provider: aws-route53, zoneName: example.com.}
  apiServer: {service: {type: ClusterIP}}
EOF
echo ---
fedm tok <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {tokenAuthSecretRef: {name: tokens}}
EOF
echo ---
fedm claim <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {local: {storage: {existingClaim: my-etcd}}}
EOF
echo ---
fedm ephemeral <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {local: {storage: {type: EmptyDir, size: 1Gi}}}
EOF
echo ---
fedm ext <<'EOF'
  dns: {provider: azure-azuredns, zoneName: example.com.}
  apiServer: {replicas: 2}
  etcd: {external: {endpoints: ["https://127.0.0.1:2379"], tlsSecretRef: {name: etcd-client}}}
EOF
echo ---
fedm args <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {extraArgs: {v: "4", enable-admission-plugins: "NamespaceLifecycle,ResourceQuota"}}
  controllerManager: {extraArgs: {v: "2"}}
EOF
echo ---
fedm byo <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  certificates: {caSecretRef: {name: user-ca}}
EOF
} | K apply -f - >/dev/null
for f in lb cip tok claim ephemeral ext args byo; do
  wait_until "$f: apiserver Deployment created" 60 exists deployment "$f-apiserver"
done
K patch -n "$NS" service lb-apiserver --subresource=status --type=merge \
  -p '{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.2"}]}}}' >/dev/null
lb_endpoint() { [ "$(J federation lb | jq -r .status.endpoint)" = "https://127.0.0.2:443" ]; }
wait_until "LoadBalancer: endpoint from the ingress address" 30 lb_endpoint
lb_san() { secret_key lb-apiserver-credentials server.crt | openssl x509 -noout -ext subjectAltName | grep -q "IP Address:127.0.0.2"; }
wait_until "LoadBalancer: serving certificate reissued with the ingress IP" 30 lb_san
check "LoadBalancer: Service type" test "$(J service lb-apiserver | jq -r .spec.type)" = LoadBalancer
check "ClusterIP: Service type" test "$(J service cip-apiserver | jq -r .spec.type)" = ClusterIP
wait_until "ClusterIP: endpoint is the in-cluster Service URL" 30 \
  test "$(J federation cip | jq -r .status.endpoint)" = "https://cip-apiserver.$NS.svc:443"
check "token auth: token.csv copied into the credentials" test "$(secret_key tok-apiserver-credentials token.csv)" = "s3cr3t-t0ken,admin,1000"
check "token auth: --token-auth-file in the args" grep -q -- "--token-auth-file=/etc/federation/apiserver/token.csv" \
  <<<"$(J deployment tok-apiserver | jq -r '.spec.template.spec.containers[0].args[]')"
check "existing claim: the pod uses my-etcd" test "$(J deployment claim-apiserver | jq -r '.spec.template.spec.volumes[] | select(.name=="etcddata") | .persistentVolumeClaim.claimName')" = my-etcd
check "existing claim: no claim-apiserver-etcd-claim created" gone pvc claim-apiserver-etcd-claim
check "EmptyDir: etcd data in an emptyDir of 1Gi" test "$(J deployment ephemeral-apiserver | jq -r '.spec.template.spec.volumes[] | select(.name=="etcddata") | .emptyDir.sizeLimit')" = 1Gi
check "EmptyDir: no PVC" gone pvc ephemeral-apiserver-etcd-claim
wait_until "EmptyDir: EtcdReady says so" 30 cond_is ephemeral EtcdReady "True EmptyDir"
ext=$(J deployment ext-apiserver)
check "external etcd: no etcd sidecar, 2 replicas" test "$(jq -r '([.spec.template.spec.containers[].name] | join(",")) + " " + (.spec.replicas|tostring)' <<<"$ext")" = "apiserver 2"
check "external etcd: TLS client args" grep -q -- "--etcd-certfile=/etc/federation/etcd/tls.crt" <<<"$(jq -r '.spec.template.spec.containers[0].args[]' <<<"$ext")"
check "external etcd: servers" grep -qx -- "--etcd-servers=https://127.0.0.1:2379" <<<"$(jq -r '.spec.template.spec.containers[0].args[]' <<<"$ext")"
check "external etcd: no PVC" gone pvc ext-apiserver-etcd-claim
aargs=$(J deployment args-apiserver | jq -r '.spec.template.spec.containers[0].args[]')
check "arg overrides: --v=4 added" grep -qx -- "--v=4" <<<"$aargs"
check "arg overrides: admission plugins replaced" grep -qx -- "--enable-admission-plugins=NamespaceLifecycle,ResourceQuota" <<<"$aargs"
check "arg overrides: the default admission arg is gone" test "$(grep -c -- '--enable-admission-plugins=' <<<"$aargs")" = 1
check "bring your own CA: no F-ca generated" gone secret byo-ca
wait_until "bring your own CA: CertificatesReady UserCA" 30 cond_is byo CertificatesReady "True UserCA"
byo_signed() { openssl verify -CAfile "$TMP/ca.crt" <(secret_key byo-apiserver-credentials server.crt); }
check "bring your own CA: serving certificate signed by the user's CA" byo_signed

# suspend: true stops every write for that Federation; false resumes.
K patch -n "$NS" federation tok --type=merge -p '{"spec":{"suspend":true}}' >/dev/null
sleep 2
K delete -n "$NS" service tok-apiserver >/dev/null
sleep 8
check "suspended: a deleted child is not restored" gone service tok-apiserver
K patch -n "$NS" federation tok --type=merge -p '{"spec":{"suspend":false}}' >/dev/null
wait_until "resumed: the child is restored" 30 exists service tok-apiserver

# ---- 7. bad Federations: refused by the apiserver, or Degraded with a message ---------------------
refused_fed() {  # refused_fed DESC FIELD: spec from stdin
  local desc="$1" field="$2" out
  if out=$(fedm bad | K create --dry-run=server -f - 2>&1); then fail "refused: $desc: was accepted"; return; fi
  if grep -qF -- "$field" <<<"$out"; then pass "refused: $desc (names $field)"; else fail "refused: $desc: $out"; fi
}
refused_fed "zone without trailing dot" spec.dns.zoneName <<<'  dns: {provider: coredns, zoneName: example.com, corednsNameservers: ["127.0.0.1:15353"]}'
refused_fed "unknown DNS provider" spec.dns.provider <<<'  dns: {provider: bind9, zoneName: example.com.}'
refused_fed "coredns nameserver forwarding a member's DNS to itself" spec.dns.corednsNameservers <<<'  dns: {provider: coredns, zoneName: example.com., corednsNameservers: ["127.0.0.53:53"]}'
refused_fed "two etcd modes" spec.etcd <<<'  {dns: {provider: google-clouddns, zoneName: example.com.}, etcd: {local: {}, external: {endpoints: ["https://127.0.0.1:2379"], tlsSecretRef: {name: x}}}}'
refused_fed "nodePort out of range" spec.apiServer.service.nodePort <<<'  {dns: {provider: google-clouddns, zoneName: example.com.}, apiServer: {service: {type: NodePort, nodePort: 70000}}}'
refused_fed "nodePort with ClusterIP" spec.apiServer.service.nodePort <<<'  {dns: {provider: google-clouddns, zoneName: example.com.}, apiServer: {service: {type: ClusterIP, nodePort: 30001}}}'
refused_fed "2 replicas with local etcd" spec.apiServer.replicas <<<'  {dns: {provider: google-clouddns, zoneName: example.com.}, apiServer: {replicas: 2}}'
refused_fed "extraArgs key with --" spec.apiServer.extraArgs <<<'  {dns: {provider: google-clouddns, zoneName: example.com.}, apiServer: {extraArgs: {"--v": "2"}}}'
refused_fed "validity not a duration" spec.certificates.validity <<<'  {dns: {provider: google-clouddns, zoneName: example.com.}, certificates: {validity: "1 year"}}'
refused_fed "external etcd over http" spec.etcd.external.endpoints <<<'  {dns: {provider: google-clouddns, zoneName: example.com.}, etcd: {external: {endpoints: ["http://127.0.0.1:2379"], tlsSecretRef: {name: x}}}}'

# A ResourceQuota that admits no pod of the priority class quota-test (so the other Federations
# here are not affected): the apiserver Deployment cannot create its pod, and Degraded says why.
K apply -f - >/dev/null <<EOF
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: quota-test-$$}
value: 1000
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: no-pods, namespace: $NS}
spec:
  hard: {pods: "0"}
  scopeSelector:
    matchExpressions: [{scopeName: PriorityClass, operator: In, values: [quota-test-$$]}]
EOF
K create secret generic -n "$NS" half-ca --from-file=tls.crt="$TMP/ca.crt" >/dev/null
K create secret generic -n "$NS" empty-dns --from-literal=other=x >/dev/null
K apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: squatter-apiserver, namespace: $NS}
spec: {ports: [{port: 80}]}
EOF
{
fedm nokeys <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  certificates: {caSecretRef: {name: half-ca}}
EOF
echo ---
fedm noca <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  certificates: {caSecretRef: {name: no-such-ca}}
EOF
echo ---
fedm nodns <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com., providerConfigSecretRef: {name: no-such-dns}}
EOF
echo ---
fedm dnskey <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com., providerConfigSecretRef: {name: empty-dns}}
EOF
echo ---
fedm notoken <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {tokenAuthSecretRef: {name: empty-dns}}
EOF
echo ---
fedm noclaim <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {local: {storage: {existingClaim: no-such-claim}}}
EOF
echo ---
fedm notls <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {external: {endpoints: ["https://127.0.0.1:2379"], tlsSecretRef: {name: half-ca}}}
EOF
echo ---
fedm squatter <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.com.}
EOF
echo ---
fedm quota <<EOF
  dns: {provider: google-clouddns, zoneName: example.org.}
  apiServer: {priorityClassName: quota-test-$$}
EOF
echo ---
fedm good <<'EOF'
  dns: {provider: google-clouddns, zoneName: example.org.}
EOF
} | K apply -f - >/dev/null
degraded() {  # degraded FED REASON TEXT: Degraded=True with that reason and a message containing TEXT
  local msg
  if wait_until "$1: Degraded $2" 30 cond_is "$1" Degraded "True $2"; then
    msg=$(J federation "$1" | jq -r '.status.conditions[] | select(.type=="Degraded") | .message')
    check "$1: message names '$3' ($msg)" grep -qF -- "$3" <<<"$msg"
  fi
}
degraded nokeys InvalidCASecret "tls.key"
degraded noca InvalidCASecret "no-such-ca not found"
degraded nodns InputNotFound "spec.dns.providerConfigSecretRef"
degraded dnskey InputInvalid "has no key provider.conf"
degraded notoken InputInvalid "has no key token.csv"
degraded noclaim InputNotFound "no-such-claim"
degraded notls InputInvalid "has no key ca.crt"
degraded squatter NameConflict "squatter-apiserver"
# Pod-level failures are the Deployment's conditions, not only "0/1 available" (issue 17, D1).
degraded quota ReplicaFailure "exceeded quota"
check "quota: APIServerReady False ReplicaFailure" cond_is quota APIServerReady "False ReplicaFailure"
check "quota: the message names the Deployment" \
  grep -qF "Deployment quota-apiserver: FailedCreate: pods are forbidden: exceeded quota" <<<"$(J federation quota | jq -r '.status.conditions[] | select(.type=="Degraded") | .message')"
check "the squatter's Service was not taken over" test "$(J service squatter-apiserver | jq -r '.metadata.labels["app.kubernetes.io/managed-by"] // "none"')" = none
wait_until "meanwhile another Federation reconciles (good: CertificatesReady)" 30 cond_is good CertificatesReady "True CAReady"
check "fellowship stays Ready" cond_is fellowship Ready "True Ready"
check "the operator is still running" operator_alive

# ---- 8. teardown ---------------------------------------------------------------------------------
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: gondor, namespace: $NS}
spec: {federationRef: {name: fellowship}, kubeconfigSecretRef: {name: gondor-kubeconfig}}
EOF
K delete -n "$NS" federation fellowship --wait=false >/dev/null
wait_until "deletion waits for the FederatedCluster (Ready False WaitingForClusters)" 30 cond_is fellowship Ready "False WaitingForClusters"
check "fellowship still exists while gondor is joined" exists federation fellowship
K delete -n "$NS" federatedcluster gondor >/dev/null
wait_until "fellowship deleted once its clusters are gone" 30 gone federation fellowship
left() { K get -n "$NS" secret,service,deployment,pvc -l kubefed.dev/federation=fellowship -o name; }
nothing_left_but_pvc() { [ "$(left)" = "persistentvolumeclaim/fellowship-apiserver-etcd-claim" ]; }
wait_until "garbage collection leaves only the retained PVC" 60 nothing_left_but_pvc
fedm scratch <<'EOF' | K apply -f - >/dev/null
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {local: {storage: {retainOnDelete: false}}}
EOF
wait_until "scratch: PVC created" 60 exists pvc scratch-apiserver-etcd-claim
check "scratch: PVC owned by the Federation (retainOnDelete false)" test "$(J pvc scratch-apiserver-etcd-claim | jq -r '.metadata.ownerReferences[0].name')" = scratch
K delete -n "$NS" federation scratch --wait=false >/dev/null
wait_until "retainOnDelete false: the PVC goes with the Federation" 60 gone pvc scratch-apiserver-etcd-claim

# ---- 9. nothing secret in the operator's output ---------------------------------------------------
check "the operator is still running at the end" operator_alive
if grep -qE "PRIVATE KEY|s3cr3t-t0ken|client-key-data" "$OPLOG"; then fail "the operator log holds secret material"; else pass "no key or token in the operator log"; fi
