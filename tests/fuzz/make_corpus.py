#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets to tests/fuzz/corpus/<target>/.

Hand-encoded, spec-valid MQTT 3.1.1 and 5.0 packets (MQTT 5.0 §3.x, 3.1.1
§3.x). Re-run after changing it; the files are checked in so that a build
needs no Python step:  python3 tests/fuzz/make_corpus.py

Input layouts (see fuzz_common.hpp / fuzz_framer.cpp):
  per-packet targets: [flags nibble] + body   (acks: [type<<4 | flags] + body)
  decode:             [fixed header byte] + body
  framer:             [config][4 seed bytes] + a stream of whole packets
"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u16(n): return struct.pack(">H", n)
def u32(n): return struct.pack(">I", n)


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return u16(len(b)) + b


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def props(*items):
    body = b"".join(items)
    return varint(len(body)) + body


# (name, type, flags, body)
P = []
# CONNECT
P += [
    ("connect-v311-minimal", 1, 0, s("MQTT") + bytes([4, 0x02]) + u16(60) + s("c1")),
    ("connect-v311-will-user-pass", 1, 0,
     s("MQTT") + bytes([4, 0xCE]) + u16(30) + s("dev-7") + s("last/will") + s(b"gone")
     + s("alice") + s(b"secret")),
    ("connect-v5-session-expiry", 1, 0,
     s("MQTT") + bytes([5, 0x02]) + u16(60) + props(b"\x11" + u32(3600), b"\x21" + u16(20))
     + s("c5")),
    ("connect-v5-will-props-auth", 1, 0,
     s("MQTT") + bytes([5, 0xF6]) + u16(0)
     + props(b"\x15" + s("SCRAM-SHA-1"), b"\x16" + s(b"\x01\x02"), b"\x26" + s("k") + s("v"))
     + s("") + props(b"\x18" + u32(5), b"\x01\x01", b"\x03" + s("text/plain"))
     + s("status/dev") + s(b"offline") + s("bob") + s(b"pw")),
]
# CONNACK
P += [
    ("connack-v311-accepted", 2, 0, bytes([0, 0])),
    ("connack-v311-refused-auth", 2, 0, bytes([0, 5])),
    ("connack-v5-success", 2, 0, bytes([1, 0]) + props()),
    ("connack-v5-props", 2, 0,
     bytes([0, 0]) + props(b"\x21" + u16(10), b"\x24\x01", b"\x12" + s("auto-1"), b"\x27" + u32(65536),
                           b"\x25\x01", b"\x28\x01", b"\x29\x01", b"\x2a\x00", b"\x13" + u16(30))),
    ("connack-v5-not-authorized", 2, 0, bytes([0, 0x87]) + props(b"\x1f" + s("denied"))),
]
# PUBLISH
P += [
    ("publish-v311-qos0", 3, 0x0, s("a/b") + b"hello"),
    ("publish-v311-qos1", 3, 0x2, s("sensors/t1") + u16(1) + b"21.5"),
    ("publish-v311-qos2-dup-retain", 3, 0xD, s("x") + u16(65535) + b""),
    ("publish-v5-qos0", 3, 0x0, s("a/b") + props() + b"hello"),
    ("publish-v5-qos1-props", 3, 0x2,
     s("req/1") + u16(7) + props(b"\x01\x01", b"\x02" + u32(60), b"\x08" + s("resp/1"),
                                 b"\x09" + s(b"corr"), b"\x26" + s("a") + s("b"), b"\x03" + s("application/json"))
     + b'{"v":1}'),
    ("publish-v5-topic-alias", 3, 0x0, s("") + props(b"\x23" + u16(3)) + b"aliased"),
    ("publish-v5-sub-ids", 3, 0x1 << 1, s("s/1") + u16(2) + props(b"\x0b" + varint(1), b"\x0b" + varint(300)) + b"x"),
]
# PUBACK / PUBREC / PUBREL / PUBCOMP
P += [
    ("puback-short", 4, 0, u16(1)),
    ("puback-v5-code", 4, 0, u16(2) + bytes([0x10])),
    ("puback-v5-props", 4, 0, u16(3) + bytes([0x80]) + props(b"\x1f" + s("no"))),
    ("pubrec-short", 5, 0, u16(4)),
    ("pubrec-v5-code", 5, 0, u16(5) + bytes([0x91])),  # Packet Identifier in use
    ("pubrel-short", 6, 2, u16(6)),
    ("pubrel-v5-code", 6, 2, u16(7) + bytes([0x92]) + props()),
    ("pubcomp-short", 7, 0, u16(8)),
    ("pubcomp-v5-props", 7, 0, u16(9) + bytes([0x00]) + props(b"\x26" + s("k") + s("v"))),
]
# SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK
P += [
    ("subscribe-v311-one", 8, 2, u16(1) + s("a/#") + bytes([1])),
    ("subscribe-v311-many", 8, 2, u16(2) + s("a/+/c") + bytes([0]) + s("#") + bytes([2]) + s("$share/g/x") + bytes([1])),
    ("subscribe-v5-options", 8, 2, u16(3) + props() + s("a/b") + bytes([0x2E])),
    ("subscribe-v5-sub-id", 8, 2, u16(4) + props(b"\x0b" + varint(5), b"\x26" + s("k") + s("v"))
     + s("x/+") + bytes([0x1D]) + s("y") + bytes([0x00])),
    ("suback-v311", 9, 0, u16(1) + bytes([0, 1, 2, 0x80])),
    ("suback-v5", 9, 0, u16(2) + props() + bytes([0, 1, 2, 0x80, 0x87, 0x8F, 0x9E, 0xA1, 0xA2])),
    ("suback-v5-reason", 9, 0, u16(3) + props(b"\x1f" + s("quota")) + bytes([0x97])),
    ("unsubscribe-v311", 10, 2, u16(1) + s("a/b") + s("c/#")),
    ("unsubscribe-v5", 10, 2, u16(2) + props(b"\x26" + s("k") + s("v")) + s("a/+")),
    ("unsuback-v311", 11, 0, u16(1)),
    ("unsuback-v5", 11, 0, u16(2) + props() + bytes([0x00, 0x11, 0x87])),
]
# PINGREQ / PINGRESP / DISCONNECT / AUTH
P += [
    ("pingreq", 12, 0, b""),
    ("pingresp", 13, 0, b""),
    ("disconnect-empty", 14, 0, b""),
    ("disconnect-v5-code", 14, 0, bytes([0x04])),
    ("disconnect-v5-props", 14, 0,
     bytes([0x8E]) + props(b"\x1f" + s("bye"), b"\x1c" + s("other:1883"))),
    ("auth-empty", 15, 0, b""),
    ("auth-v5-continue", 15, 0, bytes([0x18]) + props(b"\x15" + s("SCRAM-SHA-1"), b"\x16" + s(b"\x00\x01"))),
    ("auth-v5-reauth", 15, 0, bytes([0x19]) + props(b"\x15" + s("X"), b"\x1f" + s("again"))),
]

TARGET_OF_TYPE = {1: "connect", 2: "connack", 3: "publish", 4: "acks", 5: "acks", 6: "acks", 7: "acks",
                  8: "subscribe", 9: "suback", 10: "unsubscribe", 11: "unsuback", 14: "disconnect", 15: "auth"}


def wire(t, flags, body):
    return bytes([(t << 4) | flags]) + varint(len(body)) + body


def main():
    root = os.path.join(HERE, "corpus")
    if os.path.isdir(root):
        shutil.rmtree(root)
    files = {}

    def put(target, name, data):
        files.setdefault(target, []).append((name, data))

    for name, t, flags, body in P:
        if t in TARGET_OF_TYPE:
            target = TARGET_OF_TYPE[t]
            first = (((t - 4) << 4) | flags) if target == "acks" else flags
            put(target, name, bytes([first]) + body)
        put("decode", name, bytes([(t << 4) | flags]) + body)

    by_name = {name: wire(t, flags, body) for name, t, flags, body in P}
    sessions = {
        # config byte: bits0-1 max size, bit2 version (1 = 5.0), bits3-5 chunk class
        "v311-session": (0x00 | (2 << 3), ["connect-v311-will-user-pass", "subscribe-v311-many", "publish-v311-qos1",
                                           "puback-short", "pingreq", "unsubscribe-v311", "disconnect-empty"]),
        "v5-session": (0x04 | (5 << 3), ["connect-v5-will-props-auth", "auth-v5-continue", "subscribe-v5-sub-id",
                                         "publish-v5-qos1-props", "pubrec-v5-code", "pubrel-v5-code",
                                         "pubcomp-v5-props", "disconnect-v5-props"]),
        "v5-server-side": (0x04 | (0 << 3), ["connack-v5-props", "suback-v5", "publish-v5-sub-ids", "unsuback-v5",
                                             "pingresp"]),
        "v5-max64-too-large": (0x06 | (3 << 3), ["publish-v5-qos0", "publish-v5-qos1-props", "pingreq"]),
        "partial-tail": (0x01 | (1 << 3), ["publish-v311-qos0", "pingreq"]),
    }
    for name, (config, names) in sessions.items():
        stream = b"".join(by_name[n] for n in names)
        if name == "partial-tail":
            stream += by_name["publish-v311-qos1"][:5]
        put("framer", name, bytes([config]) + b"\x2a\x17\x09\xc3" + stream)
    # A 2-byte Remaining Length (a 200-byte payload) and an over-long one.
    big = wire(3, 0, s("big/one") + bytes(range(200)))
    put("framer", "two-byte-length", bytes([0x00 | (7 << 3)]) + b"\x01\x02\x03\x04" + big)
    put("framer", "remaining-length-5-bytes", bytes([0x00]) + b"\x01\x00\x00\x00" + b"\x30\xff\xff\xff\xff\x01")

    for target, items in sorted(files.items()):
        d = os.path.join(root, target)
        os.makedirs(d)
        for name, data in items:
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(items)} seeds")


if __name__ == "__main__":
    main()
