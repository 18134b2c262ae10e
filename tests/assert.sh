# Shared by the bash tests (tests/integration/lib.sh, tests/e2e/*.sh): PASS/FAIL bookkeeping
# and the polling helpers. Source it after setting TEST (the ctest name, for logs) and HARNESS.
# The caller's finish cleans up and ends with exit_with_summary; when it runs the operator binary
# it sets OPPID (wait_until stops early when that process died).
PASSED=${PASSED:-0}
FAILED=${FAILED:-0}
OPPID=${OPPID:-}
T0=$SECONDS

say()  { printf '[%s %3ds] %s\n' "$TEST" $((SECONDS - T0)) "$*" >&2; }
pass() { PASSED=$((PASSED + 1)); printf 'PASS: %s (t=%ds)\n' "$*" $((SECONDS - T0)); }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL: %s (t=%ds)\n' "$*" $((SECONDS - T0)); }
# must DESC CMD...: an assertion the rest of the flow depends on: stop at once when it fails.
must() { local d="$1"; shift; if "$@"; then pass "$d"; else fail "$d"; exit 1; fi; }
# check DESC CMD...: one assertion, CMD's output hidden.
check() { local d="$1"; shift; if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d"; fi; }

free_port() { "$HARNESS" free-port "$1" "$2"; }  # a free loopback port in [$1, $2]
# The operator's --controller-manager-image in tests: the image the README builds (the chart passes
# its own). No pod pulls it (kwok fakes pods); `k8s serve-federation` runs the build's
# kubefed-controller-manager for the F-controller-manager Deployment instead.
KF_CM_IMAGE="kubefed-operator:$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' \
  "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy/helm/kubefed-operator/Chart.yaml")"
operator_alive() { [ -n "$OPPID" ] && kill -0 "$OPPID" 2>/dev/null; }
# wait_until DESC SECONDS CMD...: poll CMD every 0.5 s; PASS, or FAIL and return 1 (early when
# the operator started as OPPID died).
wait_until() {
  local desc="$1" secs="$2"; shift 2
  local end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do
    if "$@" >/dev/null 2>&1; then pass "$desc"; return 0; fi
    if [ -n "$OPPID" ] && ! operator_alive; then fail "$desc: the operator died"; return 1; fi
    sleep 0.5
  done
  fail "$desc (not within ${secs}s)"
  return 1
}

# exit_with_summary: "TEST: N passed, M failed in Ts", then exit 0 only if checks ran and none failed.
exit_with_summary() {
  printf '%s: %d passed, %d failed in %ds\n' "$TEST" "$PASSED" "$FAILED" $((SECONDS - T0))
  [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ] && exit 0
  exit 1
}
