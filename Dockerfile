# kubefed-operator image. Multi-stage: the build stage compiles with the README's CMake commands
# (Release) through deploy/build-image-steps.sh, the same script CI runs on the host, so the
# steps stay exercised without a registry; the runtime stage holds the binary and only the shared
# libraries it links (the script fails the build if ldd finds one RUNTIME_PACKAGES lacks).
#
#   docker build -t kubefed-operator:0.1.0 .
#
# The runtime packages, one list for both stages: deploy/build-image-steps.sh reads this line.
ARG RUNTIME_PACKAGES="libuv1 libcurl4 libjson-c5 libssl3 libyaml-0-2 ca-certificates"

FROM debian:bookworm AS build
ARG RUNTIME_PACKAGES
WORKDIR /src
COPY . .
# Installs the build packages (tests/install-deps.sh's list minus the test-only ones), builds
# Release into a scratch dir, runs --version, checks ldd against RUNTIME_PACKAGES, and leaves
# /out/kubefed-operator, /out/kubefed and /out/kubefed-controller-manager.
RUN deploy/build-image-steps.sh /out

FROM debian:bookworm-slim
ARG RUNTIME_PACKAGES
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${RUNTIME_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/kubefed-operator /usr/local/bin/kubefed-operator
COPY --from=build /out/kubefed /usr/local/bin/kubefed
# Each Federation's F-controller-manager Deployment runs this one (command
# /usr/local/bin/kubefed-controller-manager; the operator's --controller-manager-image is this image).
COPY --from=build /out/kubefed-controller-manager /usr/local/bin/kubefed-controller-manager
# The chart's runAsUser/runAsGroup; no home, no shell needed.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/kubefed-operator"]
