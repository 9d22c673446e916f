"""DEVICE offline queues in Redis (storage.device_queue: redis), end to end,
against a redis-server each test starts itself (AOF, appendfsync always):

- the broker refuses to start when Redis is unreachable, or waits for it
  with storage.redis.wait_at_boot_ms;
- Redis killed and restarted under traffic: publishes to an offline
  persistent DEVICE session are refused while Redis is down (MQTT 5: PUBACK
  0x83; MQTT 3.1.1: no PUBACK, the connection is closed), never
  acknowledged and then lost; clean sessions keep working; everything
  resumes on its own; every acknowledged message arrives, in order.

Kill -9 of the broker with Redis queues: test_crash_recovery.py (backend
parameter).
"""

import os
import signal
import socket
import subprocess
import time

import pytest

import mqtt_raw as raw
from conftest import BROKER_BIN, V5, Broker, free_port, uid, wait_until
from redis_server import RedisServer


def stop_tolerating_errors(b):
    """SIGTERM and exit code 0; error lines are expected in these logs (Redis
    was down on purpose)."""
    proc, b.proc = b.proc, None
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    b._log.close()
    assert proc.returncode == 0, f"broker exited with {proc.returncode}:\n{b.log()[-3000:]}"


def connectable(b):
    try:
        with socket.create_connection((b.host, b.port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis(tmp_path):
    r = RedisServer(tmp_path / "redis").start()
    yield r
    r.stop()


def test_refuses_to_start_when_redis_is_unreachable(tmp_path):
    dead = RedisServer(tmp_path / "r")
    dead.port = free_port()  # nothing listens there
    log = tmp_path / "broker.log"
    with open(log, "wb") as f:
        proc = subprocess.run(
            [BROKER_BIN, "--bind", "127.0.0.1", "--port", str(free_port()), "--data-dir",
             str(tmp_path / "data"), "--set", "admin.port=0", *dead.broker_args()],
            stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=30)
    text = log.read_text(errors="replace")
    assert proc.returncode != 0, text
    assert f"cannot connect to Redis at 127.0.0.1:{dead.port}" in text, text
    assert "wait_at_boot_ms" in text, text


def test_waits_for_redis_at_boot(tmp_path):
    redis = RedisServer(tmp_path / "redis")
    redis.port = free_port()
    args = redis.broker_args()
    args[args.index("storage.redis.wait_at_boot_ms=0")] = "storage.redis.wait_at_boot_ms=20000"
    b = Broker(args, tmp_path / "broker.log")
    b.port = free_port()
    b._log = open(b.log_path, "ab")
    b.proc = subprocess.Popen(
        [BROKER_BIN, "--bind", b.host, "--port", str(b.port), "--log-level", "info",
         "--data-dir", str(b.data_dir), "--set", "admin.port=0", *args],
        stdin=subprocess.DEVNULL, stdout=b._log, stderr=b._log)
    try:
        b.wait_log(r"storage waits for Redis")
        assert b.alive()
        redis.start()
        b.wait_log(r"broker opened rocksdb:.*DEVICE queues: redis://", timeout=20)
        wait_until(lambda: connectable(b), what="the broker to accept connections")
        c = raw.RawClient(b.host, b.port)
        c.connect(uid("dev"), clean=False, properties={"session_expiry_interval": 60})
        c.send(raw.disconnect())
        b.stop()
    finally:
        if b.proc is not None:
            b.proc.kill()
        redis.stop()


def publish_v5(c, topic, payload, pid):
    """One QoS 1 PUBLISH; returns the PUBACK reason code."""
    c.send(raw.publish(topic, payload, qos=1, packet_id=pid, version=raw.V5))
    p = c.recv_type(raw.PUBACK, timeout=10)
    assert p.packet_id == pid
    return p.code


def test_redis_outage_under_traffic(redis, broker_factory, clients):
    b = broker_factory(*redis.broker_args())
    dev_topic, clean_topic = uid("fault/dev"), uid("fault/clean")
    dev_id = uid("dev")
    dev = clients(b, V5, client_id=dev_id, clean=False, session_expiry=300)
    dev.subscribe(dev_topic, qos=1)
    dev.disconnect()
    watcher = clients(b, V5)  # a clean session, online throughout
    watcher.subscribe(clean_topic, qos=1)

    pub = raw.RawClient(b.host, b.port, version=raw.V5)
    pub.connect(uid("pub"))
    acked, refused, pid = [], [], 0

    def send(payload):
        nonlocal pid
        pid = pid % 65535 + 1
        code = publish_v5(pub, dev_topic, payload, pid)
        (acked if code == 0 else refused).append(payload)
        return code

    for i in range(50):
        assert send(f"before-{i:03d}") == 0

    redis.kill()
    for i in range(20):
        code = send(f"during-{i:03d}")
        assert code in (0, 0x83), f"PUBACK reason {code:#x}"
    assert refused, "no publish was refused while Redis was down"
    # Clean sessions do not depend on Redis.
    pub.send(raw.publish(clean_topic, "clean-during", qos=1, packet_id=60000, version=raw.V5))
    assert pub.recv_type(raw.PUBACK).code == 0
    assert watcher.get().payload == b"clean-during"

    redis.start()
    # Resumes on its own (reconnect with backoff, at most a few seconds).
    deadline = time.monotonic() + 15
    i = 0
    while send(f"after-{i:03d}") != 0:
        assert time.monotonic() < deadline, "publishes still refused 15 s after Redis returned"
        i += 1
        time.sleep(0.05)
    for j in range(i + 1, i + 21):
        assert send(f"after-{j:03d}") == 0
    pub.send(raw.disconnect())

    dev2 = clients(b, V5, client_id=dev_id, clean=False, session_expiry=300)
    assert dev2.session_present
    received = [m.payload.decode() for m in dev2.get_until(acked[-1], timeout=20)]
    received.append(acked[-1])
    assert not set(acked) - set(received), "acknowledged messages lost"
    order = [p for p in received if p in set(acked)]
    assert order == acked, "acknowledged messages out of order"
    print(f"{len(acked)} acknowledged, {len(refused)} refused while Redis was down")
    dev2.disconnect()
    watcher.disconnect()
    stop_tolerating_errors(b)


def test_mqtt311_publisher_gets_no_ack_while_redis_is_down(redis, broker_factory, clients):
    b = broker_factory(*redis.broker_args())
    topic = uid("fault311")
    dev = clients(b, V5, client_id=uid("dev"), clean=False, session_expiry=300)
    dev.subscribe(topic, qos=1)
    dev.disconnect()
    redis.kill()
    pub = raw.RawClient(b.host, b.port, version=raw.V311)
    pub.connect(uid("pub311"))
    pub.send(raw.publish(topic, "x", qos=1, packet_id=1, version=raw.V311))
    with pytest.raises(raw.Closed):
        p = pub.recv(timeout=10)
        raise AssertionError(f"3.1.1 publisher got {p!r} while Redis was down")
    redis.start()
    stop_tolerating_errors(b)
