"""actormq-fleet against the real broker: a few hundred devices over TCP, reconnect storms with
session takeovers, persistent sessions; the JSON line must show no loss and nothing out of order
(QoS 1 may duplicate on redelivery; QoS 2 must not), and the broker's own $SYS counters
(sys.interval_s=1) must agree with what the fleet sent and received.

Binary: $AMQ_FLEET_BIN, else <repo>/build/examples/fleet/actormq-fleet.
"""

import json
import os
import subprocess

import pytest

from conftest import REPO

FLEET_BIN = os.environ.get("AMQ_FLEET_BIN") or os.path.join(REPO, "build", "examples", "fleet", "actormq-fleet")


def run_fleet(broker, *args, timeout=90):
    if not os.access(FLEET_BIN, os.X_OK):
        pytest.fail(f"fleet binary {FLEET_BIN} not found (set AMQ_FLEET_BIN)")
    cmd = [FLEET_BIN, "--host", broker.host, "--port", str(broker.port), "--progress", "1", *args]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert len(lines) == 1, p.stdout
    result = json.loads(lines[0])
    result["_text"] = p.stdout + p.stderr
    return result


def check_sys(r):
    """Compares the broker's $SYS publish counters (change over the run) with the fleet's."""
    sys = r.get("sys", {})
    rx = sys.get("$SYS/broker/publish/messages/received")
    assert rx is not None and r.get("sys_fresh"), "no fresh $SYS/broker/publish/messages/received:\n" + r["_text"]
    c = r["counters"]
    received = int(rx["after"]) - int(rx["before"] or 0)
    # Every acknowledged publish reached the broker at least once; a resend (after a reconnect)
    # may be counted again, and a first transmission cut off by our own close may not be.
    unacked = r["sent"] - r["confirmed"]
    assert c["publish_out"] - unacked <= received <= c["publish_out"] + c["resent"], r["_text"]
    tx = sys["$SYS/broker/publish/messages/sent"]
    sent = int(tx["after"]) - int(tx["before"] or 0)
    # The broker sent at least every delivery the fleet read (more: $SYS messages to the reader,
    # deliveries on connections the storms dropped before we read them).
    assert sent >= c["publish_in"], r["_text"]
    print(f"$SYS: broker received {received} (fleet sent {c['publish_out']} + {c['resent']} resent), "
          f"broker sent {sent} (fleet read {c['publish_in']})")


STORM = ["--devices", "300", "--persistent", "--duration", "4", "--command-rate", "300",
         "--telemetry-rate", "2", "--storm-every", "1.3", "--storm-fraction", "0.5",
         "--takeover-fraction", "0.3", "--disconnect-rate", "0.05", "--reconnect-delay-ms", "200",
         "--drain", "15"]


def common_checks(r):
    t = r["_text"]
    assert r["ok"], t
    assert r["expected"] > 1000, t
    assert r["lost"] == 0, t
    assert r["out_of_order"] == 0, t
    assert r["errors"] == {}, t
    c = r["counters"]
    assert r["storms"] >= 2 and c["drops_storm"] > 100 and c["takeovers"] > 0, t
    assert c["sessions_resumed"] > 100, t
    assert c["foreign"] == 0, t


@pytest.mark.broker_args("--set", "sys.interval_s=1")
def test_fleet_qos1_persistent_reconnect_storm(broker):
    r = run_fleet(broker, *STORM, "--qos", "1", "--sys", "--sys-wait", "5")
    common_checks(r)
    # QoS 1: duplicates are legal only as redeliveries; each counted one is also a delivery.
    assert r["received"] == r["received_unique"] + r["duplicated"], r["_text"]
    check_sys(r)


def test_fleet_qos2_mqtt5_exactly_once(broker):
    r = run_fleet(broker, *STORM, "--qos", "2", "--mqtt", "5", "--sub-shared", "--shared-rate", "50")
    common_checks(r)
    assert r["duplicated"] == 0, r["_text"]
    assert r["classes"]["jobs"]["expected"] > 50, r["_text"]
