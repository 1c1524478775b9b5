#!/usr/bin/env bash
# Kafka bus benchmark (docs/BENCHMARKS.md): starts tansu on 127.0.0.1, then
#   1. SOTP's producer vs a plain librdkafka producer (confluent-kafka) on the same messages;
#   2. end to end (publish -> consume -> hot tier -> Parquet) on Kafka vs the embedded bus.
# Usage: scripts/bench-kafka.sh [samples]   (needs a --profile bench build of sotp-benches)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup-peers.sh)"
n="${1:-1000000}"
target="${CARGO_TARGET_DIR:-target}"
cargo build -q --profile bench -p sotp-benches --bin kafka_bus
bin="$target/release/kafka_bus"
[ -x "$bin" ] || bin="$target/bench/kafka_bus"
work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SOTP_TANSU" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" >"$work/tansu.log" 2>&1 &
tansu_pid=$!
trap 'kill $tansu_pid 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5
"$bin" produce --brokers "127.0.0.1:$port" --samples "$n" --messages-out "$work/messages.tsv"
"$SOTP_PYTHON" scripts/bench_plain_producer.py "127.0.0.1:$port" "$work/messages.tsv"
"$bin" e2e --brokers "127.0.0.1:$port" --samples "$n"
