#!/usr/bin/env python3
"""Idle memory of a TLS connection against a plain one (docs/security.md, "Cost"): starts the
broker (memory store, admin off) with both listeners and a throw-away CA and server certificate
made with the openssl CLI, opens 50 warm-up connections, then N idle MQTT 3.1.1 connections
(CONNECT, CONNACK checked) on the plain listener and prints the broker's VmRSS delta / N; then the
same on a fresh broker over TLS. Needs AMQ_BROKER_BIN (or --bin) and ulimit -n above 2*N:

  python3 bench/tls_idle_memory.py --bin build/actors/actormq -n 1000
"""
import argparse, os, socket, ssl, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import mqtt_raw  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.environ.get("AMQ_BROKER_BIN", "build/actors/actormq"))
ap.add_argument("-n", type=int, default=1000)
ap.add_argument("--port", type=int, default=18940)
a = ap.parse_args()


def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def certs(d):
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "1", "-subj", "/CN=bench CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "ext")


def measure(d, use_tls):
    plain, tls_port = a.port, a.port + 1
    p = subprocess.Popen([a.bin, "--bind", "127.0.0.1", "--port", str(plain), "--storage", "memory",
                          "--log-level", "warn", "--set", "admin.enabled=false",
                          "--set", "listeners.tls.enabled=true",
                          "--set", f"listeners.tls.port={tls_port}",
                          "--set", f"listeners.tls.cert_file={d}/server.pem",
                          "--set", f"listeners.tls.key_file={d}/server.key"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        ctx = ssl.create_default_context(cafile=f"{d}/ca.pem")

        def one(i):
            s = socket.create_connection(("127.0.0.1", tls_port if use_tls else plain))
            if use_tls:
                s = ctx.wrap_socket(s, server_hostname="localhost")
            s.sendall(mqtt_raw.connect(f"idle-{i}", mqtt_raw.V311))
            assert s.recv(4)[:1] == b"\x20", "no CONNACK"
            return s
        warm = [one(i) for i in range(50)]
        time.sleep(0.5)
        before = rss(p.pid)
        held = [one(1000 + i) for i in range(a.n)]
        time.sleep(1.0)
        after = rss(p.pid)
        print(f"{'tls  ' if use_tls else 'plain'}: RSS {before} -> {after} KiB: "
              f"{(after - before) / a.n:.2f} KiB per idle connection (N={a.n})")
        for s in held + warm:
            s.close()
    finally:
        p.terminate()
        p.wait()


with tempfile.TemporaryDirectory() as d:
    certs(d)
    measure(d, False)
    measure(d, True)
