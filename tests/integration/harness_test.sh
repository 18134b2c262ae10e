#!/usr/bin/env bash
# kube.harness.cluster: end-to-end check of tests/harness/k8s.
#   build -> up NAME --nodes 2 -> Deployment Available -> /version -> node labels -> PVC Bound
#   -> free-port with no cluster -> etcd, etcd --tls, coredns --zone, coredns --member answering dig
#   -> down -> no process left, state dir gone.
# Run from the repo root; HARNESS may point at the harness script.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/tests/harness/k8s}"
RUN_ROOT="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}"
NAME="harness-$$"
DIR="$RUN_ROOT/$NAME"
PASSED=0
FAILED=0
DOWNED=0
EXTRA=""   # bare etcd/coredns servers to stop on the way out

say()  { printf '[harness_test] %s\n' "$*" >&2; }
pass() { PASSED=$((PASSED + 1)); printf 'PASS: %s\n' "$*"; }
fail() {
  FAILED=$((FAILED + 1)); printf 'FAIL: %s\n' "$*"
  if [ -d "$DIR/logs" ]; then
    local f
    for f in "$DIR"/logs/*.log; do
      [ -f "$f" ] || continue
      printf -- '---- last 20 lines of %s ----\n' "$f" >&2
      tail -n 20 "$f" >&2
    done
  fi
  finish
}
finish() {
  trap - EXIT INT TERM
  local x
  for x in $EXTRA; do "$HARNESS" down "$x" >&2 || true; done
  if [ "$DOWNED" = 0 ] && [ -d "$DIR" ]; then
    say "cleanup: down $NAME"
    "$HARNESS" down "$NAME" >&2 || true
  fi
  printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
  [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ] && exit 0
  exit 1
}
trap 'say "interrupted"; FAILED=$((FAILED + 1)); finish' INT TERM
trap 'rc=$?; if [ $rc -ne 0 ] && [ "$FAILED" = 0 ]; then FAILED=1; fi; finish' EXIT

[ -x "$HARNESS" ] || { FAILED=1; printf 'FAIL: harness %s not executable\n' "$HARNESS"; finish; }
# shellcheck source=tests/harness/versions
. "$(dirname "$HARNESS")/versions"

# 1. build (warm cache: ~1 s; cold: builds everything).
t0=$SECONDS
if "$HARNESS" build; then pass "build ($((SECONDS - t0)) s)"; else fail "harness build"; fi
for tool in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm coredns; do
  p="$("$HARNESS" bin "$tool")" && [ -x "$p" ] || fail "bin $tool"
done
pass "bin prints an executable for every tool"
KUBECTL="$("$HARNESS" bin kubectl)"
if "$HARNESS" bin no-such-tool >/dev/null 2>&1; then fail "bin of an unknown tool must fail"; fi

# 2. up with 2 fake nodes.
t0=$SECONDS
KC="$("$HARNESS" up "$NAME" --nodes 2)" || fail "up $NAME --nodes 2"
[ "$(printf '%s\n' "$KC" | wc -l)" -eq 1 ] && [ -f "$KC" ] && [ "${KC#/}" != "$KC" ] ||
  fail "up must print exactly one line, the absolute kubeconfig path (got: '$KC')"
pass "up $NAME --nodes 2 ($((SECONDS - t0)) s): $KC"
k() { "$KUBECTL" --kubeconfig "$KC" --request-timeout=30s "$@"; }

# kubeconfig names: context, cluster and user are all NAME.
[ "$(k config current-context)" = "$NAME" ] || fail "current-context is not $NAME"
[ "$(k config view --minify -o jsonpath='{.contexts[0].context.cluster}/{.contexts[0].context.user}')" = "$NAME/$NAME" ] ||
  fail "context cluster/user are not $NAME/$NAME"
grep -q 'certificate-authority-data:' "$KC" && grep -q 'client-key-data:' "$KC" ||
  fail "kubeconfig is not self-contained"
server="$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
case "$server" in https://127.0.0.1:*) ;; *) fail "server $server is not https on 127.0.0.1" ;; esac
pass "kubeconfig: context/cluster/user $NAME, embedded credentials, $server"

# idempotent up.
KC2="$("$HARNESS" up "$NAME")" || fail "second up $NAME"
[ "$KC2" = "$KC" ] || fail "second up printed '$KC2', expected '$KC'"
pass "up of a running cluster is idempotent"

# 3. /version reports the pinned version.
gv="$(k get --raw /version | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p')"
[ "$gv" = "$KUBERNETES_VERSION" ] || fail "/version gitVersion '$gv' != pinned $KUBERNETES_VERSION"
pass "/version gitVersion = $gv"

# 4. nodes: 2 Ready with zone/region labels.
labels="$(k get nodes -o jsonpath='{range .items[*]}{.metadata.labels.topology\.kubernetes\.io/zone},{.metadata.labels.topology\.kubernetes\.io/region}{"\n"}{end}' | sort)"
expect="$(printf '%s\n' "$NAME-zone-a,$NAME-region" "$NAME-zone-b,$NAME-region" | sort)"
[ "$labels" = "$expect" ] || fail "node zone/region labels: got '$labels', expected '$expect'"
k wait --for=condition=Ready nodes --all --timeout=60s >/dev/null || fail "nodes not Ready"
pass "2 nodes Ready with zone/region labels"

# 5. a Deployment becomes Available.
k apply -f - >/dev/null <<'EOF' || fail "apply Deployment"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.invalid/web:1
        resources: {requests: {cpu: 100m, memory: 64Mi}}
EOF
t0=$SECONDS
k -n default wait --for=condition=Available deployment/web --timeout=120s >/dev/null ||
  { k -n default get deploy,rs,pods -o wide >&2; fail "Deployment web not Available within 120 s"; }
ready="$(k -n default get deployment web -o jsonpath='{.status.readyReplicas}')"
[ "$ready" = 2 ] || fail "Deployment web readyReplicas=$ready, expected 2"
pass "Deployment Available with 2 ready replicas ($((SECONDS - t0)) s)"

# 6. a PVC binds (default StorageClass standard, pre-made PVs).
[ "$(k get storageclass standard -o jsonpath='{.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}')" = true ] ||
  fail "default StorageClass standard missing"
k apply -f - >/dev/null <<'EOF' || fail "apply PVC"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 5Gi}}
EOF
deadline=$((SECONDS + 60)); phase=""
while [ $SECONDS -lt $deadline ]; do
  phase="$(k -n default get pvc data -o jsonpath='{.status.phase}')"
  [ "$phase" = Bound ] && break
  sleep 1
done
[ "$phase" = Bound ] || { k -n default describe pvc data >&2; fail "PVC not Bound within 60 s (phase '$phase')"; }
pass "PVC bound to $(k -n default get pvc data -o jsonpath='{.spec.volumeName}')"

# 6b. free-port with no cluster at all: still one port (its reserved-port glob matched nothing).
empty="$(mktemp -d)"
fp="$(KUBEFED_TEST_RUN="$empty" "$HARNESS" free-port)" || fail "free-port with an empty run dir exited $?"
rm -rf "$empty"
[[ "$fp" =~ ^[0-9]+$ ]] && [ "$fp" -ge 20000 ] && [ "$fp" -le 31999 ] || fail "free-port with an empty run dir printed '$fp'"
pass "free-port with no cluster running prints a port ($fp)"

# 6c. etcd NAME: a bare etcd, its client URL the only line; idempotent.
command -v dig >/dev/null || fail "dig is not installed (tests/install-deps.sh installs dnsutils)"
ETCD_NAME="$NAME-etcd"; FDNS="$NAME-fdns"; MDNS="$NAME-mdns"
EXTRA="$MDNS $FDNS $ETCD_NAME"
t0=$SECONDS
etcd_url="$("$HARNESS" etcd "$ETCD_NAME")" || fail "etcd $ETCD_NAME"
[[ "$etcd_url" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "etcd must print exactly its client URL (got '$etcd_url')"
curl -fsS --max-time 5 "$etcd_url/health" | grep -q '"health":"true"' || fail "etcd $etcd_url/health"
[ "$("$HARNESS" etcd "$ETCD_NAME")" = "$etcd_url" ] || fail "a second etcd $ETCD_NAME must print the same URL"
pass "etcd $ETCD_NAME: $etcd_url ($((SECONDS - t0)) s), idempotent"
# A SkyDNS record as the coredns provider writes it (etcd v3 JSON API, base64 key and value).
put() {
  curl -fsS --max-time 5 -X POST "$etcd_url/v3/kv/put" \
    -d "{\"key\":\"$(printf %s "$1" | base64 -w0)\",\"value\":\"$(printf %s "$2" | base64 -w0)\"}" >/dev/null
}
put /skydns/com/example/svc/fed/ns/nginx/74445065 '{"host":"1.2.3.4","ttl":180}' || fail "etcd put"
put /skydns/com/example/svc/fed/ns/nginx/9e71dc05 '{"host":"5.6.7.8","ttl":180}' || fail "etcd put"

# 6c'. etcd NAME --tls: https with client certificates required, its CA and a client certificate
# in NAME/tls/; asked for without --tls while it runs: refused.
ETCDS_NAME="$NAME-etcds"
EXTRA="$EXTRA $ETCDS_NAME"
t0=$SECONDS
etcds_url="$("$HARNESS" etcd "$ETCDS_NAME" --tls)" || fail "etcd $ETCDS_NAME --tls"
[[ "$etcds_url" =~ ^https://127\.0\.0\.1:[0-9]+$ ]] || fail "etcd --tls must print exactly its https URL (got '$etcds_url')"
tls="$RUN_ROOT/$ETCDS_NAME/tls"
curl -fsS --max-time 5 --cacert "$tls/ca.crt" --cert "$tls/client.crt" --key "$tls/client.key" "$etcds_url/health" |
  grep -q '"health":"true"' || fail "etcd $etcds_url/health with $tls's CA and client certificate"
curl -fsS --max-time 5 -X POST --cacert "$tls/ca.crt" --cert "$tls/client.crt" --key "$tls/client.key" \
  "$etcds_url/v3/kv/range" -d '{"key":"AA=="}' | grep -q '"revision"' || fail "etcd $etcds_url: the v3 JSON API over TLS"
! curl -fsS --max-time 5 "$etcds_url/health" >/dev/null 2>&1 || fail "etcd $etcds_url: verified without its CA"
! curl -fsS --max-time 5 --cacert "$tls/ca.crt" "$etcds_url/v3/kv/range" -d '{"key":"AA=="}' >/dev/null 2>&1 ||
  fail "etcd $etcds_url: answered without a client certificate"
[ "$("$HARNESS" etcd "$ETCDS_NAME" --tls)" = "$etcds_url" ] || fail "a second etcd $ETCDS_NAME --tls must print the same URL"
! "$HARNESS" etcd "$ETCDS_NAME" >/dev/null 2>&1 || fail "etcd $ETCDS_NAME without --tls must be refused while it runs with it"
pass "etcd $ETCDS_NAME --tls: $etcds_url ($((SECONDS - t0)) s), verified, client certificate required, idempotent"

# 6d. coredns NAME --zone ZONE --etcd URL: serves the zone from etcd on loopback.
t0=$SECONDS
fdns="$("$HARNESS" coredns "$FDNS" --zone example.com. --etcd "$etcd_url")" || fail "coredns $FDNS --zone"
[[ "$fdns" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "coredns must print exactly 127.0.0.1:PORT (got '$fdns')"
fport="${fdns#*:}"
pass "coredns $FDNS --zone example.com.: $fdns ($((SECONDS - t0)) s)"
got="$(dig +short +time=2 +tries=3 @127.0.0.1 -p "$fport" nginx.ns.fed.svc.example.com A | sort | tr '\n' ' ')"
[ "$got" = "1.2.3.4 5.6.7.8 " ] || fail "dig nginx.ns.fed.svc.example.com A @$fdns: '$got', expected both etcd records"
got="$(dig +tcp +short +time=2 +tries=3 @127.0.0.1 -p "$fport" nginx.ns.fed.svc.example.com A | sort | tr '\n' ' ')"
[ "$got" = "1.2.3.4 5.6.7.8 " ] || fail "dig +tcp nginx.ns.fed.svc.example.com A @$fdns: '$got'"
dig +time=2 +tries=3 @127.0.0.1 -p "$fport" nothing.example.com A | grep -q 'status: NXDOMAIN' ||
  fail "a name with no key must be NXDOMAIN"
ss -Hlun "sport = :$fport" | grep -q '127.0.0.1:' && ! ss -Hlun "sport = :$fport" | grep -vq '127.0.0.1:' ||
  fail "coredns $FDNS listens beyond 127.0.0.1: $(ss -Hlun "sport = :$fport")"
pass "dig @$fdns: both A records over UDP and TCP, NXDOMAIN for a missing name, loopback only"
[ "$("$HARNESS" coredns "$FDNS" --zone example.com. --etcd "$etcd_url")" = "$fdns" ] ||
  fail "a second coredns $FDNS must print the same address"

# 6e. coredns NAME --member CLUSTER: the member's own Corefile, with a join's block forwarding
# the zone to the federation's DNS above.
k -n default create service clusterip web --tcp=80:80 >/dev/null || fail "create Service web"
webip="$(k -n default get service web -o jsonpath='{.spec.clusterIP}')"
{ cat "$ROOT/tests/data/Corefile"
  printf '# BEGIN kubefed.dev fed\nexample.com.:53 {\n    errors\n    cache 30\n    forward . %s\n}\n# END kubefed.dev fed\n' "$fdns"
} >"$DIR/member-Corefile"
k -n kube-system create configmap coredns --from-file=Corefile="$DIR/member-Corefile" >/dev/null ||
  fail "create ConfigMap kube-system/coredns"
t0=$SECONDS
mdns="$("$HARNESS" coredns "$MDNS" --member "$NAME")" || fail "coredns $MDNS --member $NAME"
[[ "$mdns" =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "coredns --member must print exactly 127.0.0.1:PORT (got '$mdns')"
mport="${mdns#*:}"
pass "coredns $MDNS --member $NAME: $mdns ($((SECONDS - t0)) s)"
mcf="$RUN_ROOT/$MDNS/Corefile"
sed -n '/^# BEGIN kubefed.dev fed$/,/^# END kubefed.dev fed$/p' "$mcf" | grep -v '^    bind 127.0.0.1$' |
  sed "s/^example.com.:$mport {/example.com.:53 {/" | cmp -s - <(sed -n '/^# BEGIN/,/^# END/p' "$DIR/member-Corefile") ||
  fail "the join's block is not kept verbatim (but for its port and bind) in $mcf"
! grep -qw loop "$mcf" || fail "loop is still in $mcf"
got="$(dig +short +time=2 +tries=3 @127.0.0.1 -p "$mport" web.default.svc.cluster.local A)"
[ "$got" = "$webip" ] || fail "dig web.default.svc.cluster.local @$mdns: '$got', expected $webip (kubernetes plugin)"
got="$(dig +short +time=2 +tries=3 @127.0.0.1 -p "$mport" nginx.ns.fed.svc.example.com A | sort | tr '\n' ' ')"
[ "$got" = "1.2.3.4 5.6.7.8 " ] || fail "dig nginx.ns.fed.svc.example.com @$mdns: '$got' (the join's forward block)"
dig +time=2 +tries=3 @127.0.0.1 -p "$mport" www.kubernetes.io A | grep -q 'status: NXDOMAIN' ||
  fail "an outside name must get the sink's NXDOMAIN"
pass "dig @$mdns: cluster Service $webip, the federated name through the forward block, outside names sunk"

# 6f. down stops them.
for x in $MDNS $FDNS $ETCD_NAME $ETCDS_NAME; do
  read -r pid _ <"$RUN_ROOT/$x/pids/$(cat "$RUN_ROOT/$x/kind").pid"
  "$HARNESS" down "$x" || fail "down $x"
  for _ in $(seq 1 50); do [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || break; sleep 0.1; done
  [ ! -d "/proc/$pid" ] || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] || fail "$x (pid $pid) still runs after down"
  [ ! -e "$RUN_ROOT/$x" ] || fail "$RUN_ROOT/$x still exists after down"
done
EXTRA=""
pass "down stops the bare etcds and both CoreDNS servers"

# 7. down: processes gone, state dir removed.
pids=""
for f in "$DIR"/pids/*.pid; do read -r pid _ <"$f"; pids="$pids $pid"; done
[ "$(echo $pids | wc -w)" -eq 5 ] || fail "expected 5 recorded pids, got '$pids'"
"$HARNESS" down "$NAME" || fail "down $NAME"
DOWNED=1
left=""
for pid in $pids; do
  # A killed daemon may linger for a moment as a zombie until init reaps it; that is gone.
  for _ in $(seq 1 50); do
    [ -d "/proc/$pid" ] || break
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
    sleep 0.1
  done
  if [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    left="$left $pid"
  fi
done
[ -z "$left" ] || fail "processes still running after down:$left"
[ ! -e "$DIR" ] || fail "state dir $DIR still exists after down"
pass "down $NAME: pids$pids gone, $DIR removed"
"$HARNESS" down "$NAME" || fail "down of an unknown cluster must exit 0"
pass "down of an unknown cluster exits 0"
