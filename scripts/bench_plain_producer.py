"""The reference of the Kafka producer benchmark: a plain librdkafka producer
(confluent-kafka) sending the same messages as SOTP's (key TAB JSON per line), with the
same settings (idempotence, acks=all, lz4, linger 5 ms) and the same header."""
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

brokers, path = sys.argv[1], sys.argv[2]
messages = []
with open(path, "rb") as f:
    for line in f:
        key, _, value = line.rstrip(b"\n").partition(b"\t")
        messages.append((key, value))
topic = f"plain{int(time.time())}.metrics.raw"
admin = AdminClient({"bootstrap.servers": brokers})
admin.create_topics([NewTopic(topic, 6, 1)])[topic].result()
p = Producer({
    "bootstrap.servers": brokers,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 100000,
    "queue.buffering.max.kbytes": 65536,
})
headers = [("schema_version", b"1")]
started = time.monotonic()
for key, value in messages:
    while True:
        try:
            p.produce(topic, value=value, key=key, headers=headers)
            break
        except BufferError:
            p.poll(0.01)
    p.poll(0)
left = p.flush(300)
secs = time.monotonic() - started
assert left == 0, f"{left} undelivered"
print(f"plain_producer messages={len(messages)} seconds={secs:.3f} msgs_per_s={len(messages) / secs:.0f}")
