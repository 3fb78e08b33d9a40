# runtime-proxy as a container image: one static binary at /proxy, nothing else.
# Runtime images take it with:  COPY --from=<this image> /proxy /proxy
#
#   podman build -t runtime-proxy .                               (or docker build)
#   podman build -t runtime-proxy --build-arg SWIFT_IMAGE=... .   (another Swift 6.3 base)
#
# The builder installs libuv and llhttp the same way as scripts/setup.sh (it
# runs it), then builds the fully static release binary (scripts/build-static).
ARG SWIFT_IMAGE=swift:6.3-bookworm
FROM ${SWIFT_IMAGE} AS builder
WORKDIR /src
COPY . .
RUN scripts/build-static

# The final image: the binary alone, run as an unprivileged user (UID 1000,
# as Kubeless runtimes require). It runs without /proc, /etc or a shell.
FROM scratch AS proxy
COPY --from=builder /src/dist/runtime-proxy /proxy
USER 1000:1000
EXPOSE 8080
CMD ["/proxy"]
