#!/usr/bin/env bash
# The image's build steps, in one place: the Dockerfile's build stage runs
# `deploy/build-image-steps.sh /out`, and CI (tests/e2e/packaging_lint.sh) runs it on the host
# into a temp dir, so the steps stay exercised where no registry is reachable.
#
#   deploy/build-image-steps.sh OUTDIR
#
# 1. Installs the build packages when any is missing (tests/install-deps.sh's list minus the
#    test-only ones; nothing is installed when they are all present).
# 2. Builds Release into a scratch build dir with KF_BUILD_TESTS=OFF (the tests are not shipped,
#    so cmocka is neither installed nor looked for), the kubefed-operator, kubefed and
#    kubefed-controller-manager targets.
# 3. Copies the stripped programs to OUTDIR and checks they run (--version, version).
# 4. Lists its shared libraries with ldd (OUTDIR/shared-libraries.txt) and fails unless the
#    runtime stage provides each one: a directly linked library must come from a package in the
#    Dockerfile's RUNTIME_PACKAGES (or libc6, in every Debian image), and every library ldd
#    resolves must come from those packages or their Depends/Pre-Depends.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'build-image-steps: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

if [ $# -ne 1 ] || [ -z "$1" ]; then echo "usage: $0 OUTDIR" >&2; exit 2; fi
mkdir -p "$1"
OUT="$(cd "$1" && pwd)"

# ---- 1. build packages ----------------------------------------------------------------------
# Not needed to build the programs: test runners, the unit-test library, tools and the fuzzing
# toolchain, the formatter.
TEST_ONLY=" git curl openssl time libcmocka-dev clang libclang-rt-14-dev clang-format-14 valgrind gnuplot-nox python3 iproute2 bc jq "
read -r -a all_packages <<<"$(sed -n '/^packages=(/,/)/p' "$ROOT/tests/install-deps.sh" |
  sed -e 's/^packages=(//' -e 's/)[[:space:]]*$//' | tr -s '[:space:]' ' ')"
((${#all_packages[@]} > 5)) || die "could not read the package list of tests/install-deps.sh"
build_packages=()
for p in "${all_packages[@]}"; do
  [[ "$TEST_ONLY" == *" $p "* ]] || build_packages+=("$p")
done
# Same check and install as tests/install-deps.sh (which also insists on Go, which this build
# does not need).
missing=()
for p in "${build_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
else
  say "build packages present: ${build_packages[*]}"
fi

# ---- 2. Release build -----------------------------------------------------------------------
BUILD="$(mktemp -d "${TMPDIR:-/tmp}/kubefed-image-build.XXXXXX")"
trap 'rm -rf "$BUILD"' EXIT
say "cmake -S $ROOT -B $BUILD -DCMAKE_BUILD_TYPE=Release -DKF_BUILD_TESTS=OFF"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DKF_BUILD_TESTS=OFF >"$BUILD/configure.log" 2>&1 ||
  { tail -n 40 "$BUILD/configure.log" >&2; die "cmake configure"; }
# The image's build stage has no cmocka: this configure must not have looked for it.
! grep -qi cmocka "$BUILD/CMakeCache.txt" || die "a KF_BUILD_TESTS=OFF configure looked for cmocka"
say "cmake --build $BUILD -j$(nproc) --target kubefed-operator kubefed kubefed-controller-manager"
cmake --build "$BUILD" -j"$(nproc)" --target kubefed-operator kubefed kubefed-controller-manager >"$BUILD/build.log" 2>&1 ||
  { tail -n 60 "$BUILD/build.log" >&2; die "cmake build"; }

# ---- 3. the binary --------------------------------------------------------------------------
BIN="$OUT/kubefed-operator"
install -m 0755 "$BUILD/kubefed-operator" "$BIN"
strip --strip-unneeded "$BIN"
version="$("$BIN" --version)" || die "$BIN --version failed"
say "built $BIN: $version"
# The kubefed CLI (same libraries as the operator, which the check below covers).
install -m 0755 "$BUILD/kubefed" "$OUT/kubefed"
strip --strip-unneeded "$OUT/kubefed"
"$OUT/kubefed" version >/dev/null || die "$OUT/kubefed version failed"
# The federation controller manager, which each F-controller-manager Deployment runs from this
# image (same libraries as the operator).
install -m 0755 "$BUILD/kubefed-controller-manager" "$OUT/kubefed-controller-manager"
strip --strip-unneeded "$OUT/kubefed-controller-manager"
"$OUT/kubefed-controller-manager" --version >/dev/null || die "$OUT/kubefed-controller-manager --version failed"

# ---- 4. shared libraries against the runtime stage ------------------------------------------
runtime="${RUNTIME_PACKAGES:-$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"[[:space:]]*$/\1/p' "$ROOT/Dockerfile")}"
read -r -a runtime_packages <<<"$runtime"
((${#runtime_packages[@]})) || die "no RUNTIME_PACKAGES (the Dockerfile's ARG RUNTIME_PACKAGES line)"

declare -A closure=()
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
add_closure() {  # add_closure PKG: PKG and, recursively, its installed Depends/Pre-Depends
  local pkg="$1" name
  [ -n "${closure[$pkg]:-}" ] && return 0
  closure[$pkg]=1
  # "a (>= 1), b:any | c" -> a, b, c (of alternatives, whichever are installed)
  for name in $(dpkg-query -W -f='${Depends}, ${Pre-Depends}' "$pkg" 2>/dev/null |
                sed -e 's/([^)]*)//g' -e 's/:any//g' | tr ',|' '\n'); do
    if installed "$name"; then add_closure "$name"; fi
  done
}
for p in "${runtime_packages[@]}"; do
  installed "$p" ||
    die "runtime package $p is not installed here, so the binary cannot have been checked against it"
  add_closure "$p"
done

owner() {  # owner PATH: the Debian package that ships PATH (merged /usr tolerated)
  local path="$1" real alt out
  real="$(readlink -f "$path")"
  for alt in "$path" "$real" "${path#/usr}" "/usr$path" "${real#/usr}" "/usr$real"; do
    if out="$(dpkg -S "$alt" 2>/dev/null)"; then
      out="${out%%: *}"; out="${out%%,*}"; echo "${out%%:*}"; return 0
    fi
  done
  return 1
}

needed="$(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\].*/\1/p')"
report="$OUT/shared-libraries.txt"
: >"$report"
bad=0
while read -r line; do
  case "$line" in
    *linux-vdso*|"") continue ;;
    *"not found"*) say "unresolved: $line"; bad=1; continue ;;
  esac
  if [[ "$line" == *" => "* ]]; then
    lib="${line%% *}"; path="${line#* => }"; path="${path%% (*}"
  else
    path="${line%% (*}"; lib="$(basename "$path")"
  fi
  pkg="$(owner "$path")" || { say "$lib ($path) belongs to no Debian package"; bad=1; continue; }
  direct=no
  grep -qxF "$lib" <<<"$needed" && direct=yes
  printf '%s\t%s\t%s\tdirect=%s\n' "$lib" "$path" "$pkg" "$direct" >>"$report"
  if [ "$direct" = yes ]; then
    if [[ " ${runtime_packages[*]} libc6 " != *" $pkg "* ]]; then
      say "$lib (linked directly) comes from $pkg, which is not in RUNTIME_PACKAGES: ${runtime_packages[*]}"
      bad=1
    fi
  elif [ -z "${closure[$pkg]:-}" ]; then
    say "$lib comes from $pkg, which no package in RUNTIME_PACKAGES pulls in"
    bad=1
  fi
done < <(ldd "$BIN")
[ "$bad" -eq 0 ] || die "the runtime stage would lack shared libraries (ldd of $BIN above)"
for lib in $needed; do
  grep -q "^$lib	" "$report" || die "NEEDED $lib is missing from ldd's output"
done
say "shared libraries ($(wc -l <"$report")) all provided by: ${runtime_packages[*]} (+ their dependencies); list in $report"
