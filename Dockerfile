# hawser's container image: the sidecar, drop-in where App Mesh's Envoy was.
#
#   docker build -t hawser .
#   docker run --rm -e HAWSER_CONFIG_YAML="$(cat hawser.yaml)" hawser
#
# The build stage is a Debian 12 machine set up as the README says
# (scripts/setup demo) building the one `hawser` target in Release. The runtime
# stage is the tree scripts/image-rootfs makes, and nothing else: the stripped
# binary, the libraries `ldd` names (the loader included), the CA bundle,
# /etc/passwd and /etc/group with uid 1337, and sh, curl and grep with their
# libraries so App Mesh's health check runs unchanged in the container.
# tests/integration/test_image_rootfs.py runs that same tree in a chroot.

FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/setup demo \
 && apt-get install -y -qq --no-install-recommends binutils ca-certificates curl \
 && cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHAWSER_TESTS=OFF \
 && cmake --build /build --target hawser \
 && scripts/image-rootfs --binary /build/cmd/hawser /rootfs

FROM scratch
COPY --from=build /rootfs /
# App Mesh's IgnoredUID: with transparent interception, traffic of this uid is not redirected.
USER 1337:1337
# admin (/server_info, /ready, /metrics); Speedscale-style HTTP_PROXY and reverse
# listeners; transparent ingress and egress (App Mesh's ProxyIngressPort and
# ProxyEgressPort); the capture forwarder. Which are bound is up to the config.
EXPOSE 9901 4140 4143 15000 15001 8888
HEALTHCHECK --interval=5s --timeout=2s --start-period=10s --retries=3 \
  CMD curl -s http://localhost:9901/server_info | grep state | grep -q LIVE
ENTRYPOINT ["/usr/local/bin/hawser"]
CMD ["proxy"]
