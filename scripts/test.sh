#!/usr/bin/env bash
# Runs every test of SOTP: installs the real peers the tests use (scripts/setup-peers.sh),
# then the whole workspace's unit, property and integration tests.
# Needs root on a fresh machine (apt-get, nftables, ping_group_range).
set -euo pipefail
cd "$(dirname "$0")/.."
# A failing setup must stop the run (an eval of a failed substitution would not).
peers=$(scripts/setup-peers.sh)
eval "$peers"
export SOTP_PYTHON SOTP_MOTO_SERVER SOTP_TANSU SOTP_SNMPSIM SOTP_SNMPSIM_DATA SOTP_TANSU_SQL SOTP_PGXQ SOTP_NTC_TEMPLATES SOTP_SSH_TEST_USER SOTP_SSH_TEST_PASSWORD_FILE
# The lab test (tests/it/lab.rs) runs the `lab` program of another package: `cargo test`
# builds a package's binaries only for that package's own integration tests.
cargo build -p sotp-benches --bin lab
# Most integration tests wait on peers and processes rather than on the CPU: three at a
# time on two cores finishes the `it` binary sooner than the default two.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-3}"
cargo test --workspace --all-targets --no-fail-fast "$@"
