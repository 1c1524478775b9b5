"""The reference of the Kafka end-to-end benchmark: a plain librdkafka consumer
(confluent-kafka) that reads a topic SOTP's producer filled and only decodes each
message's JSON. Its rate is what the broker and librdkafka allow on this machine; the
benchmark reports SOTP's consuming rate (decode, Arrow batches, Parquet) as a ratio of it.

Usage: bench_plain_consumer.py BROKERS TOPIC MESSAGES [--fetch-only]
Prints: plain_consumer messages=N seconds=S msgs_per_s=R cpu_seconds=C
(`plain_fetch ...` with --fetch-only: the messages are not decoded, which leaves what
the broker and librdkafka take.) The clock starts at the first message (the group join
is not measured, as for SOTP)."""
import json
import os
import sys
import time

from confluent_kafka import Consumer

brokers, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
decode = "--fetch-only" not in sys.argv[4:]
c = Consumer({
    "bootstrap.servers": brokers,
    "group.id": f"plain{os.getpid()}",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    # The fetch settings SOTP's consumers use (kafka/src/config.rs), so that the ratio
    # compares the work done per message, not librdkafka settings.
    "fetch.wait.max.ms": 50,
    "fetch.queue.backoff.ms": 10,
})
c.subscribe([topic])
seen = 0
started = None
cpu_started = None
deadline = time.monotonic() + 120
while seen < expected:
    if time.monotonic() > deadline:
        sys.exit(f"plain consumer: {seen} of {expected} messages after 120 s")
    for m in c.consume(num_messages=10000, timeout=1.0):
        if m.error():
            sys.exit(f"plain consumer: {m.error()}")
        if started is None:
            started = time.monotonic()
            cpu_started = time.process_time()
        if decode:
            json.loads(m.value())
        seen += 1
secs = time.monotonic() - started
cpu = time.process_time() - cpu_started
c.close()
name = "plain_consumer" if decode else "plain_fetch"
print(f"{name} messages={seen} seconds={secs:.3f} msgs_per_s={seen / secs:.0f} cpu_seconds={cpu:.2f}")
