"""Client authentication end to end (docs/security.md): the real broker with a password file
written by the real mosquitto_passwd, real clients (paho, mosquitto_pub/mosquitto_sub with
-u/-P) and hand-written CONNECTs for the exact CONNACK codes, MQTT 3.1.1 and 5.0.

- auth.password_file: right password accepted; wrong password, unknown user, user name
  without password refused with 0x04 (3.1.1) / 0x86 (5.0), then closed;
- auth.allow_anonymous=false: no user name refused with 0x05 / 0x87; by default accepted;
- a refused CONNECT with the client id of a live session leaves that session alone
  (still connected, subscription working, no takeover, no will);
- SIGHUP re-reads the file (a new user gets in; a bad file keeps the old users) and checks the
  connected clients again: a removed user or a changed password is disconnected (5.0:
  DISCONNECT 0x87), the others carry on;
- a bad file at start stops the broker with an error naming file and line;
- refusals are counted in actormq_connections_rejected_total and logged without password, at
  most 20 lines a second (the next line logged says how many were left out).
"""

import signal
import subprocess

import pytest

import test_metrics as tm
from conftest import (BROKER_BIN, V311, V5, VERSIONS, MosquittoSub, free_port,
                      mosq_version, uid)
import mqtt_raw
from mqtt_raw import RawClient

BAD_CREDENTIALS = {V311: 0x04, V5: 0x86}
NOT_AUTHORIZED = {V311: 0x05, V5: 0x87}


def passwd(path, user, password, create=False, hash_type="sha512-pbkdf2"):
    """The real mosquitto_passwd in batch mode."""
    cmd = ["mosquitto_passwd", "-H", hash_type] + (["-c"] if create else []) + [
        "-b", str(path), user, password]
    r = subprocess.run(cmd, capture_output=True, timeout=30)
    assert r.returncode == 0, f"{cmd}: {r.stderr.decode()}"


@pytest.fixture
def pwfile(tmp_path):
    """alice/secret ($7$ PBKDF2, mosquitto_passwd's default) and legacy/old:pw ($6$ SHA-512)."""
    path = tmp_path / "passwd"
    passwd(path, "alice", "secret", create=True)
    passwd(path, "legacy", "old:pw", hash_type="sha512")
    return path


def auth_broker(broker_factory, pwfile, anonymous=None):
    args = ["--set", f"auth.password_file={pwfile}"]
    if anonymous is not None:
        args += ["--set", f"auth.allow_anonymous={'true' if anonymous else 'false'}"]
    return broker_factory(*args)


def raw_connect(broker, version, client_id=None, expect=0, **kw):
    """A hand-written CONNECT; checks the CONNACK code. A refused one must be closed after it."""
    c = RawClient(broker.host, broker.port, version)
    ack = c.connect(client_id or uid("raw"), expect_code=expect, **kw)
    if expect != 0:
        assert not ack.session_present
        assert c.expect_close() == []
        c.close()
        return None
    return c


def paho(clients, broker, version, user=None, password=None, **kw):
    """A paho client with credentials; returns (client, CONNACK rc as int)."""
    c = clients(broker, version, auto_connect=False, **kw)
    if user is not None:
        c.c.username_pw_set(user, password)
    _, rc, _ = c.connect()
    return c, getattr(rc, "value", rc)


def mosq_pub(broker, version, args, topic="auth/t", message="m"):
    return subprocess.run(
        ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-V", mosq_version(version),
         "-i", uid("pub"), "-t", topic, "-q", "1", "-m", message, *args],
        capture_output=True, timeout=30)


@pytest.mark.parametrize("version", VERSIONS)
def test_right_password_accepted(broker_factory, pwfile, clients, mosq_subs, version):
    broker = auth_broker(broker_factory, pwfile, anonymous=False)
    topic = uid("auth")
    # paho with alice ($7$) subscribes; mosquitto_pub with legacy ($6$) publishes.
    sub, rc = paho(clients, broker, version, "alice", "secret")
    assert rc == 0
    sub.subscribe(topic, qos=1)
    r = mosq_pub(broker, version, ["-u", "legacy", "-P", "old:pw"], topic=topic, message="hello")
    assert r.returncode == 0, r.stderr.decode()
    assert sub.get().payload == b"hello"
    # mosquitto_sub with alice receives what paho with legacy publishes.
    ms = MosquittoSub(broker, version, [topic], qos=1, extra=["-u", "alice", "-P", "secret"])
    try:
        ms.wait_subscribed()
        pub, rc = paho(clients, broker, version, "legacy", "old:pw")
        assert rc == 0
        pub.publish(topic, "to-mosquitto-sub", qos=1)
        assert ms.wait_messages(1)[0] == (1, topic, "to-mosquitto-sub")
    finally:
        ms.stop()
    # Hand-written: the user name and password flags both set.
    raw_connect(broker, version, username="alice", password=b"secret").close()


@pytest.mark.parametrize("version", VERSIONS)
def test_wrong_password_or_unknown_user_refused(broker_factory, pwfile, clients, version):
    broker = auth_broker(broker_factory, pwfile)
    code = BAD_CREDENTIALS[version]
    raw_connect(broker, version, expect=code, username="alice", password=b"Zq9-not-it")
    raw_connect(broker, version, expect=code, username="alice", password=b"")
    raw_connect(broker, version, expect=code, username="alice", password=b"secret\x00")
    raw_connect(broker, version, expect=code, username="alice")  # no password
    raw_connect(broker, version, expect=code, username="Alice", password=b"secret")
    raw_connect(broker, version, expect=code, username="mallory", password=b"secret")
    raw_connect(broker, version, expect=code, username="legacy", password=b"old")
    # Real clients see the same codes: paho's on_connect rc, mosquitto_pub's exit status.
    c, rc = paho(clients, broker, version, "alice", "Zq9-paho-guess")
    assert rc == code
    c.wait_disconnected()
    r = mosq_pub(broker, version, ["-u", "nobody", "-P", "secret"])
    assert r.returncode == code, (r.returncode, r.stderr.decode())
    # The log names client, user and reason once per refusal, never the password.
    broker.wait_log(r"client 'raw-[0-9a-f]+' refused from 127.0.0.1:\d+: bad user name or password "
                    r"\(user 'mallory', CONNACK Bad User Name or Password\)")
    broker.wait_log(r"refused from .*\(user 'nobody', ")
    log = broker.log()
    assert "Zq9-" not in log
    assert len([l for l in log.splitlines() if "bad user name or password" in l]) == 9


@pytest.mark.parametrize("version", VERSIONS)
def test_anonymous_refused_when_not_allowed(broker_factory, pwfile, clients, version):
    broker = auth_broker(broker_factory, pwfile, anonymous=False)
    raw_connect(broker, version, expect=NOT_AUTHORIZED[version])
    c, rc = paho(clients, broker, version)
    assert rc == NOT_AUTHORIZED[version]
    c.wait_disconnected()
    r = mosq_pub(broker, version, [])
    assert r.returncode == NOT_AUTHORIZED[version], r.stderr.decode()
    if version == V5:
        # 5.0 allows a password without a user name (§3.1.2.9): still anonymous.
        raw_connect(broker, version, expect=0x87, password=b"secret")
    else:
        # 3.1.1: a password flag without user name flag is malformed [MQTT-3.1.2-22]:
        # closed by the codec, no CONNACK.
        c = RawClient(broker.host, broker.port, version)
        c.send(mqtt_raw.connect(uid("raw"), version, password=b"secret"))
        assert c.expect_close() == []
        c.close()
    # With a user name the password decides.
    raw_connect(broker, version, username="alice", password=b"secret").close()
    raw_connect(broker, version, expect=BAD_CREDENTIALS[version], username="x", password=b"y")
    broker.wait_log(r"refused from .*not authorized \(auth.allow_anonymous is false[^)]*\)"
                    r" \(user none, CONNACK Not authorized\)")


@pytest.mark.parametrize("version", VERSIONS)
def test_anonymous_accepted_by_default(broker_factory, pwfile, clients, version):
    # No auth options at all: anyone, with or without (any) credentials.
    broker = broker_factory()
    raw_connect(broker, version).close()
    raw_connect(broker, version, username="anyone", password=b"anything").close()
    c, rc = paho(clients, broker, version)
    assert rc == 0
    # A password file alone keeps anonymous clients in; named ones are checked.
    broker2 = auth_broker(broker_factory, pwfile)
    raw_connect(broker2, version).close()
    raw_connect(broker2, version, expect=BAD_CREDENTIALS[version], username="anyone",
                password=b"anything")
    assert mosq_pub(broker2, version, []).returncode == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_no_password_file_and_no_anonymous_refuses_everyone(broker_factory, version):
    # Fail closed: nothing to check a user name against, so nobody gets in.
    broker = broker_factory("--set", "auth.allow_anonymous=false")
    raw_connect(broker, version, expect=NOT_AUTHORIZED[version])
    raw_connect(broker, version, expect=NOT_AUTHORIZED[version], username="anyone",
                password=b"anything")
    broker.wait_log(r"auth.allow_anonymous is false but auth.password_file is empty: every "
                    r"CONNECT is refused")


@pytest.mark.parametrize("version", VERSIONS)
def test_refused_connect_leaves_live_session_alone(broker_factory, pwfile, clients, version):
    broker = auth_broker(broker_factory, pwfile, anonymous=False)
    topic, will_topic, cid = uid("live"), uid("will"), uid("victim")
    watcher, rc = paho(clients, broker, version, "legacy", "old:pw")
    assert rc == 0
    watcher.subscribe(will_topic, qos=1)
    props = {"SessionExpiryInterval": 3600} if version == V5 else {}
    victim, rc = paho(clients, broker, version, "alice", "secret", client_id=cid, clean=False,
                      connect_props=props,
                      will={"topic": will_topic, "payload": b"victim-died", "qos": 1})
    assert rc == 0
    victim.subscribe(topic, qos=1)
    # Same client id, wrong password / no user name: refused, nothing taken over.
    raw_connect(broker, version, client_id=cid, expect=BAD_CREDENTIALS[version],
                username="alice", password=b"guess", clean=False)
    raw_connect(broker, version, client_id=cid, expect=NOT_AUTHORIZED[version], clean=True)
    # The live session still gets its messages, on the same connection.
    watcher.publish(topic, "after-refusals", qos=1)
    assert victim.get().payload == b"after-refusals"
    assert victim.disconnects.empty(), "the live session was disconnected"
    assert victim.c.is_connected()
    # No will: a marker published on the will topic after the refusals arrives alone.
    watcher.publish(will_topic, "marker", qos=1)
    assert watcher.get_until("marker") == []
    assert f"session {cid} taken over" not in broker.log()
    # The right password does take the session over (persistent: session present).
    c = RawClient(broker.host, broker.port, version)
    ack = c.connect(cid, clean=False, username="alice", password=b"secret",
                    properties={"session_expiry_interval": 3600} if version == V5 else None)
    assert ack.session_present
    victim.wait_disconnected()
    c.close()


def test_sighup_reload_adds_user(broker_factory, pwfile, clients):
    broker = auth_broker(broker_factory, pwfile, anonymous=False)
    raw_connect(broker, V5, expect=0x86, username="bob", password=b"bobpw")
    passwd(pwfile, "bob", "bobpw")
    passwd(pwfile, "alice", "secret2")  # a changed password takes effect too
    broker.proc.send_signal(signal.SIGHUP)
    broker.wait_log(r"auth.password_file reloaded: 3 users from ")
    raw_connect(broker, V5, username="bob", password=b"bobpw").close()
    raw_connect(broker, V311, username="bob", password=b"bobpw").close()
    raw_connect(broker, V311, expect=0x04, username="alice", password=b"secret")
    raw_connect(broker, V311, username="alice", password=b"secret2").close()
    # A bad file: logged, the users loaded before stay.
    with open(pwfile, "a") as f:
        f.write("carol:plaintext\n")
    broker.proc.send_signal(signal.SIGHUP)
    broker.wait_log(r"auth.password_file not reloaded: .*passwd:4: user 'carol' has a plain-text "
                    r"password; .*the 3 users loaded before stay")
    raw_connect(broker, V5, username="bob", password=b"bobpw").close()
    raw_connect(broker, V5, expect=0x86, username="carol", password=b"plaintext")
    # Removed with mosquitto_passwd -D: refused after the next SIGHUP.
    with open(pwfile) as f:
        good = [l for l in f if not l.startswith("carol:")]
    with open(pwfile, "w") as f:
        f.writelines(good)
    r = subprocess.run(["mosquitto_passwd", "-D", str(pwfile), "bob"], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    broker.proc.send_signal(signal.SIGHUP)
    broker.wait_log(r"auth.password_file reloaded: 2 users from ")
    raw_connect(broker, V5, expect=0x86, username="bob", password=b"bobpw")
    assert broker.alive()


@pytest.mark.parametrize("version", VERSIONS)
def test_sighup_disconnects_clients_that_no_longer_pass(broker_factory, pwfile, clients, version):
    broker = auth_broker(broker_factory, pwfile, anonymous=False)
    passwd(pwfile, "bob", "bobpw")
    broker.proc.send_signal(signal.SIGHUP)
    broker.wait_log(r"auth.password_file reloaded: 3 users from ")
    topic = uid("kept")
    # legacy stays valid: subscribed through paho, it must not notice the reload.
    keeper, rc = paho(clients, broker, version, "legacy", "old:pw")
    assert rc == 0
    keeper.subscribe(topic, qos=1)
    alice_id, bob_id = uid("alice"), uid("bob")
    alice = raw_connect(broker, version, client_id=alice_id, username="alice",
                        password=b"secret")
    bob = raw_connect(broker, version, client_id=bob_id, username="bob", password=b"bobpw")
    # bob is removed, alice's password changes; both are told (5.0) and closed on the reload.
    r = subprocess.run(["mosquitto_passwd", "-D", str(pwfile), "bob"], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    passwd(pwfile, "alice", "secret2")
    broker.proc.send_signal(signal.SIGHUP)
    broker.wait_log(r"auth.password_file reloaded: 2 users from ")
    for c, cid in ((alice, alice_id), (bob, bob_id)):
        packets = c.expect_close()
        if version == V5:
            assert [(p.type, p.code) for p in packets] == [(mqtt_raw.DISCONNECT, 0x87)], packets
        else:
            assert packets == []  # 3.1.1 has no server DISCONNECT: just closed
        c.close()
        broker.wait_log(rf"client {cid} no longer passes authentication after the password "
                        rf"file was reloaded \(bad user name or password\)")
    # The client that still passes keeps its connection and its subscription.
    keeper.publish(topic, "after-reload", qos=1)
    assert keeper.get().payload == b"after-reload"
    assert keeper.disconnects.empty(), "a client with valid credentials was disconnected"
    # The new password works; the old one and the removed user are refused.
    raw_connect(broker, version, username="alice", password=b"secret2").close()
    raw_connect(broker, version, expect=BAD_CREDENTIALS[version], username="alice",
                password=b"secret")
    raw_connect(broker, version, expect=BAD_CREDENTIALS[version], username="bob",
                password=b"bobpw")
    assert broker.alive()


def test_refusals_counted_in_metrics(broker_factory, pwfile):
    broker = auth_broker(broker_factory, pwfile, anonymous=False)
    for v in (V311, V5):
        raw_connect(broker, v, expect=BAD_CREDENTIALS[v], username="alice", password=b"x")
        raw_connect(broker, v, expect=BAD_CREDENTIALS[v], username="who", password=b"x")
        raw_connect(broker, v, expect=NOT_AUTHORIZED[v])
    raw_connect(broker, V5, username="alice", password=b"secret").close()
    series = tm.scrape(broker)
    name = "actormq_connections_rejected_total"
    assert tm.val(series, name, reason="bad_user_name_or_password", code="0x86") == 4
    assert tm.val(series, name, reason="not_authorized", code="0x87") == 2


def test_refusal_log_lines_are_rate_limited(broker_factory, pwfile):
    """A flood of refused CONNECTs logs at most 20 lines a second; the next line logged says how
    many were left out, and the metric counts every refusal."""
    import re
    import time
    broker = auth_broker(broker_factory, pwfile, anonymous=False)
    n = 100
    for i in range(n):
        raw_connect(broker, V5, client_id=f"flood{i}", expect=0x86, username="alice",
                    password=b"wrong")
    logged = len(re.findall(r"client 'flood\d+' refused from ", broker.log()))
    assert 0 < logged < n, f"{logged} of {n} refusals logged"
    time.sleep(1.2)  # a new second: the next refusal is logged, with the count left out
    raw_connect(broker, V5, client_id="after", expect=0x86, username="alice", password=b"wrong")
    line = broker.wait_log(r"client 'after' refused from .*").group(0)
    m = re.search(r"\((\d+) more refusals in between not logged\)", line)
    assert m, line
    assert logged + int(m.group(1)) == n
    series = tm.scrape(broker)
    assert tm.val(series, "actormq_connections_rejected_total",
                  reason="bad_user_name_or_password", code="0x86") == n + 1


def assert_bad_file_stops_the_broker(tmp_path, option, path, expect):
    """The broker given `option`=`path` exits 1 before listening, logging `expect`."""
    r = subprocess.run(
        [BROKER_BIN, "--bind", "127.0.0.1", "--port", str(free_port()), "--data-dir",
         str(tmp_path / "data"), "--set", "admin.enabled=false", "--set", f"{option}={path}"],
        capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 1, out
    assert f"broker cannot start: {option}: {expect}" in out, out
    assert "listens for MQTT" not in out


def test_bad_password_file_stops_the_broker(tmp_path):
    bad = tmp_path / "passwd"
    passwd(bad, "alice", "secret", create=True)
    with open(bad, "a") as f:
        f.write("# comment\nbob:$7$101$AAAA$AAAA\n")
    for path, expect in ((bad, f"{bad}:3: user 'bob': hash is 3 bytes, expected 64"),
                         (tmp_path / "missing", f"{tmp_path / 'missing'}: cannot open")):
        assert_bad_file_stops_the_broker(tmp_path, "auth.password_file", path, expect)
