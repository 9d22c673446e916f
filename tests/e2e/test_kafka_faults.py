"""Kafka unreachable while the broker runs (APPLICATION queues on Kafka).

The test starts its own Kafka (scripts/services.sh with a private
AMQ_SERVICES_DIR, ~5-10 s) so that freezing it disturbs no other test, and
makes it unreachable by stopping the process (SIGSTOP: connections hang,
every request times out) and then continuing it (SIGCONT). It checks:
- the broker stays up and clean sessions keep working;
- a QoS 1 publish for an offline persistent APPLICATION session is refused
  with a reason code (PUBACK 0x83), never acknowledged and then lost;
- when Kafka answers again the broker resumes on its own: publishes are
  acknowledged, and the subscriber gets every acknowledged message, in order.
The same checks hold when Kafka is stopped under traffic — SIGTERM
(services.sh stop-kafka) or kill -9 of its JVM — and started again on the
same data dir and ports (services.sh start-kafka); the module's tests share
one Kafka.
It also checks that a broker whose Kafka is unreachable at start-up refuses
to start with a clear message (storage.kafka.wait_at_boot_ms = 0).
"""

import os
import random
import signal
import subprocess
import threading
import time

import pytest

import mqtt_raw
from conftest import BAD_LOG, REPO, V5, uid, wait_until
from mqtt_raw import PUBACK, RawClient

SERVICES = os.path.join(REPO, "scripts", "services.sh")


class OwnKafka:
    """The module's own Kafka: bootstrap address, current PID, and
    stop/start on the same data dir and ports (scripts/services.sh)."""

    def __init__(self, run, env):
        self.run, self.env = run, env
        values = dict(line.split("=", 1) for line in open(os.path.join(run, "env")).read().split())
        self.bootstrap = values["AMQ_TEST_KAFKA_BOOTSTRAP"]

    @property
    def pid(self):
        return int(open(os.path.join(self.run, "kafka.pid")).read())

    def services(self, action):
        p = subprocess.run([SERVICES, action], env=self.env, capture_output=True, text=True,
                           timeout=180)
        assert p.returncode == 0, f"services.sh {action} failed:\n{p.stderr[-3000:]}"


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory):
    """A Kafka of this module's own (shared by its tests); stopped (by PID) at the end."""
    run = str(tmp_path_factory.mktemp("kafka-faults") / "services")
    t0 = time.monotonic()
    for attempt in range(2):
        # Port bases of its own (services.sh takes the first free port from
        # there), away from the shared services' 16379 / 19092.
        base = random.randrange(30000, 39000, 10)
        env = dict(os.environ, AMQ_SERVICES_DIR=run, AMQ_KAFKA_PORT_BASE=str(base),
                   AMQ_REDIS_PORT_BASE=str(base + 5))
        p = subprocess.run([SERVICES, "start"], env=env, capture_output=True, text=True,
                           timeout=180)
        if p.returncode == 0:
            break
        print(f"services.sh start failed (attempt {attempt + 1}):\n{p.stderr[-3000:]}")
    else:
        pytest.fail("cannot start a Kafka for this test (see the output above)")
    print(f"own Kafka started in {time.monotonic() - t0:.1f} s")
    kafka = OwnKafka(run, env)
    yield kafka
    try:
        os.kill(kafka.pid, signal.SIGCONT)
    except (ProcessLookupError, FileNotFoundError, ValueError):
        pass
    subprocess.run([SERVICES, "stop"], env=env, check=False, capture_output=True, timeout=120)


def broker_args(bootstrap, prefix, wait_ms=0):
    return ("--set", "storage.application_queue=kafka",
            "--set", f"storage.kafka.bootstrap_servers={bootstrap}",
            "--set", f"storage.kafka.topic_prefix={prefix}",
            "--set", "storage.kafka.replication_factor=1",
            "--set", "storage.kafka.delivery_timeout_ms=2000",
            "--set", f"storage.kafka.wait_at_boot_ms={wait_ms}",
            "--set", "session.default_client_type=application")


def publish_raw(c, topic, payload, pid, timeout):
    """Publishes QoS 1 and returns the PUBACK reason code."""
    c.send(mqtt_raw.publish(topic, payload.encode(), qos=1, packet_id=pid))
    ack = c.recv_type(PUBACK, timeout=timeout)
    assert ack.packet_id == pid
    return ack.code


def check_received_in_order(broker, clients, cid, acked):
    """The persistent subscriber reconnects and gets every acknowledged
    message, in order (duplicates allowed: QoS 1)."""
    sub2 = clients(broker, V5, client_id=cid, clean=False, session_expiry=600)
    assert sub2.session_present
    received = [m.payload.decode() for m in sub2.get_until(acked[-1], timeout=60)]
    received.append(acked[-1])
    distinct = list(dict.fromkeys(received))
    assert distinct == sorted(distinct), "messages out of order after the outage"
    missing = set(acked) - set(received)
    assert not missing, f"acknowledged messages lost: {sorted(missing)[:5]}"
    sub2.disconnect()


def check_stopped_cleanly(broker):
    """The outage is in the log (refused batches are errors); otherwise clean."""
    log = broker.log()
    assert "failed to apply a batch" in log
    proc, broker.proc = broker.proc, None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    broker._log.close()
    for line in BAD_LOG.finditer(broker.log()):
        bad = broker.log()[line.start():].split("\n", 1)[0]
        assert "failed to apply a batch" in bad or "could not store" in bad, bad


def test_kafka_unreachable_while_running(own_kafka, broker_factory, clients):
    bootstrap, kafka_pid = own_kafka.bootstrap, own_kafka.pid
    broker = broker_factory(*broker_args(bootstrap, uid("amq-fault")))
    topic = uid("fault")
    cid = uid("app")
    sub = clients(broker, V5, client_id=cid, clean=False, session_expiry=600)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    clean_sub = clients(broker, V5)
    clean_sub.subscribe(topic + "/clean", qos=1)
    clean_pub = clients(broker, V5)

    pub = RawClient(broker.host, broker.port, V5, timeout=60)
    pub.connect(uid("pub"))
    acked = []
    n = 0
    for _ in range(20):
        n += 1
        assert publish_raw(pub, topic, f"m{n:04d}", n, timeout=15) == 0
        acked.append(f"m{n:04d}")

    os.kill(kafka_pid, signal.SIGSTOP)
    try:
        # Clean sessions do not touch storage: they keep working.
        t0 = time.monotonic()
        clean_pub.publish(topic + "/clean", "while-down", qos=1)
        assert clean_sub.get(timeout=5).payload == b"while-down"
        print(f"clean QoS 1 round trip with Kafka frozen: {time.monotonic() - t0:.3f} s")
        # The persistent APPLICATION session's publish is refused, not acked.
        n += 1
        t0 = time.monotonic()
        code = publish_raw(pub, topic, f"m{n:04d}", n, timeout=60)
        print(f"publish refused with 0x{code:02x} after {time.monotonic() - t0:.1f} s")
        assert code == 0x83, f"expected PUBACK 0x83 with Kafka down, got 0x{code:02x}"
        assert broker.alive()
    finally:
        os.kill(kafka_pid, signal.SIGCONT)

    # Resumes on its own: the next publishes are acknowledged again.
    t0 = time.monotonic()
    deadline = time.monotonic() + 90
    while True:
        n += 1
        code = publish_raw(pub, topic, f"m{n:04d}", n % 65535 or 1, timeout=60)
        if code == 0:
            acked.append(f"m{n:04d}")
            break
        assert code == 0x83, f"unexpected PUBACK code 0x{code:02x}"
        assert time.monotonic() < deadline, "publishes still refused 90 s after Kafka came back"
    print(f"acknowledged again {time.monotonic() - t0:.1f} s after Kafka came back")
    for _ in range(20):
        n += 1
        assert publish_raw(pub, topic, f"m{n:04d}", n % 65535 or 1, timeout=15) == 0
        acked.append(f"m{n:04d}")

    check_received_in_order(broker, clients, cid, acked)
    check_stopped_cleanly(broker)


def running(pid):
    """True while `pid` runs (a zombie has an empty command line)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read() != b""
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_kafka_stopped_and_restarted_on_same_data(own_kafka, broker_factory, clients, how):
    """Kafka stopped while a publisher sends QoS 1 to an offline persistent
    APPLICATION session — SIGTERM (services.sh stop-kafka: a clean shutdown)
    or SIGKILL (kill -9 of the JVM: no shutdown at all, log recovery at the
    next start) —, then started again on the same data dir and ports:
    refused (0x83) while down, never acked-then-lost."""
    broker = broker_factory(*broker_args(own_kafka.bootstrap, uid("amq-restart")))
    topic = uid("restart")
    cid = uid("app")
    sub = clients(broker, V5, client_id=cid, clean=False, session_expiry=600)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    clean_sub = clients(broker, V5)
    clean_sub.subscribe(topic + "/clean", qos=1)
    clean_pub = clients(broker, V5)
    pub = RawClient(broker.host, broker.port, V5, timeout=60)
    pub.connect(uid("pub"))
    acked, codes = [], []
    n = 0

    def send():
        nonlocal n
        n += 1
        code = publish_raw(pub, topic, f"m{n:05d}", n % 65535 or 1, timeout=60)
        assert code in (0, 0x83), f"unexpected PUBACK code 0x{code:02x}"
        if code == 0:
            acked.append(f"m{n:05d}")
        codes.append(code)
        return code

    for _ in range(20):
        assert send() == 0

    # Stop while publishing: keep sending until it has exited.
    t0 = time.monotonic()
    if how == "sigterm":
        stopper = subprocess.Popen([SERVICES, "stop-kafka"], env=own_kafka.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while stopper.poll() is None:
            send()
        assert stopper.returncode == 0, stopper.stderr.read()
    else:
        # kill -9 from another thread while this one is in the middle of a
        # publish (a batch on its way to Kafka).
        pid = own_kafka.pid
        killer = threading.Timer(random.uniform(0.05, 0.3), os.kill, (pid, signal.SIGKILL))
        killer.start()
        while running(pid):
            send()
        killer.join()
    print(f"Kafka stopped ({how}) in {time.monotonic() - t0:.1f} s "
          f"({len(codes) - 20} publishes meanwhile)")
    assert broker.alive()

    # Down: clean sessions keep working; the persistent session's publishes are refused.
    t0 = time.monotonic()
    clean_pub.publish(topic + "/clean", "while-stopped", qos=1)
    assert clean_sub.get(timeout=5).payload == b"while-stopped"
    print(f"clean QoS 1 round trip with Kafka stopped: {time.monotonic() - t0:.3f} s")
    for _ in range(2):
        t0 = time.monotonic()
        assert send() == 0x83, "publish acknowledged while Kafka was stopped"
        print(f"publish refused with 0x83 after {time.monotonic() - t0:.1f} s")
    assert broker.alive()

    # Start again on the same data and ports, still publishing meanwhile.
    t0 = time.monotonic()
    starter = subprocess.Popen([SERVICES, "start-kafka"], env=own_kafka.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while starter.poll() is None:
        send()
    assert starter.returncode == 0, starter.stderr.read()
    print(f"Kafka restarted in {time.monotonic() - t0:.1f} s")

    # Resumes on its own: publishes are acknowledged again.
    t0 = time.monotonic()
    deadline = t0 + 90
    while send() != 0:
        assert time.monotonic() < deadline, "publishes still refused 90 s after Kafka came back"
    print(f"acknowledged again {time.monotonic() - t0:.1f} s after Kafka was READY; "
          f"{codes.count(0x83)} refused, {len(acked)} acknowledged so far")
    for _ in range(20):
        assert send() == 0
    assert broker.alive()

    check_received_in_order(broker, clients, cid, acked)
    check_stopped_cleanly(broker)


def test_refuses_to_start_when_kafka_is_unreachable(tmp_path):
    from conftest import BROKER_BIN, free_port
    args = [BROKER_BIN, "--bind", "127.0.0.1", "--port", str(free_port()),
            "--data-dir", str(tmp_path / "data"), "--set", "admin.port=0",
            *broker_args(f"127.0.0.1:{free_port()}", "amq-noboot")]
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "is unreachable" in out, out[-2000:]
    print(f"refused to start in {time.monotonic() - t0:.1f} s: "
          f"{[l for l in out.splitlines() if 'unreachable' in l][0]}")
