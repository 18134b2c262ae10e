#!/usr/bin/env bash
# The main job, on real local clusters: a host cluster (rivendell) and two member
# clusters (gondor, noldor) from tests/harness/k8s, and kubefed-operator running
# against the host with leader election: the fellowship Federation comes up (its API
# server run for real from the generated Deployment), then gondor, noldor and
# rivendell itself join, with the members' DNS configured. The federation's DNS (an etcd
# and a CoreDNS serving example.com. from it, what examples/fellowship-dns.yaml runs in a
# cluster) runs through the harness; a LoadBalancer Service created in the federation API
# gets each member's load balancer address and a ready backend, and dig shows its
# federated name answering with them.
# `./tests/demo.sh down` stops it all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
harness=tests/harness/k8s
state=${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}/.demo
build=${KF_DEMO_BUILD_DIR:-$root/build-demo}

if [ "${1:-}" = "down" ]; then
  if [ -f "$state/operator.pid" ]; then
    pid=$(cat "$state/operator.pid")
    # Only our operator: check the pid still runs the binary we started.
    if [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$(cat "$state/operator.exe" 2>/dev/null)" ]; then
      kill -TERM "$pid" && echo "stopped kubefed-operator (pid $pid)"
    fi
  fi
  rm -rf "$state"
  for c in fed-federation-system-fellowship fellowship-dns fellowship-dns-etcd rivendell gondor noldor; do
    "$harness" down "$c"
  done
  exit 0
fi

tests/install-deps.sh
"$harness" build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target kubefed-operator kubefed-controller-manager >/dev/null

host=$("$harness" up rivendell --nodes 3)
gondor=$("$harness" up gondor --nodes 2)
noldor=$("$harness" up noldor --nodes 2)
kubectl=$("$harness" bin kubectl)

mkdir -p "$state"
if [ -f "$state/operator.pid" ] && kill -0 "$(cat "$state/operator.pid")" 2>/dev/null; then
  echo "kubefed-operator already running (pid $(cat "$state/operator.pid"))"
else
  "$kubectl" --kubeconfig "$host" apply -f crds/ >/dev/null
  "$kubectl" --kubeconfig "$host" create namespace federation-system --dry-run=client -o yaml |
    "$kubectl" --kubeconfig "$host" apply -f - >/dev/null
  setsid "$build/kubefed-operator" --kubeconfig "$host" --namespace federation-system --leader-elect \
    --health-bind-address 127.0.0.1:18081 --metrics-bind-address 127.0.0.1:18080 \
    --controller-manager-image kubefed-operator:0.1.0 \
    </dev/null >"$state/operator.log" 2>&1 &
  echo $! >"$state/operator.pid"
  readlink -f "$build/kubefed-operator" >"$state/operator.exe"
fi
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:18081/readyz >/dev/null 2>&1 && break
  sleep 0.2
done

# The federation's DNS, as examples/fellowship-dns.yaml runs it in a cluster: an etcd, and a
# CoreDNS serving example.com. from it (SkyDNS keys, CoreDNS's etcd plugin), here on loopback
# ports. The coredns provider file (kubefed v1's format) points the controller manager at that
# etcd; the Secret holding it is the Federation's providerConfigSecretRef.
dns_etcd=$("$harness" etcd fellowship-dns-etcd)
fed_dns=$("$harness" coredns fellowship-dns --zone example.com. --etcd "$dns_etcd")
printf '[Global]\netcd-endpoints = %s\nzones = example.com.\ncoredns-endpoints = %s\n' "$dns_etcd" "$fed_dns" \
  >"$state/provider.conf"
"$kubectl" --kubeconfig "$host" -n federation-system create secret generic fellowship-dns \
  --from-file=provider.conf="$state/provider.conf" --dry-run=client -o yaml |
  "$kubectl" --kubeconfig "$host" apply -f - >/dev/null

# The declarative `kubefed init`: the fellowship Federation, with the example's placeholder
# addresses replaced by what this single-host harness can use: the nodePort on this machine's
# loopback, and the federation's CoreDNS above as the nameserver members forward the zone to
# (the members' CoreDNS here is not a pod; `tests/harness/k8s coredns NAME --member gondor`
# runs gondor's Corefile to follow that path), plus the provider Secret.
sed -e "s/192\.0\.2\.53:53/$fed_dns/" -e 's/advertiseAddress: 192\.0\.2\.10/advertiseAddress: 127.0.0.1/' \
  -e 's/^\(    zoneName: .*\)$/\1\n    providerConfigSecretRef: {name: fellowship-dns}/' \
  examples/fellowship-federation.yaml >"$state/fellowship-federation.yaml"
for _ in $(seq 1 50); do
  "$kubectl" --kubeconfig "$host" apply -f "$state/fellowship-federation.yaml" >/dev/null 2>&1 && break
  sleep 0.2
done
# kwok only pretends pods run: the harness runs the generated federation apiserver pod
# (its kube-apiserver and etcd containers, with the operator's Secrets and args) for real.
for _ in $(seq 1 100); do
  "$kubectl" --kubeconfig "$host" -n federation-system get deployment fellowship-apiserver >/dev/null 2>&1 && break
  sleep 0.2
done
# serve-federation also runs the F-controller-manager Deployment, with this build's program.
fed_url=$(KUBEFED_BUILD_DIR="$build" "$harness" serve-federation "$host" federation-system fellowship)
"$kubectl" --kubeconfig "$host" -n federation-system wait federation/fellowship \
  --for=condition=Ready --timeout=120s >/dev/null
"$kubectl" --kubeconfig "$host" -n federation-system get secret fellowship-admin-kubeconfig \
  -o jsonpath='{.data.kubeconfig}' | base64 -d >"$state/fellowship.kubeconfig"
chmod 600 "$state/fellowship.kubeconfig"

# The members' cluster DNS as real clusters have it (the harness runs none): CoreDNS in
# gondor (with a user block), kube-dns in noldor (with a user stub domain).
if ! "$kubectl" --kubeconfig "$gondor" -n kube-system get configmap coredns >/dev/null 2>&1; then
  printf '%s\n' '.:53 {' '    errors' '    kubernetes cluster.local in-addr.arpa ip6.arpa {' '       pods insecure' \
    '       fallthrough in-addr.arpa ip6.arpa' '    }' '    forward . /etc/resolv.conf' '    cache 30' '}' \
    'consul.local:53 {' '    forward . 127.0.0.9' '}' >"$state/Corefile"
  "$kubectl" --kubeconfig "$gondor" -n kube-system create configmap coredns --from-file=Corefile="$state/Corefile" >/dev/null
fi
"$kubectl" --kubeconfig "$noldor" -n kube-system create configmap kube-dns \
  --from-literal=stubDomains='{"acme.local": ["127.0.0.8"]}' --dry-run=client -o yaml |
  "$kubectl" --kubeconfig "$noldor" apply -f - >/dev/null 2>&1 || true

# The declarative `kubefed join`: member credentials in Secrets, then the FederatedClusters.
sed 's/\bgondor\b/gondor_needs-no_king/g' "$gondor" >"$state/gondor.kubeconfig"
for m in gondor noldor rivendell; do
  case $m in gondor) kc="$state/gondor.kubeconfig" ;; noldor) kc="$noldor" ;; rivendell) kc="$host" ;; esac
  "$kubectl" --kubeconfig "$host" -n federation-system create secret generic "$m-admin" \
    --from-file=kubeconfig="$kc" --dry-run=client -o yaml | "$kubectl" --kubeconfig "$host" apply -f - >/dev/null
  "$kubectl" --kubeconfig "$host" apply -f "examples/$m-federatedcluster.yaml" >/dev/null
done
for m in gondor noldor rivendell; do
  "$kubectl" --kubeconfig "$host" -n federation-system wait "federatedcluster/$m" --for=condition=Ready --timeout=90s >/dev/null
done

# A federated Service: created once in the federation API, it reaches every member. Each
# member's load balancer address is set the way a cloud controller would (the status
# subresource): gondor 127.0.0.2, noldor 127.0.0.3, rivendell a host name, localhost (an AWS
# ELB's form, resolved by the controller manager to 127.0.0.1). A backend Deployment in each
# member (kwok runs its pods) gives the Service a ready endpoint, which makes the member healthy.
fk() { "$kubectl" --kubeconfig "$state/fellowship.kubeconfig" "$@"; }
fk apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: nginx}
  ports: [{name: http, port: 80}]
YAML
for m in gondor noldor rivendell; do
  case $m in
    gondor) kc="$gondor" ingress='{"ip":"127.0.0.2"}' ;;
    noldor) kc="$noldor" ingress='{"ip":"127.0.0.3"}' ;;
    rivendell) kc="$host" ingress='{"hostname":"localhost"}' ;;
  esac
  for _ in $(seq 1 150); do
    "$kubectl" --kubeconfig "$kc" -n default get service nginx >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$kubectl" --kubeconfig "$kc" -n default patch service nginx --subresource=status --type=merge \
    -p "{\"status\":{\"loadBalancer\":{\"ingress\":[$ingress]}}}" >/dev/null
  "$kubectl" --kubeconfig "$kc" apply -f tests/data/nginx-backend.yaml >/dev/null
done
fqdn=nginx.default.fellowship.svc.example.com
dns_port=${fed_dns#*:}
answer() { dig +short +time=2 +tries=1 @127.0.0.1 -p "$dns_port" "$fqdn" A | sort | tr '\n' ' '; }
for _ in $(seq 1 120); do
  [ "$(answer)" = "127.0.0.1 127.0.0.2 127.0.0.3 " ] && break
  sleep 1
done

echo
echo "== host cluster rivendell: nodes"
"$kubectl" --kubeconfig "$host" get nodes -L topology.kubernetes.io/region,topology.kubernetes.io/zone
for m in gondor noldor; do
  kc=$([ $m = gondor ] && echo "$gondor" || echo "$noldor")
  echo
  echo "== member cluster $m: version and nodes"
  "$kubectl" --kubeconfig "$kc" version 2>/dev/null | grep Server
  "$kubectl" --kubeconfig "$kc" get nodes -L topology.kubernetes.io/region,topology.kubernetes.io/zone
done
echo
echo "== the fellowship Federation on rivendell: its control plane, as kubefed init made it"
"$kubectl" --kubeconfig "$host" -n federation-system get federations -o wide
"$kubectl" --kubeconfig "$host" -n federation-system get federation fellowship \
  -o jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{"\n"}{end}'
"$kubectl" --kubeconfig "$host" -n federation-system get service,deployment,pvc,secret -l kubefed.dev/federation=fellowship
echo
echo "== the federation API at $fed_url (admin kubeconfig from status.kubeconfigSecretRef)"
"$kubectl" --kubeconfig "$state/fellowship.kubeconfig" get namespaces,crd
echo
echo "== joined: kubectl get federations,federatedclusters (on rivendell)"
"$kubectl" --kubeconfig "$host" -n federation-system get federations,federatedclusters
echo
echo "== the federation API's clusters"
"$kubectl" --kubeconfig "$state/fellowship.kubeconfig" get clusters \
  -o custom-columns=NAME:.metadata.name,SERVER:.spec.serverAddressByClientCIDRs[0].serverAddress,SECRET:.spec.secretRef.name,READY:.status.conditions[0].status,ZONES:.status.zones
echo
echo "== member DNS: gondor's CoreDNS Corefile (our marked block at the end)"
"$kubectl" --kubeconfig "$gondor" -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}'
echo
echo "== member DNS: noldor's kube-dns ConfigMap (federations and stubDomains merged)"
"$kubectl" --kubeconfig "$noldor" -n kube-system get configmap kube-dns -o jsonpath='{.data}'
echo
echo
echo "== a federated LoadBalancer Service: its members' load balancers (status) and v1's service-ingresses"
fk -n default get service nginx \
  -o jsonpath='{range .status.loadBalancer.ingress[*]}{.ip}{.hostname}{"\n"}{end}{.metadata.annotations.federation\.kubernetes\.io/service-ingresses}{"\n"}'
echo
echo "== its federated name, served by the federation's CoreDNS from etcd (records written by the controller manager)"
echo "\$ dig @127.0.0.1 -p $dns_port $fqdn A"
dig +time=2 +tries=1 +noall +answer @127.0.0.1 -p "$dns_port" "$fqdn" A
[ "$(answer)" = "127.0.0.1 127.0.0.2 127.0.0.3 " ] ||
  echo "(not all three addresses yet; the controller manager's log:" \
    "$(dirname "$state")/fed-federation-system-fellowship/logs/kubefed-controller-manager.log)"
region=$(fk get clusters.federation.kubefed.dev gondor -o jsonpath='{.status.region}')
zone=$(fk get clusters.federation.kubefed.dev gondor -o jsonpath='{.status.zones[0]}')
echo "\$ dig @127.0.0.1 -p $dns_port nginx.default.fellowship.svc.$zone.$region.example.com A   # gondor's zone"
dig +time=2 +tries=1 +noall +answer @127.0.0.1 -p "$dns_port" "nginx.default.fellowship.svc.$zone.$region.example.com" A
echo
echo "== kubefed-operator on rivendell: /readyz, leader Lease, metrics"
echo "readyz: $(curl -fsS http://127.0.0.1:18081/readyz 2>&1)"
"$kubectl" --kubeconfig "$host" -n federation-system get lease kubefed-operator \
  -o custom-columns=LEASE:.metadata.name,HOLDER:.spec.holderIdentity,RENEWED:.spec.renewTime
curl -fsS http://127.0.0.1:18080/metrics | grep -E '^(kubefed_leader|process_resident_memory_bytes|kubefed_api_requests_total)' | head -n 6
cat <<EOM

Look around:
  export KUBECONFIG=$host        # host; members: $gondor, $noldor
  $kubectl --kubeconfig $state/fellowship.kubeconfig get ns   # the federation API
  dig @127.0.0.1 -p $dns_port $fqdn A   # the federation's DNS (its etcd: $dns_etcd)
  $kubectl --kubeconfig $gondor scale deployment nginx --replicas=0   # gondor leaves that answer
  $kubectl get nodes,leases -A
  tail -f $state/operator.log     # the operator's structured log
  curl -s http://127.0.0.1:18080/metrics
Stop everything:
  ./tests/demo.sh down
EOM
