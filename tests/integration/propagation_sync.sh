#!/usr/bin/env bash
# propagation.sync: kubefed-controller-manager, run by `k8s serve-federation` from the Deployment the
# operator generated, propagating from the federation API to two real members joined by the operator
# (prod and dev, told apart by spec.clusterLabels). Checks what a user of kubefed v1 would: each type
# reaches both members (labelled with the Federation's UID), updates follow, an edit in a member is
# restored, the system namespaces never appear; v1's cluster-selector places and moves objects (also
# when a Cluster's labels change), a bad one is a Warning and touches nothing, and
# kubefed.dev/propagation-status says where each object is and why not elsewhere; a same-named
# object in a member is a conflict until the federated object says adopt; cascade, foreground and
# orphan deletes do what they say; a namespace with contents is deleted everywhere and nothing stays
# Terminating; a stopped member holds a cascade with a Warning naming it, which completes when it is
# back; unjoining a member removes our copies there. Waits are generous (30 s); times are printed.
TEST=propagation.sync RESOURCE=federatedcluster CLUSTER=prop NODES=1 NS="prop-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROD="pprod-$$" DEV="pdev-$$"
RUN_ROOT="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}"
on_finish() {
  [ -z "${STOPPED:-}" ] || kill -CONT "$STOPPED" 2>/dev/null || true
  finish_federation "$PROD" "$DEV"
}

PKC=$("$HARNESS" up "$PROD" --nodes 1) || { fail "up $PROD"; exit 1; }
DKC=$("$HARNESS" up "$DEV" --nodes 1) || { fail "up $DEV"; exit 1; }
PK() { "$KUBECTL" --kubeconfig "$PKC" --request-timeout=20s "$@"; }
DK() { "$KUBECTL" --kubeconfig "$DKC" --request-timeout=20s "$@"; }

install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator
serve_federation fellowship
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/fed.kubeconfig"
FK() { "$KUBECTL" --kubeconfig "$TMP/fed.kubeconfig" --request-timeout=20s "$@"; }
FED_UID=$(J federation fellowship | jq -r .metadata.uid)

join_member prod "$PKC" "{env: prod}"
join_member dev "$DKC" "{env: dev}"
for fc in prod dev; do wait_until "$fc: Ready" 90 cond_is federatedcluster "$fc" Ready "True Healthy" || exit 1; done

# in MEMBER KIND NS/NAME: our copy is there (labelled with this Federation's UID).
# REF is NS/NAME, or /NAME for cluster-scoped objects.
ref_args() { if [ -n "${1%/*}" ]; then echo "-n ${1%/*} ${1#*/}"; else echo "${1#/}"; fi; }
has_copy() {
  # shellcheck disable=SC2046
  [ "$("$1" get "$2" $(ref_args "$3") -o jsonpath='{.metadata.labels.kubefed\.dev/propagated-by}' 2>/dev/null)" = "$FED_UID" ]
}
# shellcheck disable=SC2046
absent() { ! "$1" get "$2" $(ref_args "$3") >/dev/null 2>&1; }
status_of() { FK get "$1" -n "${2%/*}" "${2#*/}" -o jsonpath='{.metadata.annotations.kubefed\.dev/propagation-status}'; }
status_is() { [ "$(status_of "$1" "$2" | jq -cS .)" = "$(jq -cS . <<<"$3")" ]; }
# event_for REASON NAME: a Warning/Normal event with REASON about NAME in the federation API.
event_for() { FK get events -A --field-selector "reason=$1" -o json | jq -e --arg n "$2" '.items[] | select(.regarding.name==$n or .involvedObject.name==$n)' >/dev/null; }
data_is() { [ "$("$1" get configmap -n "${2%/*}" "${2#*/}" -o jsonpath="{.data.$3}" 2>/dev/null)" = "$4" ]; }

# ---- every type reaches both members -------------------------------------------------------------------
FK apply -f - >/dev/null <<'EOF' || { fail "federated objects refused"; exit 1; }
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: shop, labels: {app: web}}
data: {k: v1}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
stringData: {password: s3cret}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: app, namespace: shop}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: registry.k8s.io/pause:3.10}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site, namespace: shop}
spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {k: v}
EOF
for m in PK DK; do
  for obj in namespace:/shop configmap:shop/web secret:shop/creds serviceaccount:shop/app daemonset:shop/agent \
    ingress:shop/site configmap:default/settings; do
    kind=${obj%%:*} ref=${obj#*:}
    wait_until "$m: $kind ${ref#/} propagated, labelled with the Federation's UID" 30 has_copy "$m" "$kind" "$ref"
  done
done
check "the member Secret holds the federated data" bash -c "[ \"\$('$KUBECTL' --kubeconfig '$PKC' get secret -n shop creds -o jsonpath='{.data.password}' | base64 -d)\" = s3cret ]"
check "federated ConfigMap carries v1's finalizers" bash -c "'$KUBECTL' --kubeconfig '$TMP/fed.kubeconfig' get cm -n shop web -o json | jq -e '.metadata.finalizers | index(\"federation.kubernetes.io/delete-from-underlying-clusters\") and index(\"orphan\")'"
wait_until "propagation-status: Applied in both members" 30 status_is configmap shop/web '{"dev":"Applied","prod":"Applied"}'
check "CreateInCluster events on the federated ConfigMap" event_for CreateInCluster web
check "the member copy does not carry our status annotation" bash -c "! '$KUBECTL' --kubeconfig '$PKC' get cm -n shop web -o json | jq -e '.metadata.annotations[\"kubefed.dev/propagation-status\"]'"

# ---- an Ingress's status: the sorted union of the members' load balancers --------------------------------------
PK patch ingress -n shop site --subresource=status --type=merge -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.20"}]}}}' >/dev/null
DK patch ingress -n shop site --subresource=status --type=merge -p '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.3"},{"hostname":"lb.example.com"}]}}}' >/dev/null
lb_is() { [ "$(FK get ingress -n shop site -o json | jq -c '.status.loadBalancer.ingress')" = "$1" ]; }
wait_until "federated Ingress status: the sorted union of the members'" 30 \
  lb_is '[{"hostname":"lb.example.com"},{"ip":"192.0.2.20"},{"ip":"192.0.2.3"}]'

# ---- the system namespaces are never propagated ------------------------------------------------------------
for m in PK DK; do
  got=$("$m" get namespaces -l "kubefed.dev/propagated-by=$FED_UID" -o jsonpath='{.items[*].metadata.name}')
  check "$m: the only namespace we made is shop (got: $got)" test "$got" = shop
done

# ---- updates follow; an edit in a member is restored ---------------------------------------------------------
FK patch configmap -n shop web --type=merge -p '{"data":{"k":"v2"}}' >/dev/null
for m in PK DK; do wait_until "$m: update reached" 30 data_is "$m" shop/web k v2; done
t0=$SECONDS
PK patch configmap -n shop web --type=merge -p '{"data":{"k":"edited-in-member"}}' >/dev/null
wait_until "member edit restored (took about $((SECONDS - t0)) s)" 30 data_is PK shop/web k v2
PK label configmap -n shop web "kubefed.dev/propagated-by-" >/dev/null
wait_until "our label removed in a member is restored" 30 has_copy PK configmap shop/web

# ---- placement: cluster-selector -------------------------------------------------------------------------------
FK apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: placed
  namespace: shop
  annotations: {federation.alpha.kubernetes.io/cluster-selector: '[{"key":"env","operator":"In","values":["prod"]}]'}
data: {k: v}
EOF
wait_until "selector env In prod: in prod" 30 has_copy PK configmap shop/placed
wait_until "propagation-status says dev is NotSelected" 30 status_is configmap shop/placed '{"dev":"NotSelected","prod":"Applied"}'
check "selector env In prod: not in dev" absent DK configmap shop/placed
FK annotate configmap -n shop placed --overwrite \
  'federation.alpha.kubernetes.io/cluster-selector=[{"key":"env","operator":"In","values":["dev"]}]' >/dev/null
wait_until "selector changed to dev: moves to dev" 30 has_copy DK configmap shop/placed
wait_until "selector changed to dev: leaves prod" 30 absent PK configmap shop/placed
# A Cluster's labels change (declaratively, from spec.clusterLabels): every object is placed again.
K patch federatedcluster -n "$NS" dev --type=merge -p '{"spec":{"clusterLabels":{"env":"staging"}}}' >/dev/null
wait_until "dev relabelled env=staging: the copy leaves dev" 30 absent DK configmap shop/placed
wait_until "propagation-status: NotSelected in both" 30 status_is configmap shop/placed '{"dev":"NotSelected","prod":"NotSelected"}'
K patch federatedcluster -n "$NS" dev --type=merge -p '{"spec":{"clusterLabels":{"env":"dev"}}}' >/dev/null
wait_until "dev relabelled env=dev: the copy is back" 30 has_copy DK configmap shop/placed
FK annotate configmap -n shop placed --overwrite \
  'federation.alpha.kubernetes.io/cluster-selector=[{"key":"env","operator":"like","values":["x"]}]' >/dev/null
wait_until "bad selector: Warning event with the parse error" 30 event_for InvalidClusterSelector placed
wait_until "bad selector: propagation-status says so" 30 bash -c "'$KUBECTL' --kubeconfig '$TMP/fed.kubeconfig' get cm -n shop placed -o jsonpath='{.metadata.annotations.kubefed\.dev/propagation-status}' | grep -q 'invalid federation.alpha.kubernetes.io/cluster-selector'"
check "bad selector: nothing deleted (still in dev)" has_copy DK configmap shop/placed
check "bad selector: nothing created (not in prod)" absent PK configmap shop/placed

# ---- a same-named object in a member is a conflict, until adopt ------------------------------------------------
PK create configmap -n shop taken --from-literal=owner=member >/dev/null
FK create configmap -n shop taken --from-literal=owner=federation >/dev/null
wait_until "conflict: the other member gets the copy" 30 has_copy DK configmap shop/taken
wait_until "conflict: ConflictInCluster event" 30 event_for ConflictInCluster taken
wait_until "conflict: propagation-status says ConflictInCluster" 30 status_is configmap shop/taken '{"dev":"Applied","prod":"ConflictInCluster"}'
check "conflict: the member's own object is untouched" data_is PK shop/taken owner member
FK annotate configmap -n shop taken kubefed.dev/conflict-resolution=adopt >/dev/null
wait_until "adopt: the member's object becomes our copy" 30 data_is PK shop/taken owner federation
check "adopt: and carries our label" has_copy PK configmap shop/taken

# ---- deletion: cascade, foreground, orphan ----------------------------------------------------------------------
for name in gone-bg gone-fg kept; do FK create configmap -n shop "$name" --from-literal=k=v >/dev/null; done
for name in gone-bg gone-fg kept; do wait_until "$name propagated to prod" 30 has_copy PK configmap "shop/$name"; done
FK delete configmap -n shop gone-bg --wait=false >/dev/null
FK delete configmap -n shop gone-fg --cascade=foreground --wait=false >/dev/null
FK delete configmap -n shop kept --cascade=orphan --wait=false >/dev/null
for name in gone-bg gone-fg kept; do wait_until "$name deleted in the federation API" 30 absent FK configmap "shop/$name"; done
for m in PK DK; do
  check "$m: background delete cascaded" absent "$m" configmap shop/gone-bg
  check "$m: foreground delete cascaded" absent "$m" configmap shop/gone-fg
  check "$m: orphan delete kept the copy" bash -c "'$KUBECTL' --kubeconfig '$([ "$m" = PK ] && echo "$PKC" || echo "$DKC")' get cm -n shop kept"
done
check "DeleteInCluster event" event_for DeleteInCluster gone-bg

# ---- a namespace with contents ------------------------------------------------------------------------------------
FK create namespace tmp >/dev/null
FK create configmap -n tmp inner --from-literal=k=v >/dev/null
FK create secret generic -n tmp inner-secret --from-literal=k=v >/dev/null
wait_until "tmp/inner propagated" 30 has_copy PK configmap tmp/inner
t0=$SECONDS
FK delete namespace tmp --wait=false >/dev/null
wait_until "namespace tmp gone from the federation API, nothing Terminating (took about $((SECONDS - t0)) s)" 60 absent FK namespace /tmp
for m in PK DK; do wait_until "$m: namespace tmp deleted" 60 bash -c "! '$KUBECTL' --kubeconfig '$([ "$m" = PK ] && echo "$PKC" || echo "$DKC")' get ns tmp -o jsonpath='{.status.phase}' | grep -q Active"; done
left=$(FK get namespaces -o jsonpath='{.items[?(@.status.phase=="Terminating")].metadata.name}')
check "no namespace Terminating in the federation API (got: $left)" test -z "$left"

# ---- a stopped member holds a cascade, with a Warning naming it ------------------------------------------------
FK create configmap -n shop held --from-literal=k=v >/dev/null
wait_until "held propagated to dev" 30 has_copy DK configmap shop/held
STOPPED=$(awk '{print $1}' "$RUN_ROOT/$DEV/pids/kube-apiserver.pid")
kill -STOP "$STOPPED"
wait_until "dev stopped: its FederatedCluster is not Ready" 60 bash -c "! '$KUBECTL' --kubeconfig '$KC' get fc -n '$NS' dev -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
FK delete configmap -n shop held --wait=false >/dev/null
wait_until "the cascade waits with a Warning naming dev" 30 bash -c "'$KUBECTL' --kubeconfig '$TMP/fed.kubeconfig' get events -n shop --field-selector reason=DeleteWaitingForCluster -o json | jq -e '.items[] | select(.note // .message | test(\"dev\"))'"
check "held still in the federation API while dev is stopped" bash -c "'$KUBECTL' --kubeconfig '$TMP/fed.kubeconfig' get cm -n shop held"
check "held deleted from prod meanwhile" absent PK configmap shop/held
kill -CONT "$STOPPED"
STOPPED=""
wait_until "dev back: the cascade completes" 60 absent FK configmap shop/held
check "held deleted from dev" absent DK configmap shop/held

# ---- unjoin removes our copies in the member that leaves --------------------------------------------------------
K delete federatedcluster -n "$NS" dev --wait=false >/dev/null
wait_until "dev unjoined" 90 gone federatedcluster dev
left=$(DK get configmaps,secrets,serviceaccounts,daemonsets,ingresses -A -l "kubefed.dev/propagated-by=$FED_UID" -o name | wc -l)
check "unjoin removed every copy in dev (left: $left)" test "$left" -eq 0
check "prod keeps its copies" has_copy PK configmap shop/web
check "orphaned copy kept in prod (not ours any more)" bash -c "'$KUBECTL' --kubeconfig '$PKC' get cm -n shop kept"

# ---- a stopped member whose FederatedCluster is deleted releases the cascade it held ---------------------------
FK create configmap -n shop held2 --from-literal=k=v >/dev/null
wait_until "held2 propagated to prod" 30 has_copy PK configmap shop/held2
STOPPED=$(awk '{print $1}' "$RUN_ROOT/$PROD/pids/kube-apiserver.pid")
kill -STOP "$STOPPED"
wait_until "prod stopped: its FederatedCluster is not Ready" 60 bash -c "! '$KUBECTL' --kubeconfig '$KC' get fc -n '$NS' prod -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
FK delete configmap -n shop held2 --wait=false >/dev/null
wait_until "the cascade waits with a Warning naming prod" 30 bash -c "'$KUBECTL' --kubeconfig '$TMP/fed.kubeconfig' get events -n shop --field-selector reason=DeleteWaitingForCluster -o json | jq -e '.items[] | select((.note // .message | test(\"prod\")) and (.regarding.name // .involvedObject.name) == \"held2\")'"
K annotate federatedcluster -n "$NS" prod kubefed.dev/force-unjoin=true >/dev/null
K delete federatedcluster -n "$NS" prod --wait=false >/dev/null
wait_until "prod force-unjoined" 90 gone federatedcluster prod
wait_until "its Cluster gone: the cascade completes without it" 30 absent FK configmap shop/held2
kill -CONT "$STOPPED"
STOPPED=""
