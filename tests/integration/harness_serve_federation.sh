#!/usr/bin/env bash
# kube.harness.serve-federation: end-to-end check of `tests/harness/k8s serve-federation`.
#   up serve-it-PID --nodes 1 -> openssl CA, serving cert, admin cert, SA keys -> Secret, NodePort
#   Service, PVC and the federation apiserver Deployment (the operator's shape) -> serve-federation
#   prints https://127.0.0.1:<nodePort> -> /readyz 200 with verified TLS and a client cert ->
#   kubectl get ns -> idempotent -> Secret change rewrites the file -> a new arg (--v=2) recreates
#   kube-apiserver with it, etcd data kept -> crash restart -> Deployment deleted: processes stop
#   -> re-created: served again with the PVC's data -> the controller manager: Deployment
#   FEDERATION-controller-manager (the operator's shape) with the binary missing: cm-error, the
#   apiserver keeps serving; the binary appears: kubefed-controller-manager runs with --master the
#   served URL, health/metrics moved to free loopback ports, its kubeconfig Secret as a file, and
#   answers /healthz; a template change restarts it, replicas 0 stops it, 1 starts it again ->
#   unsupported container and a missing Deployment fail loudly -> down: no process left (the
#   controller manager's neither), state dir gone.
# Run from anywhere; HARNESS may point at the harness script.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/tests/harness/k8s}"
RUN_ROOT="${KUBEFED_TEST_RUN:-/tmp/kubefed-operator-clusters}"
NAME="serve-it-$$"
NS="sf-$$"                 # its own namespace: fed-$NS-fellowship is this test's state dir
FED=fellowship
DEP="$FED-apiserver"
FEDNAME="fed-$NS-$FED"
FEDDIR="$RUN_ROOT/$FEDNAME"
TMP="$(mktemp -d)"
PASSED=0
FAILED=0
T_START=$SECONDS

say()  { printf '[serve_federation_test] %s\n' "$*" >&2; }
pass() { PASSED=$((PASSED + 1)); printf 'PASS: %s\n' "$*"; }
fail() {
  FAILED=$((FAILED + 1)); printf 'FAIL: %s\n' "$*"
  local f
  for f in "$FEDDIR"/logs/*.log; do
    [ -f "$f" ] || continue
    printf -- '---- last 25 lines of %s ----\n' "$f" >&2
    tail -n 25 "$f" >&2
  done
  finish
}
finish() {
  trap - EXIT INT TERM
  say "cleanup: down $FEDNAME, fed-$NS-bad, $NAME"
  "$HARNESS" down "$FEDNAME" >&2 || true
  "$HARNESS" down "fed-$NS-bad" >&2 || true
  "$HARNESS" down "$NAME" >&2 || true
  rm -rf "$TMP"
  printf '%d passed, %d failed (%d s)\n' "$PASSED" "$FAILED" "$((SECONDS - T_START))"
  [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ] && exit 0
  exit 1
}
trap 'say "interrupted"; FAILED=$((FAILED + 1)); finish' INT TERM
# shellcheck disable=SC2154  # rc is assigned inside the trap
trap 'rc=$?; if [ $rc -ne 0 ] && [ "$FAILED" = 0 ]; then FAILED=1; fi; finish' EXIT

KUBECTL="$("$HARNESS" bin kubectl)" || fail "harness has no kubectl (run: $HARNESS build)"
t0=$SECONDS
KC="$("$HARNESS" up "$NAME" --nodes 1)" || fail "up $NAME --nodes 1"
pass "host cluster $NAME up ($((SECONDS - t0)) s)"
k() { "$KUBECTL" --kubeconfig "$KC" --cache-dir "$TMP/kcache" --request-timeout=20s "$@"; }

# ---- PKI: a CA, the serving cert, an admin client cert, the SA key pair --------------------
P="$TMP/pki"
mkdir -p "$P"
(
  cd "$P" || exit 1
  ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
  ec ca.key &&
    openssl req -x509 -new -key ca.key -out ca.crt -days 30 -subj "/CN=$FED-ca" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null || exit 1
  # sign NAME SUBJ EXT
  sign() {
    ec "$1.key" && openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null &&
      printf '%s\n' "$3" >"$1.ext" &&
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
        -out "$1.crt" -extfile "$1.ext" 2>/dev/null
  }
  sign server "/CN=$DEP" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:$DEP,DNS:$DEP.$NS,DNS:$DEP.$NS.svc,DNS:$DEP.$NS.svc.cluster.local" || exit 1
  sign admin "/O=system:masters/CN=admin" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth" || exit 1
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null &&
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
) || fail "openssl PKI"
pass "PKI generated (CA, serving cert for 127.0.0.1, admin client cert, SA keys)"

# ---- the host objects: Secret, Service (NodePort), PVC, Deployment --------------------------
k create namespace "$NS" >/dev/null || fail "create namespace $NS"
k -n "$NS" create secret generic "$DEP-credentials" --from-file="$P/ca.crt" --from-file="$P/server.crt" \
  --from-file="$P/server.key" --from-file="$P/sa.key" --from-file="$P/sa.pub" >/dev/null || fail "create Secret"
deployment() {
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $DEP, namespace: $NS}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app.kubernetes.io/name: federation-apiserver, kubefed.dev/federation: $FED}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: federation-apiserver, kubefed.dev/federation: $FED, app: federated-cluster, module: federation-apiserver}
      annotations: {kubefed.dev/config-hash: "abc"}
    spec:
      containers:
      - name: apiserver
        image: registry.k8s.io/kube-apiserver:v1.37.2
        command: [kube-apiserver]
        args: ["--authorization-mode=RBAC", "--bind-address=0.0.0.0", "--client-ca-file=/etc/federation/apiserver/ca.crt",
               "--enable-admission-plugins=NamespaceLifecycle", "--etcd-servers=http://127.0.0.1:2379", "--secure-port=8443",
               "--service-account-issuer=https://$DEP.$NS.svc",
               "--service-account-key-file=/etc/federation/apiserver/sa.pub",
               "--service-account-signing-key-file=/etc/federation/apiserver/sa.key",
               "--service-cluster-ip-range=10.0.0.0/24",
               "--tls-cert-file=/etc/federation/apiserver/server.crt", "--tls-private-key-file=/etc/federation/apiserver/server.key"]
        ports: [{name: https, containerPort: 8443}]
        volumeMounts: [{name: apiserver-credentials, mountPath: /etc/federation/apiserver, readOnly: true}]
      - name: etcd
        image: registry.k8s.io/etcd:3.7.0-0
        command: [etcd]
        args: ["--name=$FED", "--data-dir=/var/etcd/data", "--listen-client-urls=http://127.0.0.1:2379",
               "--advertise-client-urls=http://127.0.0.1:2379", "--listen-peer-urls=http://127.0.0.1:2380",
               "--initial-advertise-peer-urls=http://127.0.0.1:2380", "--initial-cluster=$FED=http://127.0.0.1:2380"]
        volumeMounts: [{name: etcddata, mountPath: /var/etcd}]
      volumes:
      - {name: apiserver-credentials, secret: {secretName: $DEP-credentials, defaultMode: 0400}}
      - {name: etcddata, persistentVolumeClaim: {claimName: $DEP-etcd-claim}}
EOF
}
k apply -f - >/dev/null <<EOF || fail "create Service and PVC"
apiVersion: v1
kind: Service
metadata: {name: $DEP, namespace: $NS}
spec:
  type: NodePort
  selector: {app.kubernetes.io/name: federation-apiserver, kubefed.dev/federation: $FED}
  ports: [{name: https, port: 443, targetPort: https}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $DEP-etcd-claim, namespace: $NS}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
EOF
deployment | k apply -f - >/dev/null || fail "create Deployment"
NODEPORT="$(k -n "$NS" get service "$DEP" -o jsonpath='{.spec.ports[0].nodePort}')"
[[ "$NODEPORT" =~ ^[0-9]+$ ]] || fail "Service $DEP has no nodePort ('$NODEPORT')"
pass "Secret, NodePort Service (nodePort $NODEPORT), PVC and Deployment $NS/$DEP created"

# ---- serve ------------------------------------------------------------------------------------
serve() { "$HARNESS" serve-federation "$KC" "$NS" "$FED"; }
t0=$SECONDS
OUT="$(serve)" || fail "serve-federation $NS $FED"
SERVE_S=$((SECONDS - t0))
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] && [ "$OUT" = "https://127.0.0.1:$NODEPORT" ] ||
  fail "serve-federation must print exactly https://127.0.0.1:$NODEPORT (got: '$OUT')"
pass "serve-federation printed $OUT ($SERVE_S s)"
URL="$OUT"
[ "$(cat "$FEDDIR/server")" = "$URL" ] && [ "$(cat "$FEDDIR/port")" = "$NODEPORT" ] ||
  fail "state files server/port do not match $URL"
for c in supervisor etcd kube-apiserver; do
  [ -f "$FEDDIR/pids/$c.pid" ] || fail "no pids/$c.pid"
done
[ "$(stat -c %a "$FEDDIR/volumes/apiserver-credentials/server.key")" = 600 ] ||
  fail "secret file mode is not 0600"
cmp -s "$FEDDIR/volumes/apiserver-credentials/ca.crt" "$P/ca.crt" || fail "volume ca.crt differs from the Secret's"
[ -d "$FEDDIR/volumes/etcddata/data/member" ] || fail "etcd data is not in volumes/etcddata/data"
pass "state dir: server, port, pids/{supervisor,etcd,kube-apiserver}.pid, volumes (0600 secret files, etcd data)"

# /readyz with verified TLS and the admin client cert.
acurl() { curl -sS --max-time 10 --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "$@"; }
code="$(acurl -o "$TMP/readyz" -w '%{http_code}' "$URL/readyz")" || fail "curl $URL/readyz"
[ "$code" = 200 ] && [ "$(cat "$TMP/readyz")" = ok ] || fail "/readyz: HTTP $code $(cat "$TMP/readyz")"
pass "/readyz 200 over TLS verified with the CA, as admin (client cert)"

cat >"$TMP/fed.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $FED
  cluster: {server: "$URL", certificate-authority-data: $(base64 -w0 <"$P/ca.crt")}
users:
- name: admin
  user: {client-certificate-data: $(base64 -w0 <"$P/admin.crt"), client-key-data: $(base64 -w0 <"$P/admin.key")}
contexts:
- name: $FED
  context: {cluster: $FED, user: admin}
current-context: $FED
EOF
f() { "$KUBECTL" --kubeconfig "$TMP/fed.kubeconfig" --cache-dir "$TMP/fcache" --request-timeout=20s "$@"; }
f get ns default >/dev/null || fail "kubectl get ns against the federation apiserver"
f create namespace persist-me >/dev/null || fail "create namespace persist-me in the federation"
pass "kubectl get ns against $URL works; namespace persist-me created"

# Idempotent.
t0=$SECONDS
OUT2="$(serve)" || fail "second serve-federation"
[ "$OUT2" = "$URL" ] || fail "second serve-federation printed '$OUT2', expected '$URL'"
pass "serve-federation is idempotent ($((SECONDS - t0)) s)"

# ---- the supervisor ---------------------------------------------------------------------------
# wait_until DESC TIMEOUT CMD...
wait_until() {
  local desc="$1" timeout="$2" deadline; shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt "$deadline" ] || fail "timed out after $timeout s waiting for $desc"
    sleep 0.5
  done
}
ready() { [ "$(acurl -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ]; }
pid_of() { local pid _; read -r pid _ <"$FEDDIR/pids/$1.pid"; echo "$pid"; }
cmdline_has() { tr '\0' '\n' <"/proc/$(pid_of "$1")/cmdline" | grep -qx -- "$2"; }

# A Secret change: the file is rewritten.
k -n "$NS" patch secret "$DEP-credentials" -p '{"stringData":{"token.csv":"t0ken,admin,1,system:masters"}}' >/dev/null ||
  fail "patch Secret"
file_has_token() { grep -q t0ken "$FEDDIR/volumes/apiserver-credentials/token.csv"; }
t0=$SECONDS
wait_until "token.csv in the secret volume" 20 file_has_token
pass "Secret change: token.csv written to the volume ($((SECONDS - t0)) s)"

# A template change: kube-apiserver recreated with the new arg, etcd data kept.
old_api="$(pid_of kube-apiserver)" old_etcd="$(pid_of etcd)"
k -n "$NS" patch deployment "$DEP" --type=json \
  -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--v=2"}]' >/dev/null ||
  fail "patch Deployment args"
t0=$SECONDS
new_api() { [ "$(pid_of kube-apiserver)" != "$old_api" ] && cmdline_has kube-apiserver --v=2; }
wait_until "kube-apiserver restarted with --v=2" 60 new_api
grep -q -- '--v=2' "$FEDDIR/logs/kube-apiserver.cmdline" || fail "logs/kube-apiserver.cmdline lacks --v=2"
[ "$(pid_of etcd)" != "$old_etcd" ] || fail "etcd was not recreated with the pod"
wait_until "/readyz after the rollout" 90 ready
f get ns persist-me >/dev/null || fail "namespace persist-me lost across the restart (etcd data not kept)"
grep -q 'spec.template changed' "$FEDDIR/logs/supervisor.log" || fail "supervisor.log does not mention the rollout"
pass "template change (--v=2): kube-apiserver pid $old_api -> $(pid_of kube-apiserver) with --v=2, serving again, etcd data kept ($((SECONDS - t0)) s)"

# A crash: the supervisor restarts the process.
old_api="$(pid_of kube-apiserver)"
kill -KILL "$old_api"
t0=$SECONDS
restarted() { [ "$(pid_of kube-apiserver)" != "$old_api" ] && ready; }
wait_until "kube-apiserver restarted after SIGKILL" 90 restarted
pass "crashed kube-apiserver restarted by the supervisor ($((SECONDS - t0)) s)"

# The Deployment deleted: the processes stop, the state dir stays.
pids=""
for c in supervisor etcd kube-apiserver; do pids="$pids $(pid_of "$c")"; done
gone() {
  local pid
  for pid in "$@"; do
    [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] && return 1
  done
  return 0
}
k -n "$NS" delete deployment "$DEP" --wait=false >/dev/null || fail "delete Deployment"
t0=$SECONDS
# shellcheck disable=SC2086
wait_until "the pod's processes to stop after the Deployment was deleted" 40 gone $pids
[ -d "$FEDDIR/volumes/etcddata/data" ] || fail "state dir gone after the Deployment was deleted"
pass "Deployment deleted: supervisor, etcd and kube-apiserver stopped ($((SECONDS - t0)) s), state dir kept"

# Re-created: served again, with the PVC's etcd data. (Served with KUBEFED_CONTROLLER_MANAGER at a
# path where no binary is yet: the controller manager section below.)
CM_BIN="${KUBEFED_CONTROLLER_MANAGER:-$ROOT/build/kubefed-controller-manager}"
[ -x "$CM_BIN" ] || fail "no kubefed-controller-manager binary at $CM_BIN (ctest sets KUBEFED_CONTROLLER_MANAGER)"
deployment | k apply -f - >/dev/null || fail "re-create Deployment"
t0=$SECONDS
OUT3="$(KUBEFED_CONTROLLER_MANAGER="$TMP/kcm/kubefed-controller-manager" "$HARNESS" serve-federation "$KC" "$NS" "$FED")" ||
  fail "serve-federation after re-creating the Deployment"
[ "$OUT3" = "$URL" ] || fail "serve-federation printed '$OUT3', expected '$URL'"
f get ns persist-me >/dev/null || fail "namespace persist-me lost (PVC data not kept)"
grep -q -- '--v=2' "$FEDDIR/logs/kube-apiserver.cmdline" && fail "re-created Deployment still runs with --v=2"
pass "Deployment re-created: served again on $URL, PVC data kept ($((SECONDS - t0)) s)"

# ---- the controller manager ---------------------------------------------------------------------
# What the operator's bootstrap makes in the federation API, then the controller manager's
# kubeconfig Secret (server https://FED-apiserver, which does not resolve here: --master is
# rewritten) and its Deployment, in the operator's shape.
CM="kubefed-controller-manager" CMDEP="$FED-controller-manager"
f create namespace federation-system >/dev/null || fail "create namespace federation-system in the federation"
f apply -f "$ROOT/crds/federation.kubefed.dev_clusters.yaml" >/dev/null || fail "Cluster CRD in the federation"
cat >"$TMP/cm.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $FED
  cluster: {server: "https://$DEP", certificate-authority-data: $(base64 -w0 <"$P/ca.crt")}
users:
- name: federation-controller-manager
  user: {client-certificate-data: $(base64 -w0 <"$P/admin.crt"), client-key-data: $(base64 -w0 <"$P/admin.key")}
contexts:
- name: federation-controller-manager@$FED
  context: {cluster: $FED, user: federation-controller-manager}
current-context: federation-controller-manager@$FED
EOF
k -n "$NS" create secret generic "$CMDEP-kubeconfig" --from-file=kubeconfig="$TMP/cm.kubeconfig" >/dev/null ||
  fail "create Secret $CMDEP-kubeconfig"
cm_deployment() {  # cm_deployment REPLICAS [EXTRA-ARG]
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $CMDEP, namespace: $NS}
spec:
  replicas: $1
  selector: {matchLabels: {app.kubernetes.io/name: federation-controller-manager, kubefed.dev/federation: $FED}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: federation-controller-manager, kubefed.dev/federation: $FED}
    spec:
      automountServiceAccountToken: false
      containers:
      - name: controller-manager
        image: kubefed-operator:0.1.0
        command: [/usr/local/bin/kubefed-controller-manager]
        args: ["--dns-provider=google-clouddns", "--federation-name=$FED", "--federation-uid=uid-$$",
               "--health-bind-address=:8081", "--kubeconfig=/etc/federation/controller-manager/kubeconfig",
               "--master=https://$DEP", "--metrics-bind-address=:8080", "--zone-name=example.com."${2:+, \"$2\"}]
        ports: [{name: health, containerPort: 8081}, {name: metrics, containerPort: 8080}]
        volumeMounts: [{name: kubeconfig, mountPath: /etc/federation/controller-manager, readOnly: true}]
      volumes:
      - {name: kubeconfig, secret: {secretName: $CMDEP-kubeconfig, defaultMode: 0400}}
EOF
}
cm_deployment 1 | k apply -f - >/dev/null || fail "create Deployment $CMDEP"
t0=$SECONDS
cm_error_missing() { grep -q "no executable $CM at $TMP/kcm/$CM" "$FEDDIR/cm-error"; }
wait_until "cm-error: the binary is missing" 30 cm_error_missing
grep -q "ERROR: cannot run Deployment $NS/$CMDEP" "$FEDDIR/logs/supervisor.log" || fail "supervisor.log does not say it"
grep -q "ERROR cannot run Deployment $NS/$CMDEP" "$FEDDIR/logs/$CM.log" || fail "logs/$CM.log does not say it"
ready || fail "kube-apiserver stopped serving when the controller manager could not run"
if [ -f "$FEDDIR/pids/$CM.pid" ]; then fail "a $CM process was recorded without a binary"; fi
pass "controller manager without a binary: cm-error ($(cut -c1-90 "$FEDDIR/cm-error")...), logged, apiserver still serving ($((SECONDS - t0)) s)"

# The binary appears: started within a tick or two, answers /healthz on its moved port.
mkdir -p "$TMP/kcm" && ln -s "$CM_BIN" "$TMP/kcm/$CM" || fail "link $CM_BIN"
cm_healthz() { [ -f "$FEDDIR/cm-health" ] && [ "$(curl -s --max-time 3 "$(cat "$FEDDIR/cm-health")/healthz")" = ok ]; }
t0=$SECONDS
wait_until "$CM answering /healthz" 60 cm_healthz
[ ! -e "$FEDDIR/cm-error" ] || fail "cm-error still there once $CM runs"
CMH="$(sed -n 's/^CM_HEALTH_PORT=//p' "$FEDDIR/ports")" CMM="$(sed -n 's/^CM_METRICS_PORT=//p' "$FEDDIR/ports")"
[ "$(cat "$FEDDIR/cm-health")" = "http://127.0.0.1:$CMH" ] || fail "cm-health is not the CM_HEALTH_PORT of ports ($CMH)"
cmdline_has "$CM" "--master=$URL" || fail "$CM runs without --master=$URL: $(cat "$FEDDIR/logs/$CM.cmdline")"
cmdline_has "$CM" "--health-bind-address=127.0.0.1:$CMH" || fail "$CM health port not moved"
cmdline_has "$CM" "--metrics-bind-address=127.0.0.1:$CMM" || fail "$CM metrics port not moved"
cmdline_has "$CM" "--kubeconfig=$FEDDIR/cm-volumes/kubeconfig/kubeconfig" || fail "$CM kubeconfig not the volume file"
cmp -s "$FEDDIR/cm-volumes/kubeconfig/kubeconfig" "$TMP/cm.kubeconfig" || fail "the kubeconfig file differs from the Secret"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$CMM/metrics")" = 200 ] ||
  fail "$CM /metrics on 127.0.0.1:$CMM"
grep -qw "$CM" "$FEDDIR/components" || fail "components lacks $CM"
"$HARNESS" status "$FEDNAME" | grep -q "$CM:up" || fail "k8s status does not show $CM:up"
pass "$CM started once the binary appeared ($((SECONDS - t0)) s): --master=$URL, /healthz on 127.0.0.1:$CMH, /metrics on 127.0.0.1:$CMM, kubeconfig from the Secret"

# A template change restarts it with the new args.
old_cm="$(pid_of "$CM")"
cm_deployment 1 --concurrent-replicaset-syncs=5 | k apply -f - >/dev/null || fail "change Deployment $CMDEP"
t0=$SECONDS
new_cm() { [ "$(pid_of "$CM")" != "$old_cm" ] && cmdline_has "$CM" --concurrent-replicaset-syncs=5 && cm_healthz; }
wait_until "$CM restarted with --concurrent-replicaset-syncs=5" 60 new_cm
pass "template change: $CM pid $old_cm -> $(pid_of "$CM") with the new arg ($((SECONDS - t0)) s)"

# Replicas 0 stops it (the apiserver keeps serving), 1 starts it again.
old_cm="$(pid_of "$CM")"
k -n "$NS" scale deployment "$CMDEP" --replicas=0 >/dev/null || fail "scale $CMDEP to 0"
t0=$SECONDS
wait_until "$CM stopped at replicas 0" 30 gone "$old_cm"
[ ! -e "$FEDDIR/cm-health" ] || fail "cm-health left after $CM stopped"
ready || fail "kube-apiserver stopped with the controller manager"
k -n "$NS" scale deployment "$CMDEP" --replicas=1 >/dev/null || fail "scale $CMDEP to 1"
wait_until "$CM running again at replicas 1" 60 cm_healthz
pass "replicas 0 stops $CM, 1 starts it again ($((SECONDS - t0)) s)"

# ---- loud failures ----------------------------------------------------------------------------
k -n "$NS" apply -f - >/dev/null <<EOF || fail "create the bad Deployment"
apiVersion: v1
kind: Service
metadata: {name: bad-apiserver, namespace: $NS}
spec: {ports: [{port: 443}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad-apiserver, namespace: $NS}
spec:
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers:
      - {name: apiserver, image: registry.k8s.io/kube-apiserver:v1.37.2, command: [kube-apiserver]}
      - {name: sidecar, image: busybox:1, command: [sh, -c, "sleep 1d"]}
EOF
if out="$("$HARNESS" serve-federation "$KC" "$NS" bad 2>&1 >/dev/null)"; then fail "a busybox sidecar was accepted"; fi
grep -q 'cannot run container sidecar' <<<"$out" || fail "unsupported container: message does not name it: $out"
[ ! -e "$RUN_ROOT/fed-$NS-bad" ] || fail "a failed serve-federation left $RUN_ROOT/fed-$NS-bad"
pass "unsupported container refused: $(grep -o 'serve-federation cannot run container sidecar[^:]*' <<<"$out")"
if out="$(KUBEFED_SERVE_FEDERATION_WAIT=2 "$HARNESS" serve-federation "$KC" "$NS" nothere 2>&1 >/dev/null)"; then
  fail "a missing Deployment was accepted"
fi
grep -q "Deployment and Service $NS/nothere-apiserver not found" <<<"$out" || fail "missing Deployment: $out"
pass "missing Deployment: fails loudly after the wait"

# ---- down -------------------------------------------------------------------------------------
pids=""
for c in supervisor etcd kube-apiserver kubefed-controller-manager; do pids="$pids $(pid_of "$c")"; done
"$HARNESS" down "$FEDNAME" || fail "down $FEDNAME"
# shellcheck disable=SC2086
wait_until "processes gone after down" 5 gone $pids
[ ! -e "$FEDDIR" ] || fail "state dir $FEDDIR still exists after down"
# shellcheck disable=SC2086
if pgrep -f -- "$FEDDIR" >/dev/null; then fail "a process still refers to $FEDDIR"; fi
pass "down $FEDNAME: pids$pids gone, $FEDDIR removed"
