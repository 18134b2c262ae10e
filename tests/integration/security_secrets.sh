#!/usr/bin/env bash
# security.secrets: no Secret value, token, private key or kubeconfig ever leaves a Secret.
# A full flow on real clusters: Federation fellowship (token auth and a DNS provider config from
# the user's Secrets) served for real by `k8s serve-federation`, member gondor joined with the
# user's admin kubeconfig Secret (client key), a certificate rotation (kubefed.dev/rotate-
# certificates), then an unjoin; the operator runs with --log-level debug. Every secret value of
# every generation (host Secrets the operator made and the user's, the member's token Secret) is
# turned into needles (tests/integration/secret_needles.py: 24-char windows of the stored base64,
# the decoded value, the keys and tokens inside kubeconfigs) and grepped for in: the operator's
# whole stdout+stderr, every Event (host, member, federation API), every non-Secret object of every
# listable kind in the host, the member and the federation API (CR status and conditions,
# annotations, ConfigMaps, Cluster objects, managedFields), and /metrics. Zero hits. A positive
# control proves the needles find the values where they are. Also: the generated Secrets' types
# and keys are exactly the expected ones, every key a Deployment mounts is a file its container's
# flags name, and each private key lives in exactly one Secret.
TEST=security.secrets RESOURCE=federatedcluster CLUSTER=secrets NODES=1 NS="sec-$$"
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MEMBER="secm-$$"
on_finish() {
  "$HARNESS" down "fed-$NS-fellowship" >&2 2>/dev/null || true
  "$HARNESS" down "$MEMBER" >&2 2>/dev/null || true
  stop_operator
  say "runtime $((SECONDS - T0))s"
}
command -v python3 >/dev/null || { fail "python3 is missing (needed for the secret needles)"; exit 1; }
command -v openssl >/dev/null || { fail "openssl is missing"; exit 1; }

MKC=$("$HARNESS" up "$MEMBER" --nodes 1) || { fail "up $MEMBER"; exit 1; }
MK() { "$KUBECTL" --kubeconfig "$MKC" --cache-dir "$TMP/kcache-m" --request-timeout=20s "$@"; }
install_crds kubefed.dev_federations.yaml kubefed.dev_federatedclusters.yaml
start_operator --log-level debug

# ---- the user's Secrets: a static token file, a DNS provider config, the member's admin kubeconfig --
K create secret generic -n "$NS" fellowship-tokens \
  --from-literal=token.csv="$(openssl rand -hex 24),fed-admin,1001,system:masters" >/dev/null
K create secret generic -n "$NS" fellowship-dns \
  --from-literal=provider.conf="$(printf '[Global]\napi-key = %s\n' "$(openssl rand -hex 24)")" >/dev/null
K create secret generic -n "$NS" gondor-admin --from-file=kubeconfig="$MKC" >/dev/null
check "the member admin kubeconfig (user's Secret) holds a client key" grep -q client-key-data "$MKC"

# ---- Federation fellowship, served for real ------------------------------------------------------
PORT=$(free_port 30000 32767)
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: Federation
metadata: {name: fellowship, namespace: $NS}
spec:
  dns:
    provider: coredns
    zoneName: fellowship.example.com.
    providerConfigSecretRef: {name: fellowship-dns}
    corednsNameservers: ["127.0.0.1:15353"]
  apiServer:
    service: {type: NodePort, nodePort: $PORT}
    advertiseAddress: 127.0.0.1
    tokenAuthSecretRef: {name: fellowship-tokens}
EOF
wait_until "fellowship: apiserver Deployment" 60 exists deployment fellowship-apiserver
"$HARNESS" serve-federation "$KC" "$NS" fellowship >/dev/null || fail "serve-federation fellowship"
wait_until "fellowship: Federation Ready" 120 cond_is federation fellowship Ready "True Ready"
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/fellowship.kubeconfig"
FK() { "$KUBECTL" --kubeconfig "$TMP/fellowship.kubeconfig" --cache-dir "$TMP/kcache-f" --request-timeout=20s "$@"; }
check "the federation API answers with the generated admin kubeconfig" FK get --raw /readyz

# ---- join gondor ------------------------------------------------------------------------------------
printf '.:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n' >"$TMP/Corefile"
MK create configmap coredns -n kube-system --from-file=Corefile="$TMP/Corefile" >/dev/null
K apply -f - >/dev/null <<EOF
apiVersion: kubefed.dev/v1alpha1
kind: FederatedCluster
metadata: {name: gondor, namespace: $NS}
spec: {federationRef: {name: fellowship}, kubeconfigSecretRef: {name: gondor-admin}}
EOF
wait_until "gondor Ready" 90 cond_is federatedcluster gondor Ready "True Healthy"
check "gondor: DNSConfigured" cond_is federatedcluster gondor DNSConfigured "True Configured"

mkdir -p "$TMP/secrets" "$TMP/corpus"
snapshot_secrets() {  # snapshot_secrets TAG: every Secret value the flow made or used, now
  K get secrets -n "$NS" -o json >"$TMP/secrets/host-$1.json"
  MK get secrets -n federation-system -o json >"$TMP/secrets/member-$1.json"
}
snapshot_secrets joined

# ---- types and keys of the generated Secrets ---------------------------------------------------------
inventory() {  # "name type key,key,..." of the Secrets the operator made
  jq -r '.items[] | select(.metadata.labels["app.kubernetes.io/managed-by"] == "kubefed-operator")
         | "\(.metadata.name) \(.type) \(.data // {} | keys | join(","))"' "$@" | sort
}
inventory "$TMP/secrets/host-joined.json" "$TMP/secrets/member-joined.json" >"$TMP/inventory"
cat >"$TMP/inventory.want" <<'EOF'
fellowship-admin-kubeconfig Opaque kubeconfig
fellowship-apiserver-credentials Opaque ca.crt,sa.key,sa.pub,server.crt,server.key,token.csv
fellowship-ca kubernetes.io/tls tls.crt,tls.key
fellowship-controller-manager-kubeconfig Opaque kubeconfig
fellowship-dns-provider Opaque federation-dns-provider.conf
gondor-credentials Opaque kubeconfig
kubefed-fellowship-gondor-token kubernetes.io/service-account-token ca.crt,namespace,token
EOF
if diff "$TMP/inventory.want" "$TMP/inventory" >"$TMP/inventory.diff"; then
  pass "generated Secrets: exactly the expected names, types and keys ($(wc -l <"$TMP/inventory") Secrets)"
else
  fail "generated Secrets differ from the expected names/types/keys (< want, > got): $(cat "$TMP/inventory.diff")"
fi
# Every key a Deployment mounts from a Secret is a file one of its containers' flags names.
K get deployments -n "$NS" -o json >"$TMP/deployments.json"
jq -r '.items[] | .spec.template.spec as $p | $p.volumes[]? | select(.secret) as $v
       | $p.containers[] | . as $c | .volumeMounts[]? | select(.name == $v.name)
       | "\($v.secret.secretName) \(.mountPath) \(($c.command // []) + ($c.args // []) | join(" "))"' \
  "$TMP/deployments.json" >"$TMP/mounts"
check "the Deployments mount Secrets (apiserver credentials, controller-manager kubeconfig, DNS config)" \
  test "$(cut -d' ' -f1 "$TMP/mounts" | sort -u | paste -sd, -)" = \
  "fellowship-apiserver-credentials,fellowship-controller-manager-kubeconfig,fellowship-dns-provider"
unused=""
while read -r sname mpath flags; do
  for key in $(jq -r --arg n "$sname" '.items[] | select(.metadata.name == $n) | .data | keys[]' "$TMP/secrets/host-joined.json"); do
    grep -qF -- "$mpath/$key" <<<"$flags" || unused+=" $sname/$key"
  done
done <"$TMP/mounts"
check "every mounted Secret key is a file the container's flags name (unused:${unused:- none})" test -z "$unused"
modes=$(jq -r '[.items[].spec.template.spec.volumes[]? | select(.secret) | .secret.defaultMode // "unset"] | unique | join(",")' "$TMP/deployments.json")
check "Secret volumes are mounted read-only for the owner only (defaultMode 0400 = 256: $modes)" test "$modes" = 256
kc_has() { secret_key "$1" kubeconfig | grep -q "$2"; }
check "admin kubeconfig: a client certificate, no token" bash -c \
  "grep -q client-key-data '$TMP/fellowship.kubeconfig' && ! grep -q 'token:' '$TMP/fellowship.kubeconfig'"
check "gondor-credentials: the member SA's token and CA, no client key" bash -c \
  "'$KUBECTL' --kubeconfig '$KC' get secret -n '$NS' gondor-credentials -o jsonpath='{.data.kubeconfig}' | base64 -d >'$TMP/cred.kc' &&
   grep -q 'token:' '$TMP/cred.kc' && grep -q certificate-authority-data '$TMP/cred.kc' && ! grep -q client-key '$TMP/cred.kc'"

# ---- certificate rotation -------------------------------------------------------------------------
serial() { secret_key fellowship-apiserver-credentials server.crt | openssl x509 -noout -serial; }
s1=$(serial)
K annotate -n "$NS" federation fellowship kubefed.dev/rotate-certificates="rotate-$$" >/dev/null
changed() { local s; s=$(serial); [ -n "$s" ] && [ "$s" != "$s1" ]; }
wait_until "the rotate annotation reissues the serving certificate" 60 changed
wait_until "fellowship Ready after the rotation" 120 cond_is federation fellowship Ready "True Ready"
secret_key fellowship-admin-kubeconfig kubeconfig >"$TMP/fellowship.kubeconfig"
# The rotated admin kubeconfig also reaches the apiserver still running the old certificate (same CA):
# wait until the federation API serves the new one, i.e. serve-federation has restarted it.
serving_serial() {
  echo | openssl s_client -connect "127.0.0.1:$PORT" 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}
serves_rotated() { local s; s=$(serving_serial); [ -n "$s" ] && [ "$s" = "$(serial)" ]; }
wait_until "the federation API serves the rotated certificate" 90 serves_rotated
wait_until "the rotated admin kubeconfig reaches the federation API" 90 FK get --raw /readyz
wait_until "gondor Ready after the rotation" 90 cond_is federatedcluster gondor Ready "True Healthy"
snapshot_secrets rotated

# ---- everything the operator printed or wrote, while joined and after the unjoin -----------------------
dump_cluster() {  # dump_cluster TAG KUBECTL-FUNCTION: every listable kind but Secrets, all namespaces
  local tag="$1" fn="$2" kinds="" n=0 try
  # The federation apiserver restarts (serve-federation) after a rotation: retry a failed dump.
  for try in 1 2 3 4 5 6; do
    kinds=$("$fn" api-resources --verbs=list -o name 2>/dev/null | grep -vx 'secrets' | paste -sd, -)
    if [ -n "$kinds" ] && "$fn" get "$kinds" -A -o json >"$TMP/corpus/$tag.json" 2>"$TMP/corpus-$tag.err"; then
      n=$(jq '.items | length' "$TMP/corpus/$tag.json" 2>/dev/null || echo 0)
      [ "$n" -gt 10 ] && break
    fi
    say "$tag: dump attempt $try failed, retrying"; sleep 5
  done
  check "$tag: dumped $n objects of $(tr , '\n' <<<"$kinds" | grep -c .) kinds" test "$n" -gt 10
  # Events also through events.k8s.io (the kind list has both; kept separately for the report).
  "$fn" get events -A -o json >"$TMP/corpus/$tag-events.json" 2>/dev/null
}
dump_all() {
  dump_cluster "host-$1" K
  dump_cluster "member-$1" MK
  dump_cluster "federation-$1" FK
  curl -sf --max-time 5 "http://127.0.0.1:$METRICS/metrics" >"$TMP/corpus/metrics-$1.txt" ||
    fail "/metrics unreachable ($1)"
}
# The federation apiserver restarted after the rotation: its CRDs reach discovery a moment later.
serves_clusters() { FK api-resources --api-group=federation.kubefed.dev -o name | grep -q '^clusters'; }
wait_until "the federation API's discovery lists the Cluster kind" 60 serves_clusters
dump_all joined
check "the host dump holds the CRs' status (conditions)" \
  jq -e '[.items[] | select(.kind == "FederatedCluster") | .status.conditions | length] | add > 3' "$TMP/corpus/host-joined.json"
check "the federation dump holds Cluster gondor" \
  jq -e '[.items[] | select(.kind == "Cluster" and .metadata.name == "gondor")] | length == 1' "$TMP/corpus/federation-joined.json"
check "events were recorded (host)" jq -e '.items | length > 3' "$TMP/corpus/host-joined-events.json"

K delete -n "$NS" federatedcluster gondor --wait=false >/dev/null
wait_until "gondor unjoined" 90 gone federatedcluster gondor
check "the member token Secret is gone after unjoin" bash -c "! '$KUBECTL' --kubeconfig '$MKC' get secret -n federation-system kubefed-fellowship-gondor-token"
dump_all unjoined
stop_operator
check "the operator logged at debug level ($(grep -c level=debug "$OPLOG") debug lines)" grep -q "level=debug" "$OPLOG"
cp "$OPLOG" "$TMP/corpus/operator.log"

# ---- needles and the grep ----------------------------------------------------------------------------
if python3 "$ROOT/tests/integration/secret_needles.py" "$TMP"/secrets/*.json 2>"$TMP/needles.err" >"$TMP/needles.raw" &&
   sort -u "$TMP/needles.raw" >"$TMP/needles"; then
  pass "needles made from $(ls "$TMP/secrets" | wc -l) Secret snapshots ($(wc -l <"$TMP/needles") needles)"
else
  fail "secret_needles.py: $(cat "$TMP/needles.err")"
fi
for what in "fellowship-ca/tls.key (pem body)" "fellowship-apiserver-credentials/server.key (pem body)" \
            "fellowship-apiserver-credentials/sa.key (pem body)" "fellowship-apiserver-credentials/token.csv (token file)" \
            "fellowship-admin-kubeconfig/kubeconfig (client-key-data)" "fellowship-controller-manager-kubeconfig/kubeconfig (pem body)" \
            "fellowship-dns-provider/federation-dns-provider.conf (value)" "gondor-credentials/kubeconfig (kubeconfig token)" \
            "gondor-admin/kubeconfig (client-key-data)" "fellowship-tokens/token.csv (token file)" \
            "kubefed-fellowship-gondor-token/token (value)"; do
  check "needles cover $what" grep -qF "/$what" "$TMP/needles"
done
check "both generations of the serving key are covered (rotation)" \
  test "$(grep -cF "fellowship-apiserver-credentials/server.key (pem body)" "$TMP/needles")" -ge 2
# Positive control: the same grep finds every needle where the values do live.
python3 "$ROOT/tests/integration/secret_needles.py" --control "$TMP"/secrets/*.json >"$TMP/control"
grep -oFf <(cut -f2 "$TMP/needles") "$TMP/control" | sort -u >"$TMP/control.hits"
check "positive control: all $(wc -l <"$TMP/needles") needles are found in the Secrets themselves" \
  test "$(cut -f2 "$TMP/needles" | sort -u | wc -l)" -eq "$(wc -l <"$TMP/control.hits")"
# The CA key lives in one Secret only; each other key likewise (a copy would be a needless exposure).
dups=$(grep -F '(pem body)' "$TMP/needles" | awk -F'\t' '{split($1, p, "/"); print $2 "\t" p[2]}' | sort -u |
  awk -F'\t' '{n[$1]++; s[$1] = s[$1] " " $2} END {for (k in n) if (n[k] > 1) print s[k]}')
check "each private key is in exactly one Secret (shared:${dups:- none})" test -z "$dups"

cut -f2 "$TMP/needles" >"$TMP/patterns"
for f in "$TMP"/corpus/*; do
  hits=$(grep -oFf "$TMP/patterns" "$f" | sort -u)
  if [ -z "$hits" ]; then
    pass "no secret in $(basename "$f") ($(wc -c <"$f") bytes)"
  else
    fail "secret material in $(basename "$f"): $(grep -Ff <(printf '%s\n' "$hits") "$TMP/needles" | cut -f1 | sort -u | paste -sd';' -)"
  fi
done
# A second reconcile from a cache that still held the unjoined FederatedCluster used to re-apply
# its finalizer removal, which server-side apply turns into a create (refused only by validation).
check "no finalizer write failed (the uid guard of kc_apply_finalizer)" bash -c "! grep -q 'finalizer .*failed' '$OPLOG'"
check "the operator's stderr has no sanitizer report" bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$OPLOG'"
