#!/usr/bin/env python3
"""An outside consumer of SOTP's Kafka topics: reads every topic and validates every
message against the JSON Schema files in schemas/json/.

    pip install confluent-kafka jsonschema
    python examples/consumer.py --brokers 127.0.0.1:9092 --schemas schemas/json

It reads from the beginning of each topic with its own consumer group, stops once it
has reached the end of every partition it was assigned and no message came for --idle
seconds after that (a slow broker that pauses between fetches does not end the read
early), and prints one JSON summary on stdout:

    {"topics": {"sotp.metrics.raw": {"valid": 700, "invalid": 0, "duplicates": 0}, ...},
     "errors": ["sotp.metrics.raw/3@17: ..."]}

With --dump FILE it also writes one line per valid event (topic, partition, offset, key,
event) for further checks. Exit status 1 when any message is invalid or the read timed
out before the end of a partition.
"""

import argparse
import json
import sys
import time
import uuid

import jsonschema
from confluent_kafka import Consumer, KafkaError

# The wire version these schema files describe (sotp_schemas::WIRE_VERSION).
WIRE_VERSION = b"5"

# Topic (without prefix) -> schema file of its messages.
SCHEMAS = {
    "metrics.raw": "metric_sample.schema.json",
    "metrics": "metric_sample.schema.json",
    "metrics.1m": "rollup_row.schema.json",
    "logs": "log_record.schema.json",
    "commands": "command_record.schema.json",
    "alerts": "alert_event.schema.json",
    "inventory": "device_record.schema.json",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--prefix", default="sotp.")
    ap.add_argument("--schemas", default="schemas/json")
    ap.add_argument(
        "--idle",
        type=float,
        default=1.0,
        help="once every partition is read to its end, stop after this many idle seconds",
    )
    ap.add_argument("--timeout", type=float, default=120.0, help="stop after this many seconds")
    ap.add_argument("--dump", help="write valid events as JSON lines here")
    ap.add_argument("--topics", help="comma-separated topic names without prefix (default: all)")
    args = ap.parse_args()

    names = args.topics.split(",") if args.topics else list(SCHEMAS)
    validators = {}
    for name in names:
        with open(f"{args.schemas}/{SCHEMAS[name]}") as f:
            schema = json.load(f)
        validators[args.prefix + name] = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.FormatChecker()
        )

    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": f"outside-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            # Report the end of each partition, so the read stops at the end of the data
            # and not at a pause of the broker.
            "enable.partition.eof": True,
        }
    )
    assigned = set()
    at_end = set()

    def on_assign(c, partitions):
        assigned.update((p.topic, p.partition) for p in partitions)

    consumer.subscribe(list(validators), on_assign=on_assign)
    stats = {t: {"valid": 0, "invalid": 0, "duplicates": 0, "tombstones": 0} for t in validators}
    errors = []
    seen = set()
    dump = open(args.dump, "w") if args.dump else None
    started = time.monotonic()
    last = None
    while time.monotonic() - started < args.timeout:
        msg = consumer.poll(0.5)
        if msg is None:
            # Stop only once the group assigned partitions and each was read to its end.
            done = assigned and at_end >= assigned
            if done and time.monotonic() - (last or started) > args.idle:
                break
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_end.add((msg.topic(), msg.partition()))
            else:
                errors.append(f"consumer error: {msg.error()}")
            continue
        last = time.monotonic()
        at_end.discard((msg.topic(), msg.partition()))
        topic, where = msg.topic(), f"{msg.topic()}/{msg.partition()}@{msg.offset()}"
        if (topic, msg.partition(), msg.offset()) in seen:
            stats[topic]["duplicates"] += 1
            continue
        seen.add((topic, msg.partition(), msg.offset()))
        if msg.value() is None:
            stats[topic]["tombstones"] += 1
            continue
        headers = dict(msg.headers() or [])
        problems = []
        if headers.get("schema_version") != WIRE_VERSION:
            problems.append(f"schema_version header is {headers.get('schema_version')!r}, expected {WIRE_VERSION!r}")
        try:
            event = json.loads(msg.value())
            problems += [e.message for e in validators[topic].iter_errors(event)]
        except ValueError as e:
            problems.append(f"not JSON: {e}")
            event = None
        if problems:
            stats[topic]["invalid"] += 1
            errors.append(f"{where}: {'; '.join(problems)}")
            continue
        stats[topic]["valid"] += 1
        if dump:
            key = msg.key().decode() if msg.key() else None
            dump.write(json.dumps({"topic": topic, "partition": msg.partition(),
                                   "offset": msg.offset(), "key": key, "event": event}) + "\n")
    unread = sorted(assigned - at_end)
    if not assigned or unread:
        errors.insert(0, f"stopped after {args.timeout} s before the end of {unread or 'any partition'}")
    consumer.close()
    if dump:
        dump.close()
    print(json.dumps({"topics": stats, "errors": errors[:50]}))
    incomplete = not assigned or unread
    return 1 if incomplete or any(s["invalid"] for s in stats.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
