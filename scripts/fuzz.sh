#!/usr/bin/env bash
# Fuzzes the syslog parsers, the RFC 6587 frame decoder and the TextFSM engine with
# cargo-fuzz (libFuzzer), each target for FUZZ_SECONDS (default 40). The syslog targets are
# seeded with the real device lines of $SOTP_CORPORA/syslog, the TextFSM ones with
# ntc-templates' templates ($SOTP_NTC_TEMPLATES, installed by scripts/setup-peers.sh) and
# the real command outputs of $SOTP_CORPORA/ntc (all read in place, never copied into the
# repository). Any panic fails the run; libFuzzer leaves the input in fuzz/artifacts/<target>/.
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
if [ -z "${SOTP_NTC_TEMPLATES:-}" ]; then
  eval "$(scripts/setup-peers.sh | grep '^export SOTP_NTC_TEMPLATES=')"
fi
[ -f "$SOTP_NTC_TEMPLATES/index" ] || { echo "no ntc-templates index at $SOTP_NTC_TEMPLATES" >&2; exit 1; }
[ -d "$CORPORA/ntc" ] || { echo "no corpus at $CORPORA/ntc: set SOTP_CORPORA" >&2; exit 1; }
# textfsm_template: every template. textfsm_engine: a template, a NUL, then a real output
# of the command it parses (ntc-templates names a template PLATFORM_COMMAND.textfsm, as
# the corpus names its folders PLATFORM/COMMAND/).
python3 - "$SOTP_NTC_TEMPLATES" "$CORPORA/ntc" "$work" <<'EOF'
import os, sys
templates, corpus, work = sys.argv[1:]
os.makedirs(os.path.join(work, "seeds-textfsm_template"))
os.makedirs(os.path.join(work, "seeds-textfsm_engine"))
names = sorted(n for n in os.listdir(templates) if n.endswith(".textfsm"))
for i, name in enumerate(names):
    with open(os.path.join(templates, name), "rb") as f, \
         open(os.path.join(work, "seeds-textfsm_template", "%04d" % i), "wb") as out:
        out.write(f.read())
pairs = 0
for platform in sorted(os.listdir(corpus)):
    pdir = os.path.join(corpus, platform)
    if not os.path.isdir(pdir):
        continue
    for command in sorted(os.listdir(pdir)):
        template = os.path.join(templates, "%s_%s.textfsm" % (platform, command))
        raws = sorted(r for r in os.listdir(os.path.join(pdir, command)) if r.endswith(".raw"))
        # Outputs over 16 KiB make each run slow under the sanitizers: left out.
        raws = [r for r in raws if os.path.getsize(os.path.join(pdir, command, r)) <= 16384]
        if not raws or not os.path.isfile(template):
            continue
        with open(template, "rb") as t, open(os.path.join(pdir, command, raws[0]), "rb") as r, \
             open(os.path.join(work, "seeds-textfsm_engine", "%04d" % pairs), "wb") as out:
            out.write(t.read() + b"\0" + r.read())
        pairs += 1
print("fuzz seeds: %d templates, %d template+output pairs" % (len(names), pairs))
EOF
for t in syslog_parse syslog_framing; do ln -s "$work/seeds" "$work/seeds-$t"; done
cd fuzz
cargo fuzz build --target-dir "$TARGET_ROOT/fuzz"
for t in syslog_parse syslog_framing textfsm_template textfsm_engine; do
  mkdir -p "$work/$t"
  echo "== fuzz $t for ${SECONDS_EACH}s"
  status=0
  cargo fuzz run --target-dir "$TARGET_ROOT/fuzz" "$t" "$work/$t" "$work/seeds-$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$work/$t.log" 2>&1 || status=$?
  grep -a -E '^(INFO: seed corpus|Done|stat::number_of_executed_units|==[0-9]+==|thread|SUMMARY|Test unit written)' "$work/$t.log" || true
  if [ "$status" -ne 0 ]; then
    grep -a -A12 panicked "$work/$t.log" >&2 || tail -n 40 "$work/$t.log" >&2
    echo "fuzz target $t failed (exit $status): the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
