"""Queued delivery: a persistent subscriber goes offline, many QoS 1 / QoS 2
messages are published, the subscriber reconnects and gets all of them, in
publish order (MQTT §4.6), QoS 2 exactly once (§4.3.3), QoS 1 with none
missing (§4.3.2). The subscriber does not reconnect while receiving, so a
duplicate would be a resend without reconnect (forbidden, §4.4) and fails too.

Publishers: mosquitto_pub (-l, one message per line) and paho. Subscribers:
paho, and `mosquitto_sub -c -i ID` (session created with -E, then resumed).
"""

import pytest

from conftest import V311, V5, VERSIONS, mosquitto_pub, uid

CASES = [pytest.param(1, 1000, id="qos1x1000"), pytest.param(2, 200, id="qos2x200")]


def persistent_kw(version):
    return dict(clean=False) if version == V311 else dict(clean=False, session_expiry=300)


def publish_all(broker, clients, version, tool, topic, qos, payloads):
    if tool == "mosquitto_pub":
        mosquitto_pub(broker, version, topic, lines=payloads, qos=qos)
    else:
        pub = clients(broker, version)
        infos = [pub.publish(topic, p, qos=qos, wait=False) for p in payloads]
        pub.wait_published(infos, timeout=30)
        pub.disconnect()


def check_received(received, payloads):
    missing = set(payloads) - set(received)
    assert not missing, f"{len(missing)} messages missing, e.g. {sorted(missing)[:5]}"
    dups = len(received) - len(set(received))
    assert dups == 0, f"{dups} duplicates"
    assert received == payloads, "messages out of publish order"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("tool", ["mosquitto_pub", "paho"])
@pytest.mark.parametrize("qos,n", CASES)
def test_offline_messages_delivered_on_reconnect(broker, clients, version, tool, qos, n):
    topic = uid("q")
    cid = uid("sub")
    sub = clients(broker, version, client_id=cid, **persistent_kw(version))
    sub.subscribe(topic, qos=qos)
    sub.disconnect()

    payloads = [f"m{i:05d}" for i in range(n)]
    publish_all(broker, clients, version, tool, topic, qos, payloads)

    sub2 = clients(broker, version, client_id=cid, **persistent_kw(version))
    assert sub2.session_present
    got = sub2.get_n(n, timeout=30)
    assert all(m.qos == qos for m in got)
    check_received([m.payload.decode() for m in got], payloads)
    # Nothing beyond the n messages: sync with a marker from a new publisher.
    marker_pub = clients(broker, version)
    marker_pub.publish(topic, "marker", qos=1)
    assert sub2.get_until("marker") == []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos,n", CASES)
def test_mosquitto_sub_persistent_client_gets_offline_messages(broker, mosq_subs, version, qos,
                                                               n):
    topic = uid("q")
    cid = uid("msub")
    # -c -E: create the persistent session with its subscription, then exit.
    first = mosq_subs(broker, version, [topic], qos=qos, client_id=cid, persistent=True,
                      extra=["-E"])
    assert first.wait_exit() == 0

    payloads = [f"m{i:05d}" for i in range(n)]
    mosquitto_pub(broker, version, topic, lines=payloads, qos=qos)

    second = mosq_subs(broker, version, [topic], qos=qos, client_id=cid, persistent=True,
                       count=n)
    msgs = second.wait_messages(n, timeout=30)
    assert second.wait_exit() == 0
    assert all(q == qos for q, _, _ in msgs)
    assert all(t == topic for _, t, _ in msgs)
    check_received([p for _, _, p in msgs], payloads)


@pytest.mark.parametrize("version", VERSIONS)
def test_qos0_among_queued_messages_keeps_the_order(broker, clients, version):
    # A broker MAY queue QoS 0 for an offline session (3.1.1 §3.1.2.4, 5.0
    # §3.1.2.4); either way the queued QoS 1 messages arrive, in order, and a
    # QoS 0 message, if kept, sits where it was published.
    topic = uid("q")
    cid = uid("sub")
    sub = clients(broker, version, client_id=cid, **persistent_kw(version))
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = clients(broker, version)
    pub.publish(topic, "q1-a", qos=1)
    pub.publish(topic, "q0", qos=0)
    pub.publish(topic, "q1-b", qos=1)
    sub2 = clients(broker, version, client_id=cid, **persistent_kw(version))
    pub.publish(topic, "marker", qos=1)
    got = [m.payload for m in sub2.get_until("marker")]
    assert got in ([b"q1-a", b"q1-b"], [b"q1-a", b"q0", b"q1-b"]), got
