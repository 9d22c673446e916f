"""Admin HTTP API end to end: the real broker with admin.port=0, real MQTT
clients (paho, mosquitto_sub), HTTP with urllib. Reference: docs/admin-api.md."""

import base64
import http.client
import json
import socket
import urllib.parse

import pytest

import mqtt_raw  # noqa: F401
from mqtt_raw import DISCONNECT, RawClient
from conftest import V311, V5, SubscribeOptions, TIMEOUT, mosquitto_pub, uid, wait_until

TOKEN = "t0k-" + "x" * 12
USER, PASSWORD = "ops", "pw:with:colons"
ARGS = ("--set", f"admin.token={TOKEN}", "--set", f"admin.username={USER}",
        "--set", f"admin.password={PASSWORD}")
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def call(broker, method, path, headers=BEARER, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", broker.admin_port(), timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        r = conn.getresponse()
        data = r.read()
        ctype = r.getheader("Content-Type", "")
        return r.status, (json.loads(data) if "json" in ctype else data), r
    finally:
        conn.close()


def sessions(broker, query=""):
    st, body, _ = call(broker, "GET", "/api/v1/sessions" + query)
    assert st == 200, body
    return body


def ids(page):
    return [i["client_id"] for i in page["items"]]


@pytest.mark.broker_args(*ARGS)
def test_auth(broker):
    st, body, r = call(broker, "GET", "/api/v1/status", headers=None)
    assert st == 401 and "error" in body and r.getheader("WWW-Authenticate")
    assert call(broker, "GET", "/api/v1/status", headers={"Authorization": "Bearer nope"})[0] == 401
    bad_basic = {"Authorization": "Basic " + base64.b64encode(b"ops:wrong").decode()}
    assert call(broker, "GET", "/api/v1/sessions", headers=bad_basic)[0] == 401
    assert call(broker, "GET", "/api/v1/status", headers={"Authorization": "Basic !!!"})[0] == 401
    st, body, _ = call(broker, "GET", "/api/v1/status", headers=BEARER)
    assert st == 200 and body["node"] and body["version"]
    assert call(broker, "GET", "/api/v1/status", headers=BASIC)[0] == 200


@pytest.mark.broker_args(*ARGS)
def test_list_filter_detail(broker, clients, mosq_subs):
    p = uid("pers")
    c5 = clients(broker, V5, client_id=p, clean=False, session_expiry=3600)
    c5.subscribe("fw/+", qos=2, options=SubscribeOptions(qos=2, noLocal=True, retainAsPublished=True,
                                                         retainHandling=2), sub_id=7)
    c5.subscribe("cmd/#", qos=1)
    live = uid("clean")
    c3 = clients(broker, V311, client_id=live, clean=True)
    c3.subscribe("x/y", qos=0)
    mosq_id = uid("mosq")
    ms = mosq_subs(broker, V311, ["m/#"], qos=1, client_id=mosq_id, persistent=True)
    ms.wait_subscribed()
    c5.disconnect()
    wait_until(lambda: not sessions(broker, f"?client_id={p}")["items"][0]["connected"],
               what="disconnected in the directory")

    page = sessions(broker)
    assert page["totals"]["sessions"] == 3 and page["totals"]["connected"] == 2
    assert page["totals"]["disconnected"] == 1 and page["next_cursor"] is None
    assert ids(page) == sorted(ids(page))
    assert ids(sessions(broker, "?connected=false")) == [p]
    assert ids(sessions(broker, "?persistent=false")) == [live]
    assert sessions(broker, "?persistent=false")["matching"] == 1
    assert set(ids(sessions(broker, "?connected=true&persistent=true"))) == {mosq_id}
    assert ids(sessions(broker, f"?client_id={live[3:]}")) == [live]
    assert ids(sessions(broker, "?min_subscriptions=2")) == [p]
    assert len(sessions(broker, "?client_ip=127.0.0.")["items"]) == 3
    assert sessions(broker, "?client_ip=10.")["items"] == []
    assert sessions(broker, "?node=no-such-node")["items"] == []
    by_subs = ids(sessions(broker, "?sort=subscriptions&order=desc"))
    assert by_subs[0] == p
    # Paging with a cursor: one by one, every session exactly once.
    seen, cursor = [], ""
    for _ in range(5):
        pg = sessions(broker, "?limit=1" + (f"&cursor={cursor}" if cursor else ""))
        seen += ids(pg)
        cursor = pg["next_cursor"]
        if not cursor:
            break
    assert seen == ids(page)

    st, d, _ = call(broker, "GET", "/api/v1/sessions/" + urllib.parse.quote(p, safe=""))
    assert st == 200
    assert d["persistent"] and not d["connected"] and d["protocol_version"] == "5.0"
    assert d["session_expiry_interval"] == 3600 and d["expires_at"] > d["disconnected_at"]
    subs = {s["filter"]: s for s in d["subscriptions"]}
    assert subs["fw/+"] == {"filter": "fw/+", "qos": 2, "no_local": True, "retain_as_published": True,
                            "retain_handling": 2, "subscription_id": 7}
    assert subs["cmd/#"]["qos"] == 1 and subs["cmd/#"]["subscription_id"] is None
    st, d, _ = call(broker, "GET", f"/api/v1/sessions/{live}", headers=BASIC)
    assert st == 200 and d["connected"] and d["protocol_version"] == "3.1.1"
    assert d["client_address"].startswith("127.0.0.1:") and d["type"] == "DEVICE"
    assert d["keep_alive"] == 30


@pytest.mark.broker_args(*ARGS)
def test_disconnect_sends_0x98(broker):
    cid = uid("kick")
    c = RawClient(broker.host, broker.port, V5)
    c.connect(cid, clean=False, properties={"session_expiry_interval": 600})
    st, body, _ = call(broker, "POST", f"/api/v1/sessions/{cid}/disconnect")
    assert st == 200 and body["disconnected"]
    assert c.recv_type(DISCONNECT).code == 0x98
    wait_until(lambda: not sessions(broker, f"?client_id={cid}")["items"][0]["connected"],
               what="disconnected")
    assert call(broker, "POST", f"/api/v1/sessions/{cid}/disconnect")[0] == 409
    assert call(broker, "POST", "/api/v1/sessions/nobody/disconnect")[0] == 404
    assert call(broker, "GET", f"/api/v1/sessions/{cid}/disconnect")[0] == 405


@pytest.mark.broker_args(*ARGS)
def test_clear_removes_persistent_session(broker, clients):
    cid = uid("clr")
    c = clients(broker, V311, client_id=cid, clean=False)
    c.subscribe("clr/t", qos=1)
    assert call(broker, "DELETE", f"/api/v1/sessions/{cid}")[0] == 409  # connected
    c.disconnect()
    mosquitto_pub(broker, V311, "clr/t", "queued", qos=1)
    wait_until(lambda: call(broker, "GET", f"/api/v1/sessions/{cid}")[1]["queue_depth"] == 1,
               what="message queued for the offline session")
    st, body, _ = call(broker, "DELETE", f"/api/v1/sessions/{cid}")
    assert st == 200 and body["cleared"]
    assert call(broker, "GET", f"/api/v1/sessions/{cid}")[0] == 404
    assert call(broker, "DELETE", f"/api/v1/sessions/{cid}")[0] == 404
    again = clients(broker, V311, client_id=cid, clean=False)
    assert again.session_present is False
    again.subscribe("sync/x")  # queued messages would come before this SUBACK
    assert again.drained() == []
    # force=true on a connected session: disconnected, then cleared.
    st, body, _ = call(broker, "DELETE", f"/api/v1/sessions/{cid}?force=true")
    assert st == 200
    again.wait_disconnected()


@pytest.mark.broker_args(*ARGS)
def test_retained_and_status(broker):
    mosquitto_pub(broker, V5, "ret/a", "one", qos=1, retain=True)
    mosquitto_pub(broker, V5, "ret/b", "two", qos=1, retain=True)
    mosquitto_pub(broker, V5, "other", "x", qos=1, retain=True)
    st, body, _ = call(broker, "GET", "/api/v1/retained?topic_prefix=ret/&limit=1")
    assert st == 200 and body["total"] >= 3  # the broker's own $SYS topics may be retained too
    assert [i["topic"] for i in body["items"]] == ["ret/a"] and body["items"][0]["payload_preview"] == "one"
    st, body2, _ = call(broker, "GET", "/api/v1/retained?topic_prefix=ret/&limit=1&cursor="
                        + body["next_cursor"])
    assert [i["topic"] for i in body2["items"]] == ["ret/b"] and body2["next_cursor"] is None
    assert call(broker, "DELETE", "/api/v1/retained?topic=ret%2Fa")[0] == 200
    assert call(broker, "DELETE", "/api/v1/retained?topic=ret%2Fa")[0] == 404
    assert call(broker, "DELETE", "/api/v1/retained?topic=ret%2F%2B")[0] == 400
    st, body, _ = call(broker, "GET", "/api/v1/retained?topic_prefix=ret/")
    assert [i["topic"] for i in body["items"]] == ["ret/b"]
    st, body, _ = call(broker, "GET", "/api/v1/status")
    assert st == 200 and body["retained"] >= 2 and body["uptime_s"] >= 0


@pytest.mark.broker_args(*ARGS)
def test_errors(broker):
    for q, name in [("?limit=0", "limit"), ("?limit=x", "limit"), ("?sort=foo", "sort"),
                    ("?order=up", "order"), ("?connected=maybe", "connected"),
                    ("?type=PHONE", "type"), ("?bogus=1", "bogus"), ("?cursor=zzz", "cursor"),
                    ("?min_subscriptions=-1", "min_subscriptions"), ("?client_id=%zz", "client_id"),
                    ("?limit=1&limit=2", "limit")]:
        st, body, _ = call(broker, "GET", "/api/v1/sessions" + q)
        assert st == 400 and body["error"].startswith(name), (q, body)
    # a cursor of another sort order
    cur = "v1.0.a.0.61"
    assert call(broker, "GET", f"/api/v1/sessions?sort=subscriptions&cursor={cur}")[0] == 400
    assert call(broker, "GET", "/api/v1/sessions/%zz")[0] == 400
    assert call(broker, "GET", "/api/v1/nothing")[0] == 404
    assert call(broker, "GET", "/api/v1/sessions/nobody")[0] == 404
    st, _, r = call(broker, "PUT", "/api/v1/sessions")
    assert st == 405 and "GET" in r.getheader("Allow")
    with socket.create_connection(("127.0.0.1", broker.admin_port()), timeout=TIMEOUT) as s:
        s.sendall(b"POST /api/v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 413")


@pytest.mark.broker_args(*ARGS)
def test_garbage_never_crashes(broker):
    port = broker.admin_port()
    garbage = [b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
               b"GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
               b"GET /api/v1/sessions?cursor=v1.9.a.0.zz HTTP/1.1\r\nHost: x\r\n\r\n",
               b"POST /api/v1/status HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
               b"POST /api/v1/status HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
               b"GET /%%%%%/../../etc/passwd HTTP/1.1\r\n\r\n",
               b"GET /api/v1/sessions/%ff%fe%00 HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode()
               + b"\r\n\r\n",
               b"\xff" * 5000]
    for g in garbage:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            try:
                s.sendall(g)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            except OSError:
                pass
    assert broker.alive()
    assert call(broker, "GET", "/api/v1/status")[0] == 200
