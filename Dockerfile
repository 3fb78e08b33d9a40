# STUB: the real multi-stage image (static binary, non-root) comes with the packaging issue.
# Until then this builds the proxy on a Swift image and runs it; nothing here is tested yet.
ARG SWIFT_IMAGE=swift:6.3-bookworm
FROM ${SWIFT_IMAGE} AS builder
WORKDIR /src
COPY . .
RUN scripts/setup.sh build && swift build -c release --product runtime-proxy

FROM debian:bookworm-slim
COPY --from=builder /src/.build/release/runtime-proxy /proxy
USER 1000
CMD ["/proxy"]
