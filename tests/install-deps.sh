#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test kubefed-operator.
# Idempotent and quiet when everything is present; called by both README commands.
set -euo pipefail
packages=(build-essential cmake pkg-config git curl openssl ca-certificates time
          libuv1-dev libcurl4-openssl-dev libjson-c-dev libssl-dev libyaml-dev libcmocka-dev
          clang libclang-rt-14-dev clang-format-14 valgrind gnuplot-nox python3 iproute2 bc jq)
# packaging.image builds the Dockerfile with buildah on base images `k8s build` makes with
# mmdebstrap (outside the list above, which deploy/build-image-steps.sh reads for the image).
packages+=(buildah mmdebstrap)
# dig (dnsutils) queries the tests' CoreDNS servers (service DNS, the harness's own test).
packages+=(dnsutils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null; then
  echo "install-deps: Go is required to build the test clusters (kube-apiserver, etcd, kwok, helm)" >&2
  echo "install-deps: Debian's golang-go is too old; install Go >= 1.26 from go.dev" >&2
  exit 1
fi
