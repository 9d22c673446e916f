"""Cold sessions on the embedded store (docs/sessions.md, "Hot and cold
queues"): a large backlog queued for an offline persistent subscriber stays
in the store, not in memory — neither while the broker runs nor after a
kill -9 and restart, which restores the session cold without reading its
queue. The subscriber then reconnects and receives everything, in order,
read in pages bounded by its Receive Maximum.
"""

import time

from conftest import V5, uid, wait_until

N = 20000
PAYLOAD = 2048  # bytes per message: 40 MB of backlog in all


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_large_backlog_survives_kill_9_without_being_loaded(broker_factory, clients):
    broker = broker_factory()
    topic = uid("page")
    cid = uid("sub")
    kw = dict(client_id=cid, clean=False, session_expiry=3600)
    sub = clients(broker, V5, **kw)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    base = rss_kib(broker.proc.pid)

    pub = clients(broker, V5)
    filler = "x" * (PAYLOAD - 6)
    t0 = time.monotonic()
    infos = [pub.publish(topic, f"{i:06d}{filler}", qos=1, wait=False) for i in range(N)]
    pub.wait_published(infos, timeout=180)
    stored_s = time.monotonic() - t0
    running = rss_kib(broker.proc.pid)

    broker.proc.kill()
    broker.proc.wait()
    broker.start()  # same data directory, new process
    broker.wait_log(r"broker opened rocksdb:.* 1 persistent sessions")
    restarted = rss_kib(broker.proc.pid)
    backlog_kib = N * PAYLOAD // 1024
    print(f"{N} messages stored in {stored_s:.1f} s; RSS KiB: fresh {base}, with backlog "
          f"{running}, after restart {restarted} (backlog {backlog_kib})")
    # The restarted broker did not load the queue (that alone would add more
    # than backlog_kib). (The running broker's RSS also holds RocksDB's
    # memtables, up to 3 x 16 MiB, so it is printed, not compared.)
    assert restarted < base + backlog_kib // 2, "the restart loaded the backlog into memory"

    sub2 = clients(broker, V5, connect_props={"ReceiveMaximum": 100}, **kw)
    assert sub2.session_present
    t0 = time.monotonic()
    got = [m.payload[:6].decode() for m in sub2.get_n(N, timeout=180)]
    drain_s = time.monotonic() - t0
    draining = rss_kib(broker.proc.pid)
    print(f"drained {N} in {drain_s:.1f} s with Receive Maximum 100; RSS after drain {draining} KiB")
    assert got == [f"{i:06d}" for i in range(N)], "backlog not received in publish order"
    # Nothing more arrives (no duplicates), and the session is hot again.
    clients(broker, V5).publish(topic, "after", qos=1)
    assert sub2.get().payload == b"after"
    sub2.disconnect()
