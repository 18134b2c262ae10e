#!/usr/bin/env bash
# kube.valgrind: the client, events, controller, informer and federation CA integration tests again, built
# without sanitizers and run under valgrind against the shared test cluster, then the whole join
# flow (tests/integration/cluster_join.sh: a Federation served for real, two members joined,
# probed, made Offline, unjoined) with the operator binary itself under valgrind: no invalid
# access, no definite or indirect leak, and every operator process exits on its own.
#   usage: valgrind.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
command -v valgrind >/dev/null || { echo "valgrind is missing: run tests/install-deps.sh" >&2; exit 1; }
cmake -S "$src" -B "$build" -DKF_SANITIZE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(it_kube_client it_kube_events it_kube_controller it_kube_informer it_federation_ca)
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" kubefed-operator >/dev/null
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

# The operator under valgrind: exec keeps the pid, so the test's SIGTERM reaches valgrind, which
# passes it on; the summary it prints at exit proves the process ended normally and was checked.
vgdir=$(mktemp -d)
trap 'rm -rf "$vgdir"' EXIT
printf '#!/usr/bin/env bash\nexec valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --log-file=%q %q "$@"\n' \
  "$vgdir/valgrind.%p.log" "$build/kubefed-operator" >"$vgdir/operator"
chmod +x "$vgdir/operator"
echo "== cluster.join with the operator under valgrind"
if ! KF_OPERATOR="$vgdir/operator" "$src/tests/integration/cluster_join.sh"; then
  echo "FAIL: cluster.join with the operator under valgrind" >&2
  status=1
fi
logs=("$vgdir"/valgrind.*.log)
[ -e "${logs[0]}" ] || { echo "FAIL: the operator never ran under valgrind" >&2; exit 1; }
for log in "${logs[@]}"; do
  if ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
    echo "FAIL: the operator under valgrind ($log):" >&2
    cat "$log" >&2
    status=1
  fi
done
echo "operator processes checked under valgrind: ${#logs[@]}"
exit $status
