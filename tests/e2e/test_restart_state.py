"""What a persistent session and the retained store carry across a crash of the broker
(kill -9, restart on the same data directory; DEVICE queues in the embedded store, the
default, and in Redis): retained messages that were acknowledged (and not those cleared),
subscription options (MQTT 5 subscription identifier, No Local, Retain As Published), an
unsubscribe or a Clean Start that was acknowledged, and the clocks: the Session Expiry Interval
and the Message Expiry of retained and queued messages keep counting while the broker is
down."""

import time

import pytest

from conftest import V311, V5, VERSIONS, uid, wait_until


@pytest.fixture
def broker(queue_backend_broker):
    """Each test on both DEVICE queue backends: the embedded store and Redis."""
    return queue_backend_broker


def persistent_kw(version, expiry=300):
    return dict(clean=False) if version == V311 else dict(clean=False, session_expiry=expiry)


def offline_subscriber(broker, clients, version, topic, prefix):
    """A persistent session subscribed to `topic` (QoS 1) whose client went away; its id."""
    cid = uid(prefix)
    sub = clients(broker, version, client_id=cid, **persistent_kw(version))
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    return cid


def kill_and_restart(broker, down_s=0.0):
    """SIGKILL, `down_s` seconds with no broker, a restart on the same data."""
    broker.proc.kill()
    broker.proc.wait()
    stay_down(down_s)
    broker.start()


def stay_down(seconds):
    """Lets `seconds` of wall time pass (the clocks under test count them)."""
    until = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() > until, timeout=seconds + 5, what=f"{seconds} s")


def nothing_before_sync(sub, clients, what, publish=()):
    """Publishes `publish` ((topic, payload) pairs) and then a marker `sub` subscribes to now;
    nothing may reach `sub` before the marker (a positive sync point, never a sleep)."""
    mark = uid("mark")
    sub.subscribe(mark, qos=1)
    pub = clients(sub.broker, sub.version)
    for topic, payload in publish:
        pub.publish(topic, payload, qos=1)
    pub.publish(mark, b"sync", qos=1)
    got = [m.payload for m in sub.get_until("sync")]
    assert got == [], f"{what}: {got[:5]}"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [1, 2])
def test_acknowledged_retained_message_survives_kill_9(broker, clients, version, qos):
    topic = uid("ret")
    pub = clients(broker, version)
    pub.publish(topic, b"first", qos=qos, retain=True)
    pub.publish(topic, b"kept", qos=qos, retain=True)  # waits for PUBACK / PUBCOMP
    cleared = uid("ret-cleared")
    pub.publish(cleared, b"gone", qos=qos, retain=True)
    pub.publish(cleared, b"", qos=qos, retain=True)  # an empty payload clears it
    kill_and_restart(broker)
    sub = clients(broker, version)
    sub.subscribe(topic, qos=qos)
    m = sub.get()
    assert m.payload == b"kept" and m.retain
    sub.subscribe(cleared, qos=qos)
    nothing_before_sync(sub, clients, "a cleared retained message came back")


def test_subscription_options_survive_kill_9(broker, clients):
    cid = uid("opts")
    topic = uid("opt")
    from paho.mqtt.subscribeoptions import SubscribeOptions
    sub = clients(broker, V5, client_id=cid, **persistent_kw(V5))
    sub.subscribe(topic, qos=1, options=SubscribeOptions(qos=1, noLocal=True,
                                                         retainAsPublished=True), sub_id=42)
    sub.disconnect()
    kill_and_restart(broker)
    sub = clients(broker, V5, client_id=cid, **persistent_kw(V5))
    assert sub.session_present
    # No Local: its own publish does not come back; Retain As Published keeps the flag; the
    # subscription identifier comes with the delivery.
    sub.publish(topic, b"own", qos=1)
    other = clients(broker, V5)
    other.publish(topic, b"theirs", qos=1, retain=True)
    m = sub.get()
    assert m.payload == b"theirs"
    assert m.retain, "Retain As Published lost across the restart"
    assert getattr(m.properties, "SubscriptionIdentifier", None) == [42]


def test_session_expiry_keeps_counting_across_restarts(broker, clients):
    cid = uid("exp")
    topic = uid("exp")
    sub = clients(broker, V5, client_id=cid, **persistent_kw(V5, expiry=30))
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    kill_and_restart(broker)
    # Within its interval the session is restored...
    probe = clients(broker, V5, client_id=cid, clean=False, session_expiry=2)
    assert probe.session_present
    # ...and the interval counts from the disconnect, also while the broker is down: stopped
    # (SIGTERM: the disconnect time is stored) and kept down for 2.5 s, it restarts to find the
    # session expired (counted from the restart, it would still be there). After a kill -9
    # right at a disconnect the stored record may still say "connected"; then the interval
    # counts from the restart (docs/sessions.md): later, never sooner.
    probe.disconnect()
    broker.stop()
    stay_down(2.5)
    broker.start()
    late = clients(broker, V5, client_id=cid, clean=False, session_expiry=30)
    assert not late.session_present, "the session outlived its expiry interval across a restart"


@pytest.mark.parametrize("version", VERSIONS)
def test_unsubscribe_is_not_undone_by_kill_9(broker, clients, version):
    """UNSUBACK, then kill -9 at once: after the restart the filter is still gone (the
    unsubscribe was stored before its UNSUBACK, as a subscribe is before its SUBACK)."""
    cid = uid("unsub")
    kept, dropped = uid("kept"), uid("dropped")
    sub = clients(broker, version, client_id=cid, **persistent_kw(version))
    sub.subscribe(kept, qos=1)
    sub.subscribe(dropped, qos=1)
    sub.unsubscribe(dropped)
    kill_and_restart(broker)
    sub = clients(broker, version, client_id=cid, **persistent_kw(version))
    assert sub.session_present
    nothing_before_sync(sub, clients, "an unsubscribed filter came back",
                        publish=[(dropped, b"unwanted")])


@pytest.mark.parametrize("version", VERSIONS)
def test_clean_start_over_a_stored_session_is_not_undone_by_kill_9(broker, clients, version):
    """A client replaces its persistent session with a clean one (3.1.1: Clean Session 1 then
    0; 5.0: Clean Start 1 with an expiry); the broker dies right after the CONNACK. After the
    restart the old session's subscription and queue must not come back."""
    topic = uid("old")
    cid = offline_subscriber(broker, clients, version, topic, "fresh")
    pub = clients(broker, version)
    pub.publish(topic, b"queued for the old session", qos=1)
    if version == V311:
        fresh = clients(broker, version, client_id=cid, clean=True)  # ends the old session
        assert not fresh.session_present
        fresh.disconnect()
        fresh = clients(broker, version, client_id=cid, clean=False)  # a new, empty one
    else:
        fresh = clients(broker, version, client_id=cid, clean=True, session_expiry=300)
    assert not fresh.session_present
    kill_and_restart(broker)
    again = clients(broker, version, client_id=cid, **persistent_kw(version))
    nothing_before_sync(again, clients, "the replaced session's subscription or queue came back",
                        publish=[(topic, b"after the restart")])


def test_retained_message_expiry_counts_across_a_restart(broker, clients):
    """A retained message's Message Expiry keeps counting while the broker is down: one that
    expired meanwhile is gone after the restart, one that did not comes with what is left of
    its interval."""
    short, long_ = uid("ret-short"), uid("ret-long")
    pub = clients(broker, V5)
    pub.publish(short, b"expires", qos=1, retain=True, props={"MessageExpiryInterval": 2})
    pub.publish(long_, b"stays", qos=1, retain=True, props={"MessageExpiryInterval": 120})
    kill_and_restart(broker, down_s=3)
    sub = clients(broker, V5)
    sub.subscribe(long_, qos=1)
    m = sub.get()
    assert m.payload == b"stays" and m.retain
    left = m.properties.MessageExpiryInterval
    assert 100 <= left <= 117, f"remaining expiry {left} s: the time down did not count"
    sub.subscribe(short, qos=1)
    nothing_before_sync(sub, clients, "an expired retained message came")


def test_queued_message_expiry_counts_across_a_restart(broker, clients):
    """The same for messages queued for an offline persistent session."""
    topic = uid("exq")
    cid = offline_subscriber(broker, clients, V5, topic, "exq")
    pub = clients(broker, V5)
    pub.publish(topic, b"expires", qos=1, props={"MessageExpiryInterval": 2})
    pub.publish(topic, b"stays", qos=1, props={"MessageExpiryInterval": 120})
    kill_and_restart(broker, down_s=3)
    sub = clients(broker, V5, client_id=cid, **persistent_kw(V5))
    assert sub.session_present
    m = sub.get()
    assert m.payload == b"stays", f"got {m.payload!r} first: the expired message was delivered"
    left = m.properties.MessageExpiryInterval
    assert 100 <= left <= 117, f"remaining expiry {left} s: the time down did not count"
