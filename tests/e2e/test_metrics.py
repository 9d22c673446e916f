"""Metrics end to end: the real broker with the admin server and $SYS every second;
real clients; GET /metrics checked with a strict parser of the Prometheus text format
0.0.4, and its counters checked to move by exactly what the clients did; $SYS topics
seen by a $SYS/# subscriber and never by a # subscriber (docs/metrics.md)."""

import math
import re
import urllib.request

import pytest

from conftest import V5, V311, uid, wait_until, sync

SYS_ARGS = ("--set", "sys.interval_s=1")

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)(?: (-?\d+))?$")
LABEL_PAIR = re.compile(rf'({LABEL})="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_prometheus(text):
    """Strict parse of the text format: returns {(name, frozenset(labels)): value}.
    Fails on anything promtool would refuse, and on our own rules (HELP and TYPE for
    every family, counters end in _total, families contiguous, histograms cumulative)."""
    assert text.endswith("\n"), "page must end with a newline"
    types, helps, series = {}, {}, {}
    closed, current = set(), None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if not line:
            continue
        if line.startswith("#"):
            m = re.match(rf"^# (HELP|TYPE) ({NAME}) ?(.*)$", line)
            if not m:
                continue  # a plain comment
            kind, name, arg = m.groups()
            if kind == "HELP":
                assert name not in helps, f"line {n}: second HELP for {name}"
                assert not re.search(r"\\[^\\n]", arg), f"line {n}: bad escape in HELP"
                helps[name] = arg
            else:
                assert name not in types, f"line {n}: second TYPE for {name}"
                assert arg in ("counter", "gauge", "histogram", "summary", "untyped"), line
                if arg == "counter":
                    assert name.endswith("_total"), f"counter {name} must end in _total"
                types[name] = arg
            continue
        m = SAMPLE.match(line)
        assert m, f"line {n}: not a sample: {line!r}"
        name, labels_text, value, _ = m.groups()
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL_PAIR.match(labels_text, pos)
                assert lm, f"line {n}: bad label set {labels_text!r}"
                assert lm.group(1) not in labels, f"line {n}: label twice"
                labels[lm.group(1)] = (lm.group(2).replace("\\n", "\n").replace('\\"', '"')
                                       .replace("\\\\", "\\"))
                pos = lm.end()
        v = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(value)
        if v is None:
            assert re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", value), \
                f"line {n}: bad value {value!r}"
            v = float(value)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and types.get(base) == "histogram":
                family = base
        assert family in types, f"line {n}: {name} has no TYPE"
        assert family in helps, f"line {n}: {name} has no HELP"
        if family != current:
            assert family not in closed, f"line {n}: samples of {family} not contiguous"
            if current:
                closed.add(current)
            current = family
        key = (name, frozenset(labels.items()))
        assert key not in series, f"line {n}: duplicate series {key}"
        series[key] = v
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for (name, labels), v in series.items():
            if name == fam + "_bucket":
                rest = frozenset(kv for kv in labels if kv[0] != "le")
                le = dict(labels)["le"]
                groups.setdefault(rest, []).append((float(le.replace("+Inf", "inf")), v))
        for rest, buckets in groups.items():
            buckets.sort()
            values = [v for _, v in buckets]
            assert values == sorted(values), f"{fam}: buckets not cumulative"
            assert math.isinf(buckets[-1][0]), f"{fam}: no +Inf bucket"
            assert series[(fam + "_count", rest)] == values[-1], f"{fam}: +Inf != _count"
            assert (fam + "_sum", rest) in series, f"{fam}: no _sum"
    return series


def scrape(broker):
    url = f"http://127.0.0.1:{broker.admin_port()}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse_prometheus(r.read().decode())


def val(series, name, **labels):
    return series.get((name, frozenset(labels.items())), 0.0)


def test_parser_refuses_broken_pages():
    # so that passing pages below mean something
    for bad in ["# HELP a_total x\n# TYPE a_total counter\na_total{x=\"\\q\"} 1\n",
                "# HELP a x\n# TYPE a counter\na 1\n",
                "# HELP a x\n# TYPE a gauge\na one\n",
                "a 1\n",
                "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na{l=\"1\"} 1\n"]:
        with pytest.raises(AssertionError):
            parse_prometheus(bad)


@pytest.mark.broker_args(*SYS_ARGS)
def test_counters_move_by_exactly_what_clients_did(broker, clients):
    # The fixture's readiness probe (a bare TCP connect) is counted as accepted when
    # the broker gets to it, which may be after a first scrape: wait for it, so that
    # the baseline holds every connection made before this test's clients.
    before = wait_until(lambda: (lambda s: s if val(s, "actormq_connections_accepted_total") >= 1
                                 else None)(scrape(broker)), what="readiness probe counted")
    a = clients(broker, V5)                                   # clean, QoS 1
    b = clients(broker, V311, clean=False)                    # persistent, QoS 1
    c = clients(broker, V5, connect_props={"MaximumPacketSize": 64})  # clean, QoS 0, small
    pub = clients(broker, V5)   # (the clients connect when made)
    t = uid("m")
    assert a.subscribe(f"{t}/#", qos=1) == [1]
    assert b.subscribe(f"{t}/#", qos=1) == [1]
    assert c.subscribe(f"{t}/#", qos=0) == [0]

    s = wait_until(lambda: (lambda s: s if val(s, "actormq_sessions", state="connected",
                                               persistence="persistent", client_type="device")
                            - val(before, "actormq_sessions", state="connected",
                                  persistence="persistent", client_type="device") == 1
                            and val(s, "actormq_sessions", state="connected",
                                    persistence="clean", client_type="device")
                            - val(before, "actormq_sessions", state="connected",
                                  persistence="clean", client_type="device") == 3
                            else None)(scrape(broker)), what="sessions by kind")
    assert val(s, "actormq_connections_accepted_total") - \
        val(before, "actormq_connections_accepted_total") == 4
    assert val(s, "actormq_subscriptions") - val(before, "actormq_subscriptions") == 3

    for i in range(10):
        pub.publish(f"{t}/q1", f"q1-{i}", qos=1)
    for i in range(5):
        pub.publish(f"{t}/q0", f"q0-{i}", qos=0)
    pub.publish(f"{t}/big", b"x" * 200, qos=0)          # too large for c (64 bytes)
    pub.publish("$SYS/broker/uptime", "forged", qos=0)   # refused: $SYS is the broker's
    got_c = sync(pub, c, f"{t}/marker")                  # QoS 1 marker, delivered at QoS 0
    assert [m.payload for m in got_c] == \
        [f"q1-{i}".encode() for i in range(10)] + [f"q0-{i}".encode() for i in range(5)]
    for x in (a, b):
        got = x.get_n(17)
        assert got[15].payload == b"x" * 200

    after = scrape(broker)
    d = lambda name, **l: val(after, name, **l) - val(before, name, **l)
    assert d("actormq_messages_received_total", qos="1") == 11   # 10 + marker
    assert d("actormq_messages_received_total", qos="0") == 7    # 5 + big + $SYS
    assert d("actormq_messages_received_total", qos="2") == 0
    assert d("actormq_messages_sent_total", qos="1") == 22       # a and b: 11 each
    assert d("actormq_messages_sent_total", qos="0") == 28       # a, b: 6 each; c: 16
    assert d("actormq_messages_dropped_total", reason="too_large") == 1
    assert d("actormq_messages_dropped_total", reason="sys_topic_denied") == 1
    assert d("actormq_bytes_received_total") > 200 + 10 * 4
    assert d("actormq_bytes_sent_total") > 2 * 200

    # a CONNECT the broker refuses (enhanced authentication is not offered)
    r = clients(broker, V5, connect_props={"AuthenticationMethod": "SCRAM-SHA-1"},
                auto_connect=False)
    ack = r.connect()
    assert getattr(ack[1], "value", ack[1]) == 0x8C
    # b leaves: its session stays, disconnected
    b.disconnect()
    wait_until(lambda: (lambda s: val(s, "actormq_connections_rejected_total",
                                      reason="bad_authentication_method", code="0x8C")
                        - val(before, "actormq_connections_rejected_total",
                              reason="bad_authentication_method", code="0x8C") == 1
                        and val(s, "actormq_sessions", state="disconnected",
                                persistence="persistent", client_type="device")
                        - val(before, "actormq_sessions", state="disconnected",
                              persistence="persistent", client_type="device") == 1
                        and val(s, "actormq_disconnects_total", reason="normal_disconnection",
                                code="0x00")
                        - val(before, "actormq_disconnects_total", reason="normal_disconnection",
                              code="0x00") == 1)(scrape(broker)),
               what="rejection, disconnected persistent session, normal disconnection")
    s = scrape(broker)
    assert val(s, "actormq_process_resident_memory_bytes") > 1 << 20
    assert val(s, "actormq_process_open_fds") > 0
    assert val(s, "actormq_uptime_seconds") > 0


@pytest.mark.broker_args(*SYS_ARGS)
def test_sys_topics_for_sys_subscribers_only(broker, clients):
    d = clients(broker, V5)
    e = clients(broker, V5)
    pub = clients(broker, V5)
    marker_topic = uid("mark")
    d.subscribe("$SYS/#", qos=0)
    d.subscribe(marker_topic, qos=1)
    e.subscribe("#", qos=0)
    pub.publish(uid("t"), "hello", qos=1)
    pub.publish("$SYS/broker/version", "forged", qos=1, retain=True)

    values = {}

    def seen(pred):
        while True:
            try:
                m = d.messages.get_nowait()
            except Exception:
                return pred()
            assert m.payload != b"forged", "a client's $SYS publish reached a subscriber"
            if m.topic.startswith("$SYS/"):
                values[m.topic] = m.payload.decode()

    # the retained values arrive at once; the next publications within a few seconds
    wait_until(lambda: seen(lambda: int(values.get("$SYS/broker/clients/connected", 0)) >= 3
                            and int(values.get("$SYS/broker/publish/messages/received", 0)) >= 2),
               timeout=10, what="$SYS values after the clients connected and published")
    assert values["$SYS/broker/version"].startswith("actormq ")
    assert re.fullmatch(r"\d+ seconds", values["$SYS/broker/uptime"])
    for k in ("clients/total", "clients/maximum", "clients/disconnected", "messages/received",
              "messages/sent", "publish/messages/sent", "bytes/received", "bytes/sent",
              "subscriptions/count", "retained messages/count", "store/messages/count"):
        assert re.fullmatch(r"\d+", values[f"$SYS/broker/{k}"]), k
    for w in ("1min", "5min", "15min"):
        for dirn in ("received", "sent"):
            assert re.fullmatch(r"\d+\.\d\d", values[f"$SYS/broker/load/messages/{dirn}/{w}"])
    assert int(values["$SYS/broker/clients/total"]) >= int(values["$SYS/broker/clients/connected"])
    assert int(values["$SYS/broker/clients/maximum"]) >= 3
    assert int(values["$SYS/broker/subscriptions/count"]) >= 3
    assert int(values["$SYS/broker/bytes/received"]) > 0

    # the forged publish never reached d: a marker from the same publisher comes after it
    pub.publish(marker_topic, "after-forged", qos=1)
    before_marker = d.get_until("after-forged")
    assert all(m.payload != b"forged" for m in before_marker)

    # e (subscribed to #) gets no $ topic: a $SYS publication after its subscription has
    # reached d, and a marker routed after it reaches e behind anything routed before it
    up = values["$SYS/broker/uptime"]
    wait_until(lambda: seen(lambda: values["$SYS/broker/uptime"] != up), timeout=10,
               what="a $SYS publication after e subscribed")
    got = sync(pub, e, uid("marker"))
    assert not [m.topic for m in got if m.topic.startswith("$")]

    s = scrape(broker)
    assert val(s, "actormq_messages_dropped_total", reason="sys_topic_denied") >= 1
