#!/usr/bin/env bash
# Runs every test of SOTP: installs the real peers the tests use (scripts/setup-peers.sh),
# then the whole workspace's unit, property and integration tests.
# Needs root on a fresh machine (apt-get, nftables, ping_group_range).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup-peers.sh)"
export SOTP_PYTHON SOTP_TANSU
cargo test --workspace --all-targets "$@"
