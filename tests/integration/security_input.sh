#!/usr/bin/env bash
# security.input: hostile and bad input against a running operator and real apiservers.
#  * names at their limits: a Federation named with the 50 characters its CRD allows (its longest
#    child, the F-apiserver Service, is then 60 <= 63) served for real, a FederatedCluster of 63
#    characters with a 253-character secretName joined to it (member objects kubefed-F-C...);
#    one character more is refused by the CRD with a message saying why;
#  * unknown fields: refused with the field named (strict), pruned otherwise;
#  * member-credential Secrets that are hostile: ~1 MiB kubeconfigs (one valid: it works; one with
#    a 1 MiB context name), YAML nested 10,000 deep, invalid UTF-8, a random binary blob, a YAML
#    alias bomb, insecure-skip-tls-verify, a tokenFile pointing at the operator's own token, a
#    plain-http server: each gets CredentialsValid=False with a short message saying what is
#    wrong (never the input echoed back) and a Warning event;
#  * a Federation whose affinity (a field that preserves unknown fields) is nested 500 levels (json-c's default limit, which the operator had, is 32):
#    it gets Degraded/ApplyFailed while the others stay Ready, also across an operator restart;
#  * huge and odd annotation values on both CRs (a 200 KiB rotate-certificates value, newlines
#    and a forged log line in it, a 250 KiB unrelated annotation);
# all while a good member (gondor) stays Ready and keeps being probed, the operator stays alive,
# and its resident memory stays bounded (VmRSS before/after, repeated parses do not grow it).
TEST=security.input RESOURCE=federatedcluster CLUSTER=secin NODES=1 NS="secin-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MEMBER="secinm-$$"
F50=f$(printf 'e%.0s' $(seq 1 48))x   # 50 characters, the longest Federation name
on_finish() {
  "$HARNESS" down "fed-$NS-$F50" >&2 2>/dev/null || true
  "$HARNESS" down "$MEMBER" >&2 2>/dev/null || true
  stop_operator
  say "runtime $((SECONDS - T0))s"
}
cond_msg() { J "$1" "$2" | jq -r --arg t "$3" '.status.conditions[]? | select(.type==$t) | .message'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$OPPID/status"; }
command -v python3 >/dev/null || { fail "python3 is missing"; exit 1; }

MKC=$("$HARNESS" up "$MEMBER" --nodes 1) || { fail "up $MEMBER"; exit 1; }
MK() { "$KUBECTL" --kubeconfig "$MKC" --cache-dir "$TMP/kcache-m" --request-timeout=20s "$@"; }
install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
# ASan keeps freed memory in a quarantine (256 MiB by default), which would hide what the operator
# itself holds: a small one makes VmRSS mean something.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8" start_operator --log-level debug

# ---- names at their limits ------------------------------------------------------------------------
check "the 50-character name is 50 characters" test "${#F50}" -eq 50
fedm() {  # fedm NAME: a NodePort Federation manifest
  cat <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: Federation
metadata: {name: $1, namespace: $NS}
spec:
  dns: {provider: coredns, zoneName: example.com., corednsNameservers: ["127.0.0.1:15353"]}
  apiServer: {service: {type: NodePort, nodePort: ${2:-0}}, advertiseAddress: 127.0.0.1}
EOF
}
fedm "${F50}y" | refused "a 51-character Federation name" "at most 50 characters" "prefixes the Service"
fedm "$F50" "$(free_port 30000 32767)" | K apply -f - >/dev/null
wait_until "$F50 (50 chars): apiserver Deployment" 60 exists deployment "$F50-apiserver"
check "Service $F50-apiserver (60 chars) exists" exists service "$F50-apiserver"
"$HARNESS" serve-federation "$KC" "$NS" "$F50" >/dev/null || fail "serve-federation $F50"
wait_until "$F50: Federation Ready" 120 cond_is federation "$F50" Ready "True Ready"

C63=c$(printf 'o%.0s' $(seq 1 61))n   # 63 characters
L63=$(printf 's%.0s' $(seq 1 63))
SECRET253="$L63.$L63.$L63.$(printf 't%.0s' $(seq 1 61))"   # 253 characters
check "the names are 63 and 253 characters" test "${#C63}/${#SECRET253}" = "63/253"
K create secret generic -n "$NS" member-admin --from-file=kubeconfig="$MKC" >/dev/null
fcm() {  # fcm NAME SECRET [extra spec yaml]: a FederatedCluster manifest
  cat <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: $1, namespace: $NS}
spec:
  federationRef: {name: $F50}
  kubeconfigSecretRef: {name: $2}
  health: {periodSeconds: 2, timeoutSeconds: 1}
${3:-}
EOF
}
fcm "${C63}x" member-admin | refused "a 64-character FederatedCluster name" "at most 63 characters"
fcm "$C63" member-admin "  secretName: ${SECRET253}x" | refused "a 254-character secretName" "secretName"
fcm gondor member-admin | K apply -f - >/dev/null
fcm "$C63" member-admin "  secretName: $SECRET253" | K apply -f - >/dev/null
wait_until "gondor Ready" 90 cond_is federatedcluster gondor Ready "True Healthy"
wait_until "the 63-character FederatedCluster Ready" 90 cond_is federatedcluster "$C63" Ready "True Healthy"
check "its credentials are in the 253-character Secret" exists secret "$SECRET253"
SA="kubefed-$F50-$C63"
check "member ServiceAccount $SA (${#SA} chars) exists" MK get serviceaccount -n federation-system "$SA"
check "member token Secret $SA-token exists" MK get secret -n federation-system "$SA-token"
check "member ClusterRole kubefed.dev:$F50:$C63 exists" MK get clusterrole "kubefed.dev:$F50:$C63"

# ---- unknown fields -----------------------------------------------------------------------------------
refused_strict() {  # stdin refused by strict field validation, naming the field
  local out
  if out=$(K create --dry-run=server --validate=strict -f - 2>&1); then fail "strict: $1 accepted"
  elif grep -qF "$2" <<<"$out"; then pass "strict validation refuses $1 (names $2)"
  else fail "strict: $1: error does not name $2: $out"; fi
}
fcm unknown1 member-admin "  colour: red" | refused_strict "an unknown spec field" 'unknown field "spec.colour"'
fcm unknown2 member-admin "  health: {periodSeconds: 2, jitter: 5}" | refused_strict "an unknown nested field" 'unknown field "spec.health.jitter"'
fcm pruned member-admin "  colour: red" | K create --validate=false -f - >/dev/null 2>&1
check "without strict validation an unknown field is pruned, not stored" \
  bash -c "'$KUBECTL' --kubeconfig '$KC' get federatedcluster -n '$NS' pruned -o json | jq -e '.spec | has(\"colour\") | not'"
K delete -n "$NS" federatedcluster pruned --wait=false >/dev/null 2>&1

# TLS is verified everywhere: libcurl is only ever told to verify (operator/runtime/http.c), and a
# kubeconfig asking otherwise is refused (h-insecure below).
check "no source switches TLS verification off (CURLOPT_SSL_VERIFYPEER/HOST 0, CURLOPT_*INSECURE)" bash -c \
  "! grep -rnE 'CURLOPT_SSL_VERIFY(PEER|HOST|STATUS)[^;]*, *0L?\)|CURLOPT_[A-Z_]*INSECURE|SSL_VERIFY_NONE' '$ROOT/operator' '$ROOT/reconcilers'"
check "libcurl is told to verify the peer and the host name" bash -c \
  "grep -q 'CURLOPT_SSL_VERIFYPEER, 1L' '$ROOT/operator/runtime/http.c' && grep -q 'CURLOPT_SSL_VERIFYHOST, 2L' '$ROOT/operator/runtime/http.c'"

# ---- hostile member-credential Secrets ---------------------------------------------------------------
# Every file is made here; "valid" ones reach the member (server and credentials of $MKC).
python3 - "$MKC" "$TMP/hostile" <<'EOF'
import os, random, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
good = open(src).read()
def w(name, data):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())
# ~1 MiB (the Secret limit is 1 MiB in all): a comment pads a valid kubeconfig.
w('big-valid', good + '#' + 'x' * (1000 * 1024) + '\n')
# ~1 MiB context name: the message may name it, but truncated.
w('big-context', good.replace('current-context:', '#') + 'current-context: ' + 'q' * (1000 * 1024) + '\n')
w('nested', '[' * 10000 + ']' * 10000 + '\n')
w('nested-map', ''.join(' ' * i + 'k%d:\n' % i for i in range(1000)))
w('utf8', good.replace('clusters:', 'clusters: # \xff\xfe\xc3\x28 \x80\n', 1).encode('latin-1'))
random.seed(8)
w('binary', bytes(random.getrandbits(8) for _ in range(256 * 1024)))
bomb = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
for i in range(1, 10):
    bomb.append('a%d: &a%d [%s]' % (i, i, ','.join(['*a%d' % (i - 1)] * 10)))
w('bomb', '\n'.join(bomb) + '\ncurrent-context: *a9\n')
w('insecure', good.replace('certificate-authority-data:', 'insecure-skip-tls-verify: true\n    certificate-authority-data:', 1))
w('tokenfile', '''apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: ""}}]
users: [{name: u, user: {tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
''')
w('http', good.replace('server: https://', 'server: http://', 1))
EOF
# name  expected reason  a phrase the message must contain
cat >"$TMP/hostile.want" <<'EOF'
big-context InvalidKubeconfig not found in contexts
nested InvalidKubeconfig nested deeper than 64 levels
nested-map InvalidKubeconfig nested deeper than 64 levels
utf8 InvalidKubeconfig invalid YAML input
binary InvalidKubeconfig YAML
bomb InvalidKubeconfig must be a string
insecure UnsupportedCredentials insecure-skip-tls-verify is set
tokenfile InvalidKubeconfig must be self-contained
http InvalidKubeconfig plain http
EOF
check "the big kubeconfigs are about 1 MiB ($(wc -c <"$TMP/hostile/big-valid") bytes)" \
  test "$(wc -c <"$TMP/hostile/big-valid")" -gt 1000000
RSS0=$(rss_kib)
say "operator VmRSS before the hostile Secrets: ${RSS0} KiB"
for f in big-valid $(cut -d' ' -f1 "$TMP/hostile.want"); do
  if ! out=$(K create secret generic -n "$NS" "h-$f" --from-file=kubeconfig="$TMP/hostile/$f" 2>&1 >/dev/null); then
    fail "Secret h-$f not created: ${out:0:300}"; continue
  fi
  fcm "h-$f" "h-$f" | K apply -f - >/dev/null
done
wait_until "a ~1 MiB valid kubeconfig is used: h-big-valid Ready" 90 cond_is federatedcluster h-big-valid Ready "True Healthy"
while read -r f reason phrase; do
  wait_until "h-$f: CredentialsValid False $reason" 60 cond_is federatedcluster "h-$f" CredentialsValid "False $reason"
  msg=$(cond_msg federatedcluster "h-$f" CredentialsValid)
  if grep -qF -- "$phrase" <<<"$msg" && [ "${#msg}" -le 1024 ]; then
    pass "h-$f: the message says \"$phrase\" in ${#msg} characters"
  else
    fail "h-$f: message (${#msg} chars) lacks \"$phrase\": ${msg:0:400}"
  fi
done <"$TMP/hostile.want"
warned() {  # warned NAME: a Warning event on FederatedCluster NAME, short
  K get events -n "$NS" --field-selector "involvedObject.name=$1,type=Warning" -o json |
    jq -e '.items | length > 0 and all(.message | length <= 1024)'
}
for f in $(cut -d' ' -f1 "$TMP/hostile.want"); do
  check "h-$f: a Warning event, short" warned "h-$f"
done
check "every condition message of every FederatedCluster is short (<= 1 KiB)" bash -c \
  "'$KUBECTL' --kubeconfig '$KC' get federatedclusters -n '$NS' -o json | jq -e '[.items[].status.conditions[]?.message | length] | max <= 1024'"
check "h-big-valid: its token Secret and credential Secret exist (it really joined)" exists secret h-big-valid-credentials
RSS1=$(rss_kib)
say "operator VmRSS after the first round: ${RSS1} KiB"
# Make the operator parse every hostile Secret five more times (each update re-queues its user).
for round in 1 2 3 4 5; do
  for f in $(cut -d' ' -f1 "$TMP/hostile.want"); do
    K annotate -n "$NS" secret "h-$f" --overwrite "round=$round" >/dev/null
  done
  sleep 1
done
wait_until "every hostile FederatedCluster still CredentialsValid False after 5 more rounds" 60 bash -c \
  "[ \$('$KUBECTL' --kubeconfig '$KC' get federatedclusters -n '$NS' -o json | jq '[.items[] | select(.metadata.name | startswith(\"h-\")) | .status.conditions[]? | select(.type==\"CredentialsValid\" and .status==\"False\")] | length') -eq $(wc -l <"$TMP/hostile.want") ]"
sleep 3
RSS2=$(rss_kib)
say "operator VmRSS after five more rounds: ${RSS2} KiB"
check "VmRSS bounded: after the hostile Secrets ${RSS1} KiB <= before ${RSS0} KiB + 96 MiB" test "$RSS1" -le $((RSS0 + 96 * 1024))
check "VmRSS does not grow with repeated parses: ${RSS2} KiB <= ${RSS1} KiB + 32 MiB" test "$RSS2" -le $((RSS1 + 32 * 1024))
check "the operator is alive" operator_alive
check "gondor stayed Ready" cond_is federatedcluster gondor Ready "True Healthy"
# Still reconciled, not only left alone: a spec change is observed.
observed() { J federatedcluster gondor | jq -e '.status.observedGeneration == .metadata.generation'; }
K patch -n "$NS" federatedcluster gondor --type=merge -p '{"spec":{"health":{"periodSeconds":3}}}' >/dev/null
wait_until "gondor: a spec change is still reconciled (observedGeneration)" 30 observed

# ---- huge and odd annotation values -------------------------------------------------------------------
serial() { secret_key "$F50-apiserver-credentials" server.crt | openssl x509 -noout -serial; }
s1=$(serial)
python3 - "$TMP/ann.json" <<'EOF'
import json, sys
forged = 'r1\nts=2000-01-01T00:00:00.000Z level=error msg=FORGED-LINE\n\t\u2603 "quoted" \\'
json.dump({'metadata': {'annotations': {'kubefed.dev/rotate-certificates': forged + 'z' * (200 * 1024)}}},
          open(sys.argv[1], 'w'))
EOF
K patch -n "$NS" federation "$F50" --type=merge --patch-file "$TMP/ann.json" >/dev/null ||
  fail "a 200 KiB rotate-certificates annotation was not stored"
changed() { local s; s=$(serial); [ -n "$s" ] && [ "$s" != "$s1" ]; }
wait_until "a 200 KiB odd rotate-certificates value rotates the certificates" 60 changed
# Ready after the rotation means after its rollout: the restarted API server serves the new
# certificate (Ready may still read True from before the restart when the Secret has just changed).
f50_port=$(K get federation -n "$NS" "$F50" -o jsonpath='{.status.endpoint}') f50_port=${f50_port##*:}
served_new() {
  [ "$(openssl s_client -connect "127.0.0.1:$f50_port" </dev/null 2>/dev/null | openssl x509 -noout -serial)" = "$(serial)" ]
}
wait_until "$F50's API server serves the rotated certificate" 120 served_new
wait_until "$F50 Ready after that rotation" 120 cond_is federation "$F50" Ready "True Ready"
check "the rotation is recorded on the credentials Secret with the same value" bash -c \
  "[ \"\$('$KUBECTL' --kubeconfig '$KC' get secret -n '$NS' '$F50-apiserver-credentials' -o json | jq -r '.metadata.annotations[\"kubefed.dev/rotated-for\"] | length')\" -gt 204800 ]"
python3 -c "import json,sys,random,string; random.seed(1); json.dump({'metadata':{'annotations':{'example.com/blob': ''.join(random.choice(string.printable) for _ in range(250*1024))}}}, open(sys.argv[1],'w'))" "$TMP/blob.json"
K patch -n "$NS" federatedcluster gondor --type=merge --patch-file "$TMP/blob.json" >/dev/null ||
  fail "a 250 KiB annotation on gondor was not stored"
K annotate -n "$NS" federatedcluster gondor "kubefed.dev/force-unjoin=TRUE
yes" >/dev/null
K patch -n "$NS" federatedcluster gondor --type=merge -p '{"spec":{"health":{"periodSeconds":2}}}' >/dev/null
wait_until "gondor with a 250 KiB annotation and an odd force-unjoin value: still reconciled" 30 observed
check "gondor Ready" cond_is federatedcluster gondor Ready "True Healthy"
check "the odd force-unjoin value is not 'true': gondor keeps its finalizer and is not unjoining" \
  bash -c "'$KUBECTL' --kubeconfig '$KC' get federatedcluster -n '$NS' gondor -o json | jq -e '(.metadata.finalizers | length) > 0 and (.metadata.deletionTimestamp == null)'"
check "no forged log line: the annotation value never starts a line of the operator log" \
  bash -c "! grep -q '^ts=2000-01-01' '$OPLOG'"

# ---- deeply nested JSON in a CR ---------------------------------------------------------------------------
# spec.apiServer.affinity preserves unknown fields: any JSON, as deep as the apiserver's decoder
# allows (10,000 levels; 500 here: the apiserver itself needs seconds per write of much deeper
# objects). One such Federation must not stop the others, nor a restarted operator.
python3 - "$TMP/deep.json" "$NS" <<'EOF'
import sys
n = 500
d = '{"k":' * n + '1' + '}' * n
open(sys.argv[1], 'w').write(
    '{"apiVersion":"kubefed.dev/v1alpha1","kind":"Federation","metadata":{"name":"deep","namespace":"%s"},'
    '"spec":{"dns":{"provider":"google-clouddns","zoneName":"example.com."},'
    '"apiServer":{"service":{"type":"ClusterIP"},"affinity":%s}}}' % (sys.argv[2], d))
EOF
must "a Federation with a 500-level affinity is stored by the apiserver" K create --request-timeout=60s -f "$TMP/deep.json" -o name
# The apiserver cannot build a Deployment patch that deep (500 "failed to create typed patch
# object", retried by the client): the Federation is told so by a Warning event and its status.
apply_failed() {
  K get events -n "$NS" --field-selector involvedObject.name=deep,reason=ApplyFailed -o jsonpath='{.items[*].message}' |
    grep -q 'applying Deployment deep-apiserver failed'
}
wait_until "the deep Federation: Warning event ApplyFailed naming the Deployment" 90 apply_failed
check "the deep Federation has conditions written by the operator" \
  test -n "$(K get federation -n "$NS" deep -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}')"
check "$F50 stays Ready meanwhile" cond_is federation "$F50" Ready "True Ready"
check "the operator is alive" operator_alive
stop_operator
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8" start_operator --log-level debug
K patch -n "$NS" federatedcluster gondor --type=merge -p '{"spec":{"health":{"periodSeconds":3}}}' >/dev/null
wait_until "a restarted operator (its first list holds the deep Federation) reconciles gondor" 60 observed
check "gondor Ready after the restart" cond_is federatedcluster gondor Ready "True Healthy"
K delete -n "$NS" federation deep --wait=false >/dev/null

# ---- teardown: the hostile ones go at once (never joined), the real ones unjoin ---------------------------
K delete -n "$NS" federatedcluster --all --wait=false >/dev/null
wait_until "every FederatedCluster deleted (hostile ones had nothing to unjoin)" 120 \
  bash -c "[ -z \"\$('$KUBECTL' --kubeconfig '$KC' get federatedclusters -n '$NS' -o name)\" ]"
check "member: the 63-character join's ServiceAccount is gone" bash -c "! '$KUBECTL' --kubeconfig '$MKC' get serviceaccount -n federation-system '$SA'"
check "the operator is alive at the end" operator_alive
RSS3=$(rss_kib)
say "operator VmRSS at the end: ${RSS3} KiB (start ${RSS0} KiB)"
stop_operator
check "no sanitizer report in the operator log" bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$OPLOG'"
