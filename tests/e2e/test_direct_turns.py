"""Direct turns (docs/architecture.md, "Direct turns"): a session that is idle on the worker
that reads its input, or that routes a message to it, takes that input at once in the worker's
handler instead of as an actor message. What must hold is what held with messages: every
message once, in each publisher's order, also when two workers race for one session; a session
that ends in such a turn is gone (its client id free again); and the turns do happen
(actormq_direct_turns_total)."""

from collections import defaultdict

import pytest

from conftest import V311, V5, VERSIONS, uid, wait_until
from test_metrics import scrape, val

ONE_WORKER = ("--storage", "memory", "--set", "runtime.worker_threads=1")
TWO_WORKERS = ("--storage", "memory", "--set", "runtime.worker_threads=2")


def turns(series, kind):
    return val(series, "actormq_direct_turns_total", input=kind)


@pytest.mark.broker_args(*ONE_WORKER)
def test_one_worker_takes_publishes_and_deliveries_in_direct_turns(broker, clients):
    before = scrape(broker)
    t = uid("direct")
    sub = clients(broker, V5)
    assert sub.subscribe(t, qos=1) == [1]
    pub = clients(broker, V5)
    for i in range(50):
        pub.publish(t, f"m{i}", qos=1)  # acknowledged one by one: each is a read of its own
    assert [m.payload.decode() for m in sub.get_n(50)] == [f"m{i}" for i in range(50)]
    after = scrape(broker)
    # Both kinds happen; exact counts depend on whether a session had a message queued at
    # that moment (then the input is a message, as before).
    assert turns(after, "bytes") > turns(before, "bytes")
    assert turns(after, "deliver") > turns(before, "deliver")


@pytest.mark.broker_args(*ONE_WORKER)
@pytest.mark.parametrize("version", VERSIONS)
def test_a_clean_session_that_ends_in_a_direct_turn_frees_its_client_id(broker, clients,
                                                                        version):
    # Without storage a clean session ends in the turn that reads the client's DISCONNECT (a
    # direct turn with one worker): CAF's cleanup must follow, or the next CONNECT for the id
    # waits for a session that never ends.
    cid = uid("again")
    t = uid("again-t")
    before = scrape(broker)
    for i in range(8):
        c = clients(broker, version, client_id=cid, auto_connect=False)
        present, rc, _ = c.connect()
        assert getattr(rc, "value", rc) == 0 and not present, f"round {i}: {present} {rc}"
        c.subscribe(t, qos=1)
        c.publish(t, f"r{i}", qos=1)  # to itself: the publisher's route cannot claim it
        assert c.get().payload.decode() == f"r{i}"
        c.disconnect()
    after = scrape(broker)
    assert turns(after, "bytes") > turns(before, "bytes")
    wait_until(lambda: val(scrape(broker), "actormq_sessions", state="connected",
                           persistence="clean", client_type="device") == 0,
               what="no clean session left connected")


@pytest.mark.broker_args(*TWO_WORKERS)
def test_two_workers_keep_each_publishers_order(broker, clients):
    # Connections spread over both workers: a subscriber gets some deliveries in direct turns
    # of its own worker's routes and others as messages from the other worker's, and a
    # message may arrive while a direct turn holds the session. Each publisher's messages
    # still come once each, in its order.
    t = uid("order")
    subs = [clients(broker, V5) for _ in range(4)]
    for s in subs:
        assert s.subscribe(t, qos=1) == [1]
    pubs = [clients(broker, v) for v in (V5, V311, V5, V311, V5, V311)]
    n = 300
    infos = defaultdict(list)
    for i in range(n):
        for k, p in enumerate(pubs):
            infos[k].append(p.publish(t, f"{k}:{i}", qos=1, wait=False))
    for k, p in enumerate(pubs):
        p.wait_published(infos[k], timeout=60)
    for s in subs:
        got = s.get_n(n * len(pubs), timeout=60)
        per = defaultdict(list)
        for m in got:
            k, i = m.payload.decode().split(":")
            per[int(k)].append(int(i))
        for k in range(len(pubs)):
            assert per[k] == list(range(n)), \
                f"{s.client_id}: publisher {k} out of order or incomplete: {per[k][:10]}..."
    after = scrape(broker)
    assert turns(after, "deliver") > 0


@pytest.mark.broker_args(*ONE_WORKER, "--set", "runtime.direct_turns=false")
def test_runtime_direct_turns_false_sends_every_input_as_a_message(broker, clients):
    # The way back (docs/configuration.md): the same traffic, no direct turn at all.
    t = uid("off")
    sub = clients(broker, V5)
    assert sub.subscribe(t, qos=1) == [1]
    pub = clients(broker, V311)
    for i in range(20):
        pub.publish(t, f"m{i}", qos=1)
    assert [m.payload.decode() for m in sub.get_n(20)] == [f"m{i}" for i in range(20)]
    after = scrape(broker)
    assert turns(after, "bytes") == 0 and turns(after, "deliver") == 0
