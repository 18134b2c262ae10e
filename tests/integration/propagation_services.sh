#!/usr/bin/env bash
# propagation.services: kubefed v1's services controller (issue 16), run by `k8s serve-federation`
# from the Deployment the operator generated, against two real members joined by the operator. A
# LoadBalancer Service created in the federation API (a plain kube-apiserver, which allocates it a
# cluster IP, node ports and a health check node port) reaches both members without any of those:
# the copies' fields our field manager owns hold none, each member allocates and keeps its own, also
# across an update. Each member's load balancer address is set the way a cloud controller would (the
# status subresource); the federated Service's status.loadBalancer.ingress becomes their sorted
# union and follows a change. kubefed v1's federation.kubernetes.io/service-ingresses annotation lists
# each member with load balancer ingress, with its addresses only while its EndpointSlices (from a
# backend Deployment made directly in the member) have a ready endpoint: scaled to 0 and back, it
# follows; it is not copied to members. Deleting the federated Service removes the copies. Waits
# are generous (60-90 s); times are printed.
TEST=propagation.services RESOURCE=federatedcluster CLUSTER=psvc NODES=1 NS="psvc-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GONDOR="sgondor-$$" ROHAN="srohan-$$"
on_finish() {
  finish_federation "$GONDOR" "$ROHAN"
}

GKC=$("$HARNESS" up "$GONDOR" --nodes 1) || { fail "up $GONDOR"; exit 1; }
RKC=$("$HARNESS" up "$ROHAN" --nodes 1) || { fail "up $ROHAN"; exit 1; }
GK() { "$KUBECTL" --kubeconfig "$GKC" --request-timeout=20s "$@"; }
RK() { "$KUBECTL" --kubeconfig "$RKC" --request-timeout=20s "$@"; }

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator
serve_federation fellowship
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/fed.kubeconfig"
FK() { "$KUBECTL" --kubeconfig "$TMP/fed.kubeconfig" --request-timeout=20s "$@"; }
FED_UID=$(J federation fellowship | jq -r .metadata.uid)

join_member gondor "$GKC"
join_member rohan "$RKC"
for fc in gondor rohan; do wait_until "$fc: Ready" 90 cond_is federatedcluster "$fc" Ready "True Healthy" || exit 1; done

# ---- a LoadBalancer Service reaches both members, without the federation API's allocations --------------
t0=$SECONDS
FK apply -f - >/dev/null <<'EOF' || { fail "federated Service refused"; exit 1; }
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: default, labels: {app: nginx}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: nginx}
  ports: [{name: http, port: 80, targetPort: 8080}]
EOF
fed_ip=$(FK get service nginx -n default -o jsonpath='{.spec.clusterIP}')
fed_np=$(FK get service nginx -n default -o jsonpath='{.spec.ports[0].nodePort}')
fed_hc=$(FK get service nginx -n default -o jsonpath='{.spec.healthCheckNodePort}')
check "the federation API allocated clusterIP $fed_ip, nodePort $fed_np, healthCheckNodePort $fed_hc" \
  test -n "$fed_ip" -a -n "$fed_np" -a -n "$fed_hc"
copied() { [ "$("$1" get service nginx -n default -o jsonpath='{.metadata.labels.kubefed\.dev/propagated-by}' 2>/dev/null)" = "$FED_UID" ]; }
wait_until "the Service reaches $GONDOR" 60 copied GK || exit 1
wait_until "the Service reaches $ROHAN" 60 copied RK || exit 1
say "both copies in $((SECONDS - t0)) s"
# What our apply owns in a copy: spec without clusterIP(s), nodePort, healthCheckNodePort.
owned() {
  "$1" get service nginx -n default --show-managed-fields -o json |
    jq -c '[.metadata.managedFields[] | select(.manager=="kubefed-controller-manager") | .fieldsV1."f:spec"] | .[0]'
}
for m in GK RK; do
  o=$(owned $m)
  check "$m: our field manager owns the copy's spec (type, ports, selector, externalTrafficPolicy)" \
    jq -e '."f:type" and ."f:ports" and ."f:selector" and ."f:externalTrafficPolicy"' <<<"$o"
  check "$m: ...but not clusterIP(s), healthCheckNodePort or any nodePort" \
    jq -e '(has("f:clusterIP") or has("f:clusterIPs") or has("f:healthCheckNodePort") or (tostring | test("nodePort"))) | not' <<<"$o"
  check "$m: the member allocated its own cluster IP and node port" \
    test -n "$($m get service nginx -n default -o jsonpath='{.spec.clusterIP}')" -a \
    -n "$($m get service nginx -n default -o jsonpath='{.spec.ports[0].nodePort}')"
done
g_ip=$(GK get service nginx -n default -o jsonpath='{.spec.clusterIP}')
g_np=$(GK get service nginx -n default -o jsonpath='{.spec.ports[0].nodePort}')

# ---- the members' load balancers, as a cloud controller sets them; the federated status is the union ----
GK patch service nginx -n default --subresource=status --type=merge \
  -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.20","ipMode":"VIP"}]}}}' >/dev/null || fail "gondor status"
RK patch service nginx -n default --subresource=status --type=merge \
  -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10","ipMode":"VIP"}]}}}' >/dev/null || fail "rohan status"
t0=$SECONDS
fed_lb() { FK get service nginx -n default -o jsonpath='{.status.loadBalancer.ingress[*].ip}'; }
lb_is() { [ "$(fed_lb)" = "$1" ]; }
wait_until "the federated Service's load balancer ingress is the sorted union" 60 lb_is "192.0.2.10 192.0.2.20" ||
  say "federated ingress: '$(fed_lb)'"
say "union in $((SECONDS - t0)) s"
RK patch service nginx -n default --subresource=status --type=merge \
  -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.30","ipMode":"VIP"}]}}}' >/dev/null || fail "rohan status"
wait_until "a member's new address replaces its old one in the union" 60 lb_is "192.0.2.20 192.0.2.30" ||
  say "federated ingress: '$(fed_lb)'"

# ---- kubefed v1's service-ingresses: a member's addresses only while it has a ready endpoint -------------
ingresses() { FK get service nginx -n default -o json | jq -r '.metadata.annotations."federation.kubernetes.io/service-ingresses" // "" | if . == "" then "" else (fromjson | [.items[] | "\(.cluster)=\([.items[]?.ip] | join(","))"] | join(" ")) end'; }
ing_is() { [ "$(ingresses)" = "$1" ]; }
wait_until "listed without addresses while no backend is ready" 60 ing_is "gondor= rohan=" || say "annotation: '$(ingresses)'"
t0=$SECONDS
for m in GK RK; do
  $m apply -f "$ROOT/tests/data/nginx-backend.yaml" >/dev/null || fail "$m: backend Deployment"
done
wait_until "each member's address once its EndpointSlice has a ready endpoint" 90 ing_is "gondor=192.0.2.20 rohan=192.0.2.30" ||
  say "annotation: '$(ingresses)'"
say "ready endpoints to annotation in $((SECONDS - t0)) s"
GK scale deployment nginx -n default --replicas=0 >/dev/null || fail "scale gondor's backend to 0"
t0=$SECONDS
wait_until "gondor listed without addresses once it has no ready endpoint" 90 ing_is "gondor= rohan=192.0.2.30" ||
  say "annotation: '$(ingresses)'"
say "scale to 0 to annotation in $((SECONDS - t0)) s"
GK scale deployment nginx -n default --replicas=1 >/dev/null || fail "scale gondor's backend back to 1"
wait_until "restored when it is back" 90 ing_is "gondor=192.0.2.20 rohan=192.0.2.30" || say "annotation: '$(ingresses)'"
check "the annotation is not copied to members" \
  test -z "$(GK get service nginx -n default -o jsonpath='{.metadata.annotations.federation\.kubernetes\.io/service-ingresses}')"

# ---- an update follows; each member keeps its own allocations -------------------------------------------
FK patch service nginx -n default --type=merge -p '{"spec":{"ports":[{"name":"http","port":80,"targetPort":9090}]}}' \
  >/dev/null || fail "update the federated Service"
target_is() { [ "$(GK get service nginx -n default -o jsonpath='{.spec.ports[0].targetPort}')" = 9090 ]; }
wait_until "the update reaches $GONDOR" 60 target_is
check "$GONDOR kept its cluster IP ($g_ip) and node port ($g_np)" \
  test "$(GK get service nginx -n default -o jsonpath='{.spec.clusterIP} {.spec.ports[0].nodePort}')" = "$g_ip $g_np"
check "the copies keep their own load balancer status, not the federated union" \
  test "$(GK get service nginx -n default -o jsonpath='{.status.loadBalancer.ingress[*].ip}')" = 192.0.2.20

# ---- deletion -----------------------------------------------------------------------------------------
t0=$SECONDS
FK delete service nginx -n default --wait=false >/dev/null || fail "delete the federated Service"
gone_in() { ! "$1" get service nginx -n default >/dev/null 2>&1; }
wait_until "the copy leaves $GONDOR" 60 gone_in GK
wait_until "the copy leaves $ROHAN" 60 gone_in RK
say "deleted everywhere in $((SECONDS - t0)) s"
