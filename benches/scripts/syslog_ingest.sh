#!/usr/bin/env bash
# Issue 5 benchmark in one command: builds `syslog_ingest` (bench profile) and runs it for
# ROUNDS rounds (default 5) of SOTP then rsyslog, printing the load (`uptime`) first,
# since the numbers mean little on a loaded machine; the last line is the median ratio.
# Needs rsyslogd (scripts/setup-peers.sh) and the corpus ($SOTP_CORPORA, default
# ../shared/corpora).
#
#   benches/scripts/syslog_ingest.sh [MESSAGES]        (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
MESSAGES=${1:-1000000}
ROUNDS=${ROUNDS:-5}
export SOTP_CORPORA=${SOTP_CORPORA:-$PWD/../shared/corpora}
cargo build --quiet --profile bench -p sotp-benches --bin syslog_ingest
BIN=${CARGO_TARGET_DIR:-target}/release/syslog_ingest
echo "uptime: $(uptime)"
"$BIN" --messages "$MESSAGES" --rounds "$ROUNDS"
