#!/usr/bin/env python3
"""PINGREQ -> PINGRESP latency with many idle connections (any MQTT broker).

    bench/ping_latency.py --port 1883 [--clients 10000] [--keepalive 10] [--hold 10]
                          [--scan 0.25] [--drain 5] [--broker-pid PID]

Connects --clients MQTT 3.1.1 clean sessions as fast as the broker accepts them,
then, like ../shared/bench/mqtt-load --scenario conn, sends a PINGREQ on every
connection that has sent nothing for keepalive/2 seconds, checking every --scan
seconds (so connections made within one scan ping in one burst). For --hold
seconds after the last connection it records the time from each PINGREQ to its
PINGRESP, then stops pinging and waits up to --drain seconds for the answers
still missing: a ping answered then was late, not lost. Prints the latency
percentiles, how many pings were answered by the end of the hold, by the end of
the drain, never, and how many connections the broker closed (with keep-alive
10 s a connection that pings every 5 s must never be closed).

One thread, epoll; run it pinned to its own core (taskset). Its own scheduling
delay is part of every latency it reports (the 'self' line says how late its
scans ran).
"""
import argparse
import errno
import os
import select
import socket
import struct
import sys
import time


def connect_packet(cid: bytes, keepalive: int) -> bytes:
    var = b"\x00\x04MQTT\x04\x02" + struct.pack(">H", keepalive)  # 3.1.1, clean session
    payload = struct.pack(">H", len(cid)) + cid
    body = var + payload
    return bytes([0x10, len(body)]) + body


def broker_cpu(pid):
    """utime + stime of `pid` in seconds (0 without a pid)."""
    if not pid:
        return 0.0
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, int(p / 100.0 * len(sorted_vals)))
    return sorted_vals[i]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--keepalive", type=int, default=10)
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("--scan", type=float, default=0.25, help="ping scan period (mqtt-load: 0.25 s)")
    ap.add_argument("--drain", type=float, default=5.0)
    ap.add_argument("--inflight", type=int, default=1000, help="connects in progress at once")
    ap.add_argument("--prefix", default="pinglat-")
    ap.add_argument("--broker-pid", type=int, default=0)
    a = ap.parse_args()

    ep = select.epoll()
    conns = {}  # fd -> state dict
    t_start = time.monotonic()
    next_i = 0
    connecting = 0
    ready = 0
    failed = 0
    closed_by_broker = 0
    closed_detail = []

    def start_one(i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.connect((a.host, a.port))
        except BlockingIOError:
            pass
        st = {"s": s, "i": i, "phase": "connecting", "buf": b"", "last_tx": 0.0, "pings": [], "out": b""}
        conns[s.fileno()] = st
        ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN | select.EPOLLRDHUP)

    lat = []  # seconds
    pings = pongs = 0
    pongs_in_hold = 0
    holding = False
    draining = False
    t_hold_end = None
    scan_late = []

    def send(st, data):
        st["out"] += data
        try:
            k = st["s"].send(st["out"])
            st["out"] = st["out"][k:]
        except BlockingIOError:
            pass
        except OSError:
            pass

    def close_st(fd, st, why):
        nonlocal closed_by_broker, ready, failed, connecting
        try:
            ep.unregister(fd)
        except OSError:
            pass
        st["s"].close()
        del conns[fd]
        if st["phase"] == "ready":
            ready -= 1
            if not (draining and t_hold_end is not None and time.monotonic() > t_hold_end + a.drain):
                closed_by_broker += 1
                if len(closed_detail) < 10:
                    closed_detail.append("%s%d: %s (%d pings outstanding)" % (a.prefix, st["i"], why, len(st["pings"])))
        else:
            failed += 1
            if st["phase"] == "connecting" or st["phase"] == "connack":
                connecting -= 1

    last_scan = time.monotonic()
    while True:
        now = time.monotonic()
        while next_i < a.clients and connecting < a.inflight:
            start_one(next_i)
            next_i += 1
            connecting += 1
        if not holding and next_i >= a.clients and connecting == 0:
            holding = True
            t_connected = now
            conn_time = now - t_start
            t_hold_end = now + a.hold
            cpu_hold_start = broker_cpu(a.broker_pid)
            print("ping_latency: %d connected, %d failed in %.2f s (%.0f conn/s)" %
                  (ready, failed, conn_time, ready / conn_time if conn_time else 0), flush=True)
        if holding and not draining and now >= t_hold_end:
            draining = True
            cpu_hold = broker_cpu(a.broker_pid) - cpu_hold_start
            pongs_in_hold = pongs
            outstanding_at_end = sum(len(st["pings"]) for st in conns.values())
        if draining:
            outstanding = sum(len(st["pings"]) for st in conns.values())
            if outstanding == 0 or now >= t_hold_end + a.drain:
                break
        timeout = max(0.0, min(a.scan - (now - last_scan), 0.05))
        for fd, ev in ep.poll(timeout, 1024):
            st = conns.get(fd)
            if st is None:
                continue
            s = st["s"]
            if st["phase"] == "connecting":
                if ev & (select.EPOLLERR | select.EPOLLHUP):
                    close_st(fd, st, "connect failed")
                    continue
                if ev & select.EPOLLOUT:
                    st["phase"] = "connack"
                    ep.modify(fd, select.EPOLLIN | select.EPOLLRDHUP)
                    send(st, connect_packet((a.prefix + str(st["i"])).encode(), a.keepalive))
                    st["last_tx"] = time.monotonic()
                continue
            if ev & (select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR):
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError as e:
                    close_st(fd, st, "recv error %s" % errno.errorcode.get(e.errno, e.errno))
                    continue
                if not data:
                    close_st(fd, st, "closed by the broker")
                    continue
                t = time.monotonic()
                buf = st["buf"] + data
                while len(buf) >= 2:
                    n = buf[1]  # every packet this tool expects has a one-byte length
                    if len(buf) < 2 + n:
                        break
                    pkt, buf = buf[:2 + n], buf[2 + n:]
                    if pkt[0] == 0x20 and st["phase"] == "connack":
                        if n >= 2 and pkt[3] == 0:
                            st["phase"] = "ready"
                            ready += 1
                        else:
                            st["phase"] = "refused"
                        connecting -= 1
                    elif pkt[0] == 0xD0:
                        if st["pings"]:
                            lat.append(t - st["pings"].pop(0))
                            pongs += 1
                st["buf"] = buf
                if st["phase"] == "refused":
                    st["phase"] = "connack"
                    connecting += 1
                    close_st(fd, st, "refused")
        now = time.monotonic()
        if now - last_scan >= a.scan:
            if holding:
                scan_late.append(now - last_scan - a.scan)
            last_scan = now
            if not draining:
                for st in conns.values():
                    if st["phase"] == "ready" and now - st["last_tx"] >= a.keepalive / 2.0:
                        send(st, b"\xc0\x00")
                        t = time.monotonic()  # after the send: the tool's own loop is not latency
                        st["pings"].append(t)
                        st["last_tx"] = t
                        pings += 1
        if not holding and now - t_start > 120:
            print("ping_latency: connecting took more than 120 s; giving up", file=sys.stderr)
            return 2

    never = sum(len(st["pings"]) for st in conns.values())
    lat.sort()
    ms = lambda v: v * 1000.0
    print("  pings=%d answered_by_end_of_hold=%d answered_in_drain=%d never_answered=%d "
          "(outstanding at end of hold: %d)" % (pings, pongs_in_hold, pongs - pongs_in_hold, never,
                                                outstanding_at_end))
    print("  PINGRESP latency ms: p50=%.2f p90=%.2f p99=%.2f p99.9=%.2f max=%.2f (n=%d)" %
          (ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99)), ms(pct(lat, 99.9)),
           ms(lat[-1]) if lat else float("nan"), len(lat)))
    scan_late.sort()
    print("  self: scans late by p50=%.1f ms max=%.1f ms" %
          (ms(pct(scan_late, 50)), ms(scan_late[-1]) if scan_late else float("nan")))
    if a.broker_pid:
        print("  broker CPU during the hold: %.2f s (%.1f %% of one core)" % (cpu_hold, 100.0 * cpu_hold / a.hold))
    print("  connections closed by the broker while holding: %d" % closed_by_broker)
    for d in closed_detail:
        print("    " + d)
    print("RESULT tool=ping_latency clients=%d keepalive=%d connected=%d conn_s=%.2f pings=%d pongs_hold=%d "
          "pongs_drain=%d never=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f broker_closed=%d broker_cpu_hold_s=%.2f" %
          (a.clients, a.keepalive, ready + closed_by_broker, conn_time, pings, pongs_in_hold, pongs - pongs_in_hold,
           never, ms(pct(lat, 50)), ms(pct(lat, 99)), ms(lat[-1]) if lat else -1, closed_by_broker,
           cpu_hold if a.broker_pid else -1))
    for st in list(conns.values()):
        st["s"].close()
    return 0 if never == 0 and closed_by_broker == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
