#!/usr/bin/env python3
"""Capture the raw MQTT packets a real third-party client sends.

Runs a minimal fake broker on 127.0.0.1:<port> (one connection per scenario)
that answers just enough for the client to complete its flow (CONNACK,
PUBACK/PUBREC/PUBCOMP, SUBACK, UNSUBACK, PINGRESP), then runs each scenario's
client command (mosquitto_pub / mosquitto_sub) and prints every control
packet the client sent, as hex, one packet per line.

Relay scenarios (RELAY_SCENARIOS) instead start a real `mosquitto` broker on
BROKER_PORT and relay the client to it, printing the packets of both
directions ("C>" from the client, "S<" from the broker), so that server-side
packets (CONNACK with properties, SUBACK, PUBACK/PUBREC/PUBCOMP, PUBLISH with
subscription identifiers) come from a third party too.

Usage:
  python3 tests/protocol/capture/capture.py            # all scenarios
  python3 tests/protocol/capture/capture.py NAME ...   # only these
The output is pasted (as hex arrays) into tests/protocol/captured.cpp.
"""
import shlex
import socket
import subprocess
import sys
import threading

HOST = "127.0.0.1"
PORT = 18990

# name -> client command. `{port}` is replaced with the listener port.
SCENARIOS = {
    "pub_v311_qos0": "mosquitto_pub -h 127.0.0.1 -p {port} -V mqttv311 -i cap-pub0 -t sensors/temp -m 21.5",
    "pub_v311_qos1_retain_auth": "mosquitto_pub -h 127.0.0.1 -p {port} -V mqttv311 -i cap-pub1 -u alice -P secret -k 30 -q 1 -r -t a/b -m hello",
    "pub_v311_qos2_will_persistent": "mosquitto_pub -h 127.0.0.1 -p {port} -V mqttv311 -i cap-pub2 -c -k 120 -q 2 --will-topic will/t --will-payload gone --will-qos 1 --will-retain -t q2/topic -m x2",
    "sub_v311_qos2": "mosquitto_sub -h 127.0.0.1 -p {port} -V mqttv311 -i cap-sub -q 2 -t sport/+/score -t sport/# -E",
    "pub_v5_qos0_props": "mosquitto_pub -h 127.0.0.1 -p {port} -V mqttv5 -i cap-v5-pub0 -t v5/topic -m payload "
                         "-D publish content-type text/plain -D publish user-property k1 v1 -D publish user-property k2 v2 "
                         "-D publish message-expiry-interval 3600 -D publish payload-format-indicator 1 "
                         "-D publish response-topic resp/t -D publish correlation-data c0rr",
    "pub_v5_qos1_connect_props": "mosquitto_pub -h 127.0.0.1 -p {port} -V mqttv5 -i cap-v5-pub1 -u bob -P pw -k 45 -q 1 -r -t v5/q1 -m m1 "
                                 "-D connect session-expiry-interval 300 -D connect receive-maximum 10 "
                                 "-D connect maximum-packet-size 65536 -D connect topic-alias-maximum 5 "
                                 "-D connect request-problem-information 0 -D connect user-property ck cv",
    "pub_v5_qos2_will": "mosquitto_pub -h 127.0.0.1 -p {port} -V mqttv5 -i cap-v5-pub2 -c -q 2 -t v5/q2 -m m2 "
                        "--will-topic v5/will --will-payload bye --will-qos 2 "
                        "-D will will-delay-interval 10 -D will content-type text/plain -D will user-property wk wv",
    "sub_v5_options": "mosquitto_sub -h 127.0.0.1 -p {port} -V mqttv5 -i cap-v5-sub -q 1 -t home/+/temp -t home/# -E "
                      "-D subscribe user-property sk sv",
    "sub_v5_subid_unsub": "mosquitto_sub -h 127.0.0.1 -p {port} -V mqttv5 -i cap-v5-sub2 -x 600 -q 2 -t fleet/# -E "
                          "-D subscribe subscription-identifier 42 -U old/a -U old/+/b -D unsubscribe user-property uk uv",
    "sub_v311_unsub": "mosquitto_sub -h 127.0.0.1 -p {port} -V mqttv311 -i cap-sub3 -t keep/t -U old/a -U old/# -E",
}


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_packet(sock):
    first = read_exact(sock, 1)
    mult, rl, header = 1, 0, first
    while True:
        b = read_exact(sock, 1)
        header += b
        rl += (b[0] & 0x7F) * mult
        mult *= 128
        if b[0] & 0x80 == 0:
            break
    return header + read_exact(sock, rl), first[0], header, rl


def serve_one(listener, packets, done):
    conn, _ = listener.accept()
    conn.settimeout(5)
    version = 4
    try:
        while True:
            raw, first, header, rl = read_packet(conn)
            packets.append(raw)
            body = raw[len(header):]
            ptype = first >> 4
            if ptype == 1:  # CONNECT
                version = body[6]
                conn.sendall(bytes([0x20, 0x02, 0, 0]) if version == 4 else bytes([0x20, 0x03, 0, 0, 0]))
            elif ptype == 3:  # PUBLISH
                qos = (first >> 1) & 3
                tlen = (body[0] << 8) | body[1]
                pid = body[2 + tlen:4 + tlen]
                if qos == 1:
                    conn.sendall(bytes([0x40, 0x02]) + pid)
                elif qos == 2:
                    conn.sendall(bytes([0x50, 0x02]) + pid)
            elif ptype == 6:  # PUBREL
                conn.sendall(bytes([0x70, 0x02]) + body[0:2])
            elif ptype == 8:  # SUBSCRIBE: grant the requested QoS of each filter
                pid = body[0:2]
                i = 2
                if version == 5:
                    plen, mult = 0, 1
                    while True:
                        b = body[i]; i += 1
                        plen += (b & 0x7F) * mult; mult *= 128
                        if b & 0x80 == 0:
                            break
                    i += plen
                codes = []
                while i < len(body):
                    flen = (body[i] << 8) | body[i + 1]
                    i += 2 + flen
                    codes.append(body[i] & 0x03)
                    i += 1
                payload = pid + (b"\x00" if version == 5 else b"") + bytes(codes)
                conn.sendall(bytes([0x90, len(payload)]) + payload)
            elif ptype == 10:  # UNSUBSCRIBE
                conn.sendall(bytes([0xB0, 0x02]) + body[0:2])
            elif ptype == 12:  # PINGREQ
                conn.sendall(bytes([0xD0, 0x00]))
            elif ptype == 14:  # DISCONNECT
                break
    except (EOFError, socket.timeout, ConnectionError):
        pass
    finally:
        conn.close()
        done.set()


def run(name, command):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, PORT))
    listener.listen(1)
    packets, done = [], threading.Event()
    t = threading.Thread(target=serve_one, args=(listener, packets, done), daemon=True)
    t.start()
    cmd = command.format(port=PORT)
    proc = subprocess.run(shlex.split(cmd), capture_output=True, timeout=15)
    done.wait(5)
    listener.close()
    print(f"## {name}")
    print(f"# {cmd}  (exit {proc.returncode})")
    for p in packets:
        print(p.hex(" "))
    print()


# Relay scenarios: a real mosquitto broker on BROKER_PORT answers, the relay
# on PORT records both directions ("C>" client to broker, "S<" broker to
# client). Each entry is a list of commands run one after the other; every
# command's connection is printed.
BROKER_PORT = 18991
RELAY_SCENARIOS = {
    "relay_v5_retained_subid": [
        "mosquitto_pub -h 127.0.0.1 -p {port} -V mqttv5 -i cap-r-pub -q 1 -r -t relay/t -m keep",
        "mosquitto_sub -h 127.0.0.1 -p {port} -V mqttv5 -i cap-r-sub -q 2 -t relay/# -C 1 "
        "-D subscribe subscription-identifier 7",
        "mosquitto_pub -h 127.0.0.1 -p {port} -V mqttv5 -i cap-r-del -q 2 -r -t relay/t -n",
    ],
    "relay_v311_retained": [
        "mosquitto_pub -h 127.0.0.1 -p {port} -V mqttv311 -i cap-r3-pub -q 2 -r -t relay3/t -m keep3",
        "mosquitto_sub -h 127.0.0.1 -p {port} -V mqttv311 -i cap-r3-sub -q 1 -t relay3/+ -C 1",
        "mosquitto_pub -h 127.0.0.1 -p {port} -V mqttv311 -i cap-r3-del -r -t relay3/t -n",
    ],
}


class Splitter:
    """Splits one direction of a TCP stream into MQTT packets."""

    def __init__(self, tag, out):
        self.tag, self.out, self.buf = tag, out, b""

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 2:
            rl, mult, i = 0, 1, 1
            while True:
                if i >= len(self.buf):
                    return
                b = self.buf[i]
                i += 1
                rl += (b & 0x7F) * mult
                mult *= 128
                if b & 0x80 == 0:
                    break
            if len(self.buf) < i + rl:
                return
            self.out.append((self.tag, self.buf[:i + rl]))
            self.buf = self.buf[i + rl:]


def pump(src, dst, splitter):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            splitter.feed(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def relay_one(listener, packets):
    client, _ = listener.accept()
    broker = socket.create_connection((HOST, BROKER_PORT))
    t1 = threading.Thread(target=pump, args=(client, broker, Splitter("C>", packets)))
    t2 = threading.Thread(target=pump, args=(broker, client, Splitter("S<", packets)))
    t1.start()
    t2.start()
    t1.join()
    t2.join()
    client.close()
    broker.close()


def run_relay(name, commands):
    import time
    broker = subprocess.Popen(["mosquitto", "-p", str(BROKER_PORT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        print(f"## {name}")
        for command in commands:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((HOST, PORT))
            listener.listen(1)
            packets = []
            t = threading.Thread(target=relay_one, args=(listener, packets), daemon=True)
            t.start()
            cmd = command.format(port=PORT)
            proc = subprocess.run(shlex.split(cmd), capture_output=True, timeout=15)
            t.join(5)
            listener.close()
            print(f"# {cmd}  (exit {proc.returncode})")
            for tag, p in packets:
                print(tag, p.hex(" "))
        print()
    finally:
        broker.terminate()
        broker.wait()


def main():
    names = sys.argv[1:] or list(SCENARIOS) + list(RELAY_SCENARIOS)
    for name in names:
        if name in RELAY_SCENARIOS:
            run_relay(name, RELAY_SCENARIOS[name])
        else:
            run(name, SCENARIOS[name])


if __name__ == "__main__":
    main()
