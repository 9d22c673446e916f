"""QoS 0 at max rate: memory per subscriber stays bounded and a fast subscriber
is not disturbed by a stuck one (limits.max_queued_qos0_messages,
limits.read_ahead_bytes, limits.write_buffer_high_watermark; docs/performance.md)."""

import socket
import threading
import time

import pytest

import mqtt_raw
from conftest import V5, uid


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.broker_args("--set", "limits.max_queued_qos0_messages=1000")
def test_qos0_flood_with_a_stuck_subscriber_keeps_memory_bounded(broker, clients):
    topic = uid("flood")
    # A subscriber that reads its CONNACK and SUBACK and then never again.
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.settimeout(5)
    stuck.connect((broker.host, broker.port))
    stuck.sendall(mqtt_raw.connect(uid("stuck"), V5))
    stuck.sendall(mqtt_raw.subscribe(1, [(topic, 0)], V5))
    data = b""
    deadline = time.monotonic() + 5
    while b"\x90" not in data[data.find(b"\x20") + 1:] or len(data) < 9:
        assert time.monotonic() < deadline, "no SUBACK for the stuck client"
        data += stuck.recv(64)

    good = clients(broker, V5)
    good.subscribe(topic, qos=0)

    # One publisher writes 20,000 QoS 0 messages of 1 KiB (20 MB), 100 at a
    # time every 40 ms (~2.5 MB/s: the Python subscriber below keeps up with
    # that on a busy machine; a subscriber that cannot is itself a slow
    # consumer after limits.slow_consumer_timeout_ms and loses QoS 0 too, which is not what this
    # test is about). Nothing acknowledges QoS 0: only the broker's bounds
    # keep the stuck subscriber from holding the whole flood.
    n = 20000
    packets = [mqtt_raw.publish(topic, f"{i:06d}".encode() + b"x" * 1018, qos=0, version=V5)
               for i in range(n)]

    def flood_out():
        for i in range(0, n, 100):
            pub.sendall(b"".join(packets[i:i + 100]))
            time.sleep(0.04)
    pub = socket.create_connection((broker.host, broker.port), timeout=30)
    pub.sendall(mqtt_raw.connect(uid("pub"), V5))
    assert pub.recv(64)[:1] == b"\x20"

    before = rss_kb(broker.proc.pid)
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(broker.proc.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    sender = threading.Thread(target=flood_out)
    sender.start()
    try:
        got = good.get_n(n, timeout=60)
    finally:
        sender.join(60)
        stop.set()
        sampler.join()
    # The fast subscriber got everything, in order (one publisher, one TCP path).
    assert [int(m.payload[:6]) for m in got] == list(range(n))
    # The stuck one holds at most 1,000 queued messages (~1 MB) plus its
    # connection's write buffer; without the QoS 0 bound it held the whole
    # flood (its queue limit is 100,000 messages): > 20 MB.
    grew_kb = peak[0] - before
    print(f"broker RSS grew by {grew_kb} kB")
    assert grew_kb < 12000, f"broker RSS grew by {grew_kb} kB during a 20 MB QoS 0 flood"
    # Its drops are counted and logged.
    broker.wait_log(r"session \S+ dropped \d+ messages \(queue full [1-9]")
    stuck.close()
    pub.close()
