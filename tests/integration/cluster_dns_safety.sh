#!/usr/bin/env bash
# cluster.dns-safety: what a join writes into a member's CoreDNS cannot make it forward the zone to
# itself, and listens where the member's queries arrive (issue 17: B3, D2, C2, kubefed v1's
# documented coredns init). Real clusters: a host (the Federation lorien served for real) and a
# member whose Corefile serves on 15360, as CoreDNS run non-root does (".:5353" behind a Service
# mapping 53), with no reload plugin. In order:
#  * a nameserver on the member's own loopback at the Corefile's port: DNSConfigured=False
#    ForwardLoop, a Warning event, the Corefile untouched;
#  * a loopback nameserver on another port (what single-host setups such as these tests use): the
#    block is written, listening on 15360 (not :53), with a LoopbackNameserver Warning event and a
#    message that says "written" and that the Corefile has no reload plugin;
#  * corednsNameservers removed (kubefed v1's documented init has none): the block goes, the
#    Corefile is byte for byte what it was, DNSConfigured=True NotForwarded says why;
#  * a Corefile whose root blocks listen on different ports: DNSConfigured=False, untouched;
#  * a second member running kube-dns without its ConfigMap (as GKE does): the join creates
#    kube-system/kube-dns with the federation's entries, the unjoin deletes it again (D7).
# No timing is asserted: each wait is a generous bound.
TEST=cluster.dns-safety RESOURCE=federatedcluster CLUSTER=dnssafe NODES=1 NS="dnssafe-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MEMBER="lindon-$$" MEMBER2="doriath-$$" FED=lorien FC=lindon
on_finish() {
  for c in "fed-$NS-$FED" "$MEMBER" "$MEMBER2"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  stop_operator
}
msg() { J federatedcluster "$FC" | jq -r --arg t "$1" '.status.conditions[]? | select(.type==$t) | .message'; }
says() { local m; m=$(msg "$1"); shift; local w; for w in "$@"; do grep -qF -- "$w" <<<"$m" || return 1; done; }
# event REASON: a Warning event of the FederatedCluster with that reason exists.
event() {
  [ -n "$(K get events -n "$NS" --field-selector "involvedObject.name=$FC,type=Warning,reason=$1" -o name 2>/dev/null)" ]
}
event_msg() {
  K get events -n "$NS" --field-selector "involvedObject.name=$FC,type=Warning,reason=$1" \
    -o jsonpath='{.items[*].message}' 2>/dev/null
}

MKC=$("$HARNESS" up "$MEMBER" --nodes 1) || { fail "up $MEMBER"; exit 1; }
MK() { "$KUBECTL" --kubeconfig "$MKC" --request-timeout=20s "$@"; }
corefile() { MK get configmap coredns -n kube-system -o jsonpath='{.data.Corefile}'; }
# kubeadm's Corefile as CoreDNS runs it non-root: on 15360, and without the reload plugin.
sed -e 's/^\.:53 {/.:15360 {/' -e '/^    reload$/d' "$ROOT/tests/data/Corefile" >"$TMP/Corefile"
must "the member's Corefile serves on 15360 without reload" \
  bash -c "grep -q '^\.:15360 {' '$TMP/Corefile' && ! grep -q reload '$TMP/Corefile'"
MK create configmap coredns -n kube-system --from-file=Corefile="$TMP/Corefile" >/dev/null
same_as_before() { corefile | cmp -s - "$TMP/Corefile"; }

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator
# The member's own loopback on the port its Corefile serves: CoreDNS would forward to itself.
serve_federation "$FED" "{provider: coredns, zoneName: $FED.example.com., corednsNameservers: [\"127.0.0.1:15360\"]}"
K create secret generic -n "$NS" lindon-admin --from-file=kubeconfig="$MKC" >/dev/null
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: $FC, namespace: $NS}
spec:
  federationRef: {name: $FED}
  kubeconfigSecretRef: {name: lindon-admin}
  dns: {mode: CoreDNS}
EOF

# ---- B3: a forward loop is refused at join ---------------------------------------------------------
wait_until "127.0.0.1:15360 on a Corefile serving 15360: DNSConfigured False ForwardLoop" 90 \
  cond_is federatedcluster "$FC" DNSConfigured "False ForwardLoop"
say "DNSConfigured: $(msg DNSConfigured)"
check "the message names the nameserver, the port and the loop" says DNSConfigured 127.0.0.1:15360 "port 15360" itself
wait_until "a Warning event ForwardLoop" 30 event ForwardLoop
check "the member's Corefile is untouched" same_as_before

# ---- D2 + the single-host case: another loopback port is written, on the Corefile's port -------------
K patch -n "$NS" federation "$FED" --type=merge -p '{"spec":{"dns":{"corednsNameservers":["127.0.0.1:15353"]}}}' >/dev/null ||
  fail "patch corednsNameservers to 127.0.0.1:15353"
wait_until "127.0.0.1:15353: DNSConfigured True Configured" 90 cond_is federatedcluster "$FC" DNSConfigured "True Configured"
say "DNSConfigured: $(msg DNSConfigured)"
block() { corefile | sed -n "/^# BEGIN kubefed.dev $FED\$/,/^# END kubefed.dev $FED\$/p"; }
check "our block listens on the Corefile's port: $FED.example.com:15360 {" bash -c "grep -qx '$FED.example.com:15360 {' <<<\"\$0\"" "$(block)"
check "no block listens on :53" bash -c "! grep -q ':53 {' <<<\"\$0\"" "$(corefile)"
check "our block forwards to 127.0.0.1:15353" bash -c "grep -qx '    forward . 127.0.0.1:15353' <<<\"\$0\"" "$(block)"
check "the message says written, the port, and that the Corefile has no reload plugin" \
  says DNSConfigured written "port 15360" "no reload plugin"
check "the message names the loopback nameserver" says DNSConfigured "127.0.0.1:15353 is a loopback address"
wait_until "a Warning event LoopbackNameserver" 30 event LoopbackNameserver
check "the event says that in a pod, loopback is the pod itself" bash -c "grep -q 'loopback is the pod itself' <<<\"\$0\"" \
  "$(event_msg LoopbackNameserver)"

# ---- kubefed v1's documented init: no nameservers, no forward block ---------------------------------
K patch -n "$NS" federation "$FED" --type=json -p '[{"op":"remove","path":"/spec/dns/corednsNameservers"}]' >/dev/null ||
  fail "remove corednsNameservers"
wait_until "without nameservers: DNSConfigured True NotForwarded" 90 \
  cond_is federatedcluster "$FC" DNSConfigured "True NotForwarded"
say "DNSConfigured: $(msg DNSConfigured)"
check "the message says why (corednsNameservers is not set)" says DNSConfigured "corednsNameservers is not set"
wait_until "our block removed: the Corefile byte for byte as before the join" 30 same_as_before
check "the member is still Joined" cond_is federatedcluster "$FC" Joined "True Joined"

# ---- D2: root blocks that disagree on the port -----------------------------------------------------------
printf '.:53 {\n    forward . /etc/resolv.conf\n}\n.:5353 {\n    forward . /etc/resolv.conf\n}\n' >"$TMP/Corefile"
MK create configmap coredns -n kube-system --from-file=Corefile="$TMP/Corefile" --dry-run=client -o yaml |
  MK replace -f - >/dev/null
K patch -n "$NS" federation "$FED" --type=merge -p '{"spec":{"dns":{"corednsNameservers":["10.96.0.53"]}}}' >/dev/null ||
  fail "patch corednsNameservers to 10.96.0.53"
wait_until "root blocks on 53 and 5353: DNSConfigured False CorefileConflict" 90 \
  cond_is federatedcluster "$FC" DNSConfigured "False CorefileConflict"
check "the message says the ports differ" says DNSConfigured "different ports" 53 5353
check "the member's Corefile is untouched" same_as_before

# ---- D7: kube-dns without its ConfigMap (GKE) ------------------------------------------------------------
M2KC=$("$HARNESS" up "$MEMBER2" --nodes 1) || { fail "up $MEMBER2"; exit 1; }
M2() { "$KUBECTL" --kubeconfig "$M2KC" --request-timeout=20s "$@"; }
M2 create deployment kube-dns -n kube-system --image=registry.k8s.io/dns/k8s-dns-kube-dns:1.23.0 >/dev/null ||
  fail "create Deployment kube-system/kube-dns in $MEMBER2"
must "$MEMBER2 has no ConfigMap kube-system/kube-dns (nor coredns)" \
  bash -c "! '$KUBECTL' --kubeconfig '$M2KC' get configmap -n kube-system kube-dns coredns 2>/dev/null | grep -q ."
K create secret generic -n "$NS" doriath-admin --from-file=kubeconfig="$M2KC" >/dev/null
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: doriath, namespace: $NS}
spec:
  federationRef: {name: $FED}
  kubeconfigSecretRef: {name: doriath-admin}
EOF
wait_until "doriath (kube-dns, no ConfigMap): DNSConfigured True Configured" 90 \
  cond_is federatedcluster doriath DNSConfigured "True Configured"
kd2() { M2 get configmap -n kube-system kube-dns -o json 2>/dev/null; }
check "doriath: ConfigMap kube-system/kube-dns created with the federation's entry" \
  test "$(kd2 | jq -r .data.federations)" = "$FED=$FED.example.com"
check "doriath: with the stub domain" test "$(kd2 | jq -c '.data.stubDomains | fromjson')" = "{\"$FED.example.com\":[\"10.96.0.53\"]}"
check "doriath: marked as created by federation $FED" \
  test "$(kd2 | jq -r --arg k "kubefed.dev/created-configmap-$FED" '.metadata.annotations[$k]')" = true
wait_until "a Normal event KubeDNSConfigMapCreated" 30 bash -c \
  "[ -n \"\$('$KUBECTL' --kubeconfig '$KC' get events -n '$NS' --field-selector involvedObject.name=doriath,reason=KubeDNSConfigMapCreated -o name)\" ]"
K delete federatedcluster -n "$NS" doriath --wait=false >/dev/null
wait_until "doriath unjoined" 90 gone federatedcluster doriath
check "doriath: the ConfigMap the join created is gone again" bash -c "! '$KUBECTL' --kubeconfig '$M2KC' get configmap -n kube-system kube-dns"

check "the operator is still running" operator_alive
if grep -q "ERROR: AddressSanitizer\|runtime error:" "$OPLOG"; then fail "sanitizer report in the operator log"; else pass "no sanitizer report in the operator log"; fi
