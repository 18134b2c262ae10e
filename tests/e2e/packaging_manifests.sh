#!/usr/bin/env bash
# packaging.manifests: the same flow as packaging.helm with the plain manifests rendered from the
# chart: `kubectl apply -f deploy/manifests/kubefed-operator.yaml` (Namespace, CRDs, RBAC,
# Deployment, Service), the operator binary run out of cluster as its ServiceAccount and never
# refused, then `kubectl delete -f` the same file removes every object in it, CRDs and Namespace
# included. (The file is the chart rendered, packaging.lint checks it has not drifted, and
# security.rbac checks the chart's RBAC against RBAC.md.)
TEST=packaging.manifests CLUSTER=pkg-manifests
# shellcheck source=tests/e2e/packaging-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/packaging-lib.sh"

do_install() {
  local out
  if out="$(K apply -f "$MANIFESTS" 2>&1)"; then
    pass "kubectl apply -f deploy/manifests/kubefed-operator.yaml ($(wc -l <<<"$out") objects)"
  else
    fail "kubectl apply -f $MANIFESTS: $out"; exit 1
  fi
}
do_uninstall() {
  local out
  if out="$(K delete -f "$MANIFESTS" --wait --timeout=120s 2>&1)"; then
    pass "kubectl delete -f deploy/manifests/kubefed-operator.yaml"
  else
    fail "kubectl delete -f: $out"
  fi
}

run_packaging_flow
for crd in federations.kubefed.dev federatedclusters.kubefed.dev; do
  wait_until "CRD $crd deleted with the manifests" 60 sh -c "! '$KUBECTL' --kubeconfig '$KC' get crd '$crd'"
done
wait_until "Namespace $REL_NS deleted with the manifests" 120 sh -c "! '$KUBECTL' --kubeconfig '$KC' get namespace '$REL_NS'"
