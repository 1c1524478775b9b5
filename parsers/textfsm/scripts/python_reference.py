#!/usr/bin/env python3
"""Which ntc-templates corpus fixtures Python's textfsm itself parses right.

For every `PLATFORM/COMMAND/NAME.raw` + `NAME.yml` pair under the corpus, run
`ntc_templates.parse.parse_output(platform, command, raw)` (platform = the folder
name, command = the folder name with `_` -> space) against the given templates
folder and compare with the yml's `parsed_sample`, the same way ntc-templates'
own test suite does (typed YAML values, record order matters, key order does not).

Writes a JSON report that `tests/ntc_corpus.rs` reads:

    {"textfsm_version": ..., "ntc_templates_version": ...,
     "fixtures": {"PLATFORM/COMMAND/NAME": {"python_matches": bool, "error": str|null}}}

Run it in a venv with `pip install 'textfsm>=2,<3' 'ntc-templates>=7' pyyaml`:

    python scripts/python_reference.py --out tests/data/python_reference.json

`--dump-dir DIR` also writes Python's rows per fixture (DIR/PLATFORM/COMMAND/NAME.json),
handy when chasing a difference between SOTP and Python.
"""

import argparse
import json
import os
import sys
from importlib import metadata

import yaml
from ntc_templates.parse import parse_output


def default_corpus():
    root = os.environ.get("SOTP_CORPORA", "/work/shared/corpora")
    return os.path.join(root, "ntc")


def default_templates():
    env = os.environ.get("SOTP_NTC_TEMPLATES")
    if env:
        return env
    import ntc_templates

    return os.path.join(os.path.dirname(ntc_templates.__file__), "templates")


def fixtures(corpus):
    """Yields (platform, command_dir, name) for every .raw with a .yml beside it."""
    for platform in sorted(os.listdir(corpus)):
        pdir = os.path.join(corpus, platform)
        if not os.path.isdir(pdir):
            continue
        for command in sorted(os.listdir(pdir)):
            cdir = os.path.join(pdir, command)
            if not os.path.isdir(cdir):
                continue
            for fname in sorted(os.listdir(cdir)):
                if not fname.endswith(".raw"):
                    continue
                name = fname[: -len(".raw")]
                if os.path.isfile(os.path.join(cdir, name + ".yml")):
                    yield platform, command, name


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=default_corpus(), help="the corpora's ntc folder")
    ap.add_argument("--templates", default=default_templates(), help="ntc_templates/templates")
    ap.add_argument("--out", default="-", help="JSON report path, '-' for stdout")
    ap.add_argument("--dump-dir", default=None, help="also write Python's rows per fixture")
    args = ap.parse_args()

    report = {}
    for platform, command_dir, name in fixtures(args.corpus):
        base = os.path.join(args.corpus, platform, command_dir, name)
        key = f"{platform}/{command_dir}/{name}"
        command = command_dir.replace("_", " ")
        error = None
        rows = None
        try:
            with open(base + ".raw", "r", encoding="utf-8") as f:
                raw = f.read()
            with open(base + ".yml", "r", encoding="utf-8") as f:
                expected = (yaml.safe_load(f) or {}).get("parsed_sample")
            rows = parse_output(
                platform=platform, command=command, data=raw, template_dir=args.templates
            )
            matches = rows == expected
            if not matches:
                error = "rows differ from the yml"
        except Exception as exc:  # pylint: disable=broad-except
            matches = False
            error = f"{type(exc).__name__}: {exc}"
        report[key] = {"python_matches": matches, "error": error}
        if args.dump_dir:
            path = os.path.join(args.dump_dir, key + ".json")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"rows": rows, "error": error}, f, ensure_ascii=False, indent=1)

    out = {
        "generator": "scripts/python_reference.py",
        "textfsm_version": metadata.version("textfsm"),
        "ntc_templates_version": metadata.version("ntc_templates"),
        "fixtures": report,
    }
    text = json.dumps(out, indent=1, sort_keys=True) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    total = len(report)
    good = sum(1 for v in report.values() if v["python_matches"])
    print(f"python reference: {good}/{total} fixtures match", file=sys.stderr)


if __name__ == "__main__":
    main()
