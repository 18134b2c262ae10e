# Shared by the bash integration tests (federation_crd.sh, cluster_crd.sh,
# federation_controlplane.sh): a cluster of their own, PASS/FAIL bookkeeping ending in
# "N passed, M failed", and helpers that assert what the apiserver accepts and refuses.
# Source it after setting TEST (the ctest name, for logs), RESOURCE (the kubectl resource
# under test) and optionally CLUSTER (name prefix) and NODES (kwok nodes: controllers run).
set -uo pipefail
shopt -s lastpipe   # `producer | check` runs check in this shell, so the counters survive

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="${HARNESS:-$ROOT/tests/harness/k8s}"
NAME="${CLUSTER:-${TEST%%.*}-crd}-$$"
NS="${NS:-federation-system}"
PASSED=0
FAILED=0
TMP="$(mktemp -d)"

say()  { printf '[%s] %s\n' "$TEST" "$*" >&2; }
pass() { PASSED=$((PASSED + 1)); printf 'PASS: %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL: %s\n' "$*"; }
finish() {
  trap - EXIT INT TERM
  if declare -F on_finish >/dev/null; then on_finish; fi
  say "cleanup: down $NAME"
  "$HARNESS" down "$NAME" >&2 || true
  rm -rf "$TMP"
  printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
  [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ] && exit 0
  exit 1
}
trap finish EXIT
trap 'fail "interrupted"; finish' INT TERM

KUBECTL="$("$HARNESS" bin kubectl)" || { fail "harness has no kubectl (run: $HARNESS build)"; exit 1; }
KC="$("$HARNESS" up "$NAME" ${NODES:+--nodes "$NODES"})" || { fail "harness up $NAME"; exit 1; }
K() { "$KUBECTL" --kubeconfig "$KC" --cache-dir "$TMP/kcache" --request-timeout=20s "$@"; }

# install_crds FILE...: apply crds/FILE and wait until each CRD is Established.
install_crds() {
  local f out crd
  for f in "$@"; do
    if out=$(K apply -f "$ROOT/crds/$f" -o name 2>&1); then pass "CRD $f applied"; else fail "CRD $f: $out"; exit 1; fi
    crd="${out##*/}"
    if K wait --for=condition=Established "crd/$crd" --timeout=60s >/dev/null 2>&1; then
      pass "CRD $crd Established"
    else
      fail "CRD $crd not Established"; exit 1
    fi
  done
  K create namespace "$NS" >/dev/null
}

# accepted DESC [create-flags]: stdin must be accepted (server-side dry run unless "real").
accepted() {
  local desc="$1" mode="${2:-dry}" out
  local args=(create -f -)
  [ "$mode" = dry ] && args=(create --dry-run=server -f -)
  if out=$(K "${args[@]}" 2>&1); then pass "accepted: $desc"; else fail "accepted: $desc: $out"; fi
}
# refused DESC FIELD...: stdin must be refused and the error must mention every FIELD.
refused() {
  local desc="$1"; shift
  local out f
  if out=$(K create --dry-run=server -f - 2>&1); then
    fail "refused: $desc: was accepted"; return
  fi
  for f in "$@"; do
    if ! grep -qF -- "$f" <<<"$out"; then fail "refused: $desc: error does not name '$f': $out"; return; fi
  done
  pass "refused: $desc (names $*)"
}
# update_refused DESC OBJ PATCH FIELD...: a merge patch on an existing object is refused.
update_refused() {
  local desc="$1" obj="$2" patch="$3"; shift 3
  local out f
  if out=$(K patch -n "$NS" "$RESOURCE/$obj" --type=merge -p "$patch" --dry-run=server 2>&1); then
    fail "update refused: $desc: was accepted"; return
  fi
  for f in "$@"; do
    if ! grep -qF -- "$f" <<<"$out"; then fail "update refused: $desc: error does not name '$f': $out"; return; fi
  done
  pass "update refused: $desc (names $*)"
}
update_accepted() {
  local desc="$1" obj="$2" patch="$3" out
  if out=$(K patch -n "$NS" "$RESOURCE/$obj" --type=merge -p "$patch" 2>&1); then
    pass "update accepted: $desc"
  else
    fail "update accepted: $desc: $out"
  fi
}
# field OBJ JSONPATH WANT
field() {
  local got
  got=$(K get -n "$NS" "$RESOURCE/$1" -o "jsonpath={$2}" 2>&1)
  if [ "$got" = "$3" ]; then pass "field $1 $2 = $3"; else fail "field $1 $2: want '$3', got '$got'"; fi
}

