"""Hand-written MQTT 3.1.1 / 5.0 packets over a raw socket, for the end-to-end tests.

Deliberately independent of the broker's codec (and of paho): the bytes are
built from the spec tables (MQTT 3.1.1 §2-3, MQTT 5.0 §2-3), so a test can send
exactly the malformed or edge-case packet it means, and read exactly what the
broker answers, reason codes and property lengths included.
"""

import socket
import struct
import time

V311 = 4
V5 = 5

# Packet types (§2.1.2).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = (
    8, 9, 10, 11, 12, 13, 14, 15)
TYPE_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
              7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
              12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

# Properties (MQTT 5.0 §2.2.2.2): id -> (name, kind).
PROPS = {
    0x01: ("payload_format_indicator", "byte"),
    0x02: ("message_expiry_interval", "u32"),
    0x03: ("content_type", "str"),
    0x08: ("response_topic", "str"),
    0x09: ("correlation_data", "bin"),
    0x0B: ("subscription_identifier", "varint"),
    0x11: ("session_expiry_interval", "u32"),
    0x12: ("assigned_client_identifier", "str"),
    0x13: ("server_keep_alive", "u16"),
    0x15: ("authentication_method", "str"),
    0x16: ("authentication_data", "bin"),
    0x17: ("request_problem_information", "byte"),
    0x18: ("will_delay_interval", "u32"),
    0x19: ("request_response_information", "byte"),
    0x1A: ("response_information", "str"),
    0x1C: ("server_reference", "str"),
    0x1F: ("reason_string", "str"),
    0x21: ("receive_maximum", "u16"),
    0x22: ("topic_alias_maximum", "u16"),
    0x23: ("topic_alias", "u16"),
    0x24: ("maximum_qos", "byte"),
    0x25: ("retain_available", "byte"),
    0x26: ("user_property", "pair"),
    0x27: ("maximum_packet_size", "u32"),
    0x28: ("wildcard_subscription_available", "byte"),
    0x29: ("subscription_identifier_available", "byte"),
    0x2A: ("shared_subscription_available", "byte"),
}
PROP_IDS = {name: (pid, kind) for pid, (name, kind) in PROPS.items()}


# -- encoding -------------------------------------------------------------------

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def u16(n):
    return struct.pack("!H", n)


def u32(n):
    return struct.pack("!I", n)


def mqtt_str(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return u16(len(b)) + b


def mqtt_bin(b):
    return u16(len(b)) + bytes(b)


def props(**kw):
    """Encodes a property block (length + properties). Values may be lists for
    repeatable properties (user_property: list of (key, value) pairs)."""
    body = bytearray()
    for name, value in kw.items():
        pid, kind = PROP_IDS[name]
        values = value if isinstance(value, list) else [value]
        for v in values:
            body += varint(pid)
            if kind == "byte":
                body.append(v)
            elif kind == "u16":
                body += u16(v)
            elif kind == "u32":
                body += u32(v)
            elif kind == "varint":
                body += varint(v)
            elif kind == "str":
                body += mqtt_str(v)
            elif kind == "bin":
                body += mqtt_bin(v)
            elif kind == "pair":
                body += mqtt_str(v[0]) + mqtt_str(v[1])
    return varint(len(body)) + bytes(body)


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + bytes(body)


def connect(client_id, version=V5, clean=True, keep_alive=60, properties=None, will=None,
            username=None, password=None, protocol_name="MQTT"):
    """CONNECT (§3.1). `properties`: dict for props(); `will`: dict with topic,
    payload, qos, retain, properties."""
    flags = 0x02 if clean else 0
    payload = mqtt_str(client_id)
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if version == V5:
            payload += props(**will.get("properties", {}))
        payload += mqtt_str(will["topic"]) + mqtt_bin(will.get("payload", b""))
    if username is not None:
        flags |= 0x80
        payload += mqtt_str(username)
    if password is not None:
        flags |= 0x40
        payload += mqtt_bin(password)
    var = mqtt_str(protocol_name) + bytes([version, flags]) + u16(keep_alive)
    if version == V5:
        var += props(**(properties or {}))
    return packet(CONNECT, 0, var + payload)


def publish(topic, payload=b"", qos=0, packet_id=None, retain=False, dup=False, version=V5,
            properties=None):
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = mqtt_str(topic)
    if qos > 0:
        body += u16(packet_id if packet_id is not None else 1)
    if version == V5:
        body += props(**(properties or {}))
    body += payload.encode() if isinstance(payload, str) else bytes(payload)
    return packet(PUBLISH, flags, body)


def ack(ptype, packet_id, version=V5, code=None):
    """PUBACK / PUBREC / PUBREL / PUBCOMP (PUBREL has fixed flags 0b0010)."""
    body = u16(packet_id)
    if version == V5 and code is not None:
        body += bytes([code])
    return packet(ptype, 0x02 if ptype == PUBREL else 0, body)


def subscribe(packet_id, filters, version=V5, properties=None):
    """`filters`: list of (filter, options byte). Options: QoS in bits 0-1,
    No Local 0x04, Retain As Published 0x08, Retain Handling << 4 (§3.8.3.1)."""
    body = u16(packet_id)
    if version == V5:
        body += props(**(properties or {}))
    for f, opts in filters:
        body += mqtt_str(f) + bytes([opts])
    return packet(SUBSCRIBE, 0x02, body)


def pingreq():
    return bytes([0xC0, 0x00])


def disconnect(version=V5, code=0, properties=None):
    if version == V5 and (code or properties):
        return packet(DISCONNECT, 0, bytes([code]) + props(**(properties or {})))
    return bytes([0xE0, 0x00])


# -- decoding -------------------------------------------------------------------

def read_varint(buf, pos):
    mult, value = 1, 0
    while True:
        b = buf[pos]
        pos += 1
        value += (b & 0x7F) * mult
        if not b & 0x80:
            return value, pos
        mult *= 128


def parse_props(buf, pos):
    length, pos = read_varint(buf, pos)
    end = pos + length
    out = {}
    while pos < end:
        pid, pos = read_varint(buf, pos)
        name, kind = PROPS[pid]
        if kind == "byte":
            v = buf[pos]
            pos += 1
        elif kind == "u16":
            v = struct.unpack_from("!H", buf, pos)[0]
            pos += 2
        elif kind == "u32":
            v = struct.unpack_from("!I", buf, pos)[0]
            pos += 4
        elif kind == "varint":
            v, pos = read_varint(buf, pos)
        elif kind in ("str", "bin"):
            n = struct.unpack_from("!H", buf, pos)[0]
            v = bytes(buf[pos + 2:pos + 2 + n])
            if kind == "str":
                v = v.decode()
            pos += 2 + n
        else:  # pair
            n = struct.unpack_from("!H", buf, pos)[0]
            k = bytes(buf[pos + 2:pos + 2 + n]).decode()
            pos += 2 + n
            n = struct.unpack_from("!H", buf, pos)[0]
            v = (k, bytes(buf[pos + 2:pos + 2 + n]).decode())
            pos += 2 + n
        if name in ("user_property", "subscription_identifier"):
            out.setdefault(name, []).append(v)
        else:
            out[name] = v
    return out, end


class Packet:
    def __init__(self, ptype, flags, body, version):
        self.type = ptype
        self.flags = flags
        self.body = body
        self.version = version

    def __repr__(self):
        return f"<{TYPE_NAMES.get(self.type, self.type)} flags={self.flags:#x} body={self.body[:40].hex()}>"

    # CONNACK (§3.2)
    @property
    def session_present(self):
        return bool(self.body[0] & 1)

    @property
    def code(self):
        """CONNACK return/reason code; PUBACK..PUBCOMP/DISCONNECT reason code
        (0 when omitted, §3.4.2.1, §3.14.2.1)."""
        if self.type == CONNACK:
            return self.body[1]
        if self.type in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            return self.body[2] if len(self.body) > 2 else 0
        if self.type == DISCONNECT:
            return self.body[0] if self.body else 0
        raise ValueError(f"no single code in {self!r}")

    @property
    def packet_id(self):
        if self.type == PUBLISH:
            n = struct.unpack_from("!H", self.body, 0)[0]
            return struct.unpack_from("!H", self.body, 2 + n)[0] if self.qos else None
        return struct.unpack_from("!H", self.body, 0)[0]

    @property
    def properties(self):
        if self.version != V5:
            return {}
        if self.type == CONNACK:
            return parse_props(self.body, 2)[0]
        if self.type == DISCONNECT:
            return parse_props(self.body, 1)[0] if len(self.body) > 1 else {}
        if self.type in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            return parse_props(self.body, 3)[0] if len(self.body) > 3 else {}
        if self.type == SUBACK:
            return parse_props(self.body, 2)[0]
        if self.type == PUBLISH:
            return parse_props(self.body, self._publish_props_pos())[0]
        return {}

    # SUBACK (§3.9)
    @property
    def suback_codes(self):
        pos = 2
        if self.version == V5:
            _, pos = parse_props(self.body, pos)
        return list(self.body[pos:])

    # PUBLISH (§3.3)
    @property
    def qos(self):
        return (self.flags >> 1) & 3

    @property
    def retain(self):
        return bool(self.flags & 1)

    @property
    def dup(self):
        return bool(self.flags & 8)

    @property
    def topic(self):
        n = struct.unpack_from("!H", self.body, 0)[0]
        return bytes(self.body[2:2 + n]).decode()

    def _publish_props_pos(self):
        n = struct.unpack_from("!H", self.body, 0)[0]
        return 2 + n + (2 if self.qos else 0)

    @property
    def payload(self):
        pos = self._publish_props_pos()
        if self.version == V5:
            _, pos = parse_props(self.body, pos)
        return bytes(self.body[pos:])


class Closed(Exception):
    """The broker closed the connection."""


class RawClient:
    """One TCP connection speaking hand-written MQTT; every read has a deadline."""

    def __init__(self, host, port, version=V5, timeout=5.0, rcvbuf=None):
        self.version = version
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the TCP window matches it
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.other = []

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no packet from the broker before the deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no packet from the broker before the deadline") from None
        except (ConnectionResetError, ConnectionAbortedError):
            chunk = b""
        if not chunk:
            self.eof = True
            raise Closed("connection closed by the broker")
        self.buf += chunk

    def recv(self, timeout=5.0):
        """The next packet; raises Closed on EOF, TimeoutError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                try:
                    length, pos = read_varint(self.buf, 1)
                except IndexError:
                    length = None
                if length is not None and len(self.buf) >= pos + length:
                    first = self.buf[0]
                    body = bytes(self.buf[pos:pos + length])
                    del self.buf[:pos + length]
                    return Packet(first >> 4, first & 0x0F, body, self.version)
            if self.eof:
                raise Closed("connection closed by the broker")
            self._fill(deadline)

    def recv_type(self, ptype, timeout=5.0):
        """The next packet, which must be of type `ptype`."""
        p = self.recv(timeout)
        assert p.type == ptype, f"expected {TYPE_NAMES[ptype]}, got {p!r}"
        return p

    def connect(self, client_id, clean=True, keep_alive=60, properties=None, will=None,
                expect_code=0, **kw):
        self.send(connect(client_id, self.version, clean, keep_alive, properties, will, **kw))
        ack = self.recv_type(CONNACK)
        assert ack.code == expect_code, f"CONNACK code {ack.code:#x}"
        return ack

    def subscribe(self, filters, packet_id=1, properties=None):
        """`filters`: list of (filter, options); returns the SUBACK codes."""
        self.send(subscribe(packet_id, filters, self.version, properties))
        p = self.recv_type(SUBACK)
        assert p.packet_id == packet_id
        return p.suback_codes

    def ping(self, timeout=5.0):
        """Round trip PINGREQ/PINGRESP; returns the packets that arrived before
        the PINGRESP (the broker handles a connection's input in order, so this
        is a positive sync point)."""
        self.send(pingreq())
        before = []
        while True:
            p = self.recv(timeout)
            if p.type == PINGRESP:
                return before
            before.append(p)

    def next_publish(self, timeout=5.0, auto_ack=True):
        """The next PUBLISH, in wire order. With auto_ack it is acknowledged
        (PUBACK, or PUBREC and later PUBCOMP for the PUBREL). Other packets are
        kept in self.other."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.recv(max(0.0, deadline - time.monotonic()))
            if p.type == PUBLISH:
                if auto_ack and p.qos == 1:
                    self.send(ack(PUBACK, p.packet_id, self.version))
                elif auto_ack and p.qos == 2:
                    self.send(ack(PUBREC, p.packet_id, self.version))
                return p
            if p.type == PUBREL and auto_ack:
                self.send(ack(PUBCOMP, p.packet_id, self.version))
                continue
            self.other.append(p)

    def publishes_until(self, payload, timeout=5.0):
        """PUBLISHes (acknowledged) up to the one carrying `payload`, which is
        not included."""
        payload = payload.encode() if isinstance(payload, str) else payload
        out = []
        deadline = time.monotonic() + timeout
        while True:
            p = self.next_publish(max(0.0, deadline - time.monotonic()))
            if p.payload == payload:
                return out
            out.append(p)

    def expect_close(self, timeout=5.0):
        """Reads until the broker closes the connection; returns the packets
        read before the close. Fails if the connection stays open."""
        packets = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                packets.append(self.recv(max(0.0, deadline - time.monotonic())))
            except Closed:
                return packets
            except TimeoutError:
                raise AssertionError(
                    f"broker did not close the connection within {timeout}s; got {packets}")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Closes the socket abruptly (RST), with no DISCONNECT."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()
