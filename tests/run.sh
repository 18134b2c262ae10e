#!/usr/bin/env bash
# The test command: installs what is missing, builds the real test clusters'
# binaries (cached), builds everything with AddressSanitizer + UBSan and
# warnings as errors, and runs the unit, integration, e2e and fuzz tests two
# at a time (the RESOURCE_LOCKs in tests/integration/CMakeLists.txt keep apart
# the tests that must not overlap). Extra arguments go to ctest: a later -jN
# wins, so `./tests/run.sh -j1` runs them one at a time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${KF_BUILD_DIR:-$root/build}

tests/install-deps.sh
tests/harness/k8s build
cmake -S . -B "$build" -DKF_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure --no-tests=error -j2 -L '^(unit|integration|e2e|fuzz)$' "$@"
