"""Session takeover and will messages, MQTT 3.1.1 and 5.0.

Takeover: a second CONNECT with a client id that is connected closes the first
connection (3.1.1 §3.1.4 step 2; 5.0 §3.1.4 with DISCONNECT 0x8E "Session
taken over", §4.13); a resumed persistent session continues on the new
connection with its subscriptions.

Will: published when the connection closes without a normal DISCONNECT
(3.1.1 §3.1.2.5; 5.0 §3.1.2.5), deleted by DISCONNECT 0x00, kept by 5.0
DISCONNECT 0x04; Will Delay Interval (5.0 §3.1.3.2.2): published after the
delay or when the session ends, whichever is first, and not at all if the
client reconnects in time.

The first connection (and will owners) are raw sockets so that the test sees
exactly what the broker sends and can cut the connection without DISCONNECT.
"""

import time

import pytest

import mqtt_raw
from mqtt_raw import DISCONNECT, RawClient
from conftest import V311, V5, VERSIONS, sync, uid


def raw(broker, version):
    return RawClient(broker.host, broker.port, version)


def persistent_props(version, expiry=300):
    return {"session_expiry_interval": expiry} if version == V5 else None


# -- takeover -------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_takeover_closes_first_connection_and_session_continues(broker, clients, version):
    topic = uid("t")
    cid = uid("tk")
    first = raw(broker, version)
    first.connect(cid, clean=False, properties=persistent_props(version))
    assert first.subscribe([(topic, 1)]) == [1]

    second = clients(broker, version, client_id=cid, clean=False,
                     session_expiry=300 if version == V5 else None)
    assert second.session_present, "takeover of a persistent session must resume it"

    got = first.expect_close()
    if version == V5:
        assert [p.type for p in got] == [DISCONNECT], f"expected one DISCONNECT, got {got}"
        assert got[0].code == 0x8E, f"DISCONNECT reason {got[0].code:#x}, want 0x8E"
    else:
        assert got == [], f"3.1.1 has no server DISCONNECT; got {got}"

    # The subscription made on the first connection delivers to the second.
    pub = clients(broker, version)
    pub.publish(topic, "after-takeover", qos=1)
    m = second.get()
    assert (m.payload, m.qos) == (b"after-takeover", 1)
    assert sync(pub, second, topic) == []
    broker.wait_log(rf"client {cid} disconnected: .*(taken over|0x8E|142)")


@pytest.mark.parametrize("version", VERSIONS)
def test_takeover_moves_unacknowledged_messages_to_the_new_connection(broker, clients,
                                                                      version):
    # QoS 1 messages sent to the first connection but never acknowledged are
    # resent on the resumed session (§4.4), with DUP set.
    topic = uid("t")
    cid = uid("tk")
    first = raw(broker, version)
    first.connect(cid, clean=False, properties=persistent_props(version))
    first.subscribe([(topic, 1)])
    pub = clients(broker, version)
    pub.publish(topic, "unacked", qos=1)
    p = first.next_publish(auto_ack=False)
    assert p.payload == b"unacked"

    second = raw(broker, version)
    ack = second.connect(cid, clean=False, properties=persistent_props(version))
    assert ack.session_present
    again = second.next_publish()
    assert (again.payload, again.dup) == (b"unacked", True)
    first.expect_close()


@pytest.mark.parametrize("version", VERSIONS)
def test_takeover_with_clean_session_starts_fresh(broker, clients, version):
    topic = uid("t")
    cid = uid("tk")
    first = raw(broker, version)
    first.connect(cid, clean=False, properties=persistent_props(version))
    first.subscribe([(topic, 1)])
    second = raw(broker, version)
    ack = second.connect(cid, clean=True)
    assert not ack.session_present
    first.expect_close()
    # The old subscription went with the old session.
    second.subscribe([(uid("m"), 1)])
    pub = clients(broker, version)
    pub.publish(topic, "to-old-subscription", qos=1)
    assert second.ping() == []


# -- will -----------------------------------------------------------------------------

def will_owner(broker, version, will_topic, payload=b"gone", qos=1, delay=None, expiry=None,
               cid=None, retain=False):
    c = raw(broker, version)
    will = {"topic": will_topic, "payload": payload, "qos": qos, "retain": retain}
    if delay is not None:
        will["properties"] = {"will_delay_interval": delay}
    props = {"session_expiry_interval": expiry} if expiry is not None else None
    c.connect(cid or uid("w"), clean=expiry is None, properties=props, will=will)
    return c


@pytest.mark.parametrize("version", VERSIONS)
def test_will_published_on_abnormal_close(broker, clients, version):
    will_topic = uid("will")
    watcher = clients(broker, version)
    watcher.subscribe(will_topic, qos=1)
    owner = will_owner(broker, version, will_topic, b"owner died")
    owner.abort()
    m = watcher.get()
    assert (m.topic, m.payload, m.qos, m.retain) == (will_topic, b"owner died", 1, False)


@pytest.mark.parametrize("version", VERSIONS)
def test_will_published_when_connection_just_closes(broker, clients, version):
    # A FIN without DISCONNECT is as abnormal as a reset.
    will_topic = uid("will")
    watcher = clients(broker, version)
    watcher.subscribe(will_topic, qos=1)
    owner = will_owner(broker, version, will_topic, b"fin")
    owner.close()
    assert watcher.get().payload == b"fin"


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_will(broker, clients, version):
    will_topic = uid("will")
    owner = will_owner(broker, version, will_topic, b"last words", retain=True)
    owner.abort()
    broker.wait_log(r"disconnected: .*closed")
    # Sync: a subscriber that arrives later gets the retained will.
    late = clients(broker, version)
    late.subscribe(will_topic, qos=1)
    m = late.get()
    assert (m.payload, m.retain) == (b"last words", True)


@pytest.mark.parametrize("version", VERSIONS)
def test_will_not_published_after_normal_disconnect(broker, clients, version):
    will_topic = uid("will")
    watcher = clients(broker, version)
    watcher.subscribe(will_topic, qos=1)
    cid = uid("w")
    owner = will_owner(broker, version, will_topic, b"must not appear", cid=cid)
    owner.send(mqtt_raw.disconnect(version))
    owner.expect_close()
    # The broker logs the disconnect after handing any will to the router, so
    # a marker published after this line is routed after a (wrong) will.
    broker.wait_log(rf"client {cid} disconnected")
    pub = clients(broker, version)
    assert sync(pub, watcher, will_topic) == []


def test_v5_will_published_after_disconnect_with_will_message(broker, clients):
    # DISCONNECT reason 0x04 "Disconnect with Will Message" keeps the will.
    will_topic = uid("will")
    watcher = clients(broker, V5)
    watcher.subscribe(will_topic, qos=1)
    owner = will_owner(broker, V5, will_topic, b"asked for it")
    owner.send(mqtt_raw.disconnect(V5, code=0x04))
    owner.expect_close()
    assert watcher.get().payload == b"asked for it"


def test_v5_will_delay_interval(broker, clients):
    will_topic = uid("will")
    watcher = clients(broker, V5)
    watcher.subscribe(will_topic, qos=1)
    owner = will_owner(broker, V5, will_topic, b"delayed", delay=1, expiry=60)
    t0 = time.monotonic()
    owner.abort()
    m = watcher.get(timeout=5)
    elapsed = time.monotonic() - t0
    assert m.payload == b"delayed"
    assert elapsed >= 0.9, f"will with delay 1 s published after {elapsed:.2f} s"


def test_v5_will_delay_cancelled_by_reconnect_in_time(broker, clients):
    will_topic = uid("will")
    watcher = clients(broker, V5)
    watcher.subscribe(will_topic, qos=1)
    cid = uid("w")
    owner = will_owner(broker, V5, will_topic, b"cancelled", delay=2, expiry=60, cid=cid)
    owner.abort()
    # Reconnect (resuming the session) well within the 2 s delay.
    back = raw(broker, V5)
    assert back.connect(cid, clean=False, properties={"session_expiry_interval": 60}) \
        .session_present
    # Control: another client with a longer delay (3 s) that does not come
    # back. Its will arriving proves the 2 s timer would have fired by now.
    control = will_owner(broker, V5, will_topic, b"control", delay=3, expiry=60)
    control.abort()
    got = watcher.get_until("control", timeout=8)
    assert got == [], f"will published although the client reconnected: {got}"


def test_v5_will_published_when_session_ends_before_delay(broker, clients):
    # Will Delay 30 s but Session Expiry 1 s: the session ends first and the
    # will is published then (§3.1.3.2.2, "whichever happens first").
    will_topic = uid("will")
    watcher = clients(broker, V5)
    watcher.subscribe(will_topic, qos=1)
    owner = will_owner(broker, V5, will_topic, b"session over", delay=30, expiry=1)
    t0 = time.monotonic()
    owner.abort()
    assert watcher.get(timeout=5).payload == b"session over"
    assert time.monotonic() - t0 >= 0.9


def test_v5_will_with_clean_session_and_delay_published_at_close(broker, clients):
    # Session Expiry 0: the session ends with the connection, so a delayed will
    # is published at once.
    will_topic = uid("will")
    watcher = clients(broker, V5)
    watcher.subscribe(will_topic, qos=1)
    owner = will_owner(broker, V5, will_topic, b"now", delay=30)
    owner.abort()
    assert watcher.get(timeout=3).payload == b"now"
