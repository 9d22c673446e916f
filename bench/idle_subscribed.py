#!/usr/bin/env python3
"""Idle memory of a realistic device: hold N idle MQTT 3.1.1 connections (clean session,
keep alive 60), each subscribed (QoS 1, SUBACK checked) to its own topic dev/<i>/cmd, or not
(--sub 0), or all to one shared filter (--filter fleet/cmd; '{i}' in it is the connection's number); print the broker's VmRSS delta / N (docs/performance.md "Idle connections, third
pass"). The broker must already listen on 127.0.0.1:PORT as PID; run both pinned like bench/run.sh:

  (ulimit -n 20000; exec taskset -c 0 actormq --bind 127.0.0.1 --port 18943 --storage memory \
     --log-level warn --set admin.enabled=false --set runtime.worker_threads=1 \
     --set runtime.io_threads=1) & PID=$!; sleep 2
  (ulimit -n 20000; taskset -c 1 python3 bench/idle_subscribed.py --port 18943 --pid $PID)
  kill $PID
"""
import socket, sys, time, struct, argparse
ap = argparse.ArgumentParser()
ap.add_argument('--port', type=int, required=True)
ap.add_argument('--pid', type=int, required=True)
ap.add_argument('-n', type=int, default=10000)
ap.add_argument('--sub', type=int, default=1)
ap.add_argument('--filter', default='dev/{i}/cmd')
ap.add_argument('--hold', type=float, default=5)
ap.add_argument('--batch', type=int, default=200)
a = ap.parse_args()

def rss(pid):
    for l in open(f'/proc/{pid}/status'):
        if l.startswith('VmRSS:'):
            return int(l.split()[1])

def s(x): b = x.encode(); return struct.pack('!H', len(b)) + b
def pkt(h, body):
    n = len(body); rl = b''
    while True:
        d = n % 128; n //= 128
        rl += bytes([d | (0x80 if n else 0)])
        if not n: break
    return bytes([h]) + rl + body
def connect(cid): return pkt(0x10, s('MQTT') + bytes([4, 0x02]) + struct.pack('!H', 60) + s(cid))
def subscribe(t): return pkt(0x82, struct.pack('!H', 1) + s(t) + bytes([1]))

def recvn(sk, n):
    b = b''
    while len(b) < n:
        c = sk.recv(n - len(b))
        if not c: raise RuntimeError('closed')
        b += c
    return b

before = rss(a.pid)
socks = []
t0 = time.time()
for base in range(0, a.n, a.batch):
    batch = []
    for i in range(base, min(a.n, base + a.batch)):
        sk = socket.create_connection(('127.0.0.1', a.port))
        sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = f'idle-{i}'
        sk.sendall(connect(cid) + (subscribe(a.filter.replace('{i}', str(i))) if a.sub else b''))
        batch.append(sk)
    for sk in batch:
        ack = recvn(sk, 4)
        assert ack[0] == 0x20 and ack[3] == 0, ack
        if a.sub:
            sa = recvn(sk, 5)
            assert sa[0] == 0x90 and sa[4] == 1, sa
    socks += batch
conn_s = time.time() - t0
time.sleep(a.hold)
after = rss(a.pid)
print(f'RESULT sub={a.sub} filter={a.filter if a.sub else "-"} n={len(socks)} rss_before_kb={before} rss_after_kb={after} '
      f'kb_per_conn={(after - before) / len(socks):.2f} setup_s={conn_s:.1f}')
for sk in socks: sk.close()
