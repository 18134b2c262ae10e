# shellcheck shell=bash
# Shared by the fault tests (fault_sigkill.sh, fault_apiserver_restart.sh), sourced after lib.sh:
# fast API access with curl (a poll is a few curl calls, not kubectl processes), the operator run
# and re-run under leader election, served Federations, and the object inventory the tests compare
# between a disturbed and an undisturbed run.
command -v jq >/dev/null || { fail "jq is missing (tests/install-deps.sh installs it)"; exit 1; }
command -v curl >/dev/null || { fail "curl is missing"; exit 1; }
[ -x "${KF_OPERATOR:-}" ] || { fail "KF_OPERATOR is not an executable operator binary: '${KF_OPERATOR:-}'"; exit 1; }
mkdir -p "$TMP/api"

# api_login ID KUBECONFIG [SERVER]: remember the server, CA and client certificate of a kubeconfig
# (the harness' and the operator's kubeconfigs embed them as -data fields).
api_login() {
  local id="$1" kc="$2" server="${3:-}" j
  j=$("$KUBECTL" --kubeconfig "$kc" config view --raw --minify -o json) || return 1
  jq -r '.clusters[0].cluster["certificate-authority-data"]' <<<"$j" | base64 -d >"$TMP/api/$id.ca"
  jq -r '.users[0].user["client-certificate-data"]' <<<"$j" | base64 -d >"$TMP/api/$id.crt"
  jq -r '.users[0].user["client-key-data"]' <<<"$j" | base64 -d >"$TMP/api/$id.key"
  chmod 600 "$TMP/api/$id.key"
  [ -n "$server" ] || server=$(jq -r '.clusters[0].cluster.server' <<<"$j")
  echo "$server" >"$TMP/api/$id.server"
}
# api ID [curl args] PATH: the JSON answer of a request to ID's API server (fails on HTTP >= 400).
api() {
  local id="$1"; shift
  local n=$(($# - 1)) args=("$@")
  # (--retry: 429 "storage is (re)initializing" right after a CRD or an API server starts.)
  curl -sS --fail --max-time 10 --retry 5 --retry-max-time 20 --cacert "$TMP/api/$id.ca" --cert "$TMP/api/$id.crt" --key "$TMP/api/$id.key" \
    "${args[@]:0:$n}" "$(cat "$TMP/api/$id.server")${args[$n]}"
}
# api_apply ID PATH: create the JSON object on stdin (POST).
api_create() { api "$1" -X POST -H 'Content-Type: application/json' --data-binary @- "$2" >/dev/null; }

# ---- the operator, run again and again -----------------------------------------------------------
# Leader election as deployed (--leader-elect); OP_LE_FLAGS may shorten the Lease so a restart after
# SIGKILL (which cannot release it) does not wait client-go's 15 s each time.
OPN=0
read -r -a OP_LE_FLAGS <<<"${OP_LE_FLAGS:-}"
HEALTH=$(free_port 20000 29999) METRICS=$(free_port 20000 29999)
# op_start: a new operator process (log $TMP/operator.N.log); returns once it leads and its caches
# are synced (/readyz), with how long that took in OP_READY_MS (for the caller).
# shellcheck disable=SC2034
op_start() {
  OPN=$((OPN + 1))
  OPLOG="$TMP/operator.$OPN.log"
  local t0 end
  t0=$(date +%s%3N)
  "$KF_OPERATOR" --kubeconfig "$KC" --namespace "$NS" --leader-elect "${OP_LE_FLAGS[@]}" \
    --health-bind-address "127.0.0.1:$HEALTH" --metrics-bind-address "127.0.0.1:$METRICS" \
    --controller-manager-image "$KF_CM_IMAGE" >"$OPLOG" 2>&1 &
  OPPID=$!
  end=$((SECONDS + 60))
  while [ $SECONDS -lt $end ]; do
    if curl -sf --max-time 2 "http://127.0.0.1:$HEALTH/readyz" >/dev/null 2>&1; then
      OP_READY_MS=$(($(date +%s%3N) - t0))
      return 0
    fi
    operator_alive || { fail "operator #$OPN exited before it was ready"; tail -n 30 "$OPLOG" >&2; return 1; }
    sleep 0.1
  done
  fail "operator #$OPN not ready (leading, synced) within 60 s"
  return 1
}
# op_kill: SIGKILL, as the OOM killer or a node failure would; the Lease stays held.
op_kill() {
  [ -n "$OPPID" ] || return 0
  kill -KILL "$OPPID" 2>/dev/null
  wait "$OPPID" 2>/dev/null
  OPPID=""
}
op_stop() {  # SIGTERM: drain, release the Lease, and let LeakSanitizer report
  [ -n "$OPPID" ] || return 0
  kill -TERM "$OPPID" 2>/dev/null
  wait "$OPPID" 2>/dev/null
  OPPID=""
}
# op_writes: POST, PATCH and DELETE requests the running operator has made (host, members and
# federation APIs; the Lease's renewals are PUTs and left out): where in an operation a kill landed.
op_writes() {
  curl -sf --max-time 2 "http://127.0.0.1:$METRICS/metrics" |
    awk '/^kubefed_api_requests_total/ && /verb="(POST|PATCH|DELETE)"/ {n += $NF} END {print n + 0}'
}
# keep_logs: with KF_TEST_KEEP=DIR, the operator logs are copied there (for a failure's analysis).
keep_logs() { [ -z "${KF_TEST_KEEP:-}" ] || { mkdir -p "$KF_TEST_KEEP" && cp "$TMP"/operator.*.log "$KF_TEST_KEEP/"; }; }
# sanitizer_clean: no sanitizer report in any operator log.
sanitizer_clean() { ! grep -l "Sanitizer" "$TMP"/operator.*.log >/dev/null 2>&1; }
show_oplog() { [ -f "${OPLOG:-}" ] && { say "---- $OPLOG (last 40 lines) ----"; tail -n 40 "$OPLOG" >&2; }; }

# ms_sleep MS
ms_sleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
now_ms() { date +%s%3N; }

# ---- served Federations -----------------------------------------------------------------------------
# fed_json NAME PORT: a coredns Federation published on NodePort PORT at 127.0.0.1.
fed_json() {
  jq -n --arg n "$1" --arg ns "$NS" --argjson p "$2" '{apiVersion: "kubefed.dev/v1alpha1", kind: "Federation",
    metadata: {name: $n, namespace: $ns},
    spec: {dns: {provider: "coredns", zoneName: ($n + ".example.com."), corednsNameservers: ["127.0.0.1:15353"]},
           apiServer: {service: {type: "NodePort", nodePort: $p}, advertiseAddress: "127.0.0.1"}}}'
}
fed_cond() { api host "/apis/kubefed.dev/v1alpha1/namespaces/$NS/federations/$1" |
  jq -r --arg t "$2" '.status.conditions[]? | select(.type==$t) | "\(.status) \(.reason)"'; }
fed_ready() { [ "$(fed_cond "$1" Ready)" = "True Ready" ]; }
# fapi_login NAME: API access to Federation NAME's served API with its admin kubeconfig.
fapi_login() {
  local kc="$TMP/$1.kubeconfig"
  api host "/api/v1/namespaces/$NS/secrets/$1-admin-kubeconfig" | jq -r '.data.kubeconfig' | base64 -d >"$kc" &&
    api_login "fapi-$1" "$kc" &&
    # (The Cluster CRD was just installed there: its storage answers 429 until it is initialized.)
    wait_until "$1: the federation API serves Clusters" 60 api "fapi-$1" /apis/federation.kubefed.dev/v1beta1/clusters
}

# ---- the inventory -----------------------------------------------------------------------------------
# Everything the operator manages or created, one sorted line each: kind, namespace/name and the
# fields that must come out the same (labels, owner, finalizers, conditions, DNS content), plus
# per-kind counts of live objects (two token Secrets for one ServiceAccount show as a count, an
# extra line and a token-secrets-for-sa line). One curl per cluster (all lists in one process) and
# one jq: a poll stays well under a second on a busy machine.
MB='labelSelector=app.kubernetes.io%2Fmanaged-by%3Dkubefed-operator'
# fetch ID OUT PATH...: the JSON answers for PATHs from ID's API server, concatenated into OUT.
fetch() {
  local id="$1" out="$2" server u
  shift 2
  server=$(cat "$TMP/api/$id.server")
  local urls=()
  for u in "$@"; do urls+=("$server$u"); done
  curl -sS --fail --fail-early --max-time 20 --retry 5 --retry-max-time 20 --cacert "$TMP/api/$id.ca" \
    --cert "$TMP/api/$id.crt" --key "$TMP/api/$id.key" "${urls[@]}" >"$out" 2>"$out.err"
}
INV_JQ='
def conds: [.status.conditions[]? | .type + "=" + .status + "/" + .reason] | sort | join(" ");
def deleting: "deleting=" + (if .metadata.deletionTimestamp then "yes" else "no" end);
def obj($k): [$w, $k, ((.metadata.namespace // "") + "/" + .metadata.name),
  "fed=" + (.metadata.labels["kubefed.dev/federation"] // "-"), "cluster=" + (.metadata.labels["kubefed.dev/cluster"] // "-"),
  "owner=" + ([.metadata.ownerReferences[]? | .kind + "/" + .name + (if .controller then "*" else "" end)] | join(",")),
  "type=" + (.type // "-"), "keys=" + ((.data // {}) | keys | join(",")), "phase=" + (.status.phase // "-"), deleting,
  "subjects=" + ([.subjects[]? | .namespace + "/" + .name] | join(",")),
  "finalizers=" + ((.metadata.finalizers // []) | join(","))] | join(" ");
def tokens: select(.metadata.labels["kubefed.dev/cluster"] and (.type == "kubernetes.io/service-account-token" or .data.kubeconfig)) |
  "TOKEN \(.metadata.labels["kubefed.dev/cluster"] // "-") \($w) " +
  (if .data.token then (.data.token | @base64d) else ((.data.kubeconfig | @base64d | capture("token: \"(?<t>[^\"]*)\"").t) // "none") end);
inputs | (.kind | sub("List$"; "")) as $k |
if $k == "FederatedCluster" then .items[] | [$w, "federatedcluster", .metadata.name,
    "finalizers=" + ((.metadata.finalizers // []) | join(",")), deleting,
    "credentials=" + (.status.credentialSecretRef.name // "-"), conds] | join(" ")
elif $k == "Federation" then .items[] | [$w, "federation", .metadata.name,
    "finalizers=" + ((.metadata.finalizers // []) | join(",")), deleting,
    ([.status.conditions[]? | select(.type=="Ready" or .type=="APIServerReady") | .type + "=" + .status + "/" + .reason] | sort | join(" "))] | join(" ")
elif $k == "Cluster" then .items[] | [$w, "cluster", .metadata.name, "secretRef=" + .spec.secretRef.name,
    "server=" + ([.spec.serverAddressByClientCIDRs[]? | .serverAddress] | join(",")),
    "labels=" + ((.metadata.labels // {}) | to_entries | map(.key + "=" + .value) | sort | join(","))] | join(" ")
elif $k == "ConfigMap" then "\($w) dns \(.metadata.name) content-sha=" + ({data, annotations: (.metadata.annotations // {})} | tojson),
    "\($w) dns \(.metadata.name) our-blocks=" + ((.data.Corefile // "") | [scan("# BEGIN kubefed.dev")] | length | tostring)
else (.items[] | obj($k)), (.items[] | tokens),
    "\($w) count \($k) \([.items[] | select(.metadata.deletionTimestamp == null)] | length)",
    (if $k == "Secret" then [.items[] | select(.type == "kubernetes.io/service-account-token")] |
       group_by(.metadata.namespace + "/" + .metadata.annotations["kubernetes.io/service-account.name"])[] |
       "\($w) token-secrets-for-sa \(.[0].metadata.namespace)/\(.[0].metadata.annotations["kubernetes.io/service-account.name"]) \(length)"
     else empty end)
end'
inv_lines() {  # inv_lines WHERE FILE: the lines of one cluster's fetched lists
  if [ ! -s "$2" ] || [ -s "$2.err" ]; then echo "$1 ERROR $(head -c 200 "$2.err" 2>/dev/null)"; fi
  jq -rn --arg w "$1" "$INV_JQ" "$2" 2>/dev/null || echo "$1 ERROR unparsable answer"
}
host_paths() {
  local r
  for r in api/v1:secrets api/v1:configmaps api/v1:services api/v1:serviceaccounts api/v1:persistentvolumeclaims \
           apis/apps/v1:deployments apis/rbac.authorization.k8s.io/v1:roles apis/rbac.authorization.k8s.io/v1:rolebindings; do
    echo "/${r%%:*}/namespaces/$NS/${r##*:}?$MB"
  done
  echo "/apis/kubefed.dev/v1alpha1/namespaces/$NS/federatedclusters"
  echo "/apis/kubefed.dev/v1alpha1/namespaces/$NS/federations"
}
member_paths() {  # member_paths DNSCM
  local r
  for r in api/v1:namespaces apis/rbac.authorization.k8s.io/v1:clusterroles apis/rbac.authorization.k8s.io/v1:clusterrolebindings \
           api/v1:serviceaccounts api/v1:secrets; do
    echo "/${r%%:*}/${r##*:}?$MB"
  done
  echo "/api/v1/namespaces/kube-system/configmaps/$1"
}
# inventory_of ID:KIND... (KIND: host, member:DNSCM, fapi (Clusters) or fapi-all (and namespaces, CRDs)): every cluster fetched side by side, then
# the sorted lines; TOKEN lines become "token CLUSTER credentials=match|mismatch|host-missing|member-missing"
# (the host credential must hold the token the member's token Secret holds now), long DNS contents a hash.
inventory_of() {
  local spec id kind p=() paths
  for spec in "$@"; do
    id="${spec%%:*}" kind="${spec#*:}"
    case "$kind" in
      host) mapfile -t paths < <(host_paths) ;;
      member:*) mapfile -t paths < <(member_paths "${kind#member:}") ;;
      fapi) paths=(/apis/federation.kubefed.dev/v1beta1/clusters) ;;
      fapi-all) paths=(/apis/federation.kubefed.dev/v1beta1/clusters /api/v1/namespaces
                       /apis/apiextensions.k8s.io/v1/customresourcedefinitions) ;;
    esac
    fetch "$id" "$TMP/inv.$id.json" "${paths[@]}" &
    p+=($!)
  done
  wait "${p[@]}"   # (not a bare wait: the operator is a child too)
  for spec in "$@"; do inv_lines "${spec%%:*}" "$TMP/inv.${spec%%:*}.json"; done | inv_post | sort
}
inv_post() {
  local line cl where tok
  declare -A host_tok=() member_tok=()
  while IFS= read -r line; do
    case "$line" in
      "TOKEN "*)
        read -r _ cl where tok <<<"$line"
        if [ "$where" = host ]; then host_tok[$cl]="$tok"; else member_tok[$cl]="$tok"; fi ;;
      *" content-sha="*) printf '%s%s\n' "${line%%content-sha=*}content-sha=" "$(printf '%s' "${line#*content-sha=}" | sha256sum | cut -c1-16)" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done
  for cl in "${!host_tok[@]}" "${!member_tok[@]}"; do echo "$cl"; done | sort -u | while read -r cl; do
    if [ -z "${host_tok[$cl]:-}" ]; then echo "token $cl credentials=host-missing"
    elif [ -z "${member_tok[$cl]:-}" ]; then echo "token $cl credentials=member-missing"
    elif [ "${host_tok[$cl]}" = "${member_tok[$cl]}" ]; then echo "token $cl credentials=match"
    else echo "token $cl credentials=mismatch"; fi
  done
}
