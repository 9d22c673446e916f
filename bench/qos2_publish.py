#!/usr/bin/env python3
"""Inbound QoS 2 at max rate: the cost of a persistent publisher's stored ids.

A/B of actormq binaries, alternating them run by run (the machine is noisy),
each run a fresh broker with a fresh embedded store (the defaults: RocksDB,
synced) in a temp data dir, pinned like bench/run.sh (broker on CPU
$BROKER_CPU with one worker and one I/O thread, the load on CPU $TOOL_CPU):

  pub   one raw-socket MQTT 3.1.1 QoS 2 publisher, clean session 0 (or 1 with
        --clean), no subscriber: PUBLISH -> PUBREC -> PUBREL -> PUBCOMP with
        --inflight messages in flight, --count messages; msgs/s from the
        first PUBLISH to the last PUBCOMP.
  sub   mqtt-load --scenario fanin --clients 1 --qos 2 --clean 0: the same
        publisher rate with one persistent QoS 2 subscriber (both sessions
        persistent); needs --mqtt-load (bench/run.sh builds it into
        ${TMPDIR:-/tmp}/actormq-bench-$UID).

Usage:
  qos2_publish.py --bin old=/path/actormq --bin new=/path/actormq
                  [--scenario pub|sub ...] [--runs 3] [--count 100000]
                  [--inflight 100] [--size 64] [--clean] [--duration 10]
                  [--mqtt-load PATH]
Prints one line per run (rate, and the broker's CPU time per message over
the whole run, which the noise of a shared machine moves less) and, per
scenario, the median of each binary and the ratio of each to the first.
"""

import argparse
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

BROKER_CPU = os.environ.get("BROKER_CPU", "0")
TOOL_CPU = os.environ.get("TOOL_CPU", "1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect_packet(cid, clean):
    vh = b"\x00\x04MQTT\x04" + bytes([0x02 if clean else 0x00]) + struct.pack(">H", 60)
    return packet(0x10, vh + struct.pack(">H", len(cid)) + cid.encode())


class Publisher:
    """Raw-socket QoS 2 publisher (MQTT 3.1.1), a sliding window of ids."""

    def __init__(self, port, cid, clean):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.sendall(connect_packet(cid, clean))
        ack = self.s.recv(4)
        if len(ack) < 4 or ack[0] != 0x20 or ack[3] != 0:
            raise SystemExit(f"CONNACK refused or short: {ack!r}")

    def run(self, count, inflight, size):
        topic = b"bench/qos2"
        payload = b"x" * size
        head = struct.pack(">H", len(topic)) + topic
        rem = varint(len(head) + 2 + size)
        sent = done = 0
        next_id = 0
        buf = b""

        def publish():
            nonlocal next_id, sent
            next_id = next_id % 65535 + 1
            sent += 1
            return b"\x34" + rem + head + struct.pack(">H", next_id) + payload

        t0 = time.perf_counter()
        self.s.sendall(b"".join(publish() for _ in range(min(inflight, count))))
        while done < count:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise SystemExit(f"broker closed the connection after {done} messages")
            buf += chunk
            out = []
            i = 0
            n = len(buf)
            while n - i >= 4:  # PUBREC / PUBCOMP: 4 bytes each in 3.1.1
                t = buf[i]
                pid = buf[i + 2:i + 4]
                if t == 0x50:  # PUBREC -> PUBREL
                    out.append(b"\x62\x02" + pid)
                elif t == 0x70:  # PUBCOMP: the flow is over
                    done += 1
                    if sent < count:
                        out.append(publish())
                else:
                    raise SystemExit(f"unexpected packet 0x{t:02x}")
                i += 4
            buf = buf[i:]
            if out:
                self.s.sendall(b"".join(out))
        elapsed = time.perf_counter() - t0
        self.s.sendall(b"\xe0\x00")  # DISCONNECT
        self.s.close()
        return count / elapsed


def start_broker(binary, port, data_dir, log):
    args = ["taskset", "-c", BROKER_CPU, binary, "--bind", "127.0.0.1", "--port", str(port),
            "--data-dir", data_dir, "--log-level", "warn", "--set", "admin.enabled=false",
            "--set", "runtime.worker_threads=1", "--set", "runtime.io_threads=1"]
    p = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p
        except OSError:
            if p.poll() is not None:
                raise SystemExit(f"broker {binary} exited (rc {p.returncode})")
            time.sleep(0.02)
    p.kill()
    raise SystemExit("broker did not listen within 60 s")


def stop_broker(p):
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def cpu_seconds(pid):
    """utime + stime of process `pid` (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_pub(port, a):
    # The publisher runs in a child pinned to the tool CPU.
    code = ("import sys; sys.path.insert(0, %r); import qos2_publish as q; "
            "print(q.Publisher(%d, 'qos2-bench', %r).run(%d, %d, %d))"
            % (os.path.dirname(os.path.abspath(__file__)), port, a.clean, a.count,
               a.inflight, a.size))
    out = subprocess.run(["taskset", "-c", TOOL_CPU, sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit("publisher failed: " + out.stderr.strip())
    return float(out.stdout.strip())


def run_sub(port, a, bpid):
    args = ["taskset", "-c", TOOL_CPU, a.mqtt_load, "--scenario", "fanin", "--clients", "1",
            "--qos", "2", "--clean", "0", "--port", str(port), "--size", str(a.size),
            "--inflight", str(a.inflight), "--duration", str(a.duration), "--quiet",
            "--broker-pid", str(bpid)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=a.duration + 200)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT"):
            kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
            if kv.get("error", "none") != "none":
                raise SystemExit("mqtt-load: " + line)
            # rate: messages the subscriber received per second
            return float(kv["rate"]), line, kv.get("lost", "?")
    raise SystemExit("no RESULT line from mqtt-load: " + out.stdout + out.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True, help="label=path")
    ap.add_argument("--scenario", action="append", choices=["pub", "sub"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--inflight", type=int, default=100)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--clean", action="store_true", help="clean-session publisher (pub)")
    ap.add_argument("--mqtt-load", default=os.path.join(
        os.environ.get("TMPDIR", "/tmp"), f"actormq-bench-{os.getuid()}", "mqtt-load"))
    a = ap.parse_args()
    bins = [b.split("=", 1) for b in a.bin]
    scenarios = a.scenario or ["pub"]
    work = tempfile.mkdtemp(prefix="qos2-bench-")
    results = {(s, label): [] for s in scenarios for label, _ in bins}
    cpus = {(s, label): [] for s in scenarios for label, _ in bins}
    try:
        for r in range(a.runs):
            for s in scenarios:
                for label, path in bins:
                    port = free_port()
                    data = os.path.join(work, f"data-{s}-{label}-{r}")
                    with open(os.path.join(work, f"broker-{s}-{label}-{r}.log"), "w") as log:
                        p = start_broker(path, port, data, log)
                        try:
                            cpu0 = cpu_seconds(p.pid)
                            if s == "pub":
                                rate = run_pub(port, a)
                                n = a.count
                                extra = ""
                            else:
                                rate, line, lost = run_sub(port, a, p.pid)
                                n = int(dict(f.split("=", 1) for f in line.split()[1:]
                                             if "=" in f)["recv"])
                                extra = f" lost={lost}"
                            # broker CPU per message (less noisy than the rate
                            # on a shared machine): whole run incl. connect
                            cpu_us = (cpu_seconds(p.pid) - cpu0) * 1e6 / max(n, 1)
                            extra += f" broker_cpu={cpu_us:.1f}us/msg"
                        finally:
                            stop_broker(p)
                    shutil.rmtree(data, ignore_errors=True)
                    results[(s, label)].append(rate)
                    cpus[(s, label)].append(cpu_us)
                    print(f"run {r + 1} {s} {label}: {rate:,.0f} msg/s{extra}", flush=True)
        for s in scenarios:
            base = statistics.median(results[(s, bins[0][0])])
            for label, _ in bins:
                xs = results[(s, label)]
                med = statistics.median(xs)
                cs = cpus[(s, label)]
                print(f"{s} {label}: median {med:,.0f} msg/s (runs: "
                      + ", ".join(f"{x:,.0f}" for x in xs)
                      + f"); x{med / base:.2f} of {bins[0][0]}; broker CPU median "
                      + f"{statistics.median(cs):.1f} us/msg (runs: "
                      + ", ".join(f"{x:.1f}" for x in cs) + ")")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
