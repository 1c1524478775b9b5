#!/usr/bin/env bash
# Issue 14 benchmark: how long after an alert's window closes its notification reaches a
# webhook, and how a storm is grouped. N loopback devices (127.9.7.1 onwards) stop
# answering ping at once (nftables drops their echo replies); the rule "device down"
# (availability of icmp.up, every 2s, for 2s, grouped per device) fires for each; the
# webhook receiver (scripts/alert_receivers.py) records when each notification arrives.
# Latency = arrival - startsAt (the end of the window that decided the firing): the
# watermark's allowed lateness (1 s here), evaluation, the alert book and the dispatcher.
# Then a second run groups the storm per rule (group_wait 1 s): the requests are counted.
# Uses the debug build: the latency is waiting (lateness, polls of the outbox), not CPU.
#
#   benches/scripts/alert_latency.sh [DEVICES]     (default 200; run as root)
# Needs nft, and the venv of scripts/setup-peers.sh (aiosmtpd) in $SOTP_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-200}
PY=${SOTP_PYTHON:-target/py-venv/bin/python}
# PROFILE=bench for the API's latency during the storm (the notification latency is
# waiting, not CPU, and the debug build is enough for it).
PROFILE=${PROFILE:-dev}
cargo build --quiet --profile "$PROFILE" --bin sotp
case "$PROFILE" in dev) DIR=debug ;; *) DIR=release ;; esac
BIN=${CARGO_TARGET_DIR:-target}/$DIR/sotp
WORK=$(mktemp -d)
HTTP=19095
TABLE=sotp_bench_latency
cleanup() {
  kill "${SOTP_PID:-}" "${RECV_PID:-}" 2>/dev/null || true
  nft delete table ip "$TABLE" 2>/dev/null || true
}
trap cleanup EXIT
mkdir -p "$WORK/recv"
"$PY" scripts/alert_receivers.py "$WORK/recv" "$HTTP" 19025 u p 2>"$WORK/recv.err" &
RECV_PID=$!
until [ -f "$WORK/recv/ready" ]; do sleep 0.1; done
nft add table ip "$TABLE"
nft add chain ip "$TABLE" in '{ type filter hook input priority 0; }'
nft add rule ip "$TABLE" in ip saddr 127.9.7.0/24 icmp type echo-reply drop

run() { # $1: group_by, $2: group_wait
  rm -rf "$WORK/data" "$WORK/recv/http.jsonl"
  cat > "$WORK/sotp.toml" <<TOML
data_dir = "$WORK/data"
[api]
listen = "127.0.0.1:18181"
[pgwire]
listen = ""
[icmp]
interval = "1s"
count = 1
timeout = "300ms"
[alerting]
allowed_lateness = "1s"
# Every device down at once would be one alert about the outage; this measures one
# alert per device.
outage_min_devices = 0
[notify]
poll_interval = "100ms"
[[device_ranges]]
name_prefix = "down-"
first_address = "127.9.7.1"
count = $N
[[receivers]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:$HTTP/hook"
[[alert_rules]]
name = "device down"
availability = "icmp.up"
every = "2s"
for = "2s"
group_by = $1
group_wait = "$2"
receivers = ["hook"]
TOML
  SOTP_ADMIN_USER=admin SOTP_ADMIN_PASSWORD=bench-password-1 "$BIN" run --config "$WORK/sotp.toml" >"$WORK/sotp-$2.log" 2>&1 &
  SOTP_PID=$!
  "$PY" - "$WORK/recv/http.jsonl" "$N" "$1" "$2" <<'PY'
import json, sys, time, datetime
import urllib.request
path, n, group_by, group_wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
api = "http://127.0.0.1:18181"
def call(url, body=None, token=None):
    req = urllib.request.Request(api + url, data=body, headers={"content-type": "application/json"})
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()
token = None
while token is None:
    try:
        token = json.loads(call("/api/v1/auth/login", json.dumps({"username": "admin", "password": "bench-password-1"}).encode()))["access_token"]
    except Exception:
        time.sleep(0.2)
deadline = time.time() + 180
lat, requests, api_ms = [], 0, []
while time.time() < deadline:
    # The API during the storm: the firing alerts, as a dashboard would poll them.
    started = time.perf_counter()
    call("/api/v1/alerts?state=firing&limit=100", token=token)
    api_ms.append((time.perf_counter() - started) * 1000)
    try:
        lines = [json.loads(l) for l in open(path)]
    except FileNotFoundError:
        lines = []
    lat, requests = [], 0
    for r in lines:
        if r["answered"] != 200:
            continue
        requests += 1
        for a in json.loads(r["body"])["alerts"]:
            if a["status"] == "firing":
                start = datetime.datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00")).timestamp()
                lat.append(r["received_at"] - start)
    if len(lat) >= n:
        break
    time.sleep(0.05)
lat.sort()
api_ms.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print(json.dumps({"bench": "alert_latency", "group_by": json.loads(group_by), "group_wait": group_wait, "devices": n,
                  "alerts_notified": len(lat), "webhook_requests": requests,
                  "latency_p50_s": round(q(0.5), 3), "latency_p99_s": round(q(0.99), 3),
                  "latency_max_s": round(lat[-1], 3) if lat else None,
                  "api_requests": len(api_ms), "api_p50_ms": round(api_ms[len(api_ms) // 2], 1),
                  "api_p99_ms": round(api_ms[min(len(api_ms) - 1, int(0.99 * len(api_ms)))], 1)}))
PY
  kill "$SOTP_PID"; wait "$SOTP_PID" 2>/dev/null || true
}
echo "uptime: $(uptime)"
run '["device_id"]' 0s
run '[]' 1s
