#!/usr/bin/env bash
# dns.federated: issue 16's "Shown by", end to end. Host, a served federation API, two members
# (gondor, rohan; kwok nodes carry zone and region labels, the operator puts them in the Cluster
# objects), a bare etcd (`k8s etcd`) and real CoreDNS servers (`k8s coredns`). The Federation names
# the coredns provider (its file: that etcd, zone example.com.) and the federation's CoreDNS as its
# nameserver. A LoadBalancer Service created in the federation API reaches both members; each
# member's load balancer address is set as a cloud controller would (status subresource) and a
# backend Deployment made directly in each member gives real EndpointSlices. Then dig against the
# federation's CoreDNS: the global name answers both addresses, each member's zone and region names
# its own; a member scaled to 0 becomes CNAMEs one level up and leaves the global answer, and comes
# back; through gondor's own Corefile (`k8s coredns --member`) the federated name resolves via the
# join's forward block; restarting the controller manager writes nothing to etcd (its revision is
# unchanged, rohan's load balancer then being a host name, `localhost`, which is resolved to 127.0.0.1
# off the loop); deleting the Service leaves NXDOMAIN and no key. Waits are generous; times printed.
TEST=dns.federated RESOURCE=federatedcluster CLUSTER=sdns NODES=1 NS="sdns-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GONDOR="dgondor-$$" ROHAN="drohan-$$" ETCD="detcd-$$" FDNS="dfdns-$$" MDNS="dmdns-$$"
RUN_ROOT="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}"
CMLOG="$RUN_ROOT/fed-$NS-fellowship/logs/kubefed-controller-manager.log"
on_finish() {
  finish_federation "$MDNS" "$FDNS" "$ETCD" "$GONDOR" "$ROHAN"
}
command -v dig >/dev/null || { fail "dig is not installed (tests/install-deps.sh installs dnsutils)"; exit 1; }

GKC=$("$HARNESS" up "$GONDOR" --nodes 1) || { fail "up $GONDOR"; exit 1; }
RKC=$("$HARNESS" up "$ROHAN" --nodes 1) || { fail "up $ROHAN"; exit 1; }
GK() { "$KUBECTL" --kubeconfig "$GKC" --request-timeout=20s "$@"; }
RK() { "$KUBECTL" --kubeconfig "$RKC" --request-timeout=20s "$@"; }
ETCD_URL=$("$HARNESS" etcd "$ETCD") || { fail "k8s etcd"; exit 1; }
FED_DNS=$("$HARNESS" coredns "$FDNS" --zone example.com. --etcd "$ETCD_URL") || { fail "k8s coredns --zone"; exit 1; }
say "etcd $ETCD_URL, the federation's CoreDNS $FED_DNS"
# gondor has a kubeadm CoreDNS ConfigMap: its join adds the forward block for example.com.
GK -n kube-system create configmap coredns --from-file=Corefile="$ROOT/tests/data/Corefile" >/dev/null ||
  fail "gondor's coredns ConfigMap"

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator
printf '[Global]\netcd-endpoints = %s\nzones = example.com.\ncoredns-endpoints = %s\n' "$ETCD_URL" "$FED_DNS" >"$TMP/provider.conf"
K create secret generic -n "$NS" fellowship-dns --from-file=provider.conf="$TMP/provider.conf" >/dev/null
serve_federation fellowship "{provider: coredns, zoneName: example.com., corednsNameservers: [\"$FED_DNS\"], providerConfigSecretRef: {name: fellowship-dns}}"
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/fed.kubeconfig"
FK() { "$KUBECTL" --kubeconfig "$TMP/fed.kubeconfig" --request-timeout=20s "$@"; }

K create secret generic -n "$NS" gondor-admin --from-file=kubeconfig="$GKC" >/dev/null
K create secret generic -n "$NS" rohan-admin --from-file=kubeconfig="$RKC" >/dev/null
K apply -f - >/dev/null <<EOF || { fail "FederatedClusters refused"; exit 1; }
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: gondor, namespace: $NS}
spec:
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin}
  health: {periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1}
---
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: rohan, namespace: $NS}
spec:
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: rohan-admin}
  dns: {mode: None}
  health: {periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1}
EOF
for fc in gondor rohan; do wait_until "$fc: Ready" 90 cond_is federatedcluster "$fc" Ready "True Healthy" || exit 1; done
zones_of() { FK get clusters.federation.kubefed.dev "$1" -o jsonpath='{.status.zones[0]}/{.status.region}'; }
has_zones() { [ "$(zones_of "$1")" != / ]; }
wait_until "gondor's Cluster has zones and region" 60 has_zones gondor
wait_until "rohan's Cluster has zones and region" 60 has_zones rohan
GZ=$(zones_of gondor) RZ=$(zones_of rohan)
GZONE=${GZ%/*} GREGION=${GZ#*/} RZONE=${RZ%/*} RREGION=${RZ#*/}
say "gondor: zone $GZONE region $GREGION; rohan: zone $RZONE region $RREGION"

# ---- the Service, its members' load balancers and backends ----------------------------------------------
t0=$SECONDS
FK apply -f - >/dev/null <<'EOF' || { fail "federated Service refused"; exit 1; }
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: nginx}
  ports: [{name: http, port: 80}]
EOF
copied() { "$1" get service nginx -n default >/dev/null 2>&1; }
wait_until "the Service reaches gondor" 60 copied GK || exit 1
wait_until "the Service reaches rohan" 60 copied RK || exit 1
GK patch service nginx -n default --subresource=status --type=merge -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}}}' >/dev/null || fail "gondor LB"
RK patch service nginx -n default --subresource=status --type=merge -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.2"}]}}}' >/dev/null || fail "rohan LB"
for m in GK RK; do
  $m apply -f "$ROOT/tests/data/nginx-backend.yaml" >/dev/null || fail "$m: backend Deployment"
done
fed_lb() { FK get service nginx -n default -o jsonpath='{.status.loadBalancer.ingress[*].ip}'; }
lb_is() { [ "$(fed_lb)" = "$1" ]; }
wait_until "the federated Service's status lists both addresses" 60 lb_is "192.0.2.1 192.0.2.2"

P=nginx.default.fellowship.svc
d() { dig +short +time=2 +tries=2 @127.0.0.1 -p "${FED_DNS#*:}" "$1" A | tr '\n' ' ' | sed 's/ $//'; }
answers() { [ "$(d "$1")" = "$2" ]; }
nx() { dig +time=2 +tries=2 @127.0.0.1 -p "${FED_DNS#*:}" "$1" A | grep -q 'status: NXDOMAIN'; }
wait_until "dig $P.example.com returns both addresses" 90 answers "$P.example.com" "192.0.2.1 192.0.2.2" ||
  say "answer: '$(d "$P.example.com")'"
say "Service created to both records served in $((SECONDS - t0)) s"
check "gondor's zone name: its own address" answers "$P.$GZONE.$GREGION.example.com" 192.0.2.1
check "gondor's region name: its own address" answers "$P.$GREGION.example.com" 192.0.2.1
check "rohan's zone name: its own address" answers "$P.$RZONE.$RREGION.example.com" 192.0.2.2
check "rohan's region name: its own address" answers "$P.$RREGION.example.com" 192.0.2.2

# ---- gondor's backend scaled to 0 and back ------------------------------------------------------------
t0=$SECONDS
GK scale deployment nginx -n default --replicas=0 >/dev/null || fail "scale gondor to 0"
wait_until "without a ready endpoint gondor leaves the global answer" 90 answers "$P.example.com" 192.0.2.2 ||
  say "answer: '$(d "$P.example.com")'"
say "scale to 0 to DNS in $((SECONDS - t0)) s"
check "gondor's zone name is a CNAME to its region name, which is a CNAME to the global name" \
  answers "$P.$GZONE.$GREGION.example.com" "$P.$GREGION.example.com. $P.example.com. 192.0.2.2"
check "gondor's region name is a CNAME to the global name" answers "$P.$GREGION.example.com" "$P.example.com. 192.0.2.2"
t0=$SECONDS
GK scale deployment nginx -n default --replicas=1 >/dev/null || fail "scale gondor to 1"
ann() { FK get service nginx -n default -o jsonpath='{.metadata.annotations.federation\.kubernetes\.io/service-ingresses}'; }
wait_until "scaled back: restored" 90 answers "$P.example.com" "192.0.2.1 192.0.2.2" ||
  { say "answer: '$(d "$P.example.com")', annotation: $(ann)"; grep -E 'service-dns|service DNS' "$CMLOG" | tail -n 20 >&2; }
check "gondor's zone name: its own address again" answers "$P.$GZONE.$GREGION.example.com" 192.0.2.1
say "scale back to DNS in $((SECONDS - t0)) s"

# ---- the whole path: gondor's own CoreDNS, through the join's forward block ----------------------------
t0=$SECONDS
MEMBER_DNS=$("$HARNESS" coredns "$MDNS" --member "$GONDOR") || fail "k8s coredns --member $GONDOR"
check "through gondor's Corefile (forward block to $FED_DNS) $P.example.com resolves ($((SECONDS - t0)) s)" \
  test "$(dig +short +time=2 +tries=2 @127.0.0.1 -p "${MEMBER_DNS#*:}" "$P.example.com" A | sort | tr '\n' ' ')" = "192.0.2.1 192.0.2.2 "

# ---- a load balancer host name (an AWS ELB's form): resolved off the loop to its A records --------------
# localhost resolves to 127.0.0.1 from /etc/hosts, with no DNS server involved.
t0=$SECONDS
getent ahostsv4 localhost | grep -q '^127\.0\.0\.1 ' || fail "this machine does not resolve localhost to 127.0.0.1"
RK patch service nginx -n default --subresource=status --type=merge \
  -p '{"status":{"loadBalancer":{"ingress":[{"hostname":"localhost"}]}}}' >/dev/null || fail "rohan LB host name"
sorted() { d "$1" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//'; }
answers_set() { [ "$(sorted "$1")" = "$2" ]; }
wait_until "rohan's host name resolved: the global name answers 127.0.0.1 and gondor's address" 90 \
  answers_set "$P.example.com" "127.0.0.1 192.0.2.1" || say "answer: '$(d "$P.example.com")', annotation: $(ann)"
check "rohan's zone name: its host name's address" answers "$P.$RZONE.$RREGION.example.com" 127.0.0.1
check "rohan's region name: its host name's address" answers "$P.$RREGION.example.com" 127.0.0.1
check "gondor's zone name unchanged" answers "$P.$GZONE.$GREGION.example.com" 192.0.2.1
check "no resolution failure logged" test -z "$(grep -m1 "did not resolve" "$CMLOG")"
say "host name to DNS in $((SECONDS - t0)) s"

# ---- restarting the controller manager writes nothing -------------------------------------------------
rev() { curl -fsS --max-time 5 -X POST -d '{"key":"AA=="}' "$ETCD_URL/v3/kv/range" | jq -r .header.revision; }
before=$(rev)
read -r cm_pid _ <"$RUN_ROOT/fed-$NS-fellowship/pids/kubefed-controller-manager.pid"
kill -KILL "$cm_pid" 2>/dev/null || fail "kill the controller manager"
restarted() { read -r p _ <"$RUN_ROOT/fed-$NS-fellowship/pids/kubefed-controller-manager.pid" && [ "$p" != "$cm_pid" ] &&
  grep -q "service DNS zone read from etcd" <(tail -n 200 "$CMLOG"); }
wait_until "the controller manager is back and has read the zone" 90 restarted
sleep 10 # it reconciles every Service once: give it the time to (not) write
check "no etcd write after the restart (revision $before -> $(rev))" test "$(rev)" = "$before"

# ---- deletion -----------------------------------------------------------------------------------------
t0=$SECONDS
FK delete service nginx -n default --wait=false >/dev/null || fail "delete the Service"
wait_until "NXDOMAIN for the global name" 90 nx "$P.example.com"
for n in "$P.$GZONE.$GREGION.example.com" "$P.$GREGION.example.com" "$P.$RZONE.$RREGION.example.com" "$P.$RREGION.example.com"; do
  check "NXDOMAIN: $n" nx "$n"
done
keys() { curl -fsS --max-time 5 -X POST -d "{\"key\":\"$(printf /skydns/ | base64 -w0)\",\"range_end\":\"$(printf /skydns0 | base64 -w0)\",\"count_only\":true}" "$ETCD_URL/v3/kv/range" | jq -r '.count // "0"'; }
check "no key left under /skydns/ in etcd" test "$(keys)" = 0
say "deleted to NXDOMAIN in $((SECONDS - t0)) s"
