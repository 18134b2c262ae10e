#!/usr/bin/env bash
# cluster.crd: crds/kubefed.dev_federatedclusters.yaml and the federation-side
# crds/federation.kubefed.dev_clusters.yaml against a real kube-apiserver.
#   up -> apply CRDs -> Established -> DESIGN.md examples accepted -> schema defaults filled ->
#   each bad FederatedCluster refused with a message naming the field -> immutable
#   federationRef -> printer columns -> the v1 Cluster (cluster-scoped) -> down.
# Run from anywhere; HARNESS may point at tests/harness/k8s.
TEST=cluster.crd RESOURCE=federatedcluster
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_crds kubefed.dev_federatedclusters.yaml federation.kubefed.dev_clusters.yaml
# Established can precede discovery by a moment: wait until kubectl resolves both kinds.
for _ in $(seq 1 50); do
  K get fc -n "$NS" >/dev/null 2>&1 && K get clusters.federation.kubefed.dev >/dev/null 2>&1 && break
  sleep 0.2
done

# ---- helpers -------------------------------------------------------------------------------
# fcm NAME: a FederatedCluster manifest; the spec body (indented two spaces) comes from stdin.
fcm() {
  printf 'apiVersion: kubefed.dev/v1alpha1\nkind: FederatedCluster\nmetadata: {name: %s, namespace: %s}\nspec:\n' "$1" "$NS"
  cat
}
# cm NAME: a federation-side Cluster manifest (cluster-scoped); spec body from stdin.
cm() {
  printf 'apiVersion: federation.kubefed.dev/v1beta1\nkind: Cluster\nmetadata: {name: %s}\nspec:\n' "$1"
  cat
}

# ---- accepted ------------------------------------------------------------------------------
fcm gondor <<'EOF' | accepted "DESIGN.md gondor example" real
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin, key: kubeconfig, context: ""}
  secretName: ""
  memberNamespace: federation-system
  dns: {mode: Auto}
  health: {periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3, successThreshold: 1}
EOF
fcm rivendell <<'EOF' | accepted "minimal FederatedCluster" real
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: rivendell-admin}
EOF
fcm noldor <<'EOF' | accepted "secretName 11kingdom (RFC 1123) and context gondor_needs-no_king" real
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: noldor-admin, key: config.yaml, context: gondor_needs-no_king}
  secretName: 11kingdom
  memberNamespace: fed-members
  dns: {mode: CoreDNS}
  health: {periodSeconds: 30}
EOF
for mode in KubeDNS None; do
  fcm "dns-$(tr 'A-Z' 'a-z' <<<"$mode")" <<EOF | accepted "dns.mode $mode"
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: some-admin}
  dns: {mode: $mode}
EOF
done

# ---- defaults ------------------------------------------------------------------------------
field rivendell .spec.kubeconfigSecretRef.key kubeconfig
field rivendell .spec.memberNamespace federation-system
field rivendell .spec.dns.mode Auto
field rivendell .spec.health.periodSeconds 10
field rivendell .spec.health.timeoutSeconds 3
field rivendell .spec.health.failureThreshold 3
field rivendell .spec.health.successThreshold 1
field noldor .spec.health.timeoutSeconds 3
field noldor .spec.health.periodSeconds 30

# ---- refused on create ---------------------------------------------------------------------
fcm bad <<'EOF' | refused "no federationRef" spec.federationRef
  kubeconfigSecretRef: {name: gondor-admin}
EOF
fcm bad <<'EOF' | refused "federationRef without name" spec.federationRef.name
  federationRef: {}
  kubeconfigSecretRef: {name: gondor-admin}
EOF
fcm bad <<'EOF' | refused "no kubeconfigSecretRef" spec.kubeconfigSecretRef
  federationRef: {name: fellowship}
EOF
fcm bad <<'EOF' | refused "kubeconfigSecretRef.name with upper case and _" spec.kubeconfigSecretRef.name "RFC 1035"
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: Gondor_Admin}
EOF
fcm bad <<'EOF' | refused "kubeconfigSecretRef.name starting with a digit" spec.kubeconfigSecretRef.name "RFC 1035"
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: 11kingdom}
EOF
fcm bad <<'EOF' | refused "secretName that is not an RFC 1123 subdomain" spec.secretName "RFC 1123"
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin}
  secretName: Gondor_Secret
EOF
fcm bad <<'EOF' | refused "memberNamespace that is not a label" spec.memberNamespace
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin}
  memberNamespace: Federation.System
EOF
fcm bad <<'EOF' | refused "unknown dns.mode" spec.dns.mode
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin}
  dns: {mode: Bind}
EOF
fcm bad <<'EOF' | refused "timeoutSeconds == periodSeconds" spec.health.timeoutSeconds spec.health.periodSeconds
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin}
  health: {periodSeconds: 5, timeoutSeconds: 5}
EOF
fcm bad <<'EOF' | refused "timeoutSeconds > default periodSeconds" spec.health.timeoutSeconds
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin}
  health: {timeoutSeconds: 20}
EOF
fcm bad <<'EOF' | refused "periodSeconds 0" spec.health.periodSeconds
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin}
  health: {periodSeconds: 0}
EOF
fcm bad <<'EOF' | refused "failureThreshold 0 and successThreshold 0" spec.health.failureThreshold spec.health.successThreshold
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin}
  health: {failureThreshold: 0, successThreshold: 0}
EOF
fcm 11kingdom <<'EOF' | refused "name that is not an RFC 1035 label" metadata.name
  federationRef: {name: fellowship}
  kubeconfigSecretRef: {name: gondor-admin}
EOF

# ---- updates -------------------------------------------------------------------------------
update_refused "change federationRef.name" gondor '{"spec":{"federationRef":{"name":"other"}}}' spec.federationRef.name immutable
update_refused "timeoutSeconds raised to periodSeconds" gondor '{"spec":{"health":{"timeoutSeconds":10}}}' spec.health.timeoutSeconds
update_accepted "credentials, DNS mode and health stay mutable" gondor \
  '{"spec":{"kubeconfigSecretRef":{"name":"gondor-admin-2","context":"gondor_needs-no_king"},"dns":{"mode":"None"},"health":{"periodSeconds":20,"timeoutSeconds":5}}}'
field gondor .spec.health.timeoutSeconds 5

# ---- status subresource and printer columns ------------------------------------------------
if out=$(K patch -n "$NS" federatedcluster/gondor --subresource=status --type=merge -p \
  '{"status":{"observedGeneration":2,"kubernetesVersion":"v1.37.2","region":"gondor-region","zones":["gondor-zone-a","gondor-zone-b"],"lastProbeTime":"2026-01-01T00:00:00Z","credentialSecretRef":{"name":"gondor-x7k2p","key":"kubeconfig"},"conditions":[{"type":"Joined","status":"True","reason":"Joined","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z","observedGeneration":2},{"type":"Ready","status":"True","reason":"ClusterReady","message":"/readyz ok","lastTransitionTime":"2026-01-01T00:00:00Z","observedGeneration":2}]}}' 2>&1); then
  pass "status subresource accepts the status schema"
else
  fail "status subresource: $out"
fi
hdr=$(K get fc -n "$NS" 2>&1 | head -n 1)
if [[ "$hdr" =~ ^NAME\ +FEDERATION\ +READY\ +VERSION\ +ZONES\ +AGE$ ]]; then
  pass "kubectl get fc columns: $hdr"
else
  fail "kubectl get fc header: '$hdr'"
fi
row=$(K get fc -n "$NS" gondor --no-headers 2>&1)
if [[ "$row" =~ ^gondor\ +fellowship\ +True\ +v1\.37\.2\ +.*gondor-zone-a.*gondor-zone-b ]]; then
  pass "kubectl get fc row: $row"
else
  fail "kubectl get fc row: '$row'"
fi
if out=$(K get kubefed -n "$NS" -o name 2>&1) && grep -q 'federatedcluster.kubefed.dev/gondor' <<<"$out"; then
  pass "category kubefed lists FederatedClusters"
else
  fail "category kubefed: $out"
fi

# ---- federation-side Cluster (kubefed v1 Cluster, cluster-scoped) --------------------------
if out=$(K api-resources --api-group=federation.kubefed.dev --no-headers 2>&1) &&
   [[ "$out" =~ ^clusters\ +federation\.kubefed\.dev/v1beta1\ +false\ +Cluster ]]; then
  pass "clusters.federation.kubefed.dev is cluster-scoped: $out"
else
  fail "clusters.federation.kubefed.dev api-resources: '$out'"
fi
cm gondor <<'EOF' | accepted "v1 Cluster with serverAddressByClientCIDRs and secretRef" real
  serverAddressByClientCIDRs:
  - {clientCIDR: 0.0.0.0/0, serverAddress: "https://127.0.0.5:6443"}
  - {clientCIDR: "::/0", serverAddress: "127.0.0.6:6443"}
  secretRef: {name: gondor-x7k2p}
EOF
cm bad <<'EOF' | refused "v1 Cluster without serverAddressByClientCIDRs" spec.serverAddressByClientCIDRs
  secretRef: {name: gondor-x7k2p}
EOF
cm bad <<'EOF' | refused "v1 Cluster with a bad clientCIDR" clientCIDR
  serverAddressByClientCIDRs: [{clientCIDR: 10.0.0.0/33, serverAddress: "127.0.0.5:6443"}]
EOF
if out=$(K patch cluster.federation.kubefed.dev/gondor --subresource=status --type=merge -p \
  '{"status":{"region":"gondor-region","zones":["gondor-zone-a"],"conditions":[{"type":"Ready","status":"True","reason":"ClusterReady","message":"/healthz responded with ok","lastProbeTime":"2026-01-01T00:00:00Z","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}' 2>&1) &&
   [ "$(K get cluster.federation.kubefed.dev/gondor -o 'jsonpath={.status.conditions[0].type}={.status.zones[0]}')" = "Ready=gondor-zone-a" ]; then
  pass "v1 Cluster status (conditions, zones, region) through the status subresource"
else
  fail "v1 Cluster status: $out"
fi

finish
