#!/usr/bin/python3
"""The issue's persistence scenario per queue backend, with figures.

For each backend (embedded RocksDB, Redis with AOF + appendfsync always,
started here on a free port, or Kafka: the broker given by
AMQ_TEST_KAFKA_BOOTSTRAP, e.g. from `scripts/services.sh start` and its env
file, with the subscriber an APPLICATION client whose queue is its own topic
and sessions replicated in Kafka): a persistent MQTT 5 subscriber goes
offline, a paho publisher sends N QoS 1 messages (every PUBACK awaited; at
most 30,000 outstanding, paho 1.x reuses packet ids beyond 65,535), the broker
is killed with SIGKILL, restarted on the same store, and the subscriber
reconnects. Prints the rate at which publishes were stored (acknowledged),
the restart time, the drain rate, and whether all N arrived in order.
session.device_persisted_messages_limit is set to N so Redis drops nothing.

Usage: persist_backends.py <actormq binary> [N] [embedded|redis|kafka ...]
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from redis_server import RedisServer  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(args, port, log):
    p = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p
        except OSError:
            assert p.poll() is None, "broker exited"
            time.sleep(0.01)
    p.kill()
    raise SystemExit("broker did not listen within 60 s")


def connect(port, cid, clean):
    c = mqtt.Client(cid, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    props = None
    if not clean:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
    ev = threading.Event()
    c.on_connect = lambda *a: ev.set()
    c.connect("127.0.0.1", port, 60, clean_start=clean, properties=props)
    c.loop_start()
    assert ev.wait(10), "no CONNACK"
    return c


def run(binary, n, backend, work):
    port = free_port()
    redis = None
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--data-dir",
            os.path.join(work, backend + "-data"), "--set", "admin.port=0",
            "--set", f"session.device_persisted_messages_limit={n}"]
    if backend == "redis":
        redis = RedisServer(os.path.join(work, "redis")).start()
        args += redis.broker_args("bench")
    elif backend == "kafka":
        bootstrap = os.environ.get("AMQ_TEST_KAFKA_BOOTSTRAP")
        if not bootstrap:
            raise SystemExit("kafka: set AMQ_TEST_KAFKA_BOOTSTRAP (scripts/services.sh start, "
                             "then load its env file)")
        args += ["--set", "storage.application_queue=kafka", "--set", "storage.sessions=kafka",
                 "--set", f"storage.kafka.bootstrap_servers={bootstrap}",
                 "--set", f"storage.kafka.topic_prefix=bench{os.getpid()}",
                 "--set", "storage.kafka.replication_factor=1",
                 "--set", "session.client_type_rules=[{field: client_id, kind: exact, "
                          "pattern: bench-dev, type: application}]"]
    log = open(os.path.join(work, backend + ".log"), "ab")
    broker = start_broker(args, port, log)
    try:
        sub = connect(port, "bench-dev", False)
        ev = threading.Event()
        sub.on_subscribe = lambda *a: ev.set()
        sub.subscribe("bench/t", 1)
        assert ev.wait(10), "no SUBACK"
        sub.disconnect()
        sub.loop_stop()
        pub = connect(port, "bench-pub", True)
        acked = [0]
        lock = threading.Lock()

        def on_publish(*_):
            with lock:
                acked[0] += 1
        pub.on_publish = on_publish
        t0 = time.monotonic()
        for i in range(n):
            while i - acked[0] > 30000:
                time.sleep(0.001)
            pub.publish("bench/t", f"m{i:07d}", 1)
        while acked[0] < n and time.monotonic() - t0 < 600:
            time.sleep(0.005)
        stored_s = time.monotonic() - t0
        pub.disconnect()
        pub.loop_stop()
        broker.kill()
        broker.wait()
        t1 = time.monotonic()
        broker = start_broker(args, port, log)
        restart_s = time.monotonic() - t1
        got = []
        done = threading.Event()

        def on_message(c, u, m):
            got.append(m.payload)
            if len(got) >= n:
                done.set()
        t2 = time.monotonic()
        sub = mqtt.Client("bench-dev", protocol=mqtt.MQTTv5)
        sub.on_message = on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        sub.connect("127.0.0.1", port, 60, clean_start=False, properties=props)
        sub.loop_start()
        done.wait(600)
        drain_s = time.monotonic() - t2
        sub.disconnect()
        sub.loop_stop()
        ok = [p.decode() for p in got] == [f"m{i:07d}" for i in range(n)]
        print(f"RESULT backend={backend} n={n} acked={acked[0]} store_rate={acked[0] / stored_s:.0f}/s "
              f"restart={restart_s:.2f}s drain_rate={len(got) / drain_s:.0f}/s "
              f"received={len(got)} all_in_order={ok}", flush=True)
    finally:
        if broker.poll() is None:
            broker.terminate()
            broker.wait()
        if redis:
            redis.stop()


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    backends = sys.argv[3:] or ["embedded", "redis"]
    work = tempfile.mkdtemp(prefix="actormq-persist-")
    try:
        for b in backends:
            run(binary, n, b, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
