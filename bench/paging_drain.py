#!/usr/bin/python3
"""Drain of a stored backlog (docs/performance.md, "Draining a stored backlog").

Queues N QoS 1 messages for an offline persistent MQTT 5 session on the
embedded store (paho publisher, every PUBACK awaited), then drains them with
mosquitto_sub (C client, -C N, Receive Maximum as given, default 1000) in two cases:
  warm    — the broker kept running (the session went cold past
            session.offline_queue_memory; the rest is paged from RocksDB);
  restart — the broker was killed with SIGKILL after queueing and restarted
            (the session is restored cold, nothing is read at boot).
Prints the queueing rate, the drain rate, and the broker's RSS: fresh, with
the backlog queued, after the restart, and the peak sampled every 20 ms
during the drain. Usage: paging_drain.py <actormq binary> [N] [payload bytes] [Receive Maximum]
(extra broker flags in $BROKER_ARGS, e.g. "--set session.offline_queue_page=1000")
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Broker:
    def __init__(self, binary, data_dir, log):
        self.binary, self.data_dir, self.log = binary, data_dir, log
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--data-dir",
             self.data_dir, "--log-level", "warn", "--set", "admin.enabled=false",
             *os.environ.get("BROKER_ARGS", "").split()],
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise SystemExit("broker did not start")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def paho(port, cid, clean, expiry=None):
    c = mqtt.Client(cid, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    if expiry:
        props.SessionExpiryInterval = expiry
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port, clean_start=clean, properties=props)
    c.loop_start()
    return c


def queue_backlog(port, topic, n, payload):
    sub = paho(port, "drain-sub", False, 3600)
    time.sleep(0.2)
    sub.subscribe(topic, qos=1)
    time.sleep(0.3)
    sub.disconnect()
    sub.loop_stop()
    pub = paho(port, "drain-pub", True)
    time.sleep(0.2)
    # At most 20,000 unacknowledged: paho's message ids are 16 bits and its
    # table of outgoing messages is keyed by them.
    window = threading.Semaphore(20000)
    pub.on_publish = lambda *a: window.release()
    t0 = time.monotonic()
    for i in range(n):
        if not window.acquire(timeout=60):
            raise SystemExit(f"publish {i} of {n}: no acknowledgement for 60 s")
        pub.publish(topic, b"%08d" % i + payload, qos=1)
    for i in range(20000):
        if not window.acquire(timeout=60):
            raise SystemExit("the last publishes were not acknowledged within 60 s")
    dt = time.monotonic() - t0
    pub.disconnect()
    pub.loop_stop()
    return dt


def drain(broker, topic, n, receive_max):
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(broker.proc.pid))
            time.sleep(0.02)

    th = threading.Thread(target=sample)
    th.start()
    t0 = time.monotonic()
    out = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5", "-c",
         "-x", "3600", "-i", "drain-sub", "-q", "1", "-t", topic, "-C", str(n), "-F", "%p",
         "-W", "300", "-D", "connect", "receive-maximum", str(receive_max)], capture_output=True)
    dt = time.monotonic() - t0
    stop.set()
    th.join()
    got = out.stdout.split(b"\n")[:-1]
    in_order = all(int(line[:8]) == i for i, line in enumerate(got))
    return dt, len(got), in_order, peak[0]


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    receive_max = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    payload = b"x" * max(0, size - 8)
    for case in ("warm", "restart"):
        tmp = tempfile.mkdtemp(prefix="amq-drain-")
        with open(os.path.join(tmp, "broker.log"), "ab") as log:
            b = Broker(binary, os.path.join(tmp, "data"), log)
            b.start()
            fresh = rss_kib(b.proc.pid)
            q_s = queue_backlog(b.port, "bench/drain", n, payload)
            queued = rss_kib(b.proc.pid)
            restarted = None
            if case == "restart":
                b.kill()
                b.start()
                restarted = rss_kib(b.proc.pid)
            d_s, got, ordered, peak = drain(b, "bench/drain", n, receive_max)
            after = rss_kib(b.proc.pid)
            b.stop()
        shutil.rmtree(tmp)
        print(f"{case} (Receive Maximum {receive_max}): {n} x {size} B queued in {q_s:.2f} s ({n / q_s:,.0f} msg/s); drained {got} "
              f"in {d_s:.2f} s ({got / d_s:,.0f} msg/s), in order: {ordered}; RSS MiB fresh "
              f"{fresh / 1024:.1f}, queued {queued / 1024:.1f}, "
              + (f"after restart {restarted / 1024:.1f}, " if restarted else "")
              + f"peak during drain {peak / 1024:.1f}, after {after / 1024:.1f}")


if __name__ == "__main__":
    main()
