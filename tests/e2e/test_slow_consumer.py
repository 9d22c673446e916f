"""Slow consumers end to end (docs/sessions.md "Slow consumers"), real broker and sockets.

A connected persistent subscriber that stops reading (Receive Maximum 10, a small receive
buffer) while 3x session.offline_queue_limit of QoS 1 is published to it:
- limits.slow_persistent_consumer: overflow (the default): the broker holds the publisher
  near the stored limit for at most limits.slow_consumer_timeout_ms, then marks the
  subscriber slow and its queue's limit applies while connected: the publisher gets every
  PUBACK although the subscriber never read; the drops are counted (admin API, /metrics
  reason stored_queue_full) and logged; when the subscriber reads it gets what was in
  flight, then the newest messages, in order, without a gap among them, nothing twice.
- hold: the publisher waits until the subscriber reads; nothing is dropped, everything
  arrives in order.
A clean subscriber is marked slow after the configured timeout, the publisher is not held
for good, drops are logged.
The timeout is small here (limits.slow_consumer_timeout_ms) to keep the tests fast.
"""
import http.client
import json
import time
import urllib.request

import pytest

from mqtt_raw import PUBACK, RawClient, V5, publish

LIMIT = 400  # session.offline_queue_limit
N = 3 * LIMIT
WINDOW = 10  # the subscriber's Receive Maximum: in flight when it stops reading
TIMEOUT_MS = 300  # limits.slow_consumer_timeout_ms
TOKEN = "slow-" + "t" * 16
ARGS = ("--set", f"session.offline_queue_limit={LIMIT}",
        "--set", "session.offline_queue_memory=50",
        "--set", "limits.max_queued_messages=200",
        "--set", f"limits.slow_consumer_timeout_ms={TIMEOUT_MS}",
        "--set", f"admin.token={TOKEN}",
        # The publisher sends all N without waiting: within its Receive Maximum.
        "--set", f"limits.receive_maximum={2 * N}")


def payload(i):
    return b"m%05d" % i


def read_acks(pub, quiet=2.0, deadline=30.0):
    """PUBACK packet ids until none came for `quiet` seconds."""
    ids = []
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            p = pub.recv(timeout=quiet)
        except TimeoutError:
            break
        assert p.type == PUBACK, f"unexpected {p!r}"
        ids.append(p.packet_id)
    return ids


def read_all_acks(pub, n, deadline=30.0):
    """Exactly `n` PUBACK packet ids, or fails at the deadline."""
    ids = []
    end = time.monotonic() + deadline
    while len(ids) < n:
        try:
            p = pub.recv(timeout=max(0.0, end - time.monotonic()))
        except TimeoutError:
            raise AssertionError(f"{len(ids)} of {n} PUBACKs within {deadline} s: "
                                 "the publisher is held") from None
        assert p.type == PUBACK, f"unexpected {p!r}"
        ids.append(p.packet_id)
    return ids


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


def metric(broker, name, **labels):
    url = f"http://127.0.0.1:{broker.admin_port()}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {want} in /metrics")


def stuck_subscriber(broker, cid, topic):
    """A persistent subscriber that never reads after subscribing."""
    sub = RawClient(broker.host, broker.port, version=V5, rcvbuf=4096)
    sub.connect(cid, clean=False,
                properties=dict(session_expiry_interval=3600, receive_maximum=WINDOW))
    sub.subscribe([(topic, 1)])
    return sub


@pytest.mark.broker_args(*ARGS)
def test_slow_persistent_subscriber_overflows_after_the_timeout(broker):
    sub = stuck_subscriber(broker, "slow-sub", "slow/t")
    pub = RawClient(broker.host, broker.port, version=V5)
    pub.connect("fast-pub")
    for i in range(N):  # ~30 KB: fits in the broker's read-ahead, sendall never blocks
        pub.send(publish("slow/t", payload(i), qos=1, packet_id=i + 1, version=V5))
    # Held near the stored limit for the timeout, then released: every PUBLISH is
    # acknowledged although the subscriber reads nothing.
    acked = read_all_acks(pub, N)
    assert sorted(acked) == list(range(1, N + 1))
    assert pub.ping() == []  # answered, nothing else pending
    broker.wait_log(r"router marks persistent session slow-sub a slow consumer: its stored "
                    r"queue is at its limit .* after 300 ms")
    # Counted: what the subscriber holds (in flight + its stored queue's limit), the
    # rest dropped.
    detail = session_detail(broker, "slow-sub")
    dropped = detail["dropped"]
    assert dropped == N - WINDOW - LIMIT, detail
    assert metric(broker, "actormq_messages_dropped_total", reason="stored_queue_full") == dropped
    assert metric(broker, "actormq_slow_consumers_total") == 1
    # The subscriber reads again: what was in flight, then the newest LIMIT, in order.
    got = []
    while not got or got[-1] != payload(N - 1):
        got.append(sub.next_publish(timeout=15.0).payload)
    assert got == [payload(i) for i in range(WINDOW)] + [payload(i) for i in range(N - LIMIT, N)]
    assert sub.ping() == []  # nothing more (no duplicate)
    assert "session slow-sub dropped" in broker.log()  # logged


@pytest.mark.broker_args(*ARGS, "--set", "limits.slow_persistent_consumer=hold")
def test_with_hold_a_slow_persistent_subscriber_holds_publisher_and_loses_nothing(broker):
    sub = stuck_subscriber(broker, "slow-sub", "slow/t")
    pub = RawClient(broker.host, broker.port, version=V5)
    pub.connect("fast-pub")
    for i in range(N):
        pub.send(publish("slow/t", payload(i), qos=1, packet_id=i + 1, version=V5))
    # Held past the timeout: not marked slow; the publisher is still waiting.
    broker.wait_log(r"router holds publishers for persistent session slow-sub: .* after 300 ms")
    acked = read_acks(pub, quiet=0.5)
    assert 0 < len(acked) < N, f"{len(acked)} of {N} acknowledged while the subscriber was stuck"
    assert len(acked) <= LIMIT + WINDOW
    # The subscriber reads again: every message, in order; the publisher gets the rest.
    got = []
    while len(got) < N:
        got.append(sub.next_publish(timeout=15.0).payload)
    assert got == [payload(i) for i in range(N)]
    acked += read_all_acks(pub, N - len(acked))
    assert sorted(acked) == list(range(1, N + 1))
    assert sub.ping() == []  # nothing twice
    log = broker.log()
    assert "a slow consumer" not in log
    assert "dropped" not in log
    assert session_detail(broker, "slow-sub")["dropped"] == 0


@pytest.mark.broker_args(*ARGS)
def test_slow_clean_subscriber_drops_counted_and_logged(broker):
    sub = RawClient(broker.host, broker.port, version=V5, rcvbuf=4096)
    sub.connect("slow-clean", clean=True, properties=dict(receive_maximum=WINDOW))
    sub.subscribe([("slow/c", 1)])
    pub = RawClient(broker.host, broker.port, version=V5)
    pub.connect("fast-pub-2")
    for i in range(N):
        pub.send(publish("slow/c", payload(i), qos=1, packet_id=i + 1, version=V5))
    # Not held for good: marked slow after the configured timeout, every publish acknowledged.
    acked = read_all_acks(pub, N)
    assert sorted(acked) == list(range(1, N + 1))
    broker.wait_log(r"router marks session slow-clean a slow consumer: backlog \d+ after 300 ms")
    got = []
    while not got or got[-1] != payload(N - 1):  # the newest is kept
        got.append(sub.next_publish(timeout=15.0).payload)
    assert len(got) < N  # the bounded queue dropped the oldest ...
    assert got == sorted(set(got))  # ... and what arrives keeps its order, once
    assert sub.ping() == []
    assert "session slow-clean dropped" in broker.log()  # counted and logged
