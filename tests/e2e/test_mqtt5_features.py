"""MQTT 5.0 features: topic aliases (§3.3.2.3.4), Message Expiry (§3.3.2.3.3),
forwarded application properties (§3.3.2.3), assigned client identifier
(§3.2.2.3.7), CONNACK limits (§3.2.2.3), the client's Receive Maximum
(§3.3.4) and Maximum Packet Size (§3.1.2.11.4), keep-alive timeout (§3.1.2.10,
DISCONNECT 0x8D) and Server Keep Alive (§3.2.2.3.14). Keep-alive also for
3.1.1 (§3.1.2.10: close the connection).
"""

import time

import pytest

import mqtt_raw
from mqtt_raw import DISCONNECT, PUBACK, PUBLISH, RawClient
from conftest import V311, V5, VERSIONS, sync, uid


def raw(broker, version=V5):
    return RawClient(broker.host, broker.port, version)


# -- topic alias ----------------------------------------------------------------------

def test_topic_alias_from_client(broker, clients):
    topic = uid("alias")
    sub = clients(broker, V5)
    sub.subscribe(topic, qos=1)
    pub = clients(broker, V5)
    pub.publish(topic, "set", qos=1, props={"TopicAlias": 3})
    pub.publish("", "use", qos=1, props={"TopicAlias": 3})
    pub.publish("", "again", qos=0, props={"TopicAlias": 3})
    got = sub.get_n(3)
    assert [(m.topic, m.payload) for m in got] == [(topic, b"set"), (topic, b"use"),
                                                   (topic, b"again")]
    # The alias is not forwarded to the subscriber: it is per connection.
    assert all(not hasattr(m.properties, "TopicAlias") for m in got)


def test_topic_alias_can_be_remapped(broker, clients):
    t1, t2 = uid("a1"), uid("a2")
    sub = clients(broker, V5)
    sub.subscribe(t1, qos=1)
    sub.subscribe(t2, qos=1)
    pub = clients(broker, V5)
    pub.publish(t1, "1", qos=1, props={"TopicAlias": 1})
    pub.publish(t2, "2", qos=1, props={"TopicAlias": 1})
    pub.publish("", "3", qos=1, props={"TopicAlias": 1})
    assert [(m.topic, m.payload) for m in sub.get_n(3)] == [(t1, b"1"), (t2, b"2"), (t2, b"3")]


def test_topic_alias_above_maximum_is_rejected(broker, clients):
    c = raw(broker)
    ack = c.connect(uid("al"))
    amax = ack.properties.get("topic_alias_maximum", 0)
    c.send(mqtt_raw.publish("x/y", b"p", qos=0, properties={"topic_alias": amax + 1}))
    got = c.expect_close()
    assert [(p.type, p.code) for p in got] == [(DISCONNECT, 0x94)]


def test_unknown_topic_alias_is_a_protocol_error(broker, clients):
    c = raw(broker)
    c.connect(uid("al"))
    c.send(mqtt_raw.publish("", b"p", qos=0, properties={"topic_alias": 2}))
    got = c.expect_close()
    assert [(p.type, p.code) for p in got] == [(DISCONNECT, 0x82)]


# -- message expiry -------------------------------------------------------------------

def wait_seconds_since(t0, seconds):
    """The condition under test is time itself (an expiry): wait until it has
    passed, with a deadline, then check the broker's behaviour."""
    while time.monotonic() < t0 + seconds:
        time.sleep(0.05)


def test_message_expiry_drops_expired_message_for_offline_subscriber(broker, clients):
    topic = uid("exp")
    cid = uid("off")
    sub = clients(broker, V5, client_id=cid, clean=False, session_expiry=60)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = clients(broker, V5)
    pub.publish(topic, "short", qos=1, props={"MessageExpiryInterval": 1})
    t0 = time.monotonic()
    pub.publish(topic, "long", qos=1, props={"MessageExpiryInterval": 60})
    pub.publish(topic, "forever", qos=1)
    wait_seconds_since(t0, 1.3)
    sub2 = clients(broker, V5, client_id=cid, clean=False, session_expiry=60)
    assert sub2.session_present
    got = sub2.get_until(sync_marker(pub, topic))
    assert [m.payload for m in got] == [b"long", b"forever"]
    assert 1 <= got[0].properties.MessageExpiryInterval <= 59, "remaining lifetime, decremented"
    assert not hasattr(got[1].properties, "MessageExpiryInterval")


def sync_marker(pub, topic):
    marker = uid("marker")
    pub.publish(topic, marker, qos=1)
    return marker


def test_message_expiry_forwarded_live(broker, clients):
    topic = uid("exp")
    sub = clients(broker, V5)
    sub.subscribe(topic, qos=1)
    pub = clients(broker, V5)
    pub.publish(topic, "x", qos=1, props={"MessageExpiryInterval": 30})
    m = sub.get()
    assert 29 <= m.properties.MessageExpiryInterval <= 30


def test_retained_message_expires(broker, clients):
    topic = uid("exp")
    pub = clients(broker, V5)
    pub.publish(topic, "ret", qos=1, retain=True, props={"MessageExpiryInterval": 1})
    t0 = time.monotonic()
    early = clients(broker, V5)
    early.subscribe(topic, qos=1)
    assert early.get().payload == b"ret"
    wait_seconds_since(t0, 1.3)
    late = clients(broker, V5)
    late.subscribe(topic, qos=1)
    assert sync(pub, late, topic) == [], "expired retained message still delivered"


# -- properties forwarded unchanged ----------------------------------------------------

@pytest.mark.parametrize("qos", [0, 1, 2])
def test_application_properties_forwarded_unchanged(broker, clients, qos):
    topic = uid("props")
    sub = clients(broker, V5)
    sub.subscribe(topic, qos=2)
    pub = clients(broker, V5)
    user = [("k1", "v1"), ("k2", "v2"), ("k1", "again"), ("ü", "ß")]
    pub.publish(topic, "{\"a\":1}", qos=qos, props={
        "UserProperty": user,
        "ContentType": "application/json",
        "ResponseTopic": f"{topic}/reply",
        "CorrelationData": b"\x00\x01corr\xff",
        "PayloadFormatIndicator": 1,
    })
    m = sub.get()
    p = m.properties
    assert p.UserProperty == user, "user properties: same pairs, same order (§3.3.2.3.7)"
    assert p.ContentType == "application/json"
    assert p.ResponseTopic == f"{topic}/reply"
    assert p.CorrelationData == b"\x00\x01corr\xff"
    assert p.PayloadFormatIndicator == 1
    assert m.payload == b"{\"a\":1}"


def test_properties_reach_a_3_1_1_subscriber_as_plain_message(broker, clients):
    topic = uid("props")
    sub = clients(broker, V311)
    sub.subscribe(topic, qos=1)
    pub = clients(broker, V5)
    pub.publish(topic, "plain", qos=1, props={"UserProperty": [("a", "b")],
                                              "ContentType": "text/plain"})
    m = sub.get()
    assert (m.topic, m.payload, m.qos) == (topic, b"plain", 1)


# -- CONNECT / CONNACK --------------------------------------------------------------------

def test_assigned_client_identifier_for_empty_client_id(broker, clients):
    c = raw(broker)
    ack = c.connect("", clean=True)
    assigned = ack.properties.get("assigned_client_identifier")
    assert assigned, f"no Assigned Client Identifier in {ack.properties}"
    broker.wait_log(rf"client {assigned} connected")
    # The assigned identifier works as a normal client id: messages arrive.
    c.subscribe([(uid("t"), 1)])
    c2 = raw(broker)
    assert c2.connect("", clean=True).properties["assigned_client_identifier"] != assigned


def test_connack_advertises_default_limits(broker):
    c = raw(broker)
    p = c.connect(uid("lim")).properties
    assert p.get("receive_maximum") == 1000
    assert p.get("maximum_packet_size") == 1048576
    assert p.get("topic_alias_maximum") == 10


@pytest.mark.broker_args("--set", "limits.receive_maximum=7", "--set",
                         "limits.max_packet_size=2048", "--set", "limits.topic_alias_maximum=3")
def test_connack_advertises_configured_limits(broker):
    c = raw(broker)
    p = c.connect(uid("lim")).properties
    assert (p.get("receive_maximum"), p.get("maximum_packet_size"),
            p.get("topic_alias_maximum")) == (7, 2048, 3)


@pytest.mark.broker_args("--set", "limits.receive_maximum=2")
def test_client_exceeding_server_receive_maximum_is_disconnected(broker):
    # §3.3.4: more unacknowledged QoS 1/2 PUBLISHes than the advertised
    # Receive Maximum → DISCONNECT 0x93. QoS 2 stays unacknowledged until PUBREL.
    c = raw(broker)
    c.connect(uid("rm"))
    for pid in (1, 2, 3):
        c.send(mqtt_raw.publish(uid("t"), b"x", qos=2, packet_id=pid))
    got = c.expect_close()
    assert (DISCONNECT, 0x93) in [(p.type, p.code if p.type == DISCONNECT else None)
                                  for p in got], got


# -- flow control toward the client -------------------------------------------------------

def test_client_receive_maximum_is_respected(broker, clients):
    topic = uid("rm")
    sub = raw(broker)
    sub.connect(uid("rmsub"), properties={"receive_maximum": 2})
    sub.subscribe([(topic, 1)])
    pub = clients(broker, V5)
    for i in range(5):
        pub.publish(topic, f"m{i}", qos=1)
    # All five were routed (acknowledged to the publisher) before this PINGREQ.
    first = sub.ping()
    assert [p.payload for p in first] == [b"m0", b"m1"], "window of 2 exceeded or not filled"
    sub.send(mqtt_raw.ack(PUBACK, first[0].packet_id))
    second = sub.ping()
    assert [p.payload for p in second] == [b"m2"], "one PUBACK opens exactly one slot"
    for p in first[1:] + second:
        sub.send(mqtt_raw.ack(PUBACK, p.packet_id))
    rest = sub.ping()
    assert [p.payload for p in rest] == [b"m3", b"m4"]


def test_client_maximum_packet_size_is_respected(broker, clients):
    # §3.1.2.11.4: the server must not send a packet larger than the client's
    # Maximum Packet Size; it discards the message for that client only.
    topic = uid("mps")
    small = raw(broker)
    small.connect(uid("small"), properties={"maximum_packet_size": 128})
    small.subscribe([(topic, 1)])
    big = clients(broker, V5)
    big.subscribe(topic, qos=1)
    pub = clients(broker, V5)
    pub.publish(topic, b"B" * 500, qos=1)
    pub.publish(topic, b"small", qos=1)
    assert [p.payload for p in small.publishes_until(b"small")] == []
    assert [m.payload for m in big.get_n(2)] == [b"B" * 500, b"small"]


# -- keep alive ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_keep_alive_timeout_closes_silent_client_and_publishes_will(broker, clients, version):
    will_topic = uid("will")
    watcher = clients(broker, version)
    watcher.subscribe(will_topic, qos=1)
    c = raw(broker, version)
    cid = uid("ka")
    c.connect(cid, keep_alive=1, will={"topic": will_topic, "payload": b"timed out", "qos": 1})
    t0 = time.monotonic()
    got = c.expect_close(timeout=5)
    elapsed = time.monotonic() - t0
    if version == V5:
        assert [(p.type, p.code) for p in got] == [(DISCONNECT, 0x8D)]
    else:
        assert got == []
    assert 1.0 <= elapsed <= 3.5, f"closed after {elapsed:.2f} s for keep alive 1 s"
    assert watcher.get().payload == b"timed out"
    broker.wait_log(rf"client {cid} disconnected: .*(keep|0x8D|141)")


@pytest.mark.parametrize("version", VERSIONS)
def test_pings_keep_the_connection_alive(broker, version):
    c = raw(broker, version)
    c.connect(uid("ka"), keep_alive=1)
    t_end = time.monotonic() + 2.5
    while time.monotonic() < t_end:
        assert c.ping() == []
        time.sleep(0.4)  # the client's own pacing, under the 1 s keep alive
    assert c.ping() == []


@pytest.mark.broker_args("--set", "limits.max_keep_alive=1")
def test_server_keep_alive_caps_the_client_keep_alive(broker):
    c = raw(broker)
    ack = c.connect(uid("ska"), keep_alive=60)
    assert ack.properties.get("server_keep_alive") == 1
    got = c.expect_close(timeout=5)
    assert [(p.type, p.code) for p in got] == [(DISCONNECT, 0x8D)]
