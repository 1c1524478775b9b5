#!/usr/bin/env python3
"""Issue 15 reference: `show version` on N devices at a given concurrency with netmiko (the
usual Python SSH client of network automation), the same work as
`target/release/ssh_show_version`. One JSON line: devices, failures, seconds, bytes.

    netmiko_show_version.py --port P --user U --key FILE --devices 1000 --concurrency 50
"""

import argparse
import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from netmiko import ConnectHandler

logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def one(args):
    conn = ConnectHandler(
        device_type="cisco_ios",
        host="127.0.0.1",
        port=args.port,
        username=args.user,
        use_keys=True,
        key_file=args.key,
        allow_agent=False,
        ssh_strict=False,
        system_host_keys=False,
        fast_cli=True,
    )
    try:
        return conn.send_command("show version")
    finally:
        conn.disconnect()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=50)
    args = p.parse_args()
    started = time.perf_counter()
    failures, size, first = 0, 0, None
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [pool.submit(one, args) for _ in range(args.devices)]
        for f in futures:
            try:
                size += len(f.result())
            except Exception as e:  # noqa: BLE001 - count every failure
                failures += 1
                first = first or repr(e)
    if first:
        print("first failure: " + first, file=sys.stderr)
    print(json.dumps({"tool": "netmiko", "devices": args.devices, "concurrency": args.concurrency,
                      "failures": failures, "seconds": time.perf_counter() - started,
                      "output_bytes": size}))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
