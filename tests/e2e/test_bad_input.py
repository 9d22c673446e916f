"""Bad input on raw sockets (hand-written bytes), MQTT 3.1.1 and 5.0.

For every case the broker must answer as the spec says (5.0: DISCONNECT with
the reason code, §4.13; 3.1.1: close the connection, §4.8) — and stay up, with
an already connected client still publishing and receiving afterwards (the
`bystander` check), and exit 0 with a clean log at the end (fixture teardown).
"""

import socket
import struct
import time

import pytest

import mqtt_raw
from mqtt_raw import (CONNACK, DISCONNECT, PUBCOMP, PUBLISH, PUBREL, SUBSCRIBE, RawClient,
                      mqtt_str, packet, u16, varint)
from conftest import V311, V5, VERSIONS, uid


class Bystander:
    """A subscriber and a publisher connected before the bad input."""

    def __init__(self, broker, clients, version):
        self.broker = broker
        self.topic = uid("by")
        self.sub = clients(broker, version)
        self.sub.subscribe(self.topic, qos=1)
        self.pub = clients(broker, version)
        self.n = 0

    def check(self):
        assert self.broker.alive(), "broker died"
        self.n += 1
        payload = f"still-working-{self.n}"
        self.pub.publish(self.topic, payload, qos=1)
        assert self.sub.get().payload == payload.encode()
        # A brand-new connection is accepted too.
        c = RawClient(self.broker.host, self.broker.port, V5)
        c.connect(uid("fresh"))
        c.close()


@pytest.fixture
def bystander(broker, clients):
    return Bystander(broker, clients, V5)


def raw(broker, version):
    return RawClient(broker.host, broker.port, version)


def connected(broker, version):
    c = raw(broker, version)
    c.connect(uid("bad"))
    return c


def assert_rejected(c, version, code):
    """5.0: exactly one DISCONNECT with `code`, then close; 3.1.1: close, no packet."""
    got = c.expect_close()
    if version == V5:
        assert [(p.type, p.code) for p in got] == [(DISCONNECT, code)], \
            f"want DISCONNECT {code:#x}, got {got}"
    else:
        assert got == [], f"3.1.1 closes without a packet; got {got}"


# -- before and around CONNECT -------------------------------------------------------------

@pytest.mark.parametrize("first", [
    pytest.param(mqtt_raw.pingreq(), id="pingreq"),
    pytest.param(mqtt_raw.publish("t", b"x", version=V311), id="publish"),
    pytest.param(mqtt_raw.subscribe(1, [("t", 0)], V311), id="subscribe"),
    pytest.param(mqtt_raw.disconnect(V311), id="disconnect"),
])
def test_first_packet_not_connect_closes(broker, bystander, first):
    c = raw(broker, V311)
    c.send(first)
    assert c.expect_close() == [], "no packet may be sent before CONNECT"
    bystander.check()


def test_garbage_before_connect_closes(broker, bystander):
    # 'G' = 0x47 reads as a PUBACK header announcing 69 bytes: the first byte
    # already shows this is no CONNECT, so the broker must not wait for more.
    c = raw(broker, V5)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.expect_close(timeout=2) == []
    bystander.check()


@pytest.mark.broker_args("--set", "limits.connect_timeout_ms=500")
def test_connection_without_connect_is_closed_after_the_connect_timeout(broker, bystander):
    # MQTT 3.1.4: a server SHOULD close a connection that sends no CONNECT in a
    # reasonable time. A client that opens a socket and stays silent must not
    # hold it for ever.
    c = raw(broker, V5)
    assert c.expect_close(timeout=5) == []
    assert "no CONNECT within the connect timeout" in broker.log()
    bystander.check()


@pytest.mark.parametrize("version", VERSIONS)
def test_second_connect_closes(broker, bystander, version):
    # [MQTT-3.1.0-2] close; no DISCONNECT in 5.0 either: §4.13.1 wants one for
    # errors in packets other than CONNECT (see session_machine.cpp).
    c = connected(broker, version)
    c.send(mqtt_raw.connect(uid("again"), version))
    assert c.expect_close() == []
    bystander.check()


@pytest.mark.parametrize("level,name", [(6, "MQTT"), (3, "MQTT"), (3, "MQIsdp"), (0, "MQTT"),
                                        (255, "MQTT")])
def test_unsupported_protocol_level(broker, bystander, level, name):
    # 3.1.1 §3.1.2.2: CONNACK 0x01 then close; 5.0 §3.1.2.2: MAY CONNACK 0x84
    # then MUST close.
    c = raw(broker, V311)
    var = mqtt_str(name) + bytes([level, 0x02]) + u16(30)
    c.send(packet(1, 0, var + mqtt_str(uid("lvl"))))
    got = c.expect_close()
    assert len(got) == 1 and got[0].type == CONNACK, got
    assert got[0].body in (b"\x00\x01", b"\x00\x84\x00"), \
        f"CONNACK body {got[0].body.hex()}: want 3.1.1 code 0x01 or 5.0 code 0x84"
    bystander.check()


def test_wrong_protocol_name_closes(broker, bystander):
    c = raw(broker, V311)
    var = mqtt_str("MQTX") + bytes([4, 0x02]) + u16(30)
    c.send(packet(1, 0, var + mqtt_str(uid("name"))))
    got = c.expect_close()
    # 3.1.1 §3.1.2.1: MAY close without CONNACK; 5.0: MAY send CONNACK 0x84.
    assert all(p.type == CONNACK and p.body[1] in (0x01, 0x84) for p in got), got
    bystander.check()


def test_v311_empty_client_id_with_clean_session_0_refused(broker, bystander):
    # 3.1.1 §3.1.3.1 [MQTT-3.1.3-8]: CONNACK 0x02 (identifier rejected), close.
    c = raw(broker, V311)
    c.send(mqtt_raw.connect("", V311, clean=False))
    got = c.expect_close()
    assert [(p.type, p.body) for p in got] == [(CONNACK, b"\x00\x02")], got
    bystander.check()


def test_v311_empty_client_id_with_clean_session_1_accepted(broker, bystander):
    c = raw(broker, V311)
    c.connect("", clean=True)
    assert c.ping() == []
    bystander.check()


@pytest.mark.parametrize("version", VERSIONS)
def test_connect_reserved_flag_is_malformed(broker, bystander, version):
    # §3.1.2.3: the reserved CONNECT flag must be 0, else Malformed Packet.
    good = bytearray(mqtt_raw.connect(uid("rf"), version))
    good[9] |= 0x01  # fixed header (2) + "MQTT" (6) + level (1) -> connect flags
    c = raw(broker, version)
    c.send(bytes(good))
    got = c.expect_close()
    allowed = [(CONNACK, 0x81)] if version == V5 else []
    assert [(p.type, p.body[1]) for p in got] in ([], allowed), got
    bystander.check()


# -- malformed packets after CONNECT ----------------------------------------------------------

MALFORMED = {
    # Remaining Length with a fifth continuation byte (§1.5.5: at most 4 bytes).
    "remaining_length_5_bytes": lambda v: b"\x30\xff\xff\xff\xff\x7f",
    # PUBLISH whose topic length runs past the end of the packet.
    "truncated_topic": lambda v: packet(PUBLISH, 0, u16(50) + b"abc"),
    # QoS 1 PUBLISH too short to hold its packet identifier.
    "truncated_packet_id": lambda v: packet(PUBLISH, 2, mqtt_str("t") + b"\x00"),
    # SUBSCRIBE with reserved flags 0000 instead of 0010 (§3.8.1).
    "subscribe_reserved_flags": lambda v: packet(SUBSCRIBE, 0, mqtt_raw.subscribe(
        1, [("t", 0)], v)[2:]),
    # PUBREL with flags 0000 instead of 0010 (§3.6.1).
    "pubrel_reserved_flags": lambda v: packet(PUBREL, 0, u16(1)),
    # PUBLISH with QoS 3 (§3.3.1.2).
    "publish_qos_3": lambda v: b"\x36" + mqtt_raw.publish("t", b"x", qos=1, version=v)[1:],
    # Reserved packet type 0.
    "packet_type_0": lambda v: b"\x00\x00",
    # Subscription options with reserved bits 6-7 set (§3.8.3.1) in 5.0; the
    # requested QoS byte has reserved bits in 3.1.1 (§3.8.3.1 [MQTT-3-8.3-4]).
    "subscription_options_reserved_bits": lambda v: mqtt_raw.subscribe(1, [("t", 0xC0)], v),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_packet(broker, bystander, version, case):
    c = connected(broker, version)
    c.send(MALFORMED[case](version))
    assert_rejected(c, version, 0x81)
    bystander.check()


@pytest.mark.parametrize("version", VERSIONS)
def test_truncated_packet_then_close(broker, bystander, version):
    # Half a packet, then the client goes away: the broker just cleans up.
    c = connected(broker, version)
    c.send(mqtt_raw.publish("some/topic", b"x" * 100, version=version)[:20])
    c.abort()
    bystander.check()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("topic", [b"bad\xff\xfeutf8", b"nul\x00inside", b"\xed\xa0\x80surrogate"],
                         ids=["invalid_bytes", "nul", "surrogate"])
def test_invalid_utf8_in_topic_name(broker, bystander, version, topic):
    # §1.5.4: ill-formed UTF-8 or U+0000 in a string is a Malformed Packet.
    c = connected(broker, version)
    body = u16(len(topic)) + topic + (b"\x00" if version == V5 else b"") + b"payload"
    c.send(packet(PUBLISH, 0, body))
    assert_rejected(c, version, 0x81)
    bystander.check()


@pytest.mark.parametrize("version", VERSIONS)
def test_invalid_utf8_in_topic_filter(broker, bystander, version):
    c = connected(broker, version)
    body = u16(1) + (b"\x00" if version == V5 else b"") + u16(3) + b"a\xffb" + b"\x00"
    c.send(packet(SUBSCRIBE, 2, body))
    assert_rejected(c, version, 0x81)
    bystander.check()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("topic", ["a/+/b", "a/#", "#", "+"])
def test_wildcard_in_publish_topic(broker, bystander, version, topic):
    # §3.3.2.1: a Topic Name must not contain wildcards → 5.0 DISCONNECT 0x90.
    c = connected(broker, version)
    c.send(mqtt_raw.publish(topic, b"x", version=version))
    assert_rejected(c, version, 0x90)
    bystander.check()


@pytest.mark.parametrize("version", VERSIONS)
def test_invalid_topic_filter_gets_failure_in_suback(broker, bystander, version):
    # §4.7.1: "a/#/b", "a+" are invalid filters: SUBACK 0x80 (3.1.1) /
    # 0x8F Topic Filter invalid (5.0), the valid one beside them is granted.
    c = connected(broker, version)
    codes = c.subscribe([("a/#/b", 1), ("ok/+", 1), ("a+", 0)])
    bad = 0x8F if version == V5 else 0x80
    assert codes == [bad, 1, bad]
    assert c.ping() == []
    bystander.check()


@pytest.mark.parametrize("version", VERSIONS)
def test_pubrel_for_unknown_packet_id(broker, bystander, version):
    # 5.0 §3.7.2.1: PUBCOMP with 0x92 (Packet Identifier not found);
    # 3.1.1 §4.3.3: PUBCOMP. The connection stays up either way.
    c = connected(broker, version)
    c.send(mqtt_raw.ack(PUBREL, 4242, version))
    p = c.recv_type(PUBCOMP)
    assert p.packet_id == 4242
    if version == V5:
        assert p.code == 0x92
    assert c.ping() == []
    bystander.check()


@pytest.mark.broker_args("--set", "limits.max_packet_size=1024")
@pytest.mark.parametrize("version", VERSIONS)
def test_oversize_packet(broker, bystander, version):
    c = connected(broker, version)
    c.send(mqtt_raw.publish("big", b"x" * 2000, qos=0, version=version))
    assert_rejected(c, version, 0x95)
    bystander.check()


@pytest.mark.broker_args("--set", "limits.max_packet_size=1024")
@pytest.mark.parametrize("version", VERSIONS)
def test_oversize_announced_by_header_only(broker, bystander, version):
    # Only the fixed header of a 100 MB packet: rejected without waiting for it.
    c = connected(broker, version)
    c.send(b"\x30" + varint(100_000_000))
    assert_rejected(c, version, 0x95)
    bystander.check()


@pytest.mark.broker_args("--set", "limits.max_packet_size=1024")
def test_oversize_connect(broker, bystander):
    c = raw(broker, V5)
    c.send(mqtt_raw.connect(uid("big"), V5, properties={"user_property": [("k", "v" * 2000)]}))
    got = c.expect_close()
    assert [(p.type, p.body[1]) for p in got] in ([], [(CONNACK, 0x95)]), got
    bystander.check()


def test_many_bad_clients_in_a_row(broker, bystander):
    for i in range(30):
        c = raw(broker, V5 if i % 2 else V311)
        c.send(bytes([0x10 + (i % 16)]) + b"\xff" * (i % 7))
        c.abort()
    bystander.check()


# -- slow consumer ----------------------------------------------------------------------------

# Small write buffers so that the stuck client's connection is back-pressured
# early; pacing starts at max_queued_messages / 8 = 1000 queued messages.
SLOW_ARGS = ("--set", "limits.write_buffer_high_watermark=16384",
             "--set", "limits.write_buffer_low_watermark=8192")


# The router marks the stuck session a slow consumer after
# limits.slow_consumer_timeout_ms (2 s) of holding a publisher back
# (router.hpp), after which nobody waits for it.
@pytest.mark.broker_args(*SLOW_ARGS)
@pytest.mark.parametrize("qos", [0, 1])
def test_stuck_reader_does_not_stall_other_subscribers(broker, clients, qos):
    # A subscriber that stops reading: its socket buffers fill up, the broker
    # applies back-pressure / drops for it alone; everyone else keeps getting
    # every message.
    topic = uid("slow")
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.settimeout(5)
    stuck.connect((broker.host, broker.port))
    stuck.sendall(mqtt_raw.connect(uid("stuck"), V5))
    stuck.sendall(mqtt_raw.subscribe(1, [(topic, qos)], V5))
    # Read CONNACK and SUBACK only, then never read again.
    data = b""
    deadline = time.monotonic() + 5
    while b"\x90" not in data[data.find(b"\x20") + 1:] or len(data) < 9:
        assert time.monotonic() < deadline, "no SUBACK for the stuck client"
        data += stuck.recv(64)

    good = clients(broker, V5)
    good.subscribe(topic, qos=qos)
    pub = clients(broker, V5)
    n = 3000
    payload = b"p" * 2048
    infos = [pub.publish(topic, payload + str(i).encode(), qos=qos, wait=False)
             for i in range(n)]
    # ~6 MB on loopback: about a second when nothing stalls.
    got = good.get_n(n, timeout=10)
    pub.wait_published(infos, timeout=10)
    if qos == 1:
        assert [m.payload for m in got] == [payload + str(i).encode() for i in range(n)]
    else:
        assert len(got) == n
    stuck.close()


@pytest.mark.parametrize("args", [(), SLOW_ARGS], ids=["default", "small_buffers"])
def test_slow_reader_gets_everything_once_it_reads_again(broker_factory, clients, args):
    broker = broker_factory(*args)
    # The same buffers filling up, but the subscriber resumes reading: flow
    # control must not lose or reorder QoS 1 messages (§4.6).
    topic = uid("slow")
    # The small receive buffer is set before connecting: shrinking it on an
    # established connection makes Linux drop in-window data and back off
    # retransmissions for seconds, a client-side stall that is not the broker's.
    slow = RawClient(broker.host, broker.port, V5, rcvbuf=4096)
    slow.connect(uid("slow"))
    slow.subscribe([(topic, 1)])
    pub = clients(broker, V5)
    n = 1500
    infos = [pub.publish(topic, f"{i:06d}".encode() + b"p" * 1024, qos=1, wait=False)
             for i in range(n)]
    got = []
    deadline = time.monotonic() + 20
    while len(got) < n:
        try:
            p = slow.next_publish(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            raise AssertionError(f"slow reader got {len(got)} of {n}, last {got[-3:]}") from None
        got.append(int(p.payload[:6]))
    assert got == list(range(n))
    pub.wait_published(infos, timeout=10)
