"""Persistent APPLICATION sessions on Kafka, end to end: the real broker with
`storage.application_queue: kafka` and `storage.sessions: kafka` against the
real Kafka of scripts/services.sh (AMQ_TEST_KAFKA_BOOTSTRAP; a missing
variable fails, it does not skip). Every test has its own topic prefix.

- kill -9 in the middle of a QoS 1 / QoS 2 stream to an offline persistent
  APPLICATION subscriber, restart: every acknowledged message arrives, in
  order, QoS 2 exactly once (the Kafka twin of test_crash_recovery.py);
- QoS 2 whose PUBREC the broker had received before a kill -9 is resent as
  PUBREL, not as PUBLISH (qos2_restart.py); a persistent publisher's resent
  QoS 2 PUBLISH (DUP) after a kill -9 is not routed again;
- a non-persistent APPLICATION session gets no topic; a persistent one gets
  its topic, which goes when the session is cleared or expires;
- with the data directory wiped, a restarted broker rebuilds the session and
  its subscriptions from Kafka, and its queue is still in Kafka.
"""

import os
import shutil
import subprocess

import pytest

from conftest import (V311, V5, VERSIONS, check_online_subscriber_survives_kill_9, kill_mid_stream,
                      uid, wait_until)
from qos2_restart import check_inbound_qos2_survives_kill_9, check_released_entry_survives_kill_9

BOOTSTRAP = os.environ.get("AMQ_TEST_KAFKA_BOOTSTRAP")
TOPICS_BIN = os.environ.get("AMQ_KAFKA_TOPICS_BIN")


def kafka_args(prefix):
    if not BOOTSTRAP:
        pytest.fail("AMQ_TEST_KAFKA_BOOTSTRAP is not set: run scripts/test.sh, or "
                    "`scripts/services.sh start` and load its env file")
    return ("--set", "storage.application_queue=kafka",
            "--set", "storage.sessions=kafka",
            "--set", f"storage.kafka.bootstrap_servers={BOOTSTRAP}",
            "--set", f"storage.kafka.topic_prefix={prefix}",
            "--set", "storage.kafka.replication_factor=1",
            "--set", "storage.kafka.wait_at_boot_ms=0",
            "--set", "session.default_client_type=application")


def topics(prefix):
    assert TOPICS_BIN, "AMQ_KAFKA_TOPICS_BIN is not set (ctest sets it)"
    out = subprocess.run([TOPICS_BIN, BOOTSTRAP, prefix], capture_output=True, text=True,
                         timeout=30, check=True)
    return set(out.stdout.split())


def app_topic(prefix, client_id):
    # Client ids of these tests are [a-z0-9-] only: the name maps 1:1.
    return f"{prefix}.msg.app.{client_id}"


def persistent_kw(version):
    return dict(clean=False) if version == V311 else dict(clean=False, session_expiry=300)


@pytest.fixture
def kafka_broker(broker_factory):
    prefix = uid("amq-e2e")
    return prefix, broker_factory(*kafka_args(prefix))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [1, 2])
def test_acknowledged_messages_survive_kill_9(kafka_broker, clients, version, qos):
    prefix, broker = kafka_broker
    n = 3000
    topic = uid("crash")
    cid = uid("sub")
    sub = clients(broker, version, client_id=cid, **persistent_kw(version))
    sub.subscribe(topic, qos=qos)
    sub.disconnect()

    acked = kill_mid_stream(broker, clients(broker, version), topic, qos, n, timeout=60)
    print(f"killed with {len(acked)} of {n} acknowledged")

    broker.start()
    broker.wait_log(r"broker opened .*[1-9][0-9]* persistent sessions", timeout=30)
    sub2 = clients(broker, version, client_id=cid, **persistent_kw(version))
    assert sub2.session_present
    received = [m.payload.decode() for m in sub2.get_until(acked[-1], timeout=60)]
    received.append(acked[-1])
    distinct = list(dict.fromkeys(received))
    assert distinct == sorted(distinct), "messages out of publish order after restart"
    if qos == 2:
        assert len(received) == len(distinct), "QoS 2 message delivered twice after restart"
    missing = set(acked) - set(received)
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
    sub2.disconnect()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [1, 2])
def test_online_subscriber_gets_every_acknowledged_message_after_kill_9(kafka_broker, clients,
                                                                        version, qos):
    prefix, broker = kafka_broker
    check_online_subscriber_survives_kill_9(
        broker, clients, version, qos, persistent_kw(version),
        restarted_log=r"broker opened .*[1-9][0-9]* persistent sessions", timeout=60)


@pytest.mark.parametrize("version", VERSIONS)
def test_qos2_pubrec_received_is_resent_as_pubrel_after_kill_9(kafka_broker, clients, version):
    # The queue is a Kafka topic; the "released" mark is in the embedded
    # store (qos2_restart.py, docs/sessions.md "QoS 2 across a restart").
    prefix, broker = kafka_broker
    check_released_entry_survives_kill_9(broker, clients, version,
                                         r"broker opened .*[1-9][0-9]* persistent sessions")


@pytest.mark.parametrize("version", VERSIONS)
def test_qos2_inbound_id_survives_kill_9(kafka_broker, version):
    # Sessions from Kafka, the inbound ids in the embedded store.
    prefix, broker = kafka_broker
    check_inbound_qos2_survives_kill_9(broker, version,
                                       r"broker opened .*[1-9][0-9]* persistent sessions")


def test_topics_follow_persistent_application_sessions(kafka_broker, clients):
    prefix, broker = kafka_broker
    app_prefix = f"{prefix}.msg.app."
    topic = uid("t")
    # Non-persistent APPLICATION session: no topic, messages still flow.
    clean = clients(broker, V5, client_id=uid("clean"))
    clean.subscribe(topic, qos=1)
    pub = clients(broker, V5)
    pub.publish(topic, "to-clean", qos=1)
    assert clean.get().payload == b"to-clean"
    # Persistent: its topic appears with its session.
    cid = uid("keep")
    keep = clients(broker, V5, client_id=cid, clean=False, session_expiry=300)
    keep.subscribe(topic, qos=1)
    wait_until(lambda: topics(app_prefix) == {app_topic(prefix, cid)}, timeout=15,
               what="only the persistent session's topic")
    # Expiring: its topic goes when the session expires.
    eid = uid("expire")
    exp = clients(broker, V5, client_id=eid, clean=False, session_expiry=1)
    exp.subscribe(topic, qos=1)
    wait_until(lambda: app_topic(prefix, eid) in topics(app_prefix), timeout=15,
               what="the expiring session's topic")
    exp.disconnect()
    wait_until(lambda: app_topic(prefix, eid) not in topics(app_prefix), timeout=20,
               what="the expired session's topic deleted")
    # Cleared (Clean Start = 1, no expiry): the topic goes.
    keep.disconnect()
    cleared = clients(broker, V5, client_id=cid, clean=True)
    assert not cleared.session_present
    cleared.disconnect()
    wait_until(lambda: topics(app_prefix) == set(), timeout=20,
               what="the cleared session's topic deleted")


def test_sessions_rebuilt_from_kafka_with_empty_data_dir(kafka_broker, clients):
    prefix, broker = kafka_broker
    topic = uid("rebuild")
    cid = uid("app")
    sub = clients(broker, V5, client_id=cid, clean=False, session_expiry=600)
    sub.subscribe(topic + "/#", qos=1)
    sub.disconnect()
    pub = clients(broker, V5)
    for i in range(100):
        pub.publish(f"{topic}/{i % 3}", f"q{i:03d}", qos=1)
    pub.disconnect()

    broker.proc.kill()
    broker.proc.wait()
    shutil.rmtree(broker.data_dir)
    broker.start()
    broker.wait_log(r"broker opened .* 1 persistent sessions", timeout=30)

    sub2 = clients(broker, V5, client_id=cid, clean=False, session_expiry=600)
    assert sub2.session_present
    # The subscription is back (rebuilt from Kafka): a new message is routed.
    pub2 = clients(broker, V5)
    pub2.publish(f"{topic}/x", "after", qos=1)
    got = [m.payload.decode() for m in sub2.get_until("after", timeout=30)]
    assert got == [f"q{i:03d}" for i in range(100)]
    sub2.disconnect()
