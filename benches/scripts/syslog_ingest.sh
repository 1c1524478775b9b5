#!/usr/bin/env bash
# Issue 5 benchmark in one command: builds `syslog_ingest` (bench profile) and runs it
# RUNS times (default 3), printing the load (`uptime`) before each run, since the
# numbers mean little on a loaded machine. Needs rsyslogd (scripts/setup-peers.sh) and the
# corpus ($SOTP_CORPORA, default ../shared/corpora).
#
#   benches/scripts/syslog_ingest.sh [MESSAGES]        (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
MESSAGES=${1:-1000000}
RUNS=${RUNS:-3}
export SOTP_CORPORA=${SOTP_CORPORA:-$PWD/../shared/corpora}
cargo build --quiet --profile bench -p sotp-benches --bin syslog_ingest
BIN=${CARGO_TARGET_DIR:-target}/release/syslog_ingest
for i in $(seq 1 "$RUNS"); do
  echo "== run $i; uptime: $(uptime)"
  "$BIN" --messages "$MESSAGES"
done
