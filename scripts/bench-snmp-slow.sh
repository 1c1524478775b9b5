#!/usr/bin/env bash
# Slow agents, issue 20: what SOTP's SNMP poller and prometheus-snmp-exporter (Debian,
# 0.21) get from the same slow agents with the same 3 s timeout, and in what time.
#
# The agents are snmpsim serving the recordings of a Cisco Nexus 5000 and a Juniper MX960
# (snmpsim-data, installed by scripts/setup-peers.sh), behind a proxy that answers like
# a slow real agent, as in tests/it/snmp_slow_agent.rs: one request at a time, 5 ms per
# varbind asked (a GETBULK asks varbinds x max-repetitions), and no reply at all to a
# request of more than 120 varbinds (a reply too big for the path).
# Both pollers walk the same IF-MIB columns (the module of scripts/bench-snmp-poll.sh).
#
# Usage (root; builds the bench binary with --profile bench):
#   source <(scripts/setup-peers.sh); scripts/bench-snmp-slow.sh [POLLS]
set -euo pipefail
POLLS="${1:-3}"
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
: "${SOTP_SNMPSIM:?run scripts/setup-peers.sh and export what it prints}"
: "${SOTP_SNMPSIM_DATA:?run scripts/setup-peers.sh and export what it prints}"
command -v prometheus-snmp-exporter >/dev/null || apt-get install -y -q prometheus-snmp-exporter >/dev/null
BIN="${SOTP_SNMP_POLL_COST_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build -q --profile bench -p sotp-benches --bin snmp_poll_cost
  BIN="$TARGET/release/snmp_poll_cost"
fi

WORK="$(mktemp -d)"
SIM_PORT=19161
EXPORTER_PORT=19117
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK" 2>/dev/null || true
}
trap cleanup EXIT

mkdir -p "$WORK/data/network/switch" "$WORK/data/network/router" "$WORK/cache"
for rel in network/switch/cisco-n5000 network/router/juniper-mx960-16-1r6-7-a; do
  src="$SOTP_SNMPSIM_DATA/$rel"
  if [ -f "$src.snmprec" ]; then cp "$src.snmprec" "$WORK/data/$rel.snmprec"
  else bzcat "$src.snmprec.bz2" >"$WORK/data/$rel.snmprec"; fi
done
chown -R nobody:nogroup "$WORK"
"$SOTP_SNMPSIM" --data-dir="$WORK/data" --cache-dir="$WORK/cache" --process-user=nobody \
  --process-group=nogroup --log-level=error --agent-udpv4-endpoint="127.0.0.1:$SIM_PORT" \
  >"$WORK/snmpsim.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do
  snmpget -m '' -v2c -c network/switch/cisco-n5000 -t 1 -r 0 "127.0.0.1:$SIM_PORT" 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 && break
  sleep 0.2
done

# The slow proxy: one request at a time, 5 ms per varbind asked, silence above 120.
cat >"$WORK/proxy.py" <<'EOF'
import socket, sys, time

PER_VARBIND, MAX_ASKED = 0.005, 120

def ber(b, i):
    tag, first = b[i], b[i + 1]
    i += 2
    if first < 0x80:
        return tag, first, i
    n = first & 0x7F
    return tag, int.from_bytes(b[i:i + n], "big"), i + n

def asked(msg):
    _, _, i = ber(msg, 0)             # message
    _, n, i = ber(msg, i); i += n      # version
    _, n, i = ber(msg, i); i += n      # community
    pdu, _, i = ber(msg, i)
    _, n, i = ber(msg, i); i += n      # request-id
    _, n, i = ber(msg, i); non_rep = int.from_bytes(msg[i:i + n], "big"); i += n
    _, n, i = ber(msg, i); max_rep = int.from_bytes(msg[i:i + n], "big"); i += n
    _, total, i = ber(msg, i)          # varbind list
    end, count = i + total, 0
    while i < end:
        _, n, i = ber(msg, i); i += n; count += 1
    if pdu == 0xA5:                    # GETBULK
        return min(non_rep, count) + max(count - non_rep, 0) * max_rep
    return count

listen, upstream = int(sys.argv[1]), ("127.0.0.1", int(sys.argv[2]))
# A third argument: a file that gets one line per request (time, varbinds asked, outcome).
log = open(sys.argv[3], "w", buffering=1) if len(sys.argv) > 3 else None
front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); front.bind(("127.0.0.1", listen))
back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); back.settimeout(5)
while True:
    msg, client = front.recvfrom(65535)
    started = time.monotonic()
    try:
        n = asked(msg)
    except (IndexError, ValueError):
        continue
    if n > MAX_ASKED:
        if log: log.write(f"{started:.3f} {n} dropped\n")
        continue
    back.sendto(msg, upstream)
    try:
        reply, _ = back.recvfrom(65535)
    except socket.timeout:
        continue
    time.sleep(max(0.0, n * PER_VARBIND - (time.monotonic() - started)))
    front.sendto(reply, client)
    if log: log.write(f"{started:.3f} {n} answered\n")
EOF

# The exporter's module: the columns of scripts/bench-snmp-poll.sh, 3 s timeout.
python3 scripts/snmp_exporter_module.py "$WORK/snmp.yml" 3s n5k=network/switch/cisco-n5000 mx960=network/router/juniper-mx960-16-1r6-7-a
prometheus-snmp-exporter --config.file="$WORK/snmp.yml" --web.listen-address="127.0.0.1:$EXPORTER_PORT" >"$WORK/exporter.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$EXPORTER_PORT/" >/dev/null && break; sleep 0.1; done

echo "agents: snmpsim $("$SOTP_SNMPSIM" --version 2>&1 | head -1) behind a slow proxy; exporter $(prometheus-snmp-exporter --version 2>&1 | head -1)"
# A slow proxy on PORT in front of snmpsim (request log LOG when given), once it answers.
start_proxy() {
  local port="$1" community="$2" log="${3:-}"
  python3 "$WORK/proxy.py" "$port" "$SIM_PORT" ${log:+"$log"} &
  PIDS+=($!)
  for _ in $(seq 1 50); do
    snmpget -m '' -v2c -c "$community" -t 2 -r 0 "127.0.0.1:$port" 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 && return
    sleep 0.1
  done
}

port=19170
for dev in n5k:network/switch/cisco-n5000 mx960:network/router/juniper-mx960-16-1r6-7-a; do
  name="${dev%%:*}"; community="${dev#*:}"
  port=$((port + 1))
  # SLOW_PROXY_LOG=DIR: one request log per device, DIR/NAME-sotp.log then NAME-exporter.log.
  start_proxy "$port" "$community" ${SLOW_PROXY_LOG:+"$SLOW_PROXY_LOG/$name-sotp.log"}
  rows=$(snmpbulkwalk -m '' -v2c -c "$community" -Cr20 -t 5 "127.0.0.1:$SIM_PORT" 1.3.6.1.2.1.31.1.1.1.1 | wc -l)
  echo "== $name: $rows interfaces (ifName rows, read from snmpsim directly)"
  # SOTP's poller: the first poll (finding what the agent answers in time), then POLLS.
  echo "SOTP:     $("$BIN" --agent "127.0.0.1:$port" --community "$community" --timeout 3s --retries 1 --polls "$POLLS")"
  # The exporter gets a proxy of its own (and a log of its own).
  port=$((port + 10))
  start_proxy "$port" "$community" ${SLOW_PROXY_LOG:+"$SLOW_PROXY_LOG/$name-exporter.log"}
  # The exporter: POLLS scrapes, each a fresh walk of every column.
  url="http://127.0.0.1:$EXPORTER_PORT/snmp?module=$name&target=127.0.0.1:$port"
  for i in $(seq 1 "$POLLS"); do
    t0=$(date +%s.%N)
    code=$(curl -s -o "$WORK/scrape.txt" -w '%{http_code}' --max-time 300 "$url" || true)
    t1=$(date +%s.%N)
    series=$(grep -c '^ifHCInOctets{' "$WORK/scrape.txt" || true)
    err=$(grep -m1 -o 'error.*' "$WORK/scrape.txt" | head -c 160 || true)
    echo "exporter: scrape $i http=$code wall_s=$(echo "$t1 - $t0" | bc) ifHCInOctets_series=$series ${err:+error=\"$err\"}"
  done
done
echo "uptime: $(uptime)"
