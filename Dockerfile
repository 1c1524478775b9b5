# Multi-stage build of the sotp binary. librdkafka is built from source by rdkafka-sys
# (needs make, a C compiler, zlib and OpenSSL headers).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential pkg-config zlib1g-dev libssl-dev python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --bin sotp && cp target/release/sotp /sotp

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/sotp sotp && mkdir -p /var/lib/sotp && chown sotp /var/lib/sotp
COPY --from=build /sotp /usr/local/bin/sotp
USER sotp
WORKDIR /var/lib/sotp
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sotp"]
CMD ["run", "--config", "/etc/sotp/sotp.toml"]
