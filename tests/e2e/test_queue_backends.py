"""Offline queues on their backends by client type, end to end: the real
broker with DEVICE queues in a redis-server the test starts itself
(redis_server.py) and APPLICATION queues in the real Kafka of
scripts/services.sh (AMQ_TEST_KAFKA_BOOTSTRAP; a missing variable fails).
Every test has its own Redis key prefix and Kafka topic prefix.

- per-type queue limits: a DEVICE session on Redis with
  session.device_persisted_messages_limit = 5 keeps the newest 5 of 20
  (drop oldest), its drops visible in the admin API and /metrics, each
  counted once (offline_queue_full, not also backend_trimmed); an
  APPLICATION session on Kafka (no count limit by default) keeps all 20
  although session.offline_queue_limit is 5;
- boot clean-up: queues in Redis and Kafka whose session record is gone
  (here: the data directory is put back to a copy taken before those
  sessions existed) are removed when the broker starts, with a log line
  each, also the Kafka topic of a client id too long for Kafka's topic
  names (a hashed name); queues with a record stay and are delivered;
- the offline TTL (session.device_persisted_messages_ttl) applies to
  entries read back from the store after a restart (embedded DEVICE queue
  and Kafka APPLICATION queue): expired ones are skipped and counted
  (reason queue_ttl), later ones delivered.
"""

import http.client
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import V5, uid, wait_until
from redis_server import RedisServer

BOOTSTRAP = os.environ.get("AMQ_TEST_KAFKA_BOOTSTRAP")
TOPICS_BIN = os.environ.get("AMQ_KAFKA_TOPICS_BIN")
TOKEN = "lane-" + "q" * 16
RULES = '[{field: client_id, kind: prefix, pattern: "app-", type: application}]'


def kafka_args(prefix, *extra):
    if not BOOTSTRAP:
        pytest.fail("AMQ_TEST_KAFKA_BOOTSTRAP is not set: run scripts/test.sh, or "
                    "`scripts/services.sh start` and load its env file")
    return ["--set", "storage.application_queue=kafka",
            "--set", f"storage.kafka.bootstrap_servers={BOOTSTRAP}",
            "--set", f"storage.kafka.topic_prefix={prefix}",
            "--set", "storage.kafka.replication_factor=1",
            "--set", "storage.kafka.wait_at_boot_ms=0",
            "--set", f"session.client_type_rules={RULES}",
            "--set", f"admin.token={TOKEN}", *extra]


def topics(prefix):
    assert TOPICS_BIN, "AMQ_KAFKA_TOPICS_BIN is not set (ctest sets it)"
    out = subprocess.run([TOPICS_BIN, BOOTSTRAP, prefix], capture_output=True, text=True,
                         timeout=30, check=True)
    return set(out.stdout.split())


def redis_keys(redis, pattern):
    out = subprocess.run(["redis-cli", "-p", str(redis.port), "--scan", "--pattern", pattern],
                         capture_output=True, text=True, timeout=10, check=True)
    return set(out.stdout.split())


def session_detail(broker, cid):
    conn = http.client.HTTPConnection("127.0.0.1", broker.admin_port(), timeout=10)
    try:
        conn.request("GET", f"/api/v1/sessions/{cid}",
                     headers={"Authorization": f"Bearer {TOKEN}"})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, body
        return json.loads(body)
    finally:
        conn.close()


def dropped_metrics(broker):
    """actormq_messages_dropped_total by reason."""
    url = f"http://127.0.0.1:{broker.admin_port()}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith('actormq_messages_dropped_total{reason="'):
            reason = line.split('"')[1]
            out[reason] = float(line.rsplit(" ", 1)[1])
    return out


@pytest.fixture
def redis(tmp_path):
    r = RedisServer(tmp_path / "redis").start()
    yield r
    r.stop()


def offline_subscriber(broker, clients, cid, topic):
    c = clients(broker, V5, client_id=cid, clean=False, session_expiry=600)
    c.subscribe(topic, qos=1)
    c.disconnect()


def receive_all(broker, clients, cid, last):
    """Reconnects `cid` and returns the payloads it gets up to and including
    `last`. Queues are delivered in order, so anything dropped that still
    came would show up before `last`."""
    c = clients(broker, V5, client_id=cid, clean=False, session_expiry=600)
    assert c.session_present
    got = [m.payload.decode() for m in c.get_until(last, timeout=30)]
    # paho sends the PUBACK of `last` after handing it over; once the
    # broker has answered a later packet of this client, it is out.
    c.publish(uid("sync"), "x", qos=1)
    c.disconnect()
    return got + [last]


def test_queue_limits_by_client_type(redis, broker_factory, clients):
    prefix = uid("amq-lim")
    broker = broker_factory(*redis.broker_args(prefix),
                            *kafka_args(prefix,
                                        "--set", "session.device_persisted_messages_limit=5",
                                        "--set", "session.offline_queue_limit=5",
                                        "--set", "session.application_queue_limit=0"))
    topic = uid("lim")
    dev, app = uid("dev"), uid("app")
    offline_subscriber(broker, clients, dev, topic)
    offline_subscriber(broker, clients, app, topic)
    assert session_detail(broker, dev)["type"] == "DEVICE"
    assert session_detail(broker, app)["type"] == "APPLICATION"
    before = dropped_metrics(broker)
    pub = clients(broker, V5)
    payloads = [f"m{i:02d}" for i in range(20)]
    for p in payloads:
        pub.publish(topic, p, qos=1)  # every one acknowledged (drop oldest refuses none)

    # DEVICE on Redis: the newest 5, the 15 oldest dropped and counted.
    wait_until(lambda: session_detail(broker, dev)["queue_depth"] == 5, timeout=10,
               what="the DEVICE queue at its limit")
    detail = session_detail(broker, dev)
    print(f"DEVICE on Redis: {detail['queue_depth']} queued, {detail['dropped']} dropped")
    assert detail["dropped"] == 15
    after = dropped_metrics(broker)
    moved = {r: after.get(r, 0) - before.get(r, 0) for r in after}
    print(f"dropped metrics moved by {moved}")
    # Each dropped message counted once: the session drops the same oldest
    # entries the Redis script trimmed (offline_queue_full); its erases
    # claim them, so the store does not count them as backend_trimmed too.
    assert moved.get("offline_queue_full", 0) == 15
    assert moved.get("backend_trimmed", 0) == 0
    zcard = subprocess.run(["redis-cli", "-p", str(redis.port), "ZCARD", f"{prefix}:{{{dev}}}:q"],
                           capture_output=True, text=True, timeout=10, check=True).stdout
    assert int(zcard) == 5, f"Redis holds {zcard.strip()} entries, expected the newest 5"
    got = receive_all(broker, clients, dev, payloads[-1])
    assert got == payloads[-5:], got
    # Reading the queue back (pages past the trimmed seqs) counts nothing more.
    after = dropped_metrics(broker)
    moved = {r: after.get(r, 0) - before.get(r, 0) for r in after}
    assert moved.get("offline_queue_full", 0) == 15, moved
    assert moved.get("backend_trimmed", 0) == 0, moved

    # APPLICATION on Kafka: no count limit, all 20 in order, none dropped.
    assert session_detail(broker, app)["dropped"] == 0
    got = receive_all(broker, clients, app, payloads[-1])
    assert got == payloads, got


def test_leftover_queues_removed_at_boot(redis, broker_factory, clients, tmp_path):
    prefix = uid("amq-boot")
    topic, other = uid("boot"), uid("other")
    keep_dev, keep_app = uid("dev-keep"), uid("app-keep")
    gone_dev, gone_app = uid("dev-gone"), uid("app-gone")
    # Too long for Kafka's 249-character topic names: a hashed topic name,
    # which does not give the client id back.
    gone_long = uid("app-long") + "-" + "L" * 250
    app_prefix = f"{prefix}.msg.app."

    broker = broker_factory(*redis.broker_args(prefix), *kafka_args(prefix))
    offline_subscriber(broker, clients, keep_dev, topic)
    offline_subscriber(broker, clients, keep_app, topic)
    pub = clients(broker, V5)
    for i in range(3):
        pub.publish(topic, f"k{i}", qos=1)
    pub.disconnect()
    broker.stop()
    snapshot = tmp_path / "snapshot"
    shutil.copytree(broker.data_dir, snapshot)
    # Two more persistent sessions with queued messages, then the data
    # directory goes back to the snapshot: their records are gone, their
    # queues in Redis and Kafka are leftovers.
    broker.start()
    offline_subscriber(broker, clients, gone_dev, other)
    offline_subscriber(broker, clients, gone_app, other)
    offline_subscriber(broker, clients, gone_long, other)
    pub = clients(broker, V5)
    for i in range(2):
        pub.publish(other, f"g{i}", qos=1)
    pub.disconnect()
    broker.stop()
    assert redis_keys(redis, f"{prefix}:{{{gone_dev}}}:*")
    named = {app_prefix + keep_app, app_prefix + gone_app}
    wait_until(lambda: len(topics(app_prefix) - named) == 1 and named <= topics(app_prefix),
               timeout=15, what="the three APPLICATION topics")
    (hashed,) = topics(app_prefix) - named
    assert "_h" in hashed and len(hashed) == 249, hashed
    shutil.rmtree(broker.data_dir)
    shutil.copytree(snapshot, broker.data_dir)

    # Boot: the leftovers are removed, the queues with a record stay.
    broker.start()
    broker.wait_log(rf"removed the leftover queue of client {gone_dev} from redis://", timeout=30)
    broker.wait_log(rf"removed the leftover queue of client {gone_app} from kafka:", timeout=30)
    broker.wait_log(r"removed a leftover queue from kafka:.*\(" + re.escape(hashed) + r"\)",
                    timeout=30)
    assert not redis_keys(redis, f"{prefix}:{{{gone_dev}}}:*")
    assert redis_keys(redis, f"{prefix}:{{{keep_dev}}}:q")
    wait_until(lambda: topics(app_prefix) == {app_prefix + keep_app}, timeout=20,
               what="the leftover APPLICATION topics (hashed name too) deleted, the other kept")
    for cid in (keep_dev, keep_app):
        assert receive_all(broker, clients, cid, "k2") == ["k0", "k1", "k2"]


def test_offline_ttl_applies_to_stored_entries_after_restart(broker_factory, clients):
    prefix = uid("amq-ttl")
    broker = broker_factory(*kafka_args(prefix,
                                        "--set", "session.device_persisted_messages_ttl=2"))
    topic = uid("ttl")
    dev, app = uid("dev"), uid("app")  # DEVICE: embedded store; APPLICATION: Kafka
    offline_subscriber(broker, clients, dev, topic)
    offline_subscriber(broker, clients, app, topic)
    pub = clients(broker, V5)
    for i in range(5):
        pub.publish(topic, f"old{i}", qos=1)
    stored = time.monotonic()
    pub.publish(topic, "own-expiry", qos=1, props={"MessageExpiryInterval": 600})
    pub.disconnect()
    # A restart: every entry is read back from the store (cold sessions).
    broker.stop()
    broker.start()
    # The TTL of the first five has passed (their own clock: when stored).
    time.sleep(max(0.0, stored + 2.5 - time.monotonic()))
    before = dropped_metrics(broker)
    pub = clients(broker, V5)
    for i in range(3):
        pub.publish(topic, f"new{i}", qos=1)
    pub.disconnect()
    for cid in (dev, app):
        got = receive_all(broker, clients, cid, "new2")
        assert got == ["own-expiry", "new0", "new1", "new2"], (cid, got)
    moved = dropped_metrics(broker).get("queue_ttl", 0) - before.get("queue_ttl", 0)
    assert moved == 10, f"queue_ttl drops moved by {moved}, expected 5 per session"
    # Skipped entries are gone from the store (Kafka: committed past them):
    # after another restart only a new marker arrives.
    for cid in (dev, app):
        wait_until(lambda: session_detail(broker, cid)["queue_depth"] == 0, timeout=10,
                   what=f"{cid} acknowledged everything")
    broker.stop()
    broker.start()
    pub = clients(broker, V5)
    pub.publish(topic, "marker", qos=1)
    for cid in (dev, app):
        assert receive_all(broker, clients, cid, "marker") == ["marker"], cid
