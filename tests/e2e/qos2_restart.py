"""QoS 2 "exactly once" across a broker crash, for a persistent subscriber
(docs/sessions.md, "QoS 2 across a restart"). Shared by test_crash_recovery.py
(embedded store, Redis DEVICE queues) and test_kafka_sessions.py (Kafka
APPLICATION queues).

The subscriber is a raw-socket client, so the test controls exactly which
acknowledgements it sends:
- message A: PUBLISH received, PUBREC sent, PUBREL received (the broker sends
  PUBREL only once the "released" mark is durable), PUBCOMP withheld;
- message B: PUBLISH received, no PUBREC.
The broker is killed with SIGKILL and restarted on the same data. On
reconnect (Session Present 1) the subscriber must get PUBREL for A's packet
id and no PUBLISH of A — the client has A already — and B again as PUBLISH
with DUP = 1 and its packet id. Both flows then complete, and a further
reconnect resends nothing.
"""

import mqtt_raw
from conftest import V5, uid
from mqtt_raw import PUBCOMP, PUBLISH, PUBREC, PUBREL, RawClient, ack


def _connect(broker, version, cid):
    c = RawClient(broker.host, broker.port, version)
    props = {"session_expiry_interval": 300} if version == V5 else None
    connack = c.connect(cid, clean=False, properties=props)
    return c, connack


def _packets_until_quiet(c, wanted, timeout=15.0):
    """Packets from the broker until `wanted` of them arrived, then whatever
    else arrives before a PINGRESP (the broker writes a connection's output
    in order, so the ping is a sync point)."""
    got = [c.recv(timeout) for _ in range(wanted)]
    got += c.ping()
    return got


def check_released_entry_survives_kill_9(broker, clients, version, restarted_log):
    """`restarted_log`: a regex the broker logs once it restored the session."""
    topic = uid("q2")
    cid = uid("q2sub")
    sub, _ = _connect(broker, version, cid)
    assert sub.subscribe([(topic, 2)]) == [2]

    pub = clients(broker, version)
    pub.publish(topic, b"A", qos=2)  # waits for PUBCOMP: stored for the subscriber
    pub.publish(topic, b"B", qos=2)
    pub.disconnect()

    a = sub.recv_type(PUBLISH, timeout=15)
    b = sub.recv_type(PUBLISH, timeout=15)
    assert (a.payload, a.qos, a.dup) == (b"A", 2, False)
    assert (b.payload, b.qos, b.dup) == (b"B", 2, False)
    assert a.packet_id != b.packet_id
    sub.send(ack(PUBREC, a.packet_id, version))
    rel = sub.recv_type(PUBREL, timeout=15)  # the mark of A is durable now
    assert rel.packet_id == a.packet_id
    # No PUBCOMP for A, no PUBREC for B.

    broker.proc.kill()
    broker.proc.wait()
    sub.abort()
    broker.start()  # same data directory, new process
    broker.wait_log(restarted_log, timeout=30)

    sub2, connack = _connect(broker, version, cid)
    assert connack.session_present
    got = _packets_until_quiet(sub2, 2)
    print("after the restart:", got)
    publishes = [p for p in got if p.type == PUBLISH]
    rels = [p for p in got if p.type == PUBREL]
    assert [p.payload for p in publishes] == [b"B"], \
        f"message A (PUBREC received before the crash) resent as PUBLISH: {got}"
    assert publishes[0].dup and publishes[0].packet_id == b.packet_id
    assert [p.packet_id for p in rels] == [a.packet_id], f"no PUBREL for A: {got}"
    assert [p.type for p in got] == [PUBREL, PUBLISH], f"not in queue order: {got}"

    # Both flows complete; nothing is left to resend.
    sub2.send(ack(PUBCOMP, a.packet_id, version))
    sub2.send(ack(PUBREC, b.packet_id, version))
    rel_b = sub2.recv_type(PUBREL, timeout=15)
    assert rel_b.packet_id == b.packet_id
    sub2.send(ack(PUBCOMP, b.packet_id, version))
    assert sub2.ping() == []
    sub2.send(mqtt_raw.disconnect(version))
    sub2.close()

    sub3, connack = _connect(broker, version, cid)
    assert connack.session_present
    assert sub3.ping() == [], "completed QoS 2 flows resent"
    sub3.send(mqtt_raw.disconnect(version))
    sub3.close()


def check_inbound_qos2_survives_kill_9(broker, version, restarted_log):
    """Inbound QoS 2 (publisher -> broker) across a broker crash: the broker
    stores the packet id of a persistent publisher's QoS 2 PUBLISH before its
    PUBREC. The publisher sends PUBLISH X (id 10) and gets PUBREC; the broker
    is killed with SIGKILL and restarted on the same data; the publisher
    comes back with its session and resends X with DUP = 1 and id 10, as if it
    had not seen the PUBREC. The broker must answer PUBREC without routing X
    again: the persistent subscriber (offline meanwhile) gets X exactly
    once. PUBREL 10 then gets PUBCOMP 10 (success), and id 10 is free again.
    """
    topic = uid("q2in")
    sub_id = uid("q2in-sub")
    pub_id = uid("q2in-pub")
    sub, _ = _connect(broker, version, sub_id)
    assert sub.subscribe([(topic, 2)]) == [2]
    sub.send(mqtt_raw.disconnect(version))
    sub.close()

    pub, _ = _connect(broker, version, pub_id)
    pub.send(mqtt_raw.publish(topic, b"X", qos=2, packet_id=10, version=version))
    rec = pub.recv_type(PUBREC, timeout=15)  # X is routed (stored) and id 10 stored
    assert rec.packet_id == 10

    broker.proc.kill()
    broker.proc.wait()
    pub.abort()
    broker.start()  # same data directory, new process
    broker.wait_log(restarted_log, timeout=30)

    pub2, connack = _connect(broker, version, pub_id)
    assert connack.session_present
    pub2.send(mqtt_raw.publish(topic, b"X", qos=2, packet_id=10, dup=True, version=version))
    rec = pub2.recv_type(PUBREC, timeout=15)
    assert rec.packet_id == 10
    pub2.send(ack(PUBREL, 10, version))
    comp = pub2.recv_type(PUBCOMP, timeout=15)
    assert comp.packet_id == 10 and comp.code == 0, f"PUBCOMP {comp.code:#x}"
    # Id 10 is free again: Y is a new message.
    pub2.send(mqtt_raw.publish(topic, b"Y", qos=2, packet_id=10, version=version))
    assert pub2.recv_type(PUBREC, timeout=15).packet_id == 10
    pub2.send(ack(PUBREL, 10, version))
    assert pub2.recv_type(PUBCOMP, timeout=15).packet_id == 10
    pub2.send(mqtt_raw.disconnect(version))
    pub2.close()

    sub2, connack = _connect(broker, version, sub_id)
    assert connack.session_present
    got = []  # every PUBLISH until Y, each acknowledged (PUBREL -> PUBCOMP)
    while not got or got[-1].payload != b"Y":
        got.append(sub2.next_publish(timeout=15))
    print("publishes after the restart:", got)
    assert [p.payload for p in got] == [b"X", b"Y"], f"X not delivered exactly once: {got}"
    # Y's PUBREL (after its mark is stored), then nothing more.
    while True:
        p = sub2.recv(15)
        assert p.type == PUBREL, f"more after Y: {p!r}"
        sub2.send(ack(PUBCOMP, p.packet_id, version))
        if p.packet_id == got[-1].packet_id:
            break
    assert [p for p in sub2.ping() if p.type == PUBLISH] == []
    sub2.send(mqtt_raw.disconnect(version))
    sub2.close()
