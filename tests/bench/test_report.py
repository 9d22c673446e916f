"""bench/report.py's rules for the persistent-session (backlog) rows, on fixed RESULT lines.

A backlog rate is not reported when actormq-fleet used >= 90 % of its core in that phase
(queueing or drain), even when its whole-run CPU figure is low; a run that lost messages is
marked LOSS and gets no ratio to Mosquitto; ratios are taken within one run only.
"""

import os
import subprocess
import sys

REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "report.py")

META = """run_id=test
date=2026-11-25 23:00 UTC
brokers=actormq actormq-redis actormq-kafka mosquitto
repeat=2
loadavg_start=1.0 1.0 1.0
loadavg_end=1.0 1.0 1.0
redis=7.0.15, AOF appendfsync always
kafka=kafka-4.1.1, single node (KRaft), replication factor 1
"""

BASE = ("mode=fleet loadavg=1.00 mosq_nodelay=- scenario=backlog proto=4 qos=1 backlog=100000 "
        "queued_s=1 drain_s=1 error=none")


def line(broker, run, queue_rate, drain_rate, lost=0, tool=10.0, queue_tool=None, drain_tool=None, extra=""):
    parts = [f"RESULT broker={broker} run={run} case=backlog", BASE, f"queue_rate={queue_rate}",
             f"drain_rate={drain_rate}", f"received={100000 - lost}", f"lost={lost}", "duplicated=0",
             f"tool_cpu_pct={tool}"]
    if queue_tool is not None:
        parts.append(f"queue_tool_cpu_pct={queue_tool}")
    if drain_tool is not None:
        parts.append(f"drain_tool_cpu_pct={drain_tool}")
    if extra:
        parts.append(extra)
    return " ".join(parts)


def render(tmp_path, lines):
    meta = tmp_path / "meta.txt"
    res = tmp_path / "results.txt"
    meta.write_text(META)
    res.write_text("\n".join(lines) + "\n")
    out = subprocess.run([sys.executable, REPORT, str(meta), str(res)], capture_output=True, text=True,
                         check=True).stdout
    rows = {}
    for row in out.splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) > 5 and cells[2].isdigit():
            rows[(cells[0], int(cells[2]))] = cells
    return out, rows


def test_tool_bound_per_phase(tmp_path):
    out, rows = render(tmp_path, [
        # whole run 20 %, but 95 % while queueing: the queueing rate is not a broker figure
        line("actormq", 1, 250000, 300000, tool=20.0, queue_tool=95.0, drain_tool=30.0),
        line("mosquitto", 1, 20000, 50000, queue_tool=30.0, drain_tool=91.0),
        line("actormq", 2, 240000, 290000, queue_tool=40.0, drain_tool=30.0),
        line("mosquitto", 2, 21000, 48000, queue_tool=30.0, drain_tool=30.0),
    ])
    a1, m1 = rows[("actormq (1 core)", 1)], rows[("mosquitto", 1)]
    assert a1[4].startswith("*tool-bound*") and "250,000" not in a1[4]
    assert a1[5] == "300,000"
    assert m1[4] == "20,000" and m1[5].startswith("*tool-bound*")
    # no ratio with a tool-bound side, in either phase
    assert a1[9] == "n/a · n/a"
    a2 = rows[("actormq (1 core)", 2)]
    assert a2[9] == f"{240000 / 21000:.2f}× · {290000 / 48000:.2f}×"


def test_old_result_lines_fall_back_to_the_whole_run(tmp_path):
    _, rows = render(tmp_path, [line("actormq", 1, 250000, 300000, tool=92.0),
                                line("mosquitto", 1, 20000, 50000)])
    a = rows[("actormq (1 core)", 1)]
    assert a[4].startswith("*tool-bound*") and a[5].startswith("*tool-bound*")


def test_loss_is_marked_and_gets_no_ratio(tmp_path):
    _, rows = render(tmp_path, [
        line("actormq-redis", 1, 80000, 130000, lost=10, queue_tool=10, drain_tool=10,
             extra="broker_cpu_s=0.5 backend_cpu_s=0.8 backend_bytes=24000000"),
        line("mosquitto", 1, 20000, 50000, queue_tool=30, drain_tool=30),
    ])
    r = rows[("actormq (1 core), DEVICE queue in Redis", 1)]
    assert r[4] == "80,000 **LOSS**" and r[5] == "130,000 **LOSS**"
    assert r[7] == "10"
    assert r[9] == "n/a · n/a"
    assert "AOF appendfsync always" in r[1]
    assert r[11] == "0.5 · 0.8" and r[12] == "24.0 MB"
