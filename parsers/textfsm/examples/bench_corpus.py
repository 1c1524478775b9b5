#!/usr/bin/env python3
"""Python textfsm counterpart of examples/bench_corpus.rs: parses every ntc corpus
fixture N times and prints rows per second.

- parse_text: TextFSM objects built beforehand, only Reset() + ParseText() timed;
- parse_output: ntc_templates.parse.parse_output end to end (as ntc-templates
  does it: the index is cached, each template file is re-read and re-built).

    SOTP_NTC_TEMPLATES=.../ntc_templates/templates python examples/bench_corpus.py [N]
"""

import os
import sys
import time

import textfsm
from ntc_templates.parse import parse_output
from textfsm import clitable


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    templates_dir = os.environ["SOTP_NTC_TEMPLATES"]
    root = os.environ.get(
        "SOTP_CORPORA",
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../shared/corpora"),
    )
    corpus = os.path.join(root, "ntc")

    t0 = time.perf_counter()
    index = clitable.CliTable("index", templates_dir)
    fixtures = []
    compiled = {}
    for platform in sorted(os.listdir(corpus)):
        pdir = os.path.join(corpus, platform)
        if not os.path.isdir(pdir):
            continue
        for command_dir in sorted(os.listdir(pdir)):
            cdir = os.path.join(pdir, command_dir)
            if not os.path.isdir(cdir):
                continue
            command = command_dir.replace("_", " ")
            row = index.index.GetRowMatch({"Command": command, "Platform": platform})
            if not row:
                continue
            names = index.index.index[row]["Template"].split(":")
            for fname in sorted(os.listdir(cdir)):
                base = os.path.join(cdir, fname[:-4])
                if not fname.endswith(".raw") or not os.path.isfile(base + ".yml"):
                    continue
                with open(base + ".raw", encoding="utf-8") as f:
                    data = f.read()
                fsms = []
                for name in names:
                    if name not in compiled:
                        with open(os.path.join(templates_dir, name)) as f:
                            compiled[name] = textfsm.TextFSM(f)
                    fsms.append(compiled[name])
                fixtures.append((platform, command, data, fsms))
    print(f"loaded {len(fixtures)} fixtures, {len(compiled)} templates compiled "
          f"in {time.perf_counter() - t0:.2f}s")

    t = time.perf_counter()
    rows = 0
    for _ in range(n):
        for _, _, data, fsms in fixtures:
            for fsm in fsms:
                fsm.Reset()
                rows += len(fsm.ParseText(data))
    secs = time.perf_counter() - t
    print(f"parse_text:   {n} x {len(fixtures)} fixtures, {rows} rows in {secs:.3f}s = {rows / secs:.0f} rows/s")

    t = time.perf_counter()
    rows = 0
    for _ in range(n):
        for platform, command, data, _ in fixtures:
            rows += len(parse_output(platform=platform, command=command, data=data, template_dir=templates_dir))
    secs = time.perf_counter() - t
    print(f"parse_output: {n} x {len(fixtures)} fixtures, {rows} rows in {secs:.3f}s = {rows / secs:.0f} rows/s")


if __name__ == "__main__":
    main()
