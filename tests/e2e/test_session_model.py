"""Session model: which CONNECTs give a clean vs a persistent session.

Every row of the seed's two tables (/work/shared/seeds/, "Sessions"):

  non-persistent:  3.1.1 Clean Session = 1
                   5.0   Clean Start = 1 and Session Expiry Interval = 0 (or not set)
  persistent:      3.1.1 Clean Session = 0
                   5.0   Session Expiry Interval > 0 (regardless of Clean Start)
                   5.0   Clean Start = 0 and Session Expiry Interval = 0 (or not set)

plus `session.persistence_rule=strict` (MQTT 5.0 §3.1.2.11.2 to the letter: the
last row is then NOT persistent) and session expiry (§3.1.2.11.2).

A persistent session must, on reconnect: report Session Present 1 (§3.2.2.1.1),
keep its subscriptions (no resubscribe), deliver the QoS 1/2 messages that
arrived while offline, in order (§4.6). A clean one: Session Present 0, no
subscription, nothing queued.
"""

import pytest

import mqtt_raw

from conftest import V311, V5, VERSIONS, sync, uid


def offline_messages(pub, topic, n=6):
    """Publishes n messages alternating QoS 1 and 2 (each acknowledged)."""
    payloads = [f"offline-{i}" for i in range(n)]
    for i, p in enumerate(payloads):
        pub.publish(topic, p, qos=1 + i % 2)
    return payloads


def assert_persistent(broker, clients, version, first, again, topic=None):
    """`first`/`again`: connect kwargs (clean, session_expiry) for the first
    connection and the reconnect. Checks the full persistent contract."""
    topic = topic or uid("t")
    cid = uid("s")
    sub = clients(broker, version, client_id=cid, **first)
    assert not sub.session_present, "a brand-new session must not be reported present"
    assert sub.subscribe(topic, qos=2) == [2]
    sub.disconnect()

    pub = clients(broker, version)
    payloads = offline_messages(pub, topic)

    # The reconnect reads the wire with a raw socket: paho hands a QoS 2
    # message to the application only at PUBREL, which would reorder it.
    sub2 = raw_connect(broker, version, cid, **again)
    assert sub2.session_present_flag, "Session Present must be 1 for a resumed session"
    got = [sub2.next_publish() for _ in payloads]
    assert [m.payload.decode() for m in got] == payloads, "offline messages missing or out of order"
    assert [m.qos for m in got] == [1 + i % 2 for i in range(len(payloads))]
    # Still subscribed without a SUBSCRIBE on this connection; nothing extra came.
    marker = uid("marker")
    pub.publish(topic, marker, qos=1)
    assert sub2.publishes_until(marker) == []
    sub2.send(mqtt_raw.disconnect(version))
    sub2.close()


def raw_connect(broker, version, cid, clean, session_expiry=None):
    c = mqtt_raw.RawClient(broker.host, broker.port, version)
    props = {"session_expiry_interval": session_expiry} if session_expiry is not None else None
    ack = c.connect(cid, clean=clean, properties=props)
    c.session_present_flag = ack.session_present
    return c


def assert_clean(broker, clients, version, first, again):
    """The session ends at disconnect: on reconnect Session Present 0, the
    subscription is gone and nothing was queued."""
    topic = uid("t")
    cid = uid("s")
    sub = clients(broker, version, client_id=cid, **first)
    assert not sub.session_present
    assert sub.subscribe(topic, qos=2) == [2]
    sub.disconnect()

    pub = clients(broker, version)
    offline_messages(pub, topic)

    sub2 = clients(broker, version, client_id=cid, **again)
    assert not sub2.session_present, "a clean session must not survive its connection"
    # The old subscription is gone: a message on `topic` is not delivered. Sync
    # on another topic, published after it by the same publisher.
    marker_topic = uid("m")
    sub2.subscribe(marker_topic, qos=1)
    pub.publish(topic, "after-reconnect", qos=1)
    before = sync(pub, sub2, marker_topic)
    assert before == [], f"a clean session received {[m.payload for m in before]}"


# -- MQTT 3.1.1 -----------------------------------------------------------------------

def test_v311_clean_session_1_is_clean(broker, clients):
    assert_clean(broker, clients, V311, dict(clean=True), dict(clean=True))


def test_v311_clean_session_1_leaves_nothing_for_a_clean_session_0_reconnect(broker, clients):
    # Even when the reconnect asks to resume, nothing of the clean session is left.
    assert_clean(broker, clients, V311, dict(clean=True), dict(clean=False))


def test_v311_clean_session_0_is_persistent(broker, clients):
    assert_persistent(broker, clients, V311, dict(clean=False), dict(clean=False))


def test_v311_clean_session_1_discards_a_persistent_session(broker, clients):
    # §3.1.2.4: Clean Session 1 discards any previous session.
    topic = uid("t")
    cid = uid("s")
    sub = clients(broker, V311, client_id=cid, clean=False)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = clients(broker, V311)
    pub.publish(topic, "queued", qos=1)
    assert_clean_reconnect(broker, clients, V311, cid, topic, pub, dict(clean=True))


def assert_clean_reconnect(broker, clients, version, cid, topic, pub, kw):
    sub2 = clients(broker, version, client_id=cid, **kw)
    assert not sub2.session_present
    marker_topic = uid("m")
    sub2.subscribe(marker_topic, qos=1)
    pub.publish(topic, "after", qos=1)
    before = sync(pub, sub2, marker_topic)
    assert before == [], f"discarded session delivered {[m.payload for m in before]}"
    return sub2


# -- MQTT 5.0 -------------------------------------------------------------------------

@pytest.mark.parametrize("expiry", [None, 0], ids=["expiry_absent", "expiry_0"])
def test_v5_clean_start_1_without_expiry_is_clean(broker, clients, expiry):
    assert_clean(broker, clients, V5, dict(clean=True, session_expiry=expiry),
                 dict(clean=True, session_expiry=expiry))


@pytest.mark.parametrize("expiry", [None, 0], ids=["expiry_absent", "expiry_0"])
def test_v5_clean_start_1_without_expiry_leaves_nothing_to_resume(broker, clients, expiry):
    assert_clean(broker, clients, V5, dict(clean=True, session_expiry=expiry),
                 dict(clean=False, session_expiry=60))


def test_v5_expiry_positive_clean_start_0_is_persistent(broker, clients):
    assert_persistent(broker, clients, V5, dict(clean=False, session_expiry=60),
                      dict(clean=False, session_expiry=60))


def test_v5_expiry_positive_clean_start_1_is_persistent(broker, clients):
    # Clean Start 1 on the first connection; the session outlives it.
    assert_persistent(broker, clients, V5, dict(clean=True, session_expiry=60),
                      dict(clean=False, session_expiry=60))


def test_v5_clean_start_1_discards_old_state_but_new_session_persists(broker, clients):
    # §3.1.2.4: Clean Start 1 discards the existing session (Session Present 0,
    # old subscriptions and queued messages gone); with Session Expiry > 0 the
    # NEW session is persistent (§3.1.2.11.2, seed table row "regardless of
    # Clean Start").
    old_topic, new_topic = uid("old"), uid("new")
    cid = uid("s")
    sub = clients(broker, V5, client_id=cid, clean=False, session_expiry=60)
    sub.subscribe(old_topic, qos=1)
    sub.disconnect()
    pub = clients(broker, V5)
    pub.publish(old_topic, "queued-for-old-session", qos=1)

    sub2 = assert_clean_reconnect(broker, clients, V5, cid, old_topic, pub,
                                  dict(clean=True, session_expiry=60))
    sub2.subscribe(new_topic, qos=1)
    sub2.disconnect()
    pub.publish(new_topic, "queued-for-new-session", qos=1)

    sub3 = clients(broker, V5, client_id=cid, clean=False, session_expiry=60)
    assert sub3.session_present, "the new session (expiry 60) must persist after disconnect"
    assert sub3.get().payload == b"queued-for-new-session"
    assert sync(pub, sub3, new_topic) == []


@pytest.mark.parametrize("expiry", [None, 0], ids=["expiry_absent", "expiry_0"])
def test_v5_clean_start_0_without_expiry_is_persistent_under_seed_rule(broker, clients, expiry):
    assert_persistent(broker, clients, V5, dict(clean=False, session_expiry=expiry),
                      dict(clean=False, session_expiry=expiry))


@pytest.mark.broker_args("--set", "session.persistence_rule=strict")
@pytest.mark.parametrize("expiry", [None, 0], ids=["expiry_absent", "expiry_0"])
def test_v5_clean_start_0_without_expiry_is_not_persistent_under_strict_rule(
        broker, clients, expiry):
    assert_clean(broker, clients, V5, dict(clean=False, session_expiry=expiry),
                 dict(clean=False, session_expiry=expiry))


@pytest.mark.broker_args("--set", "session.persistence_rule=strict")
def test_v311_clean_session_0_is_persistent_under_strict_rule_too(broker, clients):
    # The strict rule is about MQTT 5.0 expiry; 3.1.1 Clean Session 0 stays persistent.
    assert_persistent(broker, clients, V311, dict(clean=False), dict(clean=False))


@pytest.mark.broker_args("--set", "log.level=debug")
def test_v5_session_expires_after_its_expiry_interval(broker, clients):
    import time
    topic = uid("t")
    cid = uid("exp")
    sub = clients(broker, V5, client_id=cid, clean=False, session_expiry=2)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    # Within the interval the session is still there.
    sub2 = clients(broker, V5, client_id=cid, clean=False, session_expiry=2)
    assert sub2.session_present
    sub2.disconnect()
    t0 = time.monotonic()
    pub = clients(broker, V5)
    pub.publish(topic, "queued", qos=1)
    broker.wait_log(rf"session {cid} ended", timeout=6.0)
    elapsed = time.monotonic() - t0
    assert elapsed >= 1.5, f"session with expiry 2 s ended after {elapsed:.2f} s"
    pub2 = clients(broker, V5)
    assert_clean_reconnect(broker, clients, V5, cid, topic, pub2,
                           dict(clean=False, session_expiry=2))


@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_session_survives_several_reconnects(broker, clients, version):
    kw = dict(clean=False) if version == V311 else dict(clean=False, session_expiry=30)
    topic = uid("t")
    cid = uid("s")
    c = clients(broker, version, client_id=cid, **kw)
    c.subscribe(topic, qos=1)
    c.disconnect()
    pub = clients(broker, version)
    for round_ in range(3):
        pub.publish(topic, f"round-{round_}", qos=1)
        c = clients(broker, version, client_id=cid, **kw)
        assert c.session_present
        m = c.get()
        if round_ > 0 and m.payload == f"round-{round_ - 1}".encode():
            # paho sends a PUBACK after the message callback returns, on its network thread:
            # the previous round's DISCONNECT (from this thread) can leave ahead of it, and the
            # broker then resends the unacknowledged message on the next connection, as DUP.
            assert m.dup, "the previous round's message again, without DUP"
            m = c.get()
        assert m.payload == f"round-{round_}".encode()
        c.disconnect()
