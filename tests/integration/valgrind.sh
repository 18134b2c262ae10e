#!/usr/bin/env bash
# kube.valgrind: the client, events, controller, informer and federation CA integration tests again, built
# without sanitizers and run under valgrind against the shared test cluster: no
# invalid access, no definite or indirect leak.
#   usage: valgrind.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
command -v valgrind >/dev/null || { echo "valgrind is missing: run tests/install-deps.sh" >&2; exit 1; }
cmake -S "$src" -B "$build" -DKF_SANITIZE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(it_kube_client it_kube_events it_kube_controller it_kube_informer it_federation_ca)
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null
cd "$src"  # the tests read crds/ relative to the source tree
status=0
for t in "${targets[@]}"; do
  bin=$(find "$build" -name "$t" -type f -perm -u+x | head -n1)
  echo "== valgrind $t"
  if ! valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
      --show-leak-kinds=definite,indirect --track-origins=yes "$bin"; then
    echo "FAIL: $t under valgrind" >&2
    status=1
  fi
done
exit $status
