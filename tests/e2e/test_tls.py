"""MQTT over TLS end to end (docs/security.md, "TLS"): the real broker with listeners.tls on a
free port next to the plain listener, a CA and server certificate made by the `openssl` CLI at
test time, real clients (mosquitto_pub / mosquitto_sub --cafile, paho tls_set), 3.1.1 and 5.0.

- QoS 1 through the TLS listener (mosquitto clients and paho), the plain listener alongside;
- a persistent session gets its queued messages in order after reconnecting over TLS;
- a 1 MiB payload (many TLS records) arrives intact;
- garbage instead of a ClientHello, plain MQTT on the TLS port: closed, no CONNACK, the broker
  and other clients unaffected;
- a client that connects and never handshakes (or stops mid-ClientHello) is closed after the
  handshake deadline (limits.connect_timeout_ms);
- mutual TLS (ca_file + require_client_cert): a client certificate signed by the CA gets in,
  none or a self-signed one does not;
- a missing or bad certificate/key stops the broker at start naming the file; no listener at all
  refuses to start;
- SIGHUP reloads a renewed certificate for new connections (a client connected before keeps its
  connection), and a bad file on SIGHUP keeps the certificate loaded before;
- listeners.tls.use_identity_as_username: the certificate's CN is the user name (client-type
  rules see it, the password file is not asked), no CN is refused 0x87, and it needs
  require_client_cert;
- listeners.tls.ciphers / ciphersuites limit what a client can negotiate; an unknown list stops
  the broker at start;
- listeners.tls.crl_file: a revoked client certificate fails the handshake, a renewed CRL is
  read on SIGHUP, a bad CRL file stops the broker.
"""

import re
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (BROKER_BIN, V311, V5, VERSIONS, Client, MosquittoSub, free_port,
                      mosq_version, uid, wait_until)
import mqtt_raw
import test_metrics as tm


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=60)
    assert r.returncode == 0, f"openssl {args}: {r.stderr.decode()}"


def make_cert(d, name, ca, cn, server=True):
    """A key and a certificate for `cn` signed by the CA `ca` (files in `d`)."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n" if server
                   else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", str(ext), cwd=d)
    return d / f"{name}.pem", d / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "rogue"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out",
                f"{ca}.pem", "-days", "2", "-subj", f"/CN={ca} test CA", cwd=d)
    cert, key = make_cert(d, "server", "ca", "localhost")
    ccert, ckey = make_cert(d, "client", "ca", "device-1", server=False)
    rcert, rkey = make_cert(d, "rogue-client", "rogue", "device-2", server=False)
    return {"dir": d, "ca": d / "ca.pem", "cert": cert, "key": key, "client_cert": ccert,
            "client_key": ckey, "rogue_cert": rcert, "rogue_key": rkey}


class TlsEndpoint:
    """The TLS listener of a running broker, shaped like `Broker` for Client/MosquittoSub."""

    def __init__(self, broker):
        self.broker = broker
        self.host = broker.host
        m = broker.wait_log(r"broker listens for MQTT over TLS on [^ ]+:(\d+) ")
        self.port = int(m.group(1))


class TlsClient(Client):
    """conftest.Client over TLS (paho tls_set with the test CA)."""

    def __init__(self, endpoint, ca, *a, certfile=None, keyfile=None, **kw):
        self._tls = (str(ca), certfile and str(certfile), keyfile and str(keyfile))
        super().__init__(endpoint, *a, **kw)

    def _mk(self, will):
        super()._mk(will)
        ca, cert, key = self._tls
        self.c.tls_set(ca_certs=ca, certfile=cert, keyfile=key)


def tls_args(pki, *extra):
    return ("--set", "listeners.tls.enabled=true", "--set", "listeners.tls.port=0",
            "--set", f"listeners.tls.cert_file={pki['cert']}",
            "--set", f"listeners.tls.key_file={pki['key']}", *extra)


@pytest.fixture
def tls(broker_factory, pki):
    broker = broker_factory(*tls_args(pki, "--set", "limits.max_packet_size=4194304",
                                      "--set", "limits.connect_timeout_ms=1000"))
    return TlsEndpoint(broker)


def mosq_pub(ep, pki, version, topic, messages, qos=1, extra=()):
    cmd = ["mosquitto_pub", "-h", ep.host, "-p", str(ep.port), "--cafile", str(pki["ca"]),
           "-V", mosq_version(version), "-q", str(qos), "-t", topic, "-i", uid("pub"),
           *extra]
    if len(messages) == 1:
        cmd += ["-m", messages[0]]
        return subprocess.run(cmd, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    cmd += ["-l"]
    return subprocess.run(cmd, capture_output=True, timeout=30,
                          input=("\n".join(messages) + "\n").encode())


def expect_closed_without_connack(sock, timeout=10):
    """Reads until EOF/reset; returns what came (a TLS alert at most, never a CONNACK)."""
    sock.settimeout(timeout)
    got = b""
    try:
        while True:
            b = sock.recv(4096)
            if not b:
                break
            got += b
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise AssertionError(f"connection not closed within {timeout}s (got {got!r})") from None
    assert not got.startswith(b"\x20"), got  # no CONNACK
    if got:
        assert got[0] == 0x15, got  # a TLS alert record and nothing else
    return got


@pytest.mark.parametrize("version", VERSIONS)
def test_mosquitto_qos1_over_tls_and_plain_alongside(tls, pki, mosq_subs, version):
    topic = f"tls/{uid('t')}"
    sub = mosq_subs(tls, version, [topic], qos=1, extra=("--cafile", str(pki["ca"])))
    sub.wait_subscribed()
    msgs = [f"m{i}" for i in range(20)]
    r = mosq_pub(tls, pki, version, topic, msgs)
    assert r.returncode == 0, r.stderr.decode()
    got = sub.wait_messages(20)
    assert [(q, t, p) for q, t, p in got] == [(1, topic, m) for m in msgs]
    # The plain listener works alongside and reaches the TLS subscriber.
    plain = Client(tls.broker, version)
    plain.publish(topic, b"from-plain", qos=1)
    assert sub.wait_messages(21)[-1] == (1, topic, "from-plain")
    plain.disconnect()


@pytest.mark.parametrize("version", VERSIONS)
def test_paho_over_tls_persistent_session_gets_queued_messages_in_order(tls, pki, version):
    cid = uid("dev")
    topic = f"tls/q/{uid('t')}"
    kw = dict(clean=False, session_expiry=300 if version == V5 else None)
    c = TlsClient(tls, pki["ca"], version, client_id=cid, **kw)
    c.subscribe(topic, qos=1)
    c.disconnect()
    msgs = [f"q{i}" for i in range(50)]
    r = mosq_pub(tls, pki, version, topic, msgs)
    assert r.returncode == 0, r.stderr.decode()
    c2 = TlsClient(tls, pki["ca"], version, client_id=cid, auto_connect=False, **kw)
    c2.connect()
    assert c2.session_present
    got = c2.get_n(50)
    assert [m.payload.decode() for m in got] == msgs
    assert all(m.qos == 1 for m in got)
    c2.disconnect()


def test_large_payload_crosses_many_tls_records(tls, pki):
    topic = f"tls/big/{uid('t')}"
    sub = TlsClient(tls, pki["ca"], V5)
    sub.subscribe(topic, qos=1)
    pub = TlsClient(tls, pki["ca"], V5)
    payload = bytes((i * 7 + 13) & 0xFF for i in range(1 << 20))  # 1 MiB, ~64 records
    pub.publish(topic, payload, qos=1)
    m = sub.get()
    assert len(m.payload) == len(payload) and m.payload == payload
    pub.disconnect()
    sub.disconnect()


def _bystander(tls, pki):
    """A TLS subscriber and a plain one, connected before the bad client."""
    topic = f"tls/by/{uid('t')}"
    s1 = TlsClient(tls, pki["ca"], V5)
    s1.subscribe(topic, qos=1)
    s2 = Client(tls.broker, V311)
    s2.subscribe(topic, qos=1)

    def check(tag):
        pub = TlsClient(tls, pki["ca"], V311)
        pub.publish(topic, tag.encode(), qos=1)
        assert s1.get().payload == tag.encode()
        assert s2.get().payload == tag.encode()
        pub.disconnect()
    return check


def test_garbage_instead_of_client_hello_is_closed(tls, pki):
    check = _bystander(tls, pki)
    for junk in (b"\x00" * 64, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                 bytes(range(256)) * 8, b"\x16\x03\x01\xff\xff" + b"A" * 100):
        s = socket.create_connection((tls.host, tls.port), timeout=5)
        s.sendall(junk)
        expect_closed_without_connack(s)
        s.close()
    assert tls.broker.alive()
    tls.broker.wait_log(r"connection 127\.0\.0\.1:\d+ closed: TLS handshake failed")
    wait_until(lambda: tm.val(tm.scrape(tls.broker), "actormq_tls_handshake_failures_total") == 4,
               what="4 failed handshakes counted")
    check("after-garbage")


@pytest.mark.parametrize("version", VERSIONS)
def test_plain_mqtt_on_the_tls_port_is_refused(tls, pki, version):
    s = socket.create_connection((tls.host, tls.port), timeout=5)
    s.sendall(mqtt_raw.connect(uid("plain"), version))
    expect_closed_without_connack(s)
    s.close()
    # paho without TLS gets no CONNACK either.
    c = Client(tls, version, auto_connect=False)
    with pytest.raises((AssertionError, OSError)):
        c.connect()
    c.c.loop_stop()
    assert tls.broker.alive()


@pytest.mark.parametrize("partial", [b"", b"\x16\x03\x01\x00"], ids=["silent", "half-hello"])
def test_client_that_never_handshakes_is_closed_after_the_deadline(tls, pki, partial):
    check = _bystander(tls, pki)
    t0 = time.monotonic()
    s = socket.create_connection((tls.host, tls.port), timeout=5)
    if partial:
        s.sendall(partial)
    expect_closed_without_connack(s, timeout=10)
    elapsed = time.monotonic() - t0
    s.close()
    # limits.connect_timeout_ms=1000: not before, and not much after.
    assert 0.9 <= elapsed < 5, elapsed
    check("after-silent")


def test_mutual_tls(broker_factory, pki):
    b = broker_factory(*tls_args(pki, "--set", f"listeners.tls.ca_file={pki['ca']}",
                                 "--set", "listeners.tls.require_client_cert=true"))
    ep = TlsEndpoint(b)
    topic = f"tls/m/{uid('t')}"
    good = ("--cert", str(pki["client_cert"]), "--key", str(pki["client_key"]))
    r = mosq_pub(ep, pki, V5, topic, ["x"], extra=good)
    assert r.returncode == 0, r.stderr.decode()
    c = TlsClient(ep, pki["ca"], V311, certfile=pki["client_cert"], keyfile=pki["client_key"])
    c.disconnect()
    # No certificate, or one signed by another CA: the handshake fails.
    for extra in ((), ("--cert", str(pki["rogue_cert"]), "--key", str(pki["rogue_key"]))):
        r = mosq_pub(ep, pki, V5, topic, ["x"], extra=extra)
        assert r.returncode != 0, (extra, r.stdout, r.stderr)
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    with socket.create_connection((ep.host, ep.port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                # TLS 1.3: the server's verdict on the client certificate arrives after the
                # client's handshake returned; the first read sees the alert.
                s.sendall(mqtt_raw.connect(uid("nocert"), V5))
                if not s.recv(1):
                    raise ConnectionResetError("closed")
    assert b.alive()


def served_certificate(ep, pki):
    """The DER certificate the TLS listener presents to a new connection (verified with the CA)."""
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    with socket.create_connection((ep.host, ep.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True)


def der(pem_path):
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


def not_after(pem_path):
    """The certificate's notAfter, seconds since the epoch (openssl x509 -enddate)."""
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", str(pem_path)],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return ssl.cert_time_to_seconds(out.strip().split("=", 1)[1])


def served_expiry(broker):
    return tm.val(tm.scrape(broker), "actormq_tls_certificate_expiry_timestamp_seconds")


def test_sighup_reloads_the_certificate_for_new_connections(broker_factory, pki, tmp_path):
    # A renewed certificate is written over the configured files; SIGHUP makes new connections
    # get it, a client connected before keeps its connection, and a bad file keeps the
    # certificate loaded before (docs/security.md, "Certificate renewal").
    import shutil
    import signal
    live_cert, live_key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(pki["cert"], live_cert)
    shutil.copy(pki["key"], live_key)
    b = broker_factory("--set", "listeners.tls.enabled=true", "--set", "listeners.tls.port=0",
                       "--set", f"listeners.tls.cert_file={live_cert}",
                       "--set", f"listeners.tls.key_file={live_key}")
    ep = TlsEndpoint(b)
    assert served_certificate(ep, pki) == der(pki["cert"])
    assert served_expiry(b) == not_after(pki["cert"])  # the gauge operators alert on
    topic = f"tls/reload/{uid('t')}"
    before = TlsClient(ep, pki["ca"], V5)
    assert before.subscribe(topic, qos=1) == [1]

    new_cert, new_key = make_cert(pki["dir"], f"renewed-{uid('c')}", "ca", "localhost")
    assert der(new_cert) != der(pki["cert"])
    shutil.copy(new_cert, live_cert)
    shutil.copy(new_key, live_key)
    assert served_certificate(ep, pki) == der(pki["cert"])  # read at start and on SIGHUP only
    b.proc.send_signal(signal.SIGHUP)
    b.wait_log(r"listeners\.tls: certificate reloaded from " + re.escape(str(live_cert)))
    assert served_certificate(ep, pki) == der(new_cert)
    assert served_expiry(b) == not_after(new_cert)
    # New clients get in with the renewed certificate; the one connected before still gets
    # what they publish.
    r = mosq_pub(ep, pki, V5, topic, ["after-reload"])
    assert r.returncode == 0, r.stderr.decode()
    assert before.get_n(1)[0].payload == b"after-reload"

    live_cert.write_text("not a certificate\n")
    b.proc.send_signal(signal.SIGHUP)
    b.wait_log(r"listeners\.tls: certificate not reloaded: cert_file " + re.escape(str(live_cert))
               + r": not a usable PEM certificate .*; the certificate loaded before stays")
    assert served_certificate(ep, pki) == der(new_cert)
    assert served_expiry(b) == not_after(new_cert)
    r = mosq_pub(ep, pki, V5, topic, ["after-bad-file"])
    assert r.returncode == 0, r.stderr.decode()
    assert before.get_n(1)[0].payload == b"after-bad-file"
    before.disconnect()
    assert b.alive()


def test_certificate_cn_as_user_name(broker_factory, pki, tmp_path):
    # listeners.tls.use_identity_as_username: the verified certificate's CN is the user name
    # (here it picks the client type), the certificate is the credential (the password file is
    # not asked, a CONNECT's user name and password are replaced), a certificate without a CN
    # is refused 0x87; the plain listener still checks passwords.
    from test_auth import passwd
    pw = tmp_path / "passwd"
    passwd(pw, "alice", "secret", create=True)
    rules = '[{field: username, kind: exact, pattern: "device-1", type: application}]'
    b = broker_factory(*tls_args(pki, "--set", f"listeners.tls.ca_file={pki['ca']}",
                                 "--set", "listeners.tls.require_client_cert=true",
                                 "--set", "listeners.tls.use_identity_as_username=true",
                                 "--set", f"auth.password_file={pw}",
                                 "--set", "auth.allow_anonymous=false",
                                 "--set", f"session.client_type_rules={rules}"))
    b.wait_log(r"broker listens for MQTT over TLS on \S+ \(min tls1\.2, client certificates "
               r"required, CN as user name\)")
    ep = TlsEndpoint(b)
    cid = uid("cn")
    c = TlsClient(ep, pki["ca"], V5, client_id=cid, certfile=pki["client_cert"],
                  keyfile=pki["client_key"], auto_connect=False)
    c.c.username_pw_set("mallory", "wrong")  # replaced by the certificate's CN
    c.connect()
    b.wait_log(rf"client {cid} connected from \S+ \(MQTT 5\.0, APPLICATION,")
    topic = f"tls/cn/{uid('t')}"
    assert c.subscribe(topic, qos=1) == [1]
    r = mosq_pub(ep, pki, V311, topic, ["hello"],
                 extra=("--cert", str(pki["client_cert"]), "--key", str(pki["client_key"])))
    assert r.returncode == 0, r.stderr.decode()
    assert c.get_n(1)[0].payload == b"hello"
    c.disconnect()

    # A certificate from the CA without a CN: verified, but it names no user.
    d = pki["dir"]
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "nocn.key", "-out", "nocn.csr",
            "-subj", "/O=no common name", cwd=d)
    (d / "nocn.ext").write_text("extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", "nocn.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "nocn.pem", "-days", "2", "-extfile", "nocn.ext", cwd=d)
    n = TlsClient(ep, pki["ca"], V5, certfile=d / "nocn.pem", keyfile=d / "nocn.key",
                  auto_connect=False)
    ack = n.connect()
    assert getattr(ack[1], "value", ack[1]) == 0x87
    b.wait_log(r"refused from \S+: its certificate names no user")

    # The plain listener: no certificate, so the password file decides.
    plain = Client(b, V5, auto_connect=False)
    ack = plain.connect()
    assert getattr(ack[1], "value", ack[1]) == 0x87
    ok = Client(b, V5, auto_connect=False)
    ok.c.username_pw_set("alice", "secret")
    assert getattr(ok.connect()[1], "value", 0) == 0
    ok.disconnect()
    assert b.alive()


def make_crl(pki, tmp_path, revoked):
    """A CRL of the test CA revoking the certificates `revoked` (openssl ca), written to
    tmp_path/crl.pem."""
    d = tmp_path / "crl-ca"
    if d.exists():
        import shutil
        shutil.rmtree(d)
    d.mkdir()
    (d / "index.txt").write_text("")
    (d / "crlnumber").write_text("01\n")
    (d / "ca.cnf").write_text("[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = index.txt\n"
                              "crlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n"
                              f"certificate = {pki['ca']}\nprivate_key = {pki['dir'] / 'ca.key'}\n")
    for cert in revoked:
        openssl("ca", "-config", "ca.cnf", "-revoke", str(cert), cwd=d)
    openssl("ca", "-config", "ca.cnf", "-gencrl", "-out", str(tmp_path / "crl.pem"), cwd=d)
    return tmp_path / "crl.pem"


def test_revoked_client_certificates_are_refused(broker_factory, pki, tmp_path):
    # listeners.tls.crl_file: a certificate the CA revoked fails the handshake; a renewed CRL is
    # read on SIGHUP; a bad CRL file stops the broker at start.
    import signal
    other_cert, other_key = make_cert(pki["dir"], f"device-{uid('d')}", "ca", "device-3",
                                      server=False)
    crl = make_crl(pki, tmp_path, [other_cert])
    b = broker_factory(*tls_args(pki, "--set", f"listeners.tls.ca_file={pki['ca']}",
                                 "--set", "listeners.tls.require_client_cert=true",
                                 "--set", f"listeners.tls.crl_file={crl}"))
    ep = TlsEndpoint(b)
    topic = f"tls/crl/{uid('t')}"
    good = ("--cert", str(pki["client_cert"]), "--key", str(pki["client_key"]))
    revoked = ("--cert", str(other_cert), "--key", str(other_key))
    r = mosq_pub(ep, pki, V5, topic, ["x"], extra=good)
    assert r.returncode == 0, r.stderr.decode()
    r = mosq_pub(ep, pki, V5, topic, ["x"], extra=revoked)
    assert r.returncode != 0, "a revoked certificate got in"
    wait_until(lambda: tm.val(tm.scrape(b), "actormq_tls_handshake_failures_total") >= 1,
               what="the refused handshake counted")
    # The CA revokes the other certificate too; SIGHUP reads the new CRL.
    make_crl(pki, tmp_path, [other_cert, pki["client_cert"]])
    b.proc.send_signal(signal.SIGHUP)
    b.wait_log(r"listeners\.tls: certificate reloaded from .*, CRL ")
    r = mosq_pub(ep, pki, V5, topic, ["x"], extra=good)
    assert r.returncode != 0, "revoked after the reload, yet it got in"
    assert b.alive()
    junk = tmp_path / "junk-crl.pem"
    junk.write_text("not a CRL\n")
    for args, expect in (((f"listeners.tls.ca_file={pki['ca']}", f"listeners.tls.crl_file={junk}"),
                          f"crl_file {junk}: not a usable PEM certificate revocation list"),
                         ((f"listeners.tls.crl_file={crl}",), "crl_file needs ca_file")):
        sets = [x for a in args for x in ("--set", a)]
        code, out = run_broker(tmp_path, *tls_args(pki, *sets))
        assert code == 1, out
        assert f"broker cannot start: listeners.tls: {expect}" in out, out


def test_cipher_options_limit_what_clients_get(broker_factory, pki, tmp_path):
    b = broker_factory(*tls_args(pki, "--set", "listeners.tls.ciphers=ECDHE-RSA-AES128-GCM-SHA256",
                                 "--set", "listeners.tls.ciphersuites=TLS_AES_256_GCM_SHA384"))
    ep = TlsEndpoint(b)

    def handshake(version, cipher=None):
        ctx = ssl.create_default_context(cafile=str(pki["ca"]))
        ctx.minimum_version = ctx.maximum_version = version
        if cipher:
            ctx.set_ciphers(cipher)
        with socket.create_connection((ep.host, ep.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return s.cipher()[0]

    assert handshake(ssl.TLSVersion.TLSv1_3) == "TLS_AES_256_GCM_SHA384"
    assert handshake(ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384") \
        == "ECDHE-RSA-AES128-GCM-SHA256"
    with pytest.raises(ssl.SSLError):
        handshake(ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES256-GCM-SHA384")  # none in common
    # A real client with its defaults still gets in.
    r = mosq_pub(ep, pki, V5, f"tls/c/{uid('t')}", ["x"])
    assert r.returncode == 0, r.stderr.decode()
    assert b.alive()
    code, out = run_broker(tmp_path, *tls_args(pki, "--set", "listeners.tls.ciphers=NO-SUCH"))
    assert code == 1, out
    assert "broker cannot start: listeners.tls: ciphers 'NO-SUCH': no cipher OpenSSL knows" in out


def test_cn_as_user_name_needs_client_certificates(tmp_path, pki):
    code, out = run_broker(tmp_path, *tls_args(pki, "--set",
                                               "listeners.tls.use_identity_as_username=true"))
    assert code == 1, out
    assert ("broker cannot start: listeners.tls: use_identity_as_username needs "
            "require_client_cert") in out, out


def run_broker(tmp_path, *args):
    r = subprocess.run(
        [BROKER_BIN, "--bind", "127.0.0.1", "--port", str(free_port()), "--data-dir",
         str(tmp_path / "data"), "--set", "admin.enabled=false", *args],
        capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode() + r.stderr.decode()


def test_bad_certificate_or_key_stops_the_broker(tmp_path, pki):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    missing = tmp_path / "missing.pem"
    cases = [
        (missing, pki["key"], f"cert_file {missing}: cannot open: No such file"),
        (junk, pki["key"], f"cert_file {junk}: not a usable PEM certificate"),
        (pki["cert"], missing, f"key_file {missing}: cannot open: No such file"),
        (pki["cert"], pki["client_key"],
         f"key_file {pki['client_key']}: not a usable PEM private key for the certificate "
         "(OpenSSL: key values mismatch)"),
    ]
    for cert, key, expect in cases:
        code, out = run_broker(tmp_path, "--set", "listeners.tls.enabled=true",
                               "--set", "listeners.tls.port=0",
                               "--set", f"listeners.tls.cert_file={cert}",
                               "--set", f"listeners.tls.key_file={key}")
        assert code == 1, out
        assert f"broker cannot start: listeners.tls: {expect}" in out, out
        assert "listens for MQTT" not in out
    code, out = run_broker(tmp_path, "--set", "listeners.mqtt.enabled=false")
    assert code == 1 and "no listener" in out, out
