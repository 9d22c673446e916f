"""End-to-end fixtures: the real broker binary on a free loopback port, paho-mqtt
clients whose callbacks feed queues, mosquitto_pub/mosquitto_sub subprocesses.

Rules these helpers enforce (docs: /work/shared/CONVENTIONS.md §2):
- every wait has a deadline (queue.get(timeout=...), polling with a deadline),
  never a sleep that hopes something happened;
- "nothing arrives" is asserted only after a positive sync point (a marker
  message published after the thing that must not arrive, or a PINGRESP).

Broker binary: $AMQ_BROKER_BIN, else <repo>/build/actors/actormq.
Use: `@pytest.mark.broker_args("--set", "k=v")` on a test for extra broker flags,
or the `broker_factory` fixture to start several brokers/configurations.
"""

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BROKER_BIN = os.environ.get("AMQ_BROKER_BIN") or os.path.join(REPO, "build", "actors", "actormq")

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5
VERSIONS = [pytest.param(V311, id="v311"), pytest.param(V5, id="v5")]

# Default deadline for a single expected event. The broker answers in
# milliseconds on loopback; this only bounds how long a failing test hangs.
TIMEOUT = 5.0

# Log lines that must never appear: our logger's error/critical level, and any
# sanitizer report.
BAD_LOG = re.compile(
    r"^\S+ (error|critical) |ERROR|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer"
    r"|ThreadSanitizer|runtime error:", re.M)


def uid(prefix="c"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=TIMEOUT, interval=0.02, what="condition"):
    """Polls `pred` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Broker:
    """A running broker process; its stderr goes to a log file."""

    def __init__(self, args, log_path):
        self.host = "127.0.0.1"
        self.args = list(args)
        self.log_path = log_path
        self.proc = None
        self.port = None
        # Own store directory per broker: nothing leaks between tests.
        self.log_checked_from = 0
        self.data_dir = os.path.join(os.path.dirname(str(log_path)), f"{os.path.basename(str(log_path))}.data")

    def start(self, attempts=3):
        if not os.access(BROKER_BIN, os.X_OK):
            pytest.fail(f"broker binary {BROKER_BIN} not found (set AMQ_BROKER_BIN)")
        for _ in range(attempts):
            self.port = free_port()
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [BROKER_BIN, "--bind", self.host, "--port", str(self.port),
                 "--log-level", "info", "--data-dir", str(self.data_dir),
                 # The admin API on a free port of its own (see admin_port()).
                 "--set", "admin.port=0", *self.args],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # exited: maybe the port was taken in between; retry
                try:
                    with socket.create_connection((self.host, self.port), timeout=0.5):
                        return self
                except OSError:
                    time.sleep(0.01)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"broker did not accept connections within 10s:\n{self.log()}")
            self._log.close()
            # A failed attempt (port taken between free_port() and bind) logged
            # an error line; stop() checks the log from the next attempt on.
            self.log_checked_from = os.path.getsize(self.log_path)
        pytest.fail(f"broker failed to start {attempts} times:\n{self.log()}")

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, pattern, timeout=TIMEOUT):
        """Waits until the log matches `pattern` (a regex); returns the match."""
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()), timeout, what=f"log line /{pattern}/")

    def admin_port(self):
        """The admin API's port, from the broker's log line (admin.port=0 by default)."""
        self.wait_log(r"admin API listens on [^ ]+:(\d+) ")
        return int(re.findall(r"admin API listens on [^ ]+:(\d+) ", self.log())[-1])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM, wait with a deadline, check exit code 0 and a clean log."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self._log.close()
                pytest.fail(f"broker did not stop within 20s of SIGTERM:\n{self.log()[-4000:]}")
        self._log.close()
        log = self.log()
        assert proc.returncode == 0, f"broker exited with {proc.returncode}:\n{log[-4000:]}"
        bad = BAD_LOG.search(log, self.log_checked_from)
        assert not bad, f"broker log has an error line:\n{log[max(0, bad.start() - 500):][:3000]}"


def kill_mid_stream(broker, pub, topic, qos, n=3000, timeout=30):
    """Publishes `n` messages m00000, m00001, ... to `topic` without waiting, and kills the
    broker (SIGKILL) once a third of them are acknowledged. Returns the acknowledged ones, in
    publish order."""
    payloads = [f"m{i:05d}" for i in range(n)]
    infos = [pub.publish(topic, p, qos=qos, wait=False) for p in payloads]
    deadline = time.monotonic() + timeout
    while sum(1 for i in infos if i.is_published()) < n // 3:
        assert time.monotonic() < deadline, f"the broker acknowledged too little in {timeout} s"
        time.sleep(0.005)
    broker.proc.kill()
    broker.proc.wait()
    acked = [p for p, i in zip(payloads, infos) if i.is_published()]
    assert len(acked) >= n // 3
    return acked


def check_online_subscriber_survives_kill_9(broker, clients, version, qos, persistent,
                                            restarted_log=None, timeout=30):
    """The persistent subscriber (`persistent`: its client keyword arguments) is connected and
    receiving when the broker dies (SIGKILL): whatever it had not received of the acknowledged
    messages comes after the restart, in publish order (QoS 2: nothing it received before
    comes again). `restarted_log`: a regex the broker logs once it restored the sessions."""
    n = 3000
    topic = uid("crash-online")
    cid = uid("sub")
    sub = clients(broker, version, client_id=cid, **persistent)
    sub.subscribe(topic, qos=qos)

    acked = kill_mid_stream(broker, clients(broker, version), topic, qos, n, timeout)
    sub.wait_disconnected()  # the connection is gone: nothing more can arrive on it
    before = [m.payload.decode() for m in sub.drained()]
    print(f"killed with {len(acked)} of {n} acknowledged, {len(before)} received online")
    assert before == sorted(set(before)), "online deliveries out of order or doubled"

    broker.start()
    if restarted_log:
        broker.wait_log(restarted_log, timeout=30)
    # The same client reconnects: its own session state goes on too (paho hands a QoS 2
    # message to the application at PUBREL, so one it had answered with PUBREC before the
    # crash is in its hands, and the broker rightly sends only the PUBREL again).
    ack = sub.connect()
    assert sub.session_present, f"no session after the restart: {ack}"
    missing_before = [p for p in acked if p not in set(before)]
    after = []
    if missing_before:
        after = [m.payload.decode() for m in sub.get_until(missing_before[-1], timeout=60)]
        after.append(missing_before[-1])
    # After the restart the stream goes on in publish order; QoS 1 may repeat what was in
    # flight (delivered, its PUBACK not stored before the kill), QoS 2 repeats nothing.
    assert after == sorted(set(after)), "deliveries after the restart out of order or doubled"
    if qos == 2:
        again = set(before) & set(after)
        assert not again, f"QoS 2 delivered twice across the crash: {sorted(again)[:5]}"
    missing = set(acked) - set(before) - set(after)
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
    sub.disconnect()


@pytest.fixture
def broker_factory(tmp_path):
    brokers = []

    def start(*args):
        b = Broker(args, tmp_path / f"broker{len(brokers)}.log").start()
        brokers.append(b)
        return b

    yield start
    for b in brokers:
        b.stop()


@pytest.fixture(params=["embedded", "redis"])
def queue_backend_broker(request, tmp_path):
    """The broker with its DEVICE queues in the embedded store, or in Redis
    (started first, so that it stops after the broker)."""
    from redis_server import RedisServer  # it imports this module
    factory = request.getfixturevalue("broker_factory")
    if request.param == "embedded":
        yield factory()
        return
    redis = RedisServer(tmp_path / "redis").start()
    try:
        b = factory(*redis.broker_args())
        yield b
        b.stop()  # before Redis (the factory's own stop is then a no-op)
    finally:
        redis.stop()


@pytest.fixture
def broker(request, broker_factory):
    """One broker per test; extra flags from @pytest.mark.broker_args(...)."""
    m = request.node.get_closest_marker("broker_args")
    return broker_factory(*(m.args if m else ()))


def pytest_configure(config):
    config.addinivalue_line("markers", "broker_args(*args): extra command-line flags for the broker")


# -- paho clients -----------------------------------------------------------------

class Client:
    """A paho client on its own network thread; every callback feeds a queue.

    Connect/subscribe/publish/disconnect wait for the broker's answer with a
    deadline. Automatic reconnection is off: a closed connection stays closed.
    """

    def __init__(self, broker, version=V5, client_id=None, clean=True, session_expiry=None,
                 keep_alive=30, connect_props=None, will=None, auto_connect=True):
        self.broker = broker
        self.version = version
        self.client_id = uid() if client_id is None else client_id
        self.clean = clean
        self.session_expiry = session_expiry
        self.keep_alive = keep_alive
        self.connect_props = connect_props or {}
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = {}
        self.unsubacks = {}
        self.published = {}
        self.disconnects = queue.Queue()
        self._lock = threading.Lock()
        self._mk(will)
        if auto_connect:
            self.connect()

    def _mk(self, will):
        if self.version == V5:
            c = mqtt.Client(self.client_id, protocol=V5, reconnect_on_failure=False)
        else:
            c = mqtt.Client(self.client_id, clean_session=self.clean, protocol=V311,
                            reconnect_on_failure=False)
        c.max_inflight_messages_set(100)
        if will:
            c.will_set(will["topic"], will.get("payload", b""), will.get("qos", 0),
                       will.get("retain", False), _props(PacketTypes.WILLMESSAGE,
                                                         will.get("properties")))
        c.on_connect = self._on_connect
        c.on_message = lambda cl, ud, msg: self.messages.put(msg)
        c.on_subscribe = self._on_subscribe
        c.on_unsubscribe = self._on_unsubscribe
        c.on_publish = self._on_publish
        c.on_disconnect = self._on_disconnect
        self.c = c

    # callbacks (network thread)
    def _on_connect(self, cl, ud, flags, rc, props=None):
        self.connacks.put((flags.get("session present", 0), rc, props))

    def _on_subscribe(self, cl, ud, mid, codes, props=None):
        with self._lock:
            self.subacks.setdefault(mid, queue.Queue()).put(codes)

    def _on_unsubscribe(self, cl, ud, mid, *rest):
        with self._lock:
            self.unsubacks.setdefault(mid, queue.Queue()).put(rest)

    def _on_publish(self, cl, ud, mid):
        with self._lock:
            self.published.setdefault(mid, queue.Queue()).put(True)

    def _on_disconnect(self, cl, ud, rc, props=None):
        self.disconnects.put(rc)

    def _slot(self, table, mid):
        with self._lock:
            return table.setdefault(mid, queue.Queue())

    # operations (test thread)
    def connect(self, clean=None, session_expiry="keep", props=None):
        """Connects and waits for CONNACK; returns (session_present, rc, props)."""
        if clean is not None:
            self.clean = clean
            if self.version == V311:
                self.c._clean_session = clean
        if session_expiry != "keep":
            self.session_expiry = session_expiry
        kw = {}
        if self.version == V5:
            p = dict(self.connect_props)
            p.update(props or {})
            if self.session_expiry is not None:
                p["SessionExpiryInterval"] = self.session_expiry
            kw["clean_start"] = self.clean
            kw["properties"] = _props(PacketTypes.CONNECT, p)
        self.c.connect(self.broker.host, self.broker.port, self.keep_alive, **kw)
        self.c.loop_start()
        try:
            ack = self.connacks.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no CONNACK for {self.client_id}") from None
        self.session_present = bool(ack[0])
        return ack

    def subscribe(self, topic, qos=0, options=None, sub_id=None):
        """Subscribes and waits for SUBACK; returns the granted codes."""
        props = _props(PacketTypes.SUBSCRIBE, {"SubscriptionIdentifier": sub_id}) if sub_id else None
        if self.version == V5:
            opts = options or SubscribeOptions(qos=qos)
            rc, mid = self.c.subscribe(topic, options=opts, properties=props)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        try:
            codes = self._slot(self.subacks, mid).get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no SUBACK for {topic}") from None
        return [getattr(c, "value", c) for c in codes]

    def unsubscribe(self, topic):
        rc, mid = self.c.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        self._slot(self.unsubacks, mid).get(timeout=TIMEOUT)

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, wait=True):
        """Publishes; with wait, until PUBACK/PUBCOMP (QoS 1/2) or written (QoS 0)."""
        info = self.c.publish(topic, payload, qos, retain,
                              _props(PacketTypes.PUBLISH, props) if props else None)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish rc {info.rc}"
        if wait:
            try:
                self._slot(self.published, info.mid).get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"publish {topic} (QoS {qos}) not acknowledged") from None
        return info

    def wait_published(self, infos, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        for info in infos:
            try:
                self._slot(self.published, info.mid).get(
                    timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("publishes not acknowledged in time") from None

    def get(self, timeout=TIMEOUT):
        """The next received message; fails at the deadline."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: no message within {timeout}s") from None

    def get_n(self, n, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            try:
                out.append(self.messages.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(
                    f"{self.client_id}: {len(out)} of {n} messages within {timeout}s: "
                    f"{[m.payload[:20] for m in out[-5:]]}") from None
        return out

    def get_until(self, payload, timeout=TIMEOUT):
        """Messages up to and including the one with `payload` (a sync marker);
        returns the ones before it."""
        before = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                m = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"{self.client_id}: marker {payload!r} not received; got "
                    f"{[x.payload[:30] for x in before]}") from None
            if m.payload == _b(payload):
                return before
            before.append(m)

    def drained(self):
        """Everything queued now (use only after a positive sync point)."""
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def disconnect(self, props=None, reason=None):
        """Normal DISCONNECT; waits until the connection is closed."""
        kw = {}
        if self.version == V5 and props:
            kw["properties"] = _props(PacketTypes.DISCONNECT, props)
        if self.version == V5 and reason is not None:
            from paho.mqtt.reasoncodes import ReasonCodes
            kw["reasoncode"] = ReasonCodes(PacketTypes.DISCONNECT, identifier=reason)
        self.c.disconnect(**kw)
        try:
            self.disconnects.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: disconnect did not complete") from None
        self.c.loop_stop()

    def wait_disconnected(self, timeout=TIMEOUT):
        """Waits until the broker closes this client's connection; returns rc."""
        try:
            rc = self.disconnects.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.client_id}: still connected after {timeout}s") from None
        self.c.loop_stop()
        return rc

    def close(self):
        """Best-effort cleanup."""
        try:
            if self.c.is_connected():
                self.c.disconnect()
            self.c.loop_stop()
        except Exception:
            pass


def _b(x):
    return x.encode() if isinstance(x, str) else bytes(x)


def _props(ptype, d):
    if not d:
        return None
    p = Properties(ptype)
    for k, v in d.items():
        if v is None:
            continue
        setattr(p, k, v)
    return p


@pytest.fixture
def clients():
    """Factory for paho clients that are all closed at the end of the test."""
    made = []

    def make(broker, version=V5, **kw):
        c = Client(broker, version, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# -- mosquitto command-line clients -------------------------------------------------

def mosq_version(version):
    return "mqttv5" if version == V5 else "mqttv311"


def mosquitto_pub(broker, version, topic, message=None, lines=None, qos=0, retain=False,
                  extra=(), timeout=30):
    """Runs mosquitto_pub to completion (one message, or one per line of `lines`)."""
    cmd = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-V", mosq_version(version),
           "-t", topic, "-q", str(qos), "-i", uid("pub")]
    if retain:
        cmd.append("-r")
    inp = None
    if lines is not None:
        cmd.append("-l")
        inp = "".join(f"{x}\n" for x in lines).encode()
    elif message is not None:
        cmd += ["-m", message]
    else:
        cmd.append("-n")
    cmd += list(extra)
    r = subprocess.run(cmd, input=inp, capture_output=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}): {r.stderr.decode()}"


class MosquittoSub:
    """A running mosquitto_sub. Output lines are `MSG <qos> <topic> <payload>`;
    debug lines tell us when the SUBACK arrived."""

    def __init__(self, broker, version, topics, qos=0, client_id=None, persistent=False,
                 count=None, extra=()):
        # stdbuf: line-buffered stdout, so the SUBACK debug line shows up at once.
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-V",
               mosq_version(version), "-q", str(qos), "-d", "-F", "MSG %q %t %p",
               "-i", client_id or uid("sub")]
        if persistent:
            cmd.append("-c")
        if count is not None:
            cmd += ["-C", str(count)]
        for t in topics:
            cmd += ["-t", t]
        cmd += list(extra)
        self.cmd = cmd
        self.lines = queue.Queue()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.messages = []

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def _next(self, deadline):
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"mosquitto_sub: no output in time ({self.cmd})") from None
        if line is None:
            raise EOFError
        if line.startswith("MSG "):
            _, q, topic, payload = (line.split(" ", 3) + [""])[:4]
            self.messages.append((int(q), topic, payload))
        return line

    def wait_subscribed(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._next(deadline)
            except EOFError:
                raise AssertionError(f"mosquitto_sub exited before SUBACK: {self.cmd}") from None
            if "received SUBACK" in line:
                return

    def wait_messages(self, n, timeout=TIMEOUT):
        """Waits until `n` messages in total have been printed; returns them."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < n:
            try:
                self._next(deadline)
            except EOFError:
                break
        assert len(self.messages) >= n, f"mosquitto_sub got {len(self.messages)} of {n}"
        return self.messages

    def wait_exit(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._next(deadline)
            except EOFError:
                break
        rc = self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def mosq_subs():
    made = []

    def make(*a, **kw):
        s = MosquittoSub(*a, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def sync(publisher, subscriber, topic):
    """Positive sync point: publishes a unique marker on `topic` (which
    `subscriber` must be subscribed to) and waits for it; returns the messages
    that arrived before it. After this, "nothing else arrived" is meaningful:
    the broker delivers one publisher's messages in order."""
    marker = uid("marker")
    publisher.publish(topic, marker, qos=1)
    return subscriber.get_until(marker)
