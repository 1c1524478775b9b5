#!/usr/bin/env bash
# Benchmark of issue 6: `GET /api/v1/devices?limit=50` with 10,000 devices on SQLite,
# 1,000 concurrent connections (wrk, Debian package `wrk`), p50/p99 latency.
#
#   benches/scripts/devices_api.sh [SOTP_BINARY]      (default: target/release/sotp)
#
# Starts `sotp run` on a temporary data dir (SQLite, in-process bus, ICMP/SNMP/syslog
# off so that nothing polls the devices), creates the first admin from the environment,
# creates 10,000 devices (127.10.x.y addresses) through the API, creates an API token
# with role readonly, then runs wrk with `Authorization: Bearer <token>`.
# The per-client rate limit ([auth] requests_per_second, default 1000/s per address) would
# answer most of wrk's requests with 429 from one address, so the bench raises it with
# SOTP__AUTH__REQUESTS_PER_SECOND; every request of the run must be a 200 (checked).
# Env: DEVICES (10000), CONNECTIONS (1000), THREADS (2), DURATION (30s), PORT (18480).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/sotp}
DEVICES=${DEVICES:-10000}
CONNECTIONS=${CONNECTIONS:-1000}
THREADS=${THREADS:-2}
DURATION=${DURATION:-30s}
PORT=${PORT:-18480}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
[ -x "$BIN" ] || { echo "no $BIN: cargo build --profile bench --bin sotp" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # 1,000 connections on each side
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
BASE=http://127.0.0.1:$PORT
SOTP_ADMIN_USER=bench SOTP_ADMIN_PASSWORD=bench-password-123 \
SOTP_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
SOTP__DATA_DIR=$dir SOTP__API__LISTEN=127.0.0.1:$PORT SOTP__LOG__LEVEL=warn \
SOTP__ICMP__ENABLED=false SOTP__SNMP__ENABLED=false SOTP__SYSLOG__ENABLED=false \
SOTP__AUTH__REQUESTS_PER_SECOND=1000000 \
  "$BIN" run >"$dir/sotp.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -fs "$BASE/health" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "$BASE/health" >/dev/null || { cat "$dir/sotp.log"; exit 1; }
python3 - "$BASE" "$DEVICES" >"$dir/token" <<'EOF'
import http.client, json, sys, threading, time
base, n = sys.argv[1], int(sys.argv[2])
host = base.split("//")[1]
def call(c, method, path, body=None, token=None):
    h = {"content-type": "application/json"}
    if token:
        h["authorization"] = "Bearer " + token
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    r = c.getresponse()
    data = r.read()
    return r.status, json.loads(data) if data else None
c = http.client.HTTPConnection(host)
s, login = call(c, "POST", "/api/v1/auth/login", {"username": "bench", "password": "bench-password-123"})
assert s == 200, (s, login)
admin = login["access_token"]
started = time.time()
errors = []
def worker(k):
    c = http.client.HTTPConnection(host)
    for i in range(k, n, 8):
        d = {"name": "dev-%05d" % i, "address": "127.10.%d.%d" % (i // 250, i % 250 + 1),
             "type": "switch", "vendor": ["cisco", "juniper", "arista"][i % 3],
             "location": "site-%d" % (i % 20), "tags": ["bench"]}
        s, b = call(c, "POST", "/api/v1/devices", d, admin)
        if s != 201:
            errors.append((s, b))
ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
assert not errors, errors[:3]
s, page = call(c, "GET", "/api/v1/devices?limit=1", None, admin)
assert s == 200 and page["total"] == n, (s, page)
print("created %d devices in %.1f s" % (n, time.time() - started), file=sys.stderr)
s, tok = call(c, "POST", "/api/v1/tokens", {"name": "wrk", "role": "readonly"}, admin)
assert s in (200, 201), (s, tok)
print(tok["token"])
EOF
TOKEN=$(cat "$dir/token")
echo "uptime: $(uptime)"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $BASE/api/v1/devices?limit=50"
# CPU time of the server (all threads, user + system, clock ticks) around the run: the
# cost per request, which a busy shared machine changes less than the latency.
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
cpu0=$(cpu)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency \
  -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/devices?limit=50" | tee "$dir/wrk.txt"
grep -q "Non-2xx" "$dir/wrk.txt" && { echo "FAILED: some responses were not 200" >&2; exit 1; }
cpu1=$(cpu)
awk -v ticks="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" \
  '/ 50%/ {p50=$2} / 99%/ {p99=$2} /Requests\/sec/ {rps=$2} / requests in / {n=$1}
   END {printf "p50 %s  p99 %s  requests/s %s  server CPU %.1f s = %.1f us/request\n", p50, p99, rps, ticks / hz, ticks / hz * 1e6 / n}' "$dir/wrk.txt"
echo "uptime: $(uptime)"
