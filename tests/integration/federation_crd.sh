#!/usr/bin/env bash
# federation.crd: crds/kubefed.dev_federations.yaml against a real kube-apiserver.
#   up -> apply CRD -> Established -> DESIGN.md examples accepted -> schema defaults filled ->
#   each bad Federation refused with a message naming the field -> immutable fields refused on
#   update, mutable ones accepted -> printer columns -> down.
# Run from anywhere; HARNESS may point at tests/harness/k8s.
TEST=federation.crd RESOURCE=federation
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_crds kubefed.dev_federations.yaml
# Established can precede discovery by a moment: wait until kubectl resolves the short name.
for _ in $(seq 1 50); do K get fed -n "$NS" >/dev/null 2>&1 && break; sleep 0.2; done

# ---- helpers -------------------------------------------------------------------------------
# fedm NAME: a Federation manifest; the spec body (indented two spaces) comes from stdin.
fedm() {
  printf 'apiVersion: kubefed.dev/v1alpha1\nkind: Federation\nmetadata: {name: %s, namespace: %s}\nspec:\n' "$1" "$NS"
  cat
}

# ---- accepted: the DESIGN.md §1 example and variants ---------------------------------------
fedm fellowship <<'EOF' | accepted "DESIGN.md fellowship example (coredns, local etcd)" real
  dns:
    provider: coredns
    zoneName: example.com.
    providerConfigSecretRef: {name: fellowship-dns, key: provider.conf}
    corednsNameservers: ["10.0.0.10:53"]
  apiServer:
    image: registry.k8s.io/kube-apiserver:v1.37.2
    replicas: 1
    service: {type: LoadBalancer, nodePort: 0, annotations: {}, loadBalancerClass: ""}
    advertiseAddress: ""
    certSANs: []
    extraArgs: {}
    tokenAuthSecretRef: null
  controllerManager:
    image: registry.k8s.io/federation-controller-manager:v1.8.0
    replicas: 1
    extraArgs: {}
  etcd:
    local:
      image: registry.k8s.io/etcd:3.7.0-0
      storage:
        type: PersistentVolumeClaim
        size: 10Gi
        storageClassName: ""
        existingClaim: ""
        retainOnDelete: true
  certificates:
    caSecretRef: null
    validity: 8760h
    renewBefore: 720h
  imagePullPolicy: IfNotPresent
  imagePullSecrets: [{name: regcred}]
  suspend: false
EOF

fedm minimal <<'EOF' | accepted "minimal Federation (dns only)" real
  dns: {provider: google-clouddns, zoneName: example.org.}
EOF

fedm ha <<'EOF' | accepted "external etcd, 3 replicas, NodePort, every optional field"
  dns: {provider: aws-route53, zoneName: fed.example.net., providerConfigSecretRef: {name: route53}}
  apiServer:
    replicas: 3
    service: {type: NodePort, nodePort: 30443, annotations: {a.example.com/x: "y"}}
    advertiseAddress: 127.0.0.9
    certSANs: [127.0.0.8, fed.example.net, "*.fed.example.net"]
    extraArgs: {v: "4", audit-log-path: /var/log/audit.log}
    tokenAuthSecretRef: {name: fed-tokens}
    resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 1Gi}}
    nodeSelector: {kubernetes.io/os: linux}
    tolerations: [{key: dedicated, operator: Equal, value: federation, effect: NoSchedule}]
    affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 100, podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: x}}}}]}}
    priorityClassName: system-cluster-critical
  controllerManager:
    replicas: 2
    extraArgs: {v: "2"}
    resources: {requests: {cpu: 50m}}
    tolerations: [{operator: Exists}]
  etcd:
    external:
      endpoints: ["https://127.0.0.21:2379", "https://127.0.0.22:2379"]
      tlsSecretRef: {name: etcd-client}
  certificates: {caSecretRef: {name: my-ca}, validity: 2160h, renewBefore: 168h}
  imagePullPolicy: Always
  suspend: true
EOF

fedm azure <<'EOF' | accepted "azure-azuredns, ClusterIP, EmptyDir storage"
  dns: {provider: azure-azuredns, zoneName: example.io.}
  apiServer: {service: {type: ClusterIP}}
  etcd: {local: {storage: {type: EmptyDir}}}
EOF

fedm claim <<'EOF' | accepted "existingClaim with a storage class, LoadBalancer class"
  dns: {provider: google-clouddns, zoneName: example.org.}
  apiServer: {service: {type: LoadBalancer, nodePort: 31000, loadBalancerClass: example.com/lb}}
  etcd: {local: {storage: {existingClaim: my-etcd-data, storageClassName: standard, size: 20Gi, retainOnDelete: false}}}
EOF

# ---- defaults ------------------------------------------------------------------------------
field minimal .spec.etcd.local.storage.type PersistentVolumeClaim
field minimal .spec.etcd.local.storage.size 10Gi
field minimal .spec.etcd.local.storage.retainOnDelete true
field minimal .spec.apiServer.replicas 1
field minimal .spec.apiServer.service.type LoadBalancer
field minimal .spec.controllerManager.replicas 1
field minimal .spec.certificates.validity 8760h
field minimal .spec.certificates.renewBefore 720h
field minimal .spec.imagePullPolicy IfNotPresent
field minimal .spec.suspend false
field fellowship .spec.dns.providerConfigSecretRef.key provider.conf

# ---- refused on create ---------------------------------------------------------------------
fedm bad <<'EOF' | refused "zoneName without trailing dot" spec.dns.zoneName "end with a dot"
  dns: {provider: google-clouddns, zoneName: example.com}
EOF
fedm bad <<'EOF' | refused "zoneName that is not a DNS name" spec.dns.zoneName
  dns: {provider: google-clouddns, zoneName: "Exa mple.com."}
EOF
fedm bad <<'EOF' | refused "unknown DNS provider" spec.dns.provider
  dns: {provider: bind9, zoneName: example.com.}
EOF
fedm bad <<'EOF' | refused "no dns at all" spec.dns
  apiServer: {replicas: 1}
EOF
fedm bad <<'EOF' | refused "corednsNameservers with google-clouddns" spec.dns.corednsNameservers
  dns: {provider: google-clouddns, zoneName: example.com., corednsNameservers: ["10.0.0.10:53"]}
EOF
fedm bad <<'EOF' | refused "malformed coredns nameserver" spec.dns.corednsNameservers
  dns: {provider: coredns, zoneName: example.com., corednsNameservers: ["dns://127.0.0.10"]}
EOF
# Nameservers are IP[:port], at most 15, and never what a member's DNS pod would forward to itself
# (loopback on port 53) or cannot reach (unspecified, link-local): issue 17, B3 and C1.
for ns in dns.example.com:53 10.0.0.10:0 10.0.0.10:65536 10.0.0.300 '[fd00::10' 'fd00::10]:53' '1.2.3.4:ab'; do
  fedm bad <<EOF | refused "corednsNameservers entry $ns (not IP[:port])" spec.dns.corednsNameservers "must be IP, IP:port"
  dns: {provider: coredns, zoneName: example.com., corednsNameservers: ["$ns"]}
EOF
done
for ns in 127.0.0.53:53 127.0.0.1 127.1.2.3:053 '::1' '[::1]:53'; do
  fedm bad <<EOF | refused "corednsNameservers entry $ns (loopback on 53)" spec.dns.corednsNameservers "loopback address on port 53"
  dns: {provider: coredns, zoneName: example.com., corednsNameservers: ["10.0.0.10", "$ns"]}
EOF
done
for ns in 0.0.0.0:53 '::' 169.254.169.254 '[fe80::1]:53' 224.0.0.251 'ff02::fb'; do
  fedm bad <<EOF | refused "corednsNameservers entry $ns (unspecified or link-local)" spec.dns.corednsNameservers "unspecified"
  dns: {provider: coredns, zoneName: example.com., corednsNameservers: ["$ns"]}
EOF
done
sixteen="$(seq 1 16 | sed 's/.*/"10.0.0.&"/' | paste -sd, -)"
fedm bad <<EOF | refused "16 corednsNameservers (CoreDNS's forward takes 15)" spec.dns.corednsNameservers 15
  dns: {provider: coredns, zoneName: example.com., corednsNameservers: [$sixteen]}
EOF
fifteen="$(seq 1 15 | sed 's/.*/"10.0.0.&"/' | paste -sd, -)"
fedm ok <<EOF | accepted "15 corednsNameservers"
  dns: {provider: coredns, zoneName: example.com., corednsNameservers: [$fifteen]}
EOF
fedm ok <<'EOF' | accepted "corednsNameservers: IPv4, IPv6, bracketed, with and without ports"
  dns: {provider: coredns, zoneName: example.com., corednsNameservers: ["10.0.0.10", "10.0.0.11:5353", "fd00::10", "[fd00::10]:53"]}
EOF
fedm ok <<'EOF' | accepted "loopback nameservers on other ports (single-host setups; a Warning at join)"
  dns: {provider: coredns, zoneName: example.com., corednsNameservers: ["127.0.0.1:15353", "[::1]:15353"]}
EOF
fedm bad <<'EOF' | refused "loadBalancerSourceRanges entry that is not a CIDR" spec.apiServer.service.loadBalancerSourceRanges "must be CIDRs"
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {service: {loadBalancerSourceRanges: ["203.0.113.7"]}}
EOF
fedm bad <<'EOF' | refused "loadBalancerSourceRanges with NodePort" spec.apiServer.service.loadBalancerSourceRanges "only allowed"
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {service: {type: NodePort, loadBalancerSourceRanges: ["203.0.113.0/24"]}}
EOF
fedm ok <<'EOF' | accepted "loadBalancerSourceRanges with the default LoadBalancer"
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {service: {loadBalancerSourceRanges: ["203.0.113.0/24", "fd00::/8"]}}
EOF
# kubefed v1's documented `kubefed init ... --dns-provider=coredns --dns-provider-config=...`
# with a config without coredns-endpoints: no nameservers, so joins add no forward block.
fedm ok <<'EOF' | accepted "coredns without corednsNameservers (kubefed v1's documented init)"
  dns: {provider: coredns, zoneName: example.com., providerConfigSecretRef: {name: coredns-provider}}
EOF
fedm bad <<'EOF' | refused "both etcd.local and etcd.external" spec.etcd "exactly one of spec.etcd.local or spec.etcd.external"
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd:
    local: {}
    external: {endpoints: ["https://127.0.0.21:2379"], tlsSecretRef: {name: etcd-client}}
EOF
fedm bad <<'EOF' | refused "neither etcd.local nor etcd.external" spec.etcd "exactly one of spec.etcd.local or spec.etcd.external"
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {}
EOF
fedm bad <<'EOF' | refused "local etcd with apiServer.replicas 2" spec.apiServer.replicas spec.etcd.local
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {replicas: 2}
EOF
fedm bad <<'EOF' | refused "external etcd over http" spec.etcd.external.endpoints
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {external: {endpoints: ["http://127.0.0.21:2379"], tlsSecretRef: {name: etcd-client}}}
EOF
fedm bad <<'EOF' | refused "external etcd without endpoints or tlsSecretRef" spec.etcd.external.endpoints spec.etcd.external.tlsSecretRef
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {external: {}}
EOF
fedm bad <<'EOF' | refused "nodePort with service type ClusterIP" spec.apiServer.service.nodePort
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {service: {type: ClusterIP, nodePort: 30443}}
EOF
fedm bad <<'EOF' | refused "nodePort out of range" spec.apiServer.service.nodePort
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {service: {type: NodePort, nodePort: 70000}}
EOF
fedm bad <<'EOF' | refused "unknown service type" spec.apiServer.service.type
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {service: {type: ExternalName}}
EOF
fedm bad <<'EOF' | refused "loadBalancerClass with NodePort" spec.apiServer.service.loadBalancerClass
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {service: {type: NodePort, loadBalancerClass: example.com/lb}}
EOF
fedm bad <<'EOF' | refused "advertiseAddress that is neither IP nor DNS name" spec.apiServer.advertiseAddress
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {service: {type: NodePort}, advertiseAddress: "127.0.0.1:443"}
EOF
fedm bad <<'EOF' | refused "extraArgs key with leading --" spec.apiServer.extraArgs
  dns: {provider: google-clouddns, zoneName: example.com.}
  apiServer: {extraArgs: {"--v": "4"}}
EOF
fedm bad <<'EOF' | refused "unknown storage type" spec.etcd.local.storage.type
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {local: {storage: {type: HostPath}}}
EOF
fedm bad <<'EOF' | refused "storage size that is not a quantity" spec.etcd.local.storage.size
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {local: {storage: {size: ten-gigs}}}
EOF
fedm bad <<'EOF' | refused "existingClaim with EmptyDir" spec.etcd.local.storage.existingClaim
  dns: {provider: google-clouddns, zoneName: example.com.}
  etcd: {local: {storage: {type: EmptyDir, existingClaim: data}}}
EOF
fedm bad <<'EOF' | refused "certificate validity that is not a duration" spec.certificates.validity
  dns: {provider: google-clouddns, zoneName: example.com.}
  certificates: {validity: 1y}
EOF
fedm bad <<'EOF' | refused "unknown imagePullPolicy" spec.imagePullPolicy
  dns: {provider: google-clouddns, zoneName: example.com.}
  imagePullPolicy: Sometimes
EOF
fedm 1fellowship <<'EOF' | refused "name that is not an RFC 1035 label" metadata.name
  dns: {provider: google-clouddns, zoneName: example.com.}
EOF

# ---- updates -------------------------------------------------------------------------------
update_refused "change dns.zoneName" fellowship '{"spec":{"dns":{"zoneName":"example.net."}}}' spec.dns.zoneName immutable
update_refused "change dns.provider" minimal '{"spec":{"dns":{"provider":"aws-route53"}}}' spec.dns.provider immutable
update_refused "change etcd.local.storage.size" fellowship '{"spec":{"etcd":{"local":{"storage":{"size":"20Gi"}}}}}' spec.etcd.local.storage.size immutable
update_refused "change etcd.local.storage.type" fellowship '{"spec":{"etcd":{"local":{"storage":{"type":"EmptyDir"}}}}}' spec.etcd.local.storage.type immutable
update_refused "set etcd.local.storage.storageClassName" minimal '{"spec":{"etcd":{"local":{"storage":{"storageClassName":"fast"}}}}}' spec.etcd.local.storage.storageClassName immutable
update_refused "set etcd.local.storage.existingClaim" minimal '{"spec":{"etcd":{"local":{"storage":{"existingClaim":"other"}}}}}' spec.etcd.local.storage.existingClaim immutable
update_refused "switch local etcd to external" minimal \
  '{"spec":{"etcd":{"local":null,"external":{"endpoints":["https://127.0.0.21:2379"],"tlsSecretRef":{"name":"c"}}}}}' spec.etcd
update_refused "scale apiServer to 2 with local etcd" minimal '{"spec":{"apiServer":{"replicas":2}}}' spec.apiServer.replicas
update_accepted "retainOnDelete, extraArgs, suspend, images stay mutable" fellowship \
  '{"spec":{"suspend":true,"etcd":{"local":{"image":"registry.k8s.io/etcd:3.6.17-0","storage":{"retainOnDelete":false}}},"apiServer":{"extraArgs":{"v":"6"}}}}'
field fellowship .spec.etcd.local.storage.retainOnDelete false

# ---- status subresource and printer columns ------------------------------------------------
if out=$(K patch -n "$NS" federation/fellowship --subresource=status --type=merge -p \
  '{"status":{"observedGeneration":1,"phase":"Ready","endpoint":"https://127.0.0.1:30443","joinedClusters":2,"kubeconfigSecretRef":{"name":"fellowship-admin-kubeconfig","key":"kubeconfig"},"certificatesNotAfter":"2030-01-01T00:00:00Z","conditions":[{"type":"Ready","status":"True","reason":"AllComponentsReady","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z","observedGeneration":1}]}}' 2>&1); then
  pass "status subresource accepts the status schema"
else
  fail "status subresource: $out"
fi
out=$(K patch -n "$NS" federation/minimal --type=merge -p '{"status":{"phase":"Bogus"}}' 2>&1)
if [ -z "$(K get -n "$NS" federation/minimal -o 'jsonpath={.status.phase}')" ]; then
  pass "status is ignored on the main resource (status subresource enabled)"
else
  fail "status written through the main resource: $out"
fi
hdr=$(K get fed -n "$NS" 2>&1 | head -n 1)
if [[ "$hdr" =~ ^NAME\ +READY\ +ENDPOINT\ +CLUSTERS\ +AGE$ ]]; then
  pass "kubectl get fed columns: $hdr"
else
  fail "kubectl get fed header: '$hdr'"
fi
row=$(K get fed -n "$NS" fellowship --no-headers 2>&1)
if [[ "$row" =~ ^fellowship\ +True\ +https://127\.0\.0\.1:30443\ +2\  ]]; then
  pass "kubectl get fed row: $row"
else
  fail "kubectl get fed row: '$row'"
fi
if out=$(K get kubefed -n "$NS" -o name 2>&1) && grep -q 'federation.kubefed.dev/fellowship' <<<"$out"; then
  pass "category kubefed lists Federations"
else
  fail "category kubefed: $out"
fi

finish
