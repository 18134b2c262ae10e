#!/usr/bin/env bash
# Builds tests/fuzz/fuzz_NAME.c with clang's libFuzzer, ASan and UBSan against the
# runtime sources, then fuzzes for SECONDS from the seed corpus in the repo
# (new inputs go to a scratch copy, never into the repo). A crash fails the test
# and leaves the reproducer in OUTDIR. A fuzzer that needs reconcilers/ code names
# those files on a `fuzz-sources:` line of its comment (paths from the repo root).
set -euo pipefail
name=$1 seconds=$2 outdir=${3:-${TMPDIR:-/tmp}/kf-fuzz}
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v clang >/dev/null || { echo "clang is missing: run tests/install-deps.sh" >&2; exit 1; }
mkdir -p "$outdir"
bin="$outdir/fuzz_$name"
srcs="$(ls "$root"/operator/runtime/*.c) $root/operator/api/api.c"  # the runtime and the API names
for f in $(sed -n 's/^.*fuzz-sources://p' "$root/tests/fuzz/fuzz_$name.c"); do
  srcs="$srcs $root/$f"
done
# shellcheck disable=SC2046
clang -g -O1 -std=c17 -D_GNU_SOURCE -DKF_VERSION='"fuzz"' -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -I"$root/operator/runtime" -I"$root/operator/api" -I"$root/reconcilers" "$root/tests/fuzz/fuzz_$name.c" $srcs \
  $(pkg-config --cflags --libs libuv libcurl json-c openssl yaml-0.1) -lm -o "$bin"
corpus="$outdir/corpus-$name"
rm -rf "$corpus"; mkdir -p "$corpus"
cp "$root/tests/fuzz/corpus/$name"/* "$corpus/"
cd "$outdir"
log="$outdir/fuzz-$name.log"
rc=0
"$bin" -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$outdir/crash-$name-" "$corpus" >"$log" 2>&1 || rc=$?
# The last status line (coverage, features, corpus size, exec/s), then how it ended.
grep -E '^#[0-9]+.*cov:' "$log" | tail -n 1 || true
tail -n 15 "$log"
exit "$rc"
