#!/usr/bin/env bash
# The C style, kept by a tool: clang-format-14 with the repo's .clang-format over every tracked
# *.c / *.h in operator/, reconcilers/ and tests/ (fuzz corpora are inputs, not code, and
# generated sources live in the build dir).
#   tests/format.sh           reformat those files in place
#   tests/format.sh --check   change nothing; list the files that are not formatted and exit 1
#                             (the ctest test style.clang-format)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
command -v "$CLANG_FORMAT" >/dev/null ||
  { echo "format.sh: $CLANG_FORMAT is missing (tests/install-deps.sh installs it)" >&2; exit 1; }
[ -f .clang-format ] || { echo "format.sh: no .clang-format in $root" >&2; exit 1; }

# The files: git's list in a checkout, else (an unpacked tarball) the same folders walked.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- 'operator/*.[ch]' 'reconcilers/*.[ch]' 'tests/*.[ch]' |
    grep -v '^tests/fuzz/corpus/')
else
  mapfile -t files < <(find operator reconcilers tests -name '*.[ch]' -not -path 'tests/fuzz/corpus/*' | sort)
fi
((${#files[@]})) || { echo "format.sh: no C sources found under $root" >&2; exit 1; }

case "${1:-}" in
  "")
    "$CLANG_FORMAT" -i --style=file "${files[@]}"
    echo "format.sh: formatted ${#files[@]} files"
    ;;
  --check)
    bad=()
    for f in "${files[@]}"; do
      "$CLANG_FORMAT" --dry-run --Werror --style=file "$f" >/dev/null 2>&1 || bad+=("$f")
    done
    if ((${#bad[@]})); then
      echo "${#bad[@]} of ${#files[@]} files are not formatted as .clang-format says:" >&2
      printf '  %s\n' "${bad[@]}" >&2
      echo "Run tests/format.sh to reformat them in place (or see what would change with" >&2
      echo "  $CLANG_FORMAT --dry-run FILE)." >&2
      exit 1
    fi
    echo "format.sh: all ${#files[@]} files formatted"
    ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
