#!/usr/bin/env bash
# packaging.helm: `helm install` of deploy/helm/kubefed-operator into a harness cluster of its own
# (kwok runs the operator's pod, so the Deployment becomes Available), then the operator binary
# ($KF_OPERATOR) run out of cluster with a token of the chart's ServiceAccount reconciles a
# Federation without one "forbidden" (the chart's RBAC is sufficient; that it is exactly RBAC.md is
# security.rbac's check), and `helm uninstall` leaves no object of the release behind while the
# CRDs stay (Helm never deletes CRDs).
TEST=packaging.helm CLUSTER=pkg-helm
# shellcheck source=tests/e2e/packaging-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/packaging-lib.sh"

do_install() {
  local out
  if out="$(H install "$REL" "$CHART" -n "$REL_NS" --create-namespace --wait --timeout 120s 2>&1)"; then
    pass "helm install $REL $CHART -n $REL_NS --create-namespace --wait"
  else
    fail "helm install: $out"; exit 1
  fi
  check "helm status: deployed" sh -c "'$HELM' --kubeconfig '$KC' status '$REL' -n '$REL_NS' -o json 2>/dev/null | jq -e '.info.status == \"deployed\"'"
  check "NOTES tell how to create a Federation" grep -q "kubectl apply -f examples/fellowship-federation.yaml" <<<"$out"
  check "NOTES tell how to build and load the unpublished image" \
    bash -c 'grep -q "docker build -t kubefed-operator:" <<<"$0" && grep -q "kind load docker-image" <<<"$0"' "$out"
}
do_uninstall() {
  local out
  if out="$(H uninstall "$REL" -n "$REL_NS" --wait --timeout 120s 2>&1)"; then
    pass "helm uninstall $REL --wait"
  else
    fail "helm uninstall: $out"
  fi
}

run_packaging_flow
for crd in federations.kubefed.dev federatedclusters.kubefed.dev; do
  check "CRD $crd kept after helm uninstall (Helm never deletes CRDs)" K get crd "$crd"
done
