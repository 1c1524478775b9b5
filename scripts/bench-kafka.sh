#!/usr/bin/env bash
# Kafka bus benchmark (docs/BENCHMARKS.md). Each run starts a fresh tansu on 127.0.0.1
# for each of:
#   1. produce: SOTP's producer vs a plain librdkafka producer (confluent-kafka) on the
#      same messages;
#   2. e2e: publish -> consume -> hot tier -> Parquet, on Kafka and on the embedded bus,
#      with CPU seconds per thread group and of the broker, and the consumer's fetches;
#   3. consume: a filled topic read by SOTP (into Parquet) and by a plain librdkafka
#      consumer that only decodes the JSON.
# Then prints the median and range of each figure over the runs.
# Usage: scripts/bench-kafka.sh [samples] [runs]   (builds sotp-benches with --profile bench)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup-peers.sh)"
n="${1:-1000000}"
runs="${2:-5}"
target="${CARGO_TARGET_DIR:-target}"
cargo build -q --profile bench -p sotp-benches --bin kafka_bus
bin="$target/release/kafka_bus"
[ -x "$bin" ] || bin="$target/bench/kafka_bus"
work="$(mktemp -d)"
tansu_pid=
trap 'kill $tansu_pid 2>/dev/null; rm -rf "$work"' EXIT
echo "broker: $("$SOTP_TANSU" --version)"

start_broker() {
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$SOTP_TANSU" broker --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" >"$work/tansu.log" 2>&1 &
    tansu_pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "tansu did not listen on $port:" >&2
    cat "$work/tansu.log" >&2
    exit 1
}
stop_broker() { kill "$tansu_pid"; wait "$tansu_pid" 2>/dev/null || true; }

for run in $(seq "$runs"); do
    echo "== run $run of $runs"
    start_broker
    out=()
    [ "$run" = 1 ] && out=(--messages-out "$work/messages.tsv")
    "$bin" produce --brokers "127.0.0.1:$port" --samples "$n" "${out[@]}"
    "$SOTP_PYTHON" scripts/bench_plain_producer.py "127.0.0.1:$port" "$work/messages.tsv"
    stop_broker
    start_broker
    "$bin" e2e --brokers "127.0.0.1:$port" --samples "$n" --broker-pid "$tansu_pid"
    stop_broker
    start_broker
    "$bin" consume --brokers "127.0.0.1:$port" --samples "$n" --broker-pid "$tansu_pid" \
        --python "$SOTP_PYTHON"
    stop_broker
done | tee "$work/runs.txt"

python3 - "$work/runs.txt" <<'PY'
import re, statistics, sys
figures = {}
for line in open(sys.argv[1]):
    head = " ".join(w for w in line.split()[:2] if "=" not in w or w.startswith("bus="))
    for key, value in re.findall(r"(\w+)=([0-9.]+)", line):
        if key in ("msgs_per_s", "samples_per_s", "ratio", "bytes_per_fetch", "waited_for_events_s") or line.startswith("cpu_seconds"):
            figures.setdefault(f"{head} {key}", []).append(float(value))
print("== median [min, max] over the runs")
for name, values in figures.items():
    fmt = (lambda v: f"{v:,.0f}") if max(values) >= 100 else (lambda v: f"{v:.2f}")
    print(f"{name}: {fmt(statistics.median(values))} [{fmt(min(values))}, {fmt(max(values))}] ({len(values)} runs)")
PY
