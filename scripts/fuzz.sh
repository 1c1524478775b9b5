#!/usr/bin/env bash
# Fuzzes the syslog parsers and the RFC 6587 frame decoder with cargo-fuzz (libFuzzer),
# each target for FUZZ_SECONDS (default 40), seeded with the real device lines of
# $SOTP_CORPORA/syslog (read in place, never copied into the repository). Any panic
# fails the run; libFuzzer leaves the input in fuzz/artifacts/<target>/.
#
# The default (stable) toolchain only: cargo-fuzz needs `-Z` sanitizer flags, which stable rustc accepts
# with RUSTC_BOOTSTRAP=1 (no nightly toolchain is needed or fetched).
set -euo pipefail
cd "$(dirname "$0")/.."
CORPORA=${SOTP_CORPORA:-../shared/corpora}
SECONDS_EACH=${FUZZ_SECONDS:-40}
CARGO_FUZZ_VERSION=0.13.2
TARGET_ROOT=${CARGO_TARGET_DIR:-$PWD/target}
TOOLS=$TARGET_ROOT/cargo-fuzz-$CARGO_FUZZ_VERSION
if [ ! -x "$TOOLS/bin/cargo-fuzz" ]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
  cargo install --quiet --locked --root "$TOOLS" "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi
export PATH="$TOOLS/bin:$PATH" RUSTC_BOOTSTRAP=1
[ -d "$CORPORA/syslog" ] || { echo "no corpus at $CORPORA/syslog: set SOTP_CORPORA" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One seed file per corpus record: the exact bytes (line_base64 when not UTF-8).
python3 - "$CORPORA/syslog" "$work/seeds" <<'EOF'
import base64, json, os, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
n = 0
for name in sorted(os.listdir(src)):
    if not name.endswith(".jsonl"):
        continue
    for line in open(os.path.join(src, name), encoding="utf-8"):
        r = json.loads(line)
        b = base64.b64decode(r["line_base64"]) if "line_base64" in r else r["line"].encode()
        with open(os.path.join(out, "%04d" % n), "wb") as f:
            f.write(b)
        n += 1
print("fuzz seeds: %d corpus lines" % n)
EOF
cd fuzz
cargo fuzz build --target-dir "$TARGET_ROOT/fuzz"
for t in syslog_parse syslog_framing; do
  mkdir -p "$work/$t"
  echo "== fuzz $t for ${SECONDS_EACH}s"
  status=0
  cargo fuzz run --target-dir "$TARGET_ROOT/fuzz" "$t" "$work/$t" "$work/seeds" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$work/$t.log" 2>&1 || status=$?
  grep -a -E '^(INFO: seed corpus|Done|stat::number_of_executed_units|==[0-9]+==|thread|SUMMARY|Test unit written)' "$work/$t.log" || true
  if [ "$status" -ne 0 ]; then
    grep -a -A12 panicked "$work/$t.log" >&2 || tail -n 40 "$work/$t.log" >&2
    echo "fuzz target $t failed (exit $status): the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
