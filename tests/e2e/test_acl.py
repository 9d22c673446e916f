"""Topic authorization end to end (auth.acl_file, docs/security.md): the real broker with a
Mosquitto-format ACL file and a password file written by the real mosquitto_passwd; clients are
mosquitto_pub / mosquitto_sub with -u/-P and hand-written packets for the exact codes, MQTT 3.1.1
and 5.0.

- publish: a topic the user may not write is not forwarded; 5.0 QoS 1 gets PUBACK 0x87, 3.1.1 a
  plain PUBACK (no negative ack in 3.1.1) — either way no subscriber sees it;
- subscribe: a filter no read entry covers gets SUBACK 0x87 (5.0) / 0x80 (3.1.1);
- receive: a subscription wider than the grants (sensors/# with sensors/secret/# denied) gets
  the allowed messages only;
- anonymous clients get the lines before the first `user`; `pattern` lines apply to all with %c;
- a will on a topic the client may not write refuses the CONNECT (0x87 / 0x05);
- SIGHUP re-reads the file for connected clients too; a bad file keeps the old rules; a bad file
  at start stops the broker naming file and line; refusals are counted by action and logged
  (client, action, topic; rate-limited).
"""

import signal
import subprocess

import pytest

import test_metrics as tm
from conftest import V311, V5, VERSIONS, MosquittoSub, mosq_version, uid
import mqtt_raw
from mqtt_raw import PUBACK, RawClient
from test_auth import assert_bad_file_stops_the_broker, passwd

ACL = """# anonymous clients
topic read public/#
topic write sensors/secret/#

user alice
topic readwrite sensors/#
topic deny sensors/secret/#
topic write public/#

user bob
topic read sensors/#
topic read sync/#

pattern write devices/%c/up
"""
NOT_AUTHORIZED_SUB = {V311: 0x80, V5: 0x87}


@pytest.fixture
def acl_broker(broker_factory, tmp_path):
    pw = tmp_path / "passwd"
    passwd(pw, "alice", "a-pw", create=True)
    passwd(pw, "bob", "b-pw")
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    broker = broker_factory("--set", f"auth.password_file={pw}", "--set", f"auth.acl_file={acl}")
    broker.acl_path = acl
    return broker


def raw(broker, version, user=None, client_id=None, **kw):
    c = RawClient(broker.host, broker.port, version)
    creds = {"username": user, "password": (user[0] + "-pw").encode()} if user else {}
    c.connect(client_id or uid("acl"), **creds, **kw)
    return c


def publish_qos1(c, version, topic, payload, packet_id):
    c.send(mqtt_raw.publish(topic, payload, qos=1, packet_id=packet_id, version=version))
    ack = c.recv_type(PUBACK)
    assert ack.packet_id == packet_id
    return ack.code


def mosq_pub(broker, version, user, topic, message):
    return subprocess.run(
        ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-V", mosq_version(version),
         "-i", uid("pub"), "-t", topic, "-q", "1", "-m", message, "-u", user, "-P", user[0] + "-pw"],
        capture_output=True, timeout=30)


@pytest.mark.parametrize("version", VERSIONS)
def test_publish_subscribe_and_receive_follow_the_acl(acl_broker, version):
    broker = acl_broker
    # bob reads sensors/# with mosquitto_sub; alice writes with mosquitto_pub.
    ms = MosquittoSub(broker, version, ["sensors/#"], qos=1, extra=["-u", "bob", "-P", "b-pw"])
    try:
        ms.wait_subscribed()
        assert mosq_pub(broker, version, "alice", "sensors/kitchen/temp", "21").returncode == 0
        # Denied for alice: not forwarded. 3.1.1: acked as usual; 5.0: mosquitto_pub is told 0x87.
        mosq_pub(broker, version, "alice", "sensors/secret/key", "hidden")
        assert mosq_pub(broker, version, "alice", "sensors/hall/temp", "19").returncode == 0
        got = ms.wait_messages(2)
        assert [(t, p) for _, t, p in got] == [("sensors/kitchen/temp", "21"),
                                              ("sensors/hall/temp", "19")]
    finally:
        ms.stop()
    # Exact codes with hand-written packets: bob may read sensors/# but not write it.
    bob = raw(broker, version, "bob")
    codes = bob.subscribe([("sensors/#", 1), ("#", 1), ("sync/+", 0), ("public/#", 0)])
    assert codes == [1, NOT_AUTHORIZED_SUB[version], 0, NOT_AUTHORIZED_SUB[version]]
    assert publish_qos1(bob, version, "sensors/x", b"from-bob", 7) == (0x87 if version == V5 else 0)
    alice = raw(broker, version, "alice")
    assert publish_qos1(alice, version, "sensors/secret/x", b"denied", 1) == (
        0x87 if version == V5 else 0)
    assert publish_qos1(alice, version, "sensors/y", b"allowed", 2) == 0
    p = bob.next_publish()
    assert (p.topic, p.payload) == ("sensors/y", b"allowed")  # neither denied one arrived
    # A subscription that overlaps a deny entry is granted; the denied topics are filtered.
    reader = raw(broker, version, "alice")
    assert reader.subscribe([("sensors/#", 1), ("sensors/secret/#", 1)], packet_id=2) == [
        1, NOT_AUTHORIZED_SUB[version]]
    carol = raw(broker, version, client_id="dev1")  # anonymous, client id dev1
    assert publish_qos1(carol, version, "devices/dev1/up", b"up", 1) == 0  # pattern with %c
    assert publish_qos1(carol, version, "devices/dev2/up", b"up", 2) == (0x87 if version == V5 else 0)
    assert publish_qos1(carol, version, "sensors/secret/x", b"secret", 3) == 0  # anonymous may
    assert publish_qos1(alice, version, "sensors/z", b"after", 4) == 0
    p = reader.next_publish()
    assert (p.topic, p.payload) == ("sensors/z", b"after")  # alice may not read sensors/secret/
    p = bob.next_publish()
    assert (p.topic, p.payload) == ("sensors/secret/x", b"secret")  # bob may
    assert bob.next_publish().payload == b"after"
    # Anonymous clients: the lines before the first user.
    assert carol.subscribe([("public/#", 1), ("sensors/#", 1)]) == [1, NOT_AUTHORIZED_SUB[version]]
    assert publish_qos1(alice, version, "public/news", b"n", 5) == 0
    p = carol.next_publish()
    assert (p.topic, p.payload) == ("public/news", b"n")
    for c in (alice, bob, carol, reader):
        c.close()
    series = tm.scrape(broker)
    # publish: sensors/secret/key (mosquitto_pub), bob's sensors/x, alice's sensors/secret/x,
    # dev1's devices/dev2/up; subscribe: bob's # and public/#, sensors/secret/#, carol's sensors/#.
    assert tm.val(series, "actormq_acl_denied_total", action="publish") == 4
    assert tm.val(series, "actormq_acl_denied_total", action="subscribe") == 4
    assert tm.val(series, "actormq_acl_denied_total", action="receive") == 1
    # And each refusal is logged (at most 10 a second): client, action, topic, outcome.
    broker.wait_log(r"client '[^']+' may not publish to 'sensors/secret/x' \(auth\.acl_file\): "
                    r"not forwarded")
    broker.wait_log(r"client 'dev1' may not publish to 'devices/dev2/up' \(auth\.acl_file\)")
    broker.wait_log(r"client '[^']+' may not subscribe to 'public/#' \(auth\.acl_file\): "
                    r"refused in the SUBACK")
    broker.wait_log(r"client '[^']+' may not read 'sensors/secret/x' \(auth\.acl_file\): "
                    r"the message is not delivered to it")
    assert broker.alive()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_will_on_a_denied_topic_refuses_the_connect(acl_broker, version):
    c = RawClient(acl_broker.host, acl_broker.port, version)
    c.connect(uid("w"), username="bob", password=b"b-pw", will={"topic": "sensors/will", "payload": b"bye", "qos": 1},
              expect_code=0x87 if version == V5 else 0x05)
    assert c.expect_close() == []
    c.close()
    # Allowed will topic: accepted.
    raw(acl_broker, version, "alice", will={"topic": "sensors/will", "payload": b"bye", "qos": 1}).close()


def wait_applied(broker, n):
    """Waits for the n-th "the reload applies to every session" line (logged once every session
    has taken the new rules: from then on every delivery is checked against them)."""
    broker.wait_log(rf"(?s)(?:reloaded auth files apply to every session now \(\d+ checked\).*?){{{n}}}")


def test_sighup_reloads_the_acl_for_connected_clients(acl_broker):
    broker = acl_broker
    bob = raw(broker, V5, "bob")
    assert bob.subscribe([("sensors/#", 1), ("sync/#", 1)]) == [1, 1]
    alice = raw(broker, V5, "alice")
    assert publish_qos1(alice, V5, "sensors/a", b"before", 1) == 0
    assert bob.next_publish().payload == b"before"
    broker.acl_path.write_text(ACL.replace("topic read sensors/#\n", ""))
    broker.proc.send_signal(signal.SIGHUP)
    broker.wait_log(r"auth\.acl_file reloaded: 7 entries from ")
    wait_applied(broker, 1)
    assert publish_qos1(alice, V5, "sensors/a", b"after", 2) == 0
    assert publish_qos1(alice, V5, "sync/x", b"sync", 3) == 0x87  # alice may not write sync/
    # bob's subscription stays, but sensors/ is no longer his to read. To see that nothing of it
    # arrived, alice gets write access to sync/ (another reload) and bob's next message is hers.
    broker.acl_path.write_text(ACL.replace("topic read sensors/#\n", "").replace(
        "topic write public/#\n", "topic write public/#\ntopic write sync/#\n"))
    broker.proc.send_signal(signal.SIGHUP)
    broker.wait_log(r"auth\.acl_file reloaded: 8 entries from ")
    wait_applied(broker, 2)
    assert publish_qos1(alice, V5, "sensors/a", b"hidden", 4) == 0
    assert publish_qos1(alice, V5, "sync/x", b"sync", 5) == 0
    p = bob.next_publish()
    assert (p.topic, p.payload) == ("sync/x", b"sync")
    # A bad file: logged, the rules loaded before stay.
    broker.acl_path.write_text("user bob\ntopic read a/#/b\n")
    broker.proc.send_signal(signal.SIGHUP)
    broker.wait_log(r"auth\.acl_file not reloaded: .*acl:2: 'a/#/b' is not a valid topic filter; "
                    r"the 8 entries loaded before stay")
    assert publish_qos1(alice, V5, "sync/y", b"still", 6) == 0
    p = bob.next_publish()
    assert (p.topic, p.payload) == ("sync/y", b"still")
    assert tm.val(tm.scrape(broker), "actormq_acl_denied_total", action="receive") >= 2
    alice.close()
    bob.close()


def test_bad_acl_file_stops_the_broker(tmp_path):
    bad = tmp_path / "acl"
    bad.write_text("user alice\n# ok\ntopic writ sensors/#\n")
    for path, expect in ((bad, f"{bad}:3: unknown access 'writ' (read, write, readwrite or deny)"),
                         (tmp_path / "missing", f"{tmp_path / 'missing'}: cannot open the ACL file (No such file or directory)")):
        assert_bad_file_stops_the_broker(tmp_path, "auth.acl_file", path, expect)
