#!/usr/bin/env bash
# cluster.member-drift: what a join made in a member is watched there, so drift is undone within
# seconds, not at a resync. Real clusters: host (kwok node, the Federation numenor served for real
# by `k8s serve-federation`) and member arnor with kubeadm's CoreDNS Corefile. With arnor joined,
# one at a time: its ClusterRole deleted, its ClusterRoleBinding deleted, its token Secret deleted
# (a new token: the host credential Secret must carry it), its ServiceAccount deleted, our Corefile
# block edited. Each must be
# restored; the test waits up to 30 s for each and prints the time it measured (the design: within
# 5 s). Then, with nothing changing, the FederatedCluster and the member objects are not written.
TEST=cluster.member-drift RESOURCE=federatedcluster CLUSTER=drift NODES=1 NS="drift-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MEMBER="arnor-$$" FED=numenor FC=arnor
ROLE="kubefed.dev:$FED:$FC" TOKEN="kubefed-$FED-$FC-token" TIMES=""
on_finish() {
  for c in "fed-$NS-$FED" "$MEMBER"; do "$HARNESS" down "$c" >&2 2>/dev/null || true; done
  stop_operator
  [ -n "$TIMES" ] && say "drift restored in:$TIMES"
}

MKC=$("$HARNESS" up "$MEMBER" --nodes 1) || { fail "up $MEMBER"; exit 1; }
MK() { "$KUBECTL" --kubeconfig "$MKC" --request-timeout=20s "$@"; }
MK create configmap coredns -n kube-system --from-file=Corefile="$ROOT/tests/data/Corefile" >/dev/null

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator
serve_federation "$FED"

K create secret generic -n "$NS" arnor-admin --from-file=kubeconfig="$MKC" >/dev/null
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: $FC, namespace: $NS}
spec:
  federationRef: {name: $FED}
  kubeconfigSecretRef: {name: arnor-admin}
EOF
wait_until "arnor: Ready" 90 cond_is federatedcluster "$FC" Ready "True Healthy" || exit 1
wait_until "arnor: DNSConfigured" 30 cond_is federatedcluster "$FC" DNSConfigured "True Configured" || exit 1

# restored DESC CMD...: waits up to 30 s for CMD to succeed, polling every 0.1 s; says how long.
restored() {
  local desc=$1 t0 t; shift
  t0=$(date +%s.%N)
  until "$@" >/dev/null 2>&1; do
    t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
    if awk -v t="$t" 'BEGIN {exit !(t > 30)}'; then fail "$desc: not restored within 30 s"; return 1; fi
    sleep 0.1
  done
  t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  pass "$desc: restored in ${t}s (designed for within 5 s)"
  TIMES="$TIMES $desc ${t}s;"
}
uid() { MK get "$@" -o jsonpath='{.metadata.uid}' 2>/dev/null; }
newer() { local u; u=$(uid "${@:2}") && [ -n "$u" ] && [ "$u" != "$1" ]; }   # newer OLD_UID KIND NAME...

# ---- RBAC ---------------------------------------------------------------------------------------------
old=$(uid clusterrole "$ROLE")
check "member: ClusterRole $ROLE exists" test -n "$old"
MK delete clusterrole "$ROLE" >/dev/null
restored "ClusterRole deleted" newer "$old" clusterrole "$ROLE"
rules=$(MK get clusterrole "$ROLE" -o json | jq -c '.rules | length')
check "the restored ClusterRole has its rules ($rules)" test "$rules" -gt 0

old=$(uid clusterrolebinding "$ROLE")
MK delete clusterrolebinding "$ROLE" >/dev/null
restored "ClusterRoleBinding deleted" newer "$old" clusterrolebinding "$ROLE"
check "the restored binding names our ServiceAccount" \
  test "$(MK get clusterrolebinding "$ROLE" -o jsonpath='{.subjects[0].name}')" = "kubefed-$FED-$FC"

# ---- the token Secret: a new token reaches the host credential Secret ----------------------------------
old=$(uid secret -n federation-system "$TOKEN")
MK delete secret -n federation-system "$TOKEN" >/dev/null
restored "token Secret deleted" newer "$old" secret -n federation-system "$TOKEN"
token_now() { MK get secret -n federation-system "$TOKEN" -o jsonpath='{.data.token}' | base64 -d; }
cred_has_new_token() { local t; t=$(token_now) && [ -n "$t" ] && secret_key arnor-credentials kubeconfig | grep -qF "$t"; }
restored "host credential Secret carries the new token" cred_has_new_token
secret_key arnor-credentials kubeconfig >"$TMP/arnor.kubeconfig"
check "the stored kubeconfig works with the new token (get namespaces)" \
  "$KUBECTL" --kubeconfig "$TMP/arnor.kubeconfig" --request-timeout=20s get namespaces

# ---- the ServiceAccount: no watch of its own; its token Secret goes with it and that is watched ---------
old=$(uid serviceaccount -n federation-system "kubefed-$FED-$FC")
MK delete serviceaccount -n federation-system "kubefed-$FED-$FC" >/dev/null
restored "ServiceAccount deleted" newer "$old" serviceaccount -n federation-system "kubefed-$FED-$FC"
# The old token died with the old ServiceAccount: the stored kubeconfig works only once it holds the
# new ServiceAccount's token (the member's token controller replaces the Secret; its watch sees it).
stored_works() {
  secret_key arnor-credentials kubeconfig >"$TMP/arnor2.kubeconfig" &&
    "$KUBECTL" --kubeconfig "$TMP/arnor2.kubeconfig" --request-timeout=5s get namespaces
}
restored "the stored kubeconfig works with the new ServiceAccount's token" stored_works

# ---- DNS: our Corefile block edited ----------------------------------------------------------------------
corefile() { MK get configmap coredns -n kube-system -o jsonpath='{.data.Corefile}'; }
ours_forwards() { corefile | grep -A4 "# BEGIN kubefed.dev $FED" | grep -q 'forward . 127.0.0.1:15353'; }
check "our block forwards $FED's zone to 127.0.0.1:15353" ours_forwards
corefile | sed 's/forward \. 127\.0\.0\.1:15353/forward . 127.0.0.66:15353/' >"$TMP/edited"
check "the edit changes our block" bash -c "! grep -q 'forward . 127.0.0.1:15353' '$TMP/edited'"
MK create configmap coredns -n kube-system --from-file=Corefile="$TMP/edited" --dry-run=client -o yaml | MK replace -f - >/dev/null
restored "Corefile block edited" ours_forwards
user_part() { corefile | head -c "$(wc -c <"$ROOT/tests/data/Corefile")" | cmp -s - "$ROOT/tests/data/Corefile"; }
check "the user's part of the Corefile is untouched" user_part
check "arnor is still Joined" cond_is federatedcluster "$FC" Joined "True Joined"

# ---- steady state: no writes -------------------------------------------------------------------------------
sleep 3
state() {
  echo "$(J federatedcluster "$FC" | jq -r .metadata.resourceVersion)" \
    "$(MK get clusterrole "$ROLE" -o jsonpath='{.metadata.resourceVersion}')" "$(corefile | md5sum)"
}
before=$(state)
sleep 10
check "nothing written in 10 s at steady state (FederatedCluster, ClusterRole, Corefile)" test "$(state)" = "$before"
check "the operator is still running" operator_alive
if grep -q "ERROR: AddressSanitizer\|runtime error:" "$OPLOG"; then fail "sanitizer report in the operator log"; else pass "no sanitizer report in the operator log"; fi
