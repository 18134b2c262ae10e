#!/usr/bin/env bash
# CTest fixture: `up NAME FILE` starts a harness cluster and writes its kubeconfig
# path into FILE; `down NAME FILE` stops it and removes FILE.
set -euo pipefail
action=$1 name=$2 file=$3
case "$action" in
  up)
    "$HARNESS" down "$name" >/dev/null 2>&1 || true   # a cluster left by an interrupted run
    "$HARNESS" up "$name" --nodes 1 > "$file.tmp"
    mv "$file.tmp" "$file"
    echo "cluster $name up: $(cat "$file")"
    ;;
  down)
    "$HARNESS" down "$name"
    rm -f "$file"
    ;;
  *) echo "usage: $0 up|down NAME FILE" >&2; exit 2 ;;
esac
