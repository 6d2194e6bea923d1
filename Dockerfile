# Release image of the tiered operator: a static (musl) binary on distroless, non-root.
# The emulator, the bench and the AWS fault layer are crates of their own (crates/): the
# workspace needs their manifests, but `--bin tiered` never compiles them.
#   docker build -t tiered:dev .
# Built natively per platform (buildx with QEMU for arm64): ring needs a C compiler for
# its target, and musl-tools only ships the native musl-gcc.
FROM rust:1.94-bookworm AS build
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN case "$TARGETARCH" in \
      arm64) echo aarch64-unknown-linux-musl > /rust-target ;; \
      *)     echo x86_64-unknown-linux-musl > /rust-target ;; \
    esac \
 && rustup target add "$(cat /rust-target)"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY crates crates
RUN cargo build --release --locked --bin tiered --target "$(cat /rust-target)" \
 && cp "target/$(cat /rust-target)/release/tiered" /tiered

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /tiered /usr/local/bin/tiered
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tiered"]
CMD ["run"]
