# Multi-stage build of the sotp binary. librdkafka is built from source by rdkafka-sys
# (needs make, a C compiler, zlib and OpenSSL headers).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential pkg-config zlib1g-dev libssl-dev python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
# The TextFSM templates SOTP parses `show` outputs with: ntc-templates from PyPI (the
# version the tests compare against), unchanged.
RUN python3 -m venv /tmp/ntc && /tmp/ntc/bin/pip install --no-cache-dir 'ntc-templates==9.3.0' \
    && cp -r /tmp/ntc/lib/python3*/site-packages/ntc_templates/templates /ntc-templates
WORKDIR /src
COPY . .
RUN cargo build --release --bin sotp && cp target/release/sotp /sotp

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/sotp sotp && mkdir -p /var/lib/sotp && chown sotp /var/lib/sotp
COPY --from=build /sotp /usr/local/bin/sotp
COPY --from=build /ntc-templates /usr/share/sotp/ntc-templates
# [ssh] templates_dir for `sotp run`, and the default of `sotp parse --templates`.
ENV SOTP__SSH__TEMPLATES_DIR=/usr/share/sotp/ntc-templates \
    NTC_TEMPLATES_DIR=/usr/share/sotp/ntc-templates
USER sotp
WORKDIR /var/lib/sotp
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sotp"]
CMD ["run", "--config", "/etc/sotp/sotp.toml"]
