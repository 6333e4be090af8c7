# syntax=docker/dockerfile:1
#
# The reference host, deputy, as a static binary on distroless (no shell,
# no package manager), run as a non-root user.
#
#   docker build -t deputy --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --rm -p 8080:8080 -v "$PWD/deploy:/etc/deputy:ro" deputy
#
# The config directory holds deputy.json (and any keys_file or file:
# secrets it names, relative to it); it must be readable by uid 65532.
# See cmd/deputy/README.md, "Running in production".

FROM golang:1.26 AS build
WORKDIR /src
# The whole workspace: cmd/deputy is built against the modules beside it
# (go.work), not against published versions.
COPY . .
ARG VERSION=devel
ARG REVISION=
# .git is not in the build context, so the toolchain cannot stamp VCS
# information: VERSION and REVISION stand in for it (deputy version).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags="-s -w -X main.buildVersion=${VERSION} -X main.buildRevision=${REVISION}" \
      -o /out/deputy ./cmd/deputy

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/deputy /deputy
# nonroot: uid and gid 65532.
USER 65532:65532
EXPOSE 8080
# No shell or curl in the image: the binary probes itself. /healthz is
# liveness; orchestrators with their own probes (Kubernetes) should use
# /healthz for liveness and /readyz for readiness instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/deputy", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/deputy"]
# SIGTERM (docker stop) drains for --drain-delay, then shuts down within
# --shutdown-timeout; keep their sum under docker stop's grace period
# (10s by default). SIGHUP (docker kill -s HUP) reloads /etc/deputy.
CMD ["serve", "--config", "/etc/deputy/deputy.json", "--addr", ":8080", "--log-format", "json", "--drain-delay", "2s", "--shutdown-timeout", "7s"]
