"""Crash recovery on the embedded store (the default) and with DEVICE queues
in Redis (an AOF redis-server the test starts): nothing acknowledged is lost. A persistent subscriber is offline; a publisher sends a QoS 1 or
QoS 2 stream and the broker is killed with SIGKILL while the stream is still
running. After a restart on the same data directory, the subscriber
reconnects (Session Present 1, no resubscribe) and must receive every
message whose PUBACK/PUBCOMP the publisher got, in publish order — QoS 2
exactly once. Messages published but not acknowledged may or may not arrive
(the publisher would resend them); none may arrive twice for QoS 2, and
nothing may arrive out of order.

QoS 2 whose PUBREC the broker had received before the crash (qos2_restart.py):
after the restart the subscriber gets PUBREL for it, not the message again;
a message without PUBREC comes again as PUBLISH with DUP = 1.
"""


import pytest

from conftest import (V311, VERSIONS, check_online_subscriber_survives_kill_9, kill_mid_stream,
                      uid)
from qos2_restart import check_inbound_qos2_survives_kill_9, check_released_entry_survives_kill_9


@pytest.fixture
def broker(queue_backend_broker):
    return queue_backend_broker


def persistent_kw(version):
    return dict(clean=False) if version == V311 else dict(clean=False, session_expiry=300)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [1, 2])
def test_acknowledged_messages_survive_kill_9(broker, clients, version, qos):
    n = 3000
    topic = uid("crash")
    cid = uid("sub")
    sub = clients(broker, version, client_id=cid, **persistent_kw(version))
    sub.subscribe(topic, qos=qos)
    sub.disconnect()

    # Publish without waiting; kill the broker once part of the stream is acknowledged.
    acked = kill_mid_stream(broker, clients(broker, version), topic, qos, n)
    print(f"killed with {len(acked)} of {n} acknowledged")

    broker.start()  # same data directory, new process
    broker.wait_log(r"broker opened rocksdb:.*[1-9][0-9]* persistent sessions")
    sub2 = clients(broker, version, client_id=cid, **persistent_kw(version))
    assert sub2.session_present
    # Everything acknowledged must come; more may come (stored, ack not sent).
    received = [m.payload.decode() for m in sub2.get_until(acked[-1], timeout=60)]
    received.append(acked[-1])
    # Messages come in publish order; QoS 2 never twice.
    distinct = list(dict.fromkeys(received))
    assert distinct == sorted(distinct), "messages out of publish order after restart"
    if qos == 2:
        assert len(received) == len(distinct), "QoS 2 message delivered twice after restart"
    missing = set(acked) - set(received)
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
    sub2.disconnect()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [1, 2])
def test_online_subscriber_gets_every_acknowledged_message_after_kill_9(broker, clients, version,
                                                                        qos):
    check_online_subscriber_survives_kill_9(broker, clients, version, qos,
                                            persistent_kw(version))


@pytest.mark.parametrize("version", VERSIONS)
def test_qos2_pubrec_received_is_resent_as_pubrel_after_kill_9(broker, clients, version):
    check_released_entry_survives_kill_9(broker, clients, version,
                                         r"broker opened rocksdb:.*[1-9][0-9]* persistent sessions")


@pytest.mark.parametrize("version", VERSIONS)
def test_qos2_inbound_id_survives_kill_9(broker, version):
    check_inbound_qos2_survives_kill_9(broker, version,
                                       r"broker opened rocksdb:.*[1-9][0-9]* persistent sessions")
