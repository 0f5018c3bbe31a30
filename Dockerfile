# syntax=docker/dockerfile:1
# chatops container image: `chatops serve` on 0.0.0.0:8080, JSON logs on stderr.
#
#   docker build -t chatops:0.1.0 .
#   docker run --rm -p 8080:8080 --env-file chatops.env --stop-timeout 30 \
#     -v chatops-data:/var/lib/chatops chatops:0.1.0
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.
# See deploy/README.md for configuration, Kubernetes and systemd.

# rust-version in Cargo.toml is 1.88: building with exactly that compiler keeps the
# image reproducible and fails loudly if the code starts needing a newer one.
# `--build-arg RUST_VERSION=1` follows the latest stable instead.
# Both stages are Debian 12 (bookworm), so the binary and the runtime share glibc 2.36.
ARG RUST_VERSION=1.88

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# Dependency caching: BuildKit cache mounts rather than a "dummy main" layer. The crate
# has a lib, a bin and a declared bench target that would all need stubs kept in step
# with Cargo.toml; cache mounts need none, and they also keep target/ between builds,
# so a source change recompiles only chatops itself. The mounts live on the builder:
# an ephemeral CI builder starts cold (--cache-to/--cache-from do not export them).
# chatops' own artifacts are cleaned first: cargo decides freshness by mtimes, and a
# source file edited while an earlier build ran can carry an mtime older than that
# build's output and be skipped (seen in testing). Dependencies stay cached.
# target/ is a cache mount, so the binary is copied out to /out within the same RUN.
# No OpenSSL and no system SQLite are needed: TLS is rustls+ring, rusqlite is bundled.
RUN --mount=type=cache,id=chatops-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=chatops-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=chatops-target,target=/src/target,sharing=locked \
    cargo clean --release --package chatops \
 && cargo build --release --locked \
 && install -D -m 0755 target/release/chatops /out/chatops \
 && mkdir -p /out/state

# Runtime: distroless cc (Debian 12) rather than debian:bookworm-slim. It has what the
# binary links against (glibc, libgcc_s) plus ca-certificates (rustls-native-certs reads
# them for Slack, Discord, OpenAI) and tzdata, and nothing else: no shell, no package
# manager, ~25 MB. The :nonroot tag runs as uid/gid 65532. For a shell when debugging,
# use the :debug-nonroot tag or `kubectl debug`. Pin by digest in production
# (gcr.io/distroless/cc-debian12:nonroot@sha256:...).
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/example/chatops
LABEL org.opencontainers.image.title="chatops" \
      org.opencontainers.image.description="ChatOps agent for the ops team of a quant-trading platform (Slack, Discord)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=build /out/chatops /usr/local/bin/chatops
# The working directory holds the SQLite store (data/chatops.db) when MONGODB_URI is
# unset, so it must be writable by the runtime user. Mount a volume here to keep it.
COPY --from=build --chown=65532:65532 /out/state/ /var/lib/chatops/
WORKDIR /var/lib/chatops
USER 65532:65532

ENV CHATOPS_HTTP_ADDR=0.0.0.0:8080 \
    CHATOPS_LOG_FORMAT=json
EXPOSE 8080

# No HEALTHCHECK: distroless has no curl/wget/shell to run one, and chatops has no
# self-probe subcommand. Orchestrators probe GET /healthz (liveness) and GET /readyz
# (readiness) directly; see deploy/k8s/deployment.yaml.

# chatops runs as PID 1 and handles SIGTERM itself (stops taking events, finishes or
# hands back in-flight work within ~20 s, exits 0); it spawns no children, so no init
# is needed. Docker's default stop timeout is 10 s: use --stop-timeout 30.
STOPSIGNAL SIGTERM
ENTRYPOINT ["chatops"]
CMD ["serve"]
