"""Slow consumers end to end (docs/sessions.md "Slow consumers"), real broker and sockets.

A connected persistent subscriber that stops reading must not lose acknowledged QoS 1
messages: its queue goes cold (stored) and, before the stored queue reaches
session.offline_queue_limit, the broker holds the publisher (its PUBACKs wait). When the
subscriber reads again it gets every message in order and the publisher every PUBACK.
"""
import time

import pytest

from mqtt_raw import PUBACK, RawClient, V5, publish

LIMIT = 400  # session.offline_queue_limit
N = 3 * LIMIT


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


@pytest.mark.broker_args("--set", f"session.offline_queue_limit={LIMIT}",
                         "--set", "session.offline_queue_memory=50",
                         "--set", "limits.max_queued_messages=200")
def test_slow_persistent_subscriber_holds_publisher_and_loses_nothing(broker):
    sub = RawClient(broker.host, broker.port, version=V5, rcvbuf=4096)
    sub.connect("slow-sub", clean=False,
                properties=dict(session_expiry_interval=3600, receive_maximum=10))
    sub.subscribe([("slow/t", 1)])
    pub = RawClient(broker.host, broker.port, version=V5)
    pub.connect("fast-pub")
    for i in range(N):  # ~30 KB: fits in the broker's read-ahead, sendall never blocks
        pub.send(publish("slow/t", payload(i), qos=1, packet_id=i + 1, version=V5))
    acked = read_acks(pub)
    # Held: the subscriber read nothing, so the publisher waits near the stored limit.
    assert 0 < len(acked) < N, f"{len(acked)} of {N} acknowledged while the subscriber was stuck"
    assert len(acked) <= LIMIT + 50
    # The subscriber reads again: every message, in order; the publisher gets the rest.
    got = []
    while len(got) < N:
        p = sub.next_publish(timeout=15.0)
        got.append(p.payload)
    assert got == [payload(i) for i in range(N)]
    acked += read_acks(pub)
    assert sorted(acked) == list(range(1, N + 1))
    with pytest.raises(TimeoutError):
        sub.next_publish(timeout=0.5)  # nothing twice
    log = broker.log_path.read_text(errors="replace")
    assert "router holds publishers for persistent session slow-sub" in log
    assert "dropped" not in log


@pytest.mark.broker_args("--set", "limits.max_queued_messages=200")
def test_slow_clean_subscriber_drops_counted_and_logged(broker):
    sub = RawClient(broker.host, broker.port, version=V5, rcvbuf=4096)
    sub.connect("slow-clean", clean=True, properties=dict(receive_maximum=10))
    sub.subscribe([("slow/c", 1)])
    pub = RawClient(broker.host, broker.port, version=V5)
    pub.connect("fast-pub-2")
    for i in range(N):
        pub.send(publish("slow/c", payload(i), qos=1, packet_id=i + 1, version=V5))
    acked = []
    deadline = time.monotonic() + 30
    while len(acked) < N and time.monotonic() < deadline:
        acked += read_acks(pub, quiet=1.0, deadline=5.0)
    # Not held for good: marked slow after 500 ms, every publish acknowledged.
    assert sorted(acked) == list(range(1, N + 1))
    got = []
    try:
        while True:
            got.append(sub.next_publish(timeout=2.0).payload)
    except TimeoutError:
        pass
    assert len(got) < N  # the bounded queue dropped the oldest ...
    assert got == sorted(got)  # ... and what arrives keeps its order
    log = broker.log_path.read_text(errors="replace")
    assert "router marks session slow-clean a slow consumer" in log
    assert "session slow-clean dropped" in log  # counted and logged
