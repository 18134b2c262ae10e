#!/usr/bin/env bash
# propagation.faults: kubefed-controller-manager when things go wrong, on real clusters (the
# controller manager run by `k8s serve-federation` from the operator's Deployment; member beta reached
# through `k8s fault-proxy`). Checks: SIGKILLed while propagating 200 ConfigMaps, it is restarted and
# converges with no duplicate and no leftover; with beta black-holed, alpha still converges, and beta
# catches up once it answers; --controllers=configmaps=false (through spec.controllerManager.extraArgs)
# propagates no ConfigMap, and a deleted federated ConfigMap is not held by a finalizer nobody removes;
# with namespaces=false a deleted namespace with contents still goes (nothing stays Terminating);
# kubefed v1's --controllers=services=false is accepted; an unknown flag exits 2; service-dns=true
# without the coredns provider exits 2.
TEST=propagation.faults RESOURCE=federatedcluster CLUSTER=propf NODES=1 NS="propf-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MA="pfa-$$" MB="pfb-$$"
RUN_ROOT="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}"
CMSTATE="$RUN_ROOT/fed-$NS-fellowship"
on_finish() {
  finish_federation "$MA" "$MB"
}

[ -x "${KUBEFED_CONTROLLER_MANAGER:-}" ] || { fail "KUBEFED_CONTROLLER_MANAGER is not the controller manager binary"; exit 1; }
"$KUBEFED_CONTROLLER_MANAGER" --no-such-flag >/dev/null 2>&1
check "an unknown flag exits 2" test $? -eq 2
"$KUBEFED_CONTROLLER_MANAGER" --controllers=services=false --federation-uid=x --kubeconfig=/nonexistent >"$TMP/v1.out" 2>&1
check "kubefed v1's --controllers=services=false is accepted (fails later, on the kubeconfig)" grep -q "kubeconfig /nonexistent" "$TMP/v1.out"

"$KUBEFED_CONTROLLER_MANAGER" --controllers=service-dns=true --federation-uid=x --kubeconfig=/nonexistent >"$TMP/dns.out" 2>&1
rc=$?
check "--controllers service-dns=true without the coredns provider exits 2 ($rc), saying what it needs" \
  bash -c "[ $rc -eq 2 ] && grep -q 'needs --dns-provider=coredns' '$TMP/dns.out'"
AKC=$("$HARNESS" up "$MA" --nodes 1) || { fail "up $MA"; exit 1; }
BKC=$("$HARNESS" up "$MB" --nodes 1) || { fail "up $MB"; exit 1; }
PROXY=$("$HARNESS" fault-proxy "$MB") || { fail "fault-proxy $MB"; exit 1; }
AK() { "$KUBECTL" --kubeconfig "$AKC" --request-timeout=20s "$@"; }
BK() { "$KUBECTL" --kubeconfig "$BKC" --request-timeout=20s "$@"; }
# beta through the proxy: the credential the operator stores then names the proxy as the server.
sed "s#server: .*#server: $PROXY#" "$BKC" >"$TMP/beta.kubeconfig"

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator
serve_federation fellowship
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/fed.kubeconfig"
FK() { "$KUBECTL" --kubeconfig "$TMP/fed.kubeconfig" --request-timeout=20s "$@"; }
FED_UID=$(J federation fellowship | jq -r .metadata.uid)
join_member alpha "$AKC"
join_member beta "$TMP/beta.kubeconfig"
for fc in alpha beta; do wait_until "$fc: Ready" 90 cond_is federatedcluster "$fc" Ready "True Healthy" || exit 1; done

cm_pid() { awk '{print $1}' "$CMSTATE/pids/kubefed-controller-manager.pid" 2>/dev/null; }
copies() { "$1" get configmaps -n "$2" -l "kubefed.dev/propagated-by=$FED_UID" -o name 2>/dev/null | wc -l; }
copies_are() { [ "$(copies "$1" "$2")" -eq "$3" ]; }
has_copy() { [ "$("$1" get configmap -n "$2" "$3" -o jsonpath='{.metadata.labels.kubefed\.dev/propagated-by}' 2>/dev/null)" = "$FED_UID" ]; }
absent() { ! "$1" get "$2" -n "$3" "$4" >/dev/null 2>&1; }
cm_running() { [ -n "$(cm_pid)" ]; }
wait_until "the controller manager runs (serve-federation)" 60 cm_running

# ---- SIGKILL while propagating 200 ConfigMaps -------------------------------------------------------------------
FK create namespace bulk >/dev/null
for i in $(seq 1 200); do printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%03d, namespace: bulk}\ndata: {i: "%d"}\n' "$i" "$i"; done >"$TMP/bulk.yaml"
FK apply -f "$TMP/bulk.yaml" >/dev/null &
APPLY=$!
wait_until "some ConfigMaps propagated before the kill" 60 bash -c "[ \$('$KUBECTL' --kubeconfig '$AKC' get cm -n bulk -o name 2>/dev/null | wc -l) -gt 5 ]"
old=$(cm_pid)
kill -KILL "$old"
say "controller manager $old SIGKILLed with $(copies AK bulk) of 200 copies in alpha"
wait "$APPLY"
wait_until "restarted by serve-federation" 60 bash -c "p=\$(awk '{print \$1}' '$CMSTATE/pids/kubefed-controller-manager.pid'); [ -n \"\$p\" ] && [ \"\$p\" != '$old' ] && kill -0 \"\$p\""
for m in AK BK; do wait_until "$m: all 200 copies, no more" 90 copies_are "$m" bulk 200; done
check "no duplicate and no leftover: the member has exactly the federated names" \
  bash -c "diff <('$KUBECTL' --kubeconfig '$TMP/fed.kubeconfig' get cm -n bulk -o name | grep cm- | sort) <('$KUBECTL' --kubeconfig '$AKC' get cm -n bulk -l kubefed.dev/propagated-by -o name | sort)"
wait_until "every status annotation says Applied in both" 60 bash -c "[ \$('$KUBECTL' --kubeconfig '$TMP/fed.kubeconfig' get cm -n bulk -o json | jq '[.items[] | select(.metadata.name | startswith(\"cm-\")) | .metadata.annotations[\"kubefed.dev/propagation-status\"] | select(. == \"{\\\"alpha\\\":\\\"Applied\\\",\\\"beta\\\":\\\"Applied\\\"}\")] | length') -eq 200 ]"

# ---- a copy whose federated object is gone: deleted before its first status write added the finalizers,
# deleted while the controller manager was down, or left by a crashed run: swept when its member lists it.
AK create configmap -n bulk stray --from-literal=k=v >/dev/null
AK create configmap -n bulk not-ours --from-literal=k=v >/dev/null
AK label configmap -n bulk stray "kubefed.dev/propagated-by=$FED_UID" >/dev/null
wait_until "a labelled copy without a federated object is deleted" 30 absent AK configmap bulk stray
check "an unlabelled object without a federated object stays" AK get configmap -n bulk not-ours

# ---- beta black-holed: alpha still converges --------------------------------------------------------------------
"$HARNESS" fault "$MB" blackhole
t0=$SECONDS
FK create configmap -n bulk during-blackhole --from-literal=k=v >/dev/null
wait_until "alpha converges while beta is black-holed (took about $((SECONDS - t0)) s)" 30 has_copy AK bulk during-blackhole
FK patch configmap -n bulk cm-001 --type=merge -p '{"data":{"i":"changed"}}' >/dev/null
wait_until "alpha gets updates while beta is black-holed" 30 bash -c "[ \"\$('$KUBECTL' --kubeconfig '$AKC' get cm -n bulk cm-001 -o jsonpath='{.data.i}')\" = changed ]"
"$HARNESS" fault "$MB" pass
wait_until "beta catches up once it answers" 90 has_copy BK bulk during-blackhole
wait_until "beta gets the update too" 60 bash -c "[ \"\$('$KUBECTL' --kubeconfig '$BKC' get cm -n bulk cm-001 -o jsonpath='{.data.i}')\" = changed ]"

# ---- --controllers=configmaps=false,namespaces=false through extraArgs ----------------------------------------
old=$(cm_pid)
K patch federation -n "$NS" fellowship --type=merge \
  -p '{"spec":{"controllerManager":{"extraArgs":{"controllers":"configmaps=false,namespaces=false"}}}}' >/dev/null
restarted_with() { local p; p=$(cm_pid); [ -n "$p" ] && [ "$p" != "$old" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "$1"; }
wait_until "restarted with --controllers=configmaps=false,namespaces=false" 60 restarted_with "configmaps=false,namespaces=false"
FK create configmap -n bulk off --from-literal=k=v >/dev/null
FK create secret generic -n bulk still-on --from-literal=k=v >/dev/null
wait_until "secrets still propagate" 30 bash -c "'$KUBECTL' --kubeconfig '$AKC' get secret -n bulk still-on"
check "configmaps=false: no ConfigMap propagated" absent AK configmap bulk off
FK delete configmap -n bulk cm-002 --wait=false >/dev/null
wait_until "configmaps=false: a deleted federated ConfigMap is not held by its finalizer" 30 absent FK configmap bulk cm-002
check "configmaps=false: its copies are left as they are" has_copy AK bulk cm-002
FK create namespace scratch >/dev/null
FK create configmap -n scratch inside --from-literal=k=v >/dev/null
FK delete namespace scratch --wait=false >/dev/null
wait_until "namespaces=false: a deleted namespace with contents still goes" 60 bash -c "! '$KUBECTL' --kubeconfig '$TMP/fed.kubeconfig' get namespace scratch"
left=$(FK get namespaces -o jsonpath='{.items[?(@.status.phase=="Terminating")].metadata.name}')
check "nothing Terminating in the federation API (got: $left)" test -z "$left"
