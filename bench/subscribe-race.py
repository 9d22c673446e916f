#!/usr/bin/env python3
"""How often a SUBSCRIBE loses the race against another client's PUBLISH.

Rounds of: two fresh MQTT 5.0 clients connect (unique client ids, clean);
B sends SUBSCRIBE and does not wait for its SUBACK; A at once publishes
(QoS 0) to B's topic; the round misses if B gets no PUBLISH within 1 s.
The interoperability suite's test_subscribe_options does the same
(docs/conformance.md, "A race in test_subscribe_options"). Prints the
misses. Raw sockets, the standard library only.

    bench/subscribe-race.py PORT [ROUNDS]     (default 600 rounds)
"""
import socket
import struct
import sys
import time


def field(b):
    return struct.pack('!H', len(b)) + b


def packet(first_byte, body):
    out = bytes([first_byte])
    n = len(body)
    while True:
        d, n = n % 128, n // 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out + body


def connect(port, client_id):
    s = socket.create_connection(('127.0.0.1', port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # MQTT 5.0, Clean Start, keep alive 60, no properties.
    s.sendall(packet(0x10, field(b'MQTT') + bytes([5, 0x02]) + struct.pack('!H', 60) + b'\x00'
                     + field(client_id)))
    ack = s.recv(100)
    if not ack or ack[0] != 0x20:
        sys.exit(f'no CONNACK for {client_id!r}: {ack!r}')
    return s


def read_packet(s, timeout):
    """(first byte, body), or None on timeout or close."""
    s.settimeout(timeout)
    try:
        h = s.recv(1)
        if not h:
            return None
        mul, n = 1, 0
        while True:
            d = s.recv(1)[0]
            n += (d & 127) * mul
            mul *= 128
            if not d & 128:
                break
        body = b''
        while len(body) < n:
            body += s.recv(n - len(body))
        return h[0], body
    except socket.timeout:
        return None


def main():
    port = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    tag = int(time.time())
    missed = 0
    for i in range(rounds):
        topic = b'race/%d/%d' % (tag, i)
        a = connect(port, b'raceA-%d-%d' % (tag, i))
        b = connect(port, b'raceB-%d-%d' % (tag, i))
        b.sendall(packet(0x82, struct.pack('!H', 1) + b'\x00' + field(topic) + b'\x00'))
        a.sendall(packet(0x30, field(topic) + b'\x00' + b'x'))
        got = False
        deadline = time.time() + 1.0
        while not got and time.time() < deadline:
            p = read_packet(b, max(0.0, deadline - time.time()))
            if p is None:
                break
            got = p[0] >> 4 == 3
        if not got:
            missed += 1
        for s in (a, b):
            s.sendall(b'\xe0\x00')  # DISCONNECT
            s.close()
    print(f'missed {missed} of {rounds}')


if __name__ == '__main__':
    main()
