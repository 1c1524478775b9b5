#!/usr/bin/env bash
# SNMP polling cost, issue 4: CPU-seconds of the poller process per full interface-table
# poll, SOTP's poller against prometheus-snmp-exporter (Debian, 0.21), same agent, same run.
#
# The agent is net-snmp's snmpd in a network namespace with IFACES veth interfaces (a
# real agent with a big interface table), reached over a veth pair. Both pollers walk
# the same IF-MIB columns: ifTable/ifXTable counters (64-bit where they exist, errors and
# discards), admin/oper status, speeds, and the names (ifName, ifDescr, ifAlias).
# CPU time is user + system from /proc/PID/stat of the poller process (not the agent).
#
# Usage (root; builds the bench binary with --profile bench):
#   CARGO_TARGET_DIR=... scripts/bench-snmp-poll.sh [IFACES] [POLLS]
set -euo pipefail
IFACES="${1:-1000}"
POLLS="${2:-20}"
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"

command -v snmpd >/dev/null || apt-get install -y -q snmpd snmp >/dev/null
command -v prometheus-snmp-exporter >/dev/null || apt-get install -y -q prometheus-snmp-exporter >/dev/null
# SOTP_SNMP_POLL_COST_BIN: a prebuilt snmp_poll_cost (otherwise built here).
BIN="${SOTP_SNMP_POLL_COST_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build -q --profile bench -p sotp-benches --bin snmp_poll_cost
  BIN="$TARGET/release/snmp_poll_cost"
fi

NS="sotp-bench-snmp-$$"
WORK="$(mktemp -d)"
OUTER="sb$$a"
INNER="sb$$b"
AGENT_IP=10.214.0.2
EXPORTER_PORT=19116
cleanup() {
  [ -n "${EXP_PID:-}" ] && kill "$EXP_PID" 2>/dev/null || true
  [ -f "$WORK/snmpd.pid" ] && kill "$(cat "$WORK/snmpd.pid")" 2>/dev/null || true
  sleep 0.3
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$NS"
ip link add "$OUTER" type veth peer name "$INNER"
ip link set "$INNER" netns "$NS"
ip addr add 10.214.0.1/30 dev "$OUTER"
ip link set "$OUTER" up
ip netns exec "$NS" ip addr add "$AGENT_IP/30" dev "$INNER"
ip netns exec "$NS" ip link set "$INNER" up
ip netns exec "$NS" ip link set lo up
# This kernel has no dummy interfaces: veth pairs inside the namespace (two per pair).
for i in $(seq 1 $((IFACES / 2))); do
  echo "link add pa$i type veth peer name pb$i"
  echo "link set pa$i up"
  echo "link set pb$i up"
done | ip netns exec "$NS" ip -batch -

cat >"$WORK/snmpd.conf" <<EOF
agentAddress udp:$AGENT_IP:161
rocommunity public default
EOF
mkdir -p "$WORK/persist"
MIBS= SNMP_PERSISTENT_DIR="$WORK/persist" ip netns exec "$NS" snmpd -f -Lo -C -c "$WORK/snmpd.conf" -p "$WORK/snmpd.pid" >"$WORK/snmpd.log" 2>&1 &
for _ in $(seq 1 50); do
  snmpget -m '' -v2c -c public -t 1 -r 0 "$AGENT_IP" 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 && break
  sleep 0.2
done
ROWS=$(snmpbulkwalk -m '' -v2c -c public -Cr25 "$AGENT_IP" 1.3.6.1.2.1.31.1.1.1.1 | wc -l)
echo "agent: snmpd $(snmpd -v | awk '/version/ {print $NF; exit}') in netns $NS with $ROWS interfaces"

# The exporter's module (0.21 format: auth inside the module), same columns as SOTP.
python3 scripts/snmp_exporter_module.py "$WORK/snmp.yml" 10s if_mib=public

cpu_of() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }

# SOTP (its own process; one warm-up poll, then POLLS timed polls).
SOTP_CACHED=$("$BIN" --agent "$AGENT_IP:161" --polls "$POLLS")
SOTP_FULL=$("$BIN" --agent "$AGENT_IP:161" --polls "$POLLS" --metadata-every-poll)

# The exporter: one warm-up scrape, then POLLS timed scrapes.
prometheus-snmp-exporter --config.file="$WORK/snmp.yml" --web.listen-address="127.0.0.1:$EXPORTER_PORT" >"$WORK/exporter.log" 2>&1 &
EXP_PID=$!
URL="http://127.0.0.1:$EXPORTER_PORT/snmp?module=if_mib&target=$AGENT_IP:161"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$EXPORTER_PORT/" >/dev/null && break; sleep 0.1; done
curl -sf "$URL" >"$WORK/scrape.txt"
SERIES=$(grep -c '^ifHCInOctets{' "$WORK/scrape.txt" || true)
c0=$(cpu_of "$EXP_PID")
w0=$(date +%s.%N)
for _ in $(seq 1 "$POLLS"); do curl -sf "$URL" >/dev/null; done
w1=$(date +%s.%N)
c1=$(cpu_of "$EXP_PID")

python3 - "$SOTP_CACHED" "$SOTP_FULL" "$c0" "$c1" "$w0" "$w1" "$POLLS" "$SERIES" "$ROWS" <<'EOF'
import sys
def kv(s): return dict(p.split("=") for p in s.split())
cached, full = kv(sys.argv[1]), kv(sys.argv[2])
c0, c1, w0, w1, polls, series, rows = map(float, sys.argv[3:])
exp = (c1 - c0) / polls
sc, sf = float(cached["sotp_cpu_s_per_poll"]), float(full["sotp_cpu_s_per_poll"])
print(f"interfaces: {int(rows)} (exporter ifHCInOctets series: {int(series)}), polls: {int(polls)}")
print(f"exporter: {exp:.4f} CPU-s per scrape, {(w1 - w0) / polls:.3f} s wall per scrape")
print(f"SOTP, metadata cached (production): {sc:.4f} CPU-s per poll, {float(cached['wall_s_per_poll']):.3f} s wall, {cached['samples_per_poll']} samples")
print(f"SOTP, metadata every poll:          {sf:.4f} CPU-s per poll, {float(full['wall_s_per_poll']):.3f} s wall, {full['samples_per_poll']} samples")
print(f"ratio SOTP/exporter: cached {sc / exp:.3f}, metadata every poll {sf / exp:.3f} (target <= 0.5)")
EOF
echo "uptime: $(uptime)"
