#!/usr/bin/env python3
"""Turn the RESULT/EVENT lines written by bench/run.sh into bench/results/<date>.md.

    python3 bench/report.py META RESULTS > report.md

Rules: a rate whose run lost messages (lost > 0) is marked LOSS; a cell whose run had the
load tool at >= 90 % of a core is not reported ("tool-bound"); repeated runs are shown
"run 1 / run 2 / ...", and ratios are taken run by run (same run = same minute of the shared
machine), never across runs.
"""
import sys
from collections import defaultdict

TOOL_BOUND_PCT = 90.0
BROKER_NAMES = {
    "actormq": "actormq (1 core)",
    "actormq2": "actormq (2 cores, unpinned)",
    "mosquitto": "mosquitto",
    "limit": "limit (null broker)",
    "actormq-redis": "actormq (1 core), DEVICE queue in Redis",
    "actormq-kafka": "actormq (1 core), APPLICATION queue in Kafka",
}
# Brokers that only run the persistent-session (backlog) rows.
BACKEND_BROKERS = ("actormq-redis", "actormq-kafka")
CASES = {
    "fanin_q0": "fan-in 8→1, QoS 0, max rate",
    "fanin_q1": "fan-in 8→1, QoS 1, max rate",
    "fanout_q0": "fan-out 1→50, QoS 0, max rate (deliveries/s)",
    "fanout_q1": "fan-out 1→50, QoS 1, max rate (deliveries/s)",
    "p2p_q0": "p2p 100 pairs, QoS 0, max rate",
    "p2p_q1": "p2p 100 pairs, QoS 1, max rate",
    "fanin_q0_5k": "fan-in 8→1, QoS 0, 5,000 msg/s offered",
    "fanin_q1_5k": "fan-in 8→1, QoS 1, 5,000 msg/s offered",
    "fanout_q0_5k": "fan-out 1→50, QoS 0, 100 msg/s offered = 5,000 deliveries/s",
    "fanout_q1_5k": "fan-out 1→50, QoS 1, 100 msg/s offered = 5,000 deliveries/s",
    "p2p_q0_5k": "p2p 100 pairs, QoS 0, 5,000 msg/s offered",
    "p2p_q1_5k": "p2p 100 pairs, QoS 1, 5,000 msg/s offered",
    "fanout_q0_5kp": "fan-out 1→50, QoS 0, 5,000 msg/s offered = 250,000 deliveries/s",
    "fanout_q1_5kp": "fan-out 1→50, QoS 1, 5,000 msg/s offered = 250,000 deliveries/s",
}


def kv(line):
    out = {}
    for tok in line.split()[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def num(d, k, default=0.0):
    try:
        return float(d.get(k, default))
    except ValueError:
        return default


def fmt_int(x):
    return f"{x:,.0f}"


def fmt_us(us):
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.0f} µs"


def tool_bound(r):
    return num(r, "tool_cpu_pct") >= TOOL_BOUND_PCT


def rate_cell(r):
    if r is None:
        return "—"
    if r.get("error", "none") != "none":
        return f"ERROR ({r['error']})"
    if tool_bound(r):
        return f"tool-bound (tool {num(r, 'tool_cpu_pct'):.0f}%)"
    lost = int(num(r, "lost"))
    rate = fmt_int(num(r, "rate"))
    if lost > 0:
        return (f"**LOSS** {rate} (lost {fmt_int(lost)}: gaps {fmt_int(num(r, 'gaps'))}, "
                f"tail {fmt_int(num(r, 'tail'))}; sent {fmt_int(num(r, 'sent'))})")
    return f"{rate} (lost 0)"


def lat_cell(r):
    if r is None or r.get("error", "none") != "none":
        return "—"
    if tool_bound(r):
        return "tool-bound"
    return f"{fmt_us(num(r, 'p50_us'))} · {fmt_us(num(r, 'p99_us'))}"


def ratio(a, b):
    if a is None or b is None:
        return "—"
    for r in (a, b):
        if r.get("error", "none") != "none" or tool_bound(r):
            return "n/a"
    rb = num(b, "rate")
    if rb <= 0:
        return "n/a"
    x = num(a, "rate") / rb
    s = f"{x:.2f}×" if x < 10 else f"{x:.0f}×"
    if num(a, "lost") > 0 or num(b, "lost") > 0:
        s += " (LOSS)"
    return s


def frac(a, b):
    if a is None or b is None:
        return "—"
    for r in (a, b):
        if r.get("error", "none") != "none" or tool_bound(r):
            return "n/a"
    rb = num(b, "rate")
    if rb <= 0:
        return "n/a"
    x = num(a, "rate") / rb
    return f"{100 * x:.1f}%" if x >= 0.01 else f"{100 * x:.2f}%"


def joined(runs, fn):
    return " / ".join(fn(r) for r in runs)


def main():
    meta = {}
    with open(sys.argv[1]) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    results, events, raw = [], [], []
    with open(sys.argv[2]) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("RESULT "):
                results.append(kv(line))
                raw.append(line)
            elif line.startswith("EVENT "):
                events.append(line)
                raw.append(line)

    if meta.get("pinned") == "0":  # --unpinned: every actormq runs its default threads
        for b in ("actormq", "actormq2"):
            BROKER_NAMES[b] = "actormq (unpinned, default threads)"
        BROKER_NAMES["actormq-redis"] = "actormq (unpinned), DEVICE queue in Redis"
        BROKER_NAMES["actormq-kafka"] = "actormq (unpinned), APPLICATION queue in Kafka"
    all_brokers = meta.get("brokers", "actormq actormq2 mosquitto limit").split()
    brokers = [b for b in all_brokers if b not in BACKEND_BROKERS]
    repeat = int(meta.get("repeat", "1"))
    runs = list(range(1, repeat + 1))
    by = defaultdict(dict)  # (case) -> {(broker, run): result}
    order = []
    for r in results:
        c = r["case"]
        if c not in by:
            order.append(c)
        by[c][(r["broker"], int(r["run"]))] = r

    def get(case, b, run):
        return by[case].get((b, run))

    P = print
    P(f"# actormq benchmark — {meta.get('date', '?')}")
    P()
    P(f"- **Machine**: `nproc` = {meta.get('nproc')}, CPU model `{meta.get('cpu')}`, "
      f"{meta.get('mem')} RAM, Linux {meta.get('kernel')}, g++ {meta.get('gxx')}. Shared machine: "
      f"1-min load average {meta.get('loadavg_start', '?').split()[0]} at the start, "
      f"{meta.get('loadavg_end', '? ').split()[0]} at the end (per-run values in the raw lines).")
    only_fleet = bool(results) and all(r.get("scenario") == "backlog" for r in results)
    if meta.get("pinned") == "0":
        P("- **Pinning: none** (`--unpinned`): brokers and tools run as a user runs them, "
          "no `taskset`; actormq with its default configuration (one CAF worker per CPU, each "
          "running the I/O of its share of the connections, session actors on their "
          "connection's worker; since cd3549e each worker keeps to its own CPU by the broker's "
          "own default, `runtime.pin_workers`), Mosquitto single-threaded as always, "
          "mqtt-load scheduled by the kernel.")
    elif only_fleet:
        P(f"- **Pinning**: brokers `taskset -c {meta.get('broker_cpu')}` (actormq: 1 CAF worker that also runs the I/O, `runtime.io_threads=0`), "
          f"actormq-fleet `taskset -c {meta.get('tool_cpu')}`; Redis and Kafka not pinned.")
    else:
        P(f"- **Pinning**: brokers `taskset -c {meta.get('broker_cpu')}`, mqtt-load `taskset -c {meta.get('tool_cpu')}`. "
          f"Exception: the column *actormq (2 cores, unpinned)* runs actormq without taskset "
          f"(2 CAF workers, each running the I/O of its share of the connections), so it can use the "
          f"tool's core too; *actormq (1 core)* runs 1 worker, which also runs the I/O "
          f"(`runtime.io_threads=0`; runs before 2026-11-26 05:00 UTC used 1 worker + 1 I/O thread), "
          f"on CPU {meta.get('broker_cpu')}.")
    tools = ("actormq-fleet from the same build" if only_fleet else
             f"mqtt-load and limit-broker from `{meta.get('shared')}` (g++ -O2)")
    P(f"- **Build**: actormq {meta.get('actormq_commit')}, CMAKE_BUILD_TYPE={meta.get('build_type')}; "
      f"mosquitto {meta.get('mosquitto')}; {tools}.")
    if only_fleet:
        P(f"- **Load**: actormq-fleet `--scenario backlog --backlog 100000 --qos 1` (MQTT 3.1.1, 64-byte payloads), "
          f"fresh broker process and fresh store per run, {repeat} run(s) per broker, interleaved.")
    else:
        P(f"- **Load**: MQTT 3.1.1, 64-byte payloads, `--inflight 100`, {meta.get('duration')} s of publishing per run, "
          f"fresh broker process per run, {repeat} run(s) per cell (shown `run 1 / run 2 / …`; within one run, `·` separates p50 from p99). "
          f"Mosquitto TCP_NODELAY: `{meta.get('mosq_nodelay')}` (auto = Nagle on at max rate, "
          f"`set_tcp_nodelay true` at fixed rate).")
    if not only_fleet:
        P("- **Rules**: a rate is *received* messages/s (deliveries/s for fan-out); `lost` is expected − unique "
          "received; a rate with lost > 0 is marked **LOSS**; a cell where the tool used ≥ 90 % of its core is "
          "not reported (*tool-bound*). Ratios are per run (same minute), not across runs.")
    P()

    def col_brokers(cols):
        return [b for b in cols if b in brokers]

    conn_cases = [c for c in order if any(r.get("case") == c and r.get("scenario") == "conn" for r in results)]
    thr_cases = [c for c in order if c not in conn_cases and c not in FLEET_CASES]
    if thr_cases:
        P("## Throughput and latency")
        P()
        hdr = ["scenario"] + [f"{BROKER_NAMES[b]} msg/s" for b in brokers]
        rat = []
        if "actormq" in brokers and "mosquitto" in brokers:
            rat.append(("actormq", "mosquitto", "actormq/mosquitto", ratio))
        if "actormq2" in brokers and "mosquitto" in brokers:
            rat.append(("actormq2", "mosquitto", "actormq 2-core/mosquitto", ratio))
        if "actormq" in brokers and "limit" in brokers:
            rat.append(("actormq", "limit", "actormq/limit", frac))
        hdr += [x[2] for x in rat]
        hdr += [f"p50 · p99 {BROKER_NAMES[b]}" for b in brokers]
        P("| " + " | ".join(hdr) + " |")
        P("|" + "---|" + "---:|" * (len(hdr) - 1))
        for c in thr_cases:
            row = [CASES.get(c, c)]
            for b in brokers:
                row.append(joined(runs, lambda run: rate_cell(get(c, b, run))))
            for a, b2, _, fn in rat:
                row.append(joined(runs, lambda run: fn(get(c, a, run), get(c, b2, run))))
            for b in brokers:
                row.append(joined(runs, lambda run: lat_cell(get(c, b, run))))
            P("| " + " | ".join(row) + " |")
        P()
        p99_section(P, thr_cases, brokers, runs, get)
        P("### Per broker CPU-second (received msg/s ÷ broker CPU share)")
        P()
        P("On a shared machine a broker gets only part of its core, and under CFS a process with "
          "two runnable threads (actormq before 2026-11-26: CAF worker + I/O thread; since then one "
          "thread, so the bias is gone for it) gets a bigger share than a "
          "single-threaded one (mosquitto, limit). This table divides each rate by the broker's own "
          "CPU share over the same window, which removes most of that bias (it flatters a broker that "
          "idles while waiting, e.g. at fixed rate, so only max-rate rows are shown).")
        P()
        eff_b = [b for b in brokers]
        hdr = ["scenario"] + [f"{BROKER_NAMES[b]}" for b in eff_b]
        if "actormq" in brokers and "mosquitto" in brokers:
            hdr.append("actormq/mosquitto")
        if "actormq" in brokers and "limit" in brokers:
            hdr.append("actormq/limit")
        P("| " + " | ".join(hdr) + " |")
        P("|" + "---|" + "---:|" * (len(hdr) - 1))

        def eff(r):
            if r is None or r.get("error", "none") != "none" or num(r, "broker_cpu_pct") <= 0:
                return None
            return num(r, "rate") * 100.0 / num(r, "broker_cpu_pct")

        def eff_cell(r):
            e = eff(r)
            if e is None:
                return "—"
            if tool_bound(r):
                return "tool-bound"
            return fmt_int(e) + (" LOSS" if num(r, "lost") > 0 else "")

        def eff_ratio(a, b):
            ea, eb = eff(a), eff(b)
            if ea is None or eb is None or eb <= 0 or tool_bound(a) or tool_bound(b):
                return "n/a"
            x = ea / eb
            return (f"{x:.2f}×" if x < 10 else f"{x:.0f}×") if b is not None and b["broker"] != "limit" else f"{100 * x:.0f}%"

        for c in thr_cases:
            if not any((get(c, b, run) or {}).get("mode") == "max" for b in brokers for run in runs):
                continue
            row = [CASES.get(c, c)]
            for b in eff_b:
                row.append(joined(runs, lambda run: eff_cell(get(c, b, run))))
            if "actormq" in brokers and "mosquitto" in brokers:
                row.append(joined(runs, lambda run: eff_ratio(get(c, "actormq", run), get(c, "mosquitto", run))))
            if "actormq" in brokers and "limit" in brokers:
                row.append(joined(runs, lambda run: eff_ratio(get(c, "actormq", run), get(c, "limit", run))))
            P("| " + " | ".join(row) + " |")
        P()
        P("### CPU and memory (broker CPU % · tool CPU % · broker RSS after setup → end, MB)")
        P()
        P("| scenario | " + " | ".join(BROKER_NAMES[b] for b in brokers) + " |")
        P("|---|" + "---:|" * len(brokers))
        for c in thr_cases:
            row = [CASES.get(c, c)]
            for b in brokers:
                def cpu(run):
                    r = get(c, b, run)
                    if r is None:
                        return "—"
                    return (f"{num(r, 'broker_cpu_pct'):.0f}% · {num(r, 'tool_cpu_pct'):.0f}% · "
                            f"{num(r, 'broker_rss_kb_start') / 1024:.1f} → {num(r, 'broker_rss_kb_end') / 1024:.1f}")
                row.append(joined(runs, cpu))
            P("| " + " | ".join(row) + " |")
        P()
        P("Dups / out-of-order / disconnects (all runs): " + (", ".join(
            f"{r['broker']} {r['case']} r{r['run']}: dup {r.get('dup')} ooo {r.get('ooo')} disc {r.get('disconnects')}"
            for r in results if r.get("scenario") != "conn" and
            (num(r, "dup") or num(r, "ooo") or num(r, "disconnects"))) or "none."))
        P()

    for case in conn_cases:
        first = next(r for r in results if r.get("case") == case)
        P(f"## Idle connections: {fmt_int(num(first, 'clients'))} ({case}, keep-alive 10 s, held {meta.get('hold')} s)")
        P()
        P("actormq runs as a user runs it here: its default embedded store and the admin API "
          "(whose session directory keeps an entry per session).")
        P()
        P("| broker | run | connected / failed | connect rate (conn/s) | VmRSS before → connected → end (MB) | "
          "KiB per connection | PINGREQ / PINGRESP | dropped | CPU while connecting: tool / broker |")
        P("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for b in brokers:
            for run in runs:
                r = get(case, b, run)
                if r is None:
                    continue
                P(f"| {BROKER_NAMES[b]} | {run} | {fmt_int(num(r, 'connected'))} / {fmt_int(num(r, 'failed'))} | "
                  f"{fmt_int(num(r, 'conn_rate'))} | {num(r, 'broker_rss_kb_before') / 1024:.1f} → "
                  f"{num(r, 'broker_rss_kb_connected') / 1024:.1f} → {num(r, 'broker_rss_kb_end') / 1024:.1f} | "
                  f"{num(r, 'kb_per_conn'):.2f} | {r.get('pings')} / {r.get('pongs')} | {r.get('dropped')} | "
                  f"{num(r, 'connect_tool_cpu_pct'):.0f}% / {num(r, 'connect_broker_cpu_pct'):.0f}% |")
        if "actormq" in brokers and "mosquitto" in brokers:
            def cr(run, b="actormq", case=case):
                a, m = get(case, b, run), get(case, "mosquitto", run)
                if not a or not m or num(m, "conn_rate") <= 0:
                    return "—"
                note = " (tool-bound)" if num(a, "connect_tool_cpu_pct") >= TOOL_BOUND_PCT or num(m, "connect_tool_cpu_pct") >= TOOL_BOUND_PCT else ""
                return f"{num(a, 'conn_rate') / num(m, 'conn_rate'):.2f}×{note}"
            P()
            P("Connect rate actormq (1 core) / mosquitto: " + " / ".join(cr(run) for run in runs) +
              ". (kb_per_conn is the tool's figure: (RSS at end of hold − RSS before) ÷ connections, "
              "user space only; kernel socket buffers are not in VmRSS.)")
        P()

    fleet_section(P, meta, results, all_brokers, runs, get)

    P("## Events")
    P()
    if events:
        P("Broker start/stop problems, non-zero exits and broker log lines mentioning drop/error:")
        P()
        for e in events:
            P(f"- `{e}`")
    else:
        P("None: every broker started, listened, served the run and stopped on SIGTERM; no broker log "
          "line mentioned drops or errors.")
    P()
    P("<details><summary>Raw RESULT and EVENT lines</summary>")
    P()
    P("```")
    for line in raw:
        P(line)
    P("```")
    P()
    P("</details>")


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if n == 0 else (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2)


def p99_section(P, cases, brokers, runs, get):
    """p99 at fixed rates, actormq against Mosquitto: the per-run ratio (same minute), how many
    runs actormq's p99 was the lower, and the median ratio over runs. One run's ratio swings by
    0.3-0.5 on this shared machine, so the verdict needs several runs (--repeat)."""
    fixed = [c for c in cases if any((r := get(c, "mosquitto", run)) and r.get("mode") == "fixed" for run in runs)]
    pairs = [(a, BROKER_NAMES[a]) for a in ("actormq", "actormq2") if a in brokers]
    if not fixed or "mosquitto" not in brokers or not pairs:
        return
    P("### p99 at fixed rates: actormq / mosquitto")
    P()
    P("Per-run ratio of the p99 latencies (below 1: actormq's is lower), the runs in which actormq's "
      "p99 was the lower, and the median of the per-run ratios. Runs that lost messages are left out.")
    P()
    P("| scenario | broker | per-run p99 ratio | actormq lower | median ratio |")
    P("|---|---|---:|---:|---:|")
    for c in fixed:
        for a, name in pairs:
            rs = []
            for run in runs:
                x, m = get(c, a, run), get(c, "mosquitto", run)
                if not x or not m or num(x, "lost") > 0 or num(m, "lost") > 0 or num(m, "p99_us") <= 0:
                    continue
                rs.append(num(x, "p99_us") / num(m, "p99_us"))
            if not rs:
                continue
            med = median(rs)
            fmt = lambda r: f"{r:.2f}" if r >= 0.1 else f"{r:.4f}"
            P(f"| {CASES.get(c, c)} | {name} | {' / '.join(fmt(r) for r in rs)} | "
              f"{sum(1 for r in rs if r <= 1.0)} of {len(rs)} | **{fmt(med)}** |")
    P()


# Persistent-session rows, measured with actormq-fleet (mqtt-load cannot hold a backlog for an
# offline session): RESULT lines with scenario=backlog from `actormq-fleet --scenario backlog`.
FLEET_CASES = ("backlog",)
STORE = {
    "actormq": "embedded RocksDB: synced write (group commit) before PUBACK",
    "actormq-redis": "Redis sorted set, AOF appendfsync {fsync}, before PUBACK",
    "actormq-kafka": "Kafka topic, acks=all, replication factor 1 (no fsync: page cache), before PUBACK",
    "mosquitto": "memory; `persistence true` writes the store on autosave/shutdown only",
}


def phase_cpu(r, phase):
    """The tool's CPU in one phase (queue|drain); old RESULT lines only have the whole run's."""
    return num(r, f"{phase}_tool_cpu_pct", num(r, "tool_cpu_pct"))


def fleet_rate(r, phase):
    """A backlog rate, or why it is not reported: the tool saturated its core in that phase."""
    if r.get("error", "none") != "none":
        return f"error ({r.get('error')})"
    cpu = phase_cpu(r, phase)
    if cpu >= TOOL_BOUND_PCT:
        return f"*tool-bound* (tool {cpu:.0f}%)"
    x = num(r, "queue_rate" if phase == "queue" else "drain_rate")
    return fmt_int(x) + (" **LOSS**" if num(r, "lost") > 0 else "")


def fleet_ratio(a, m, phase):
    if a is None or m is None:
        return "—"
    key = "queue_rate" if phase == "queue" else "drain_rate"
    for r in (a, m):
        if r.get("error", "none") != "none" or phase_cpu(r, phase) >= TOOL_BOUND_PCT or num(r, "lost") > 0:
            return "n/a"
    if num(m, key) <= 0:
        return "n/a"
    return f"{num(a, key) / num(m, key):.2f}×"


def fleet_section(P, meta, results, brokers, runs, get):
    rows = [r for r in results if r.get("scenario") == "backlog"]
    if not rows:
        return
    first = rows[0]
    P("## Persistent session: offline queueing and reconnect drain (actormq-fleet)")
    P()
    P(f"One persistent session (MQTT {'5.0' if first.get('proto') == '5' else '3.1.1'}) subscribes at QoS "
      f"{first.get('qos')} and disconnects; the sender queues {fmt_int(num(first, 'backlog'))} messages for it "
      "(window 256; *queueing rate* = acknowledged msg/s); the session reconnects and drains them "
      "(*drain rate* = messages ÷ time from the reconnect to the last arrival). `lost` = acknowledged but "
      "never received, `dup` = received twice, over the whole run. A rate is not reported (*tool-bound*) "
      "when actormq-fleet used ≥ 90 % of its core **in that phase**. *vs mosquitto* is the ratio to "
      "Mosquitto's rate in the same run. *CPU s* = CPU seconds used by the broker process and by the "
      "backend server (redis-server / Kafka's JVM) over the whole fleet run; *backend wrote* = growth of "
      "Redis's AOF, or the size of the run's Kafka topic logs (evidence that the backlog went through "
      "that backend).")
    P()
    if meta.get("redis") or meta.get("kafka"):
        P(f"Backends: Redis {meta.get('redis', '—')}; Kafka {meta.get('kafka', '—')}; both started for "
          "the run by scripts/services.sh, not pinned.")
        P()
    fsync = (meta.get("redis", "").rsplit(" ", 1) + ["?"])[1] if meta.get("redis") else "?"
    P("| broker | queue stored in | run | load | queueing rate (msg/s) | drain rate (msg/s) | received | lost | dup "
      "| vs mosquitto: queueing · drain | tool CPU: queueing · drain | CPU s: broker · backend | backend wrote |")
    P("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in brokers:
        for run in runs:
            r = get("backlog", b, run)
            if r is None:
                continue
            m = get("backlog", "mosquitto", run)
            vs = "—" if b == "mosquitto" else f"{fleet_ratio(r, m, 'queue')} · {fleet_ratio(r, m, 'drain')}"
            backend_cpu = r.get("backend_cpu_s", "—")
            wrote = f"{num(r, 'backend_bytes') / 1e6:.1f} MB" if "backend_bytes" in r else "—"
            if b == "actormq-redis" and fsync == "off":
                wrote = "— (no AOF)"
            store = STORE.get(b, "?").format(fsync=fsync)
            if b == "actormq-redis" and fsync == "off":
                store = "Redis sorted set in memory (no AOF: not crash-safe), before PUBACK"
            P(f"| {BROKER_NAMES.get(b, b)} | {store} | {run} | {r.get('loadavg', '?')} "
              f"| {fleet_rate(r, 'queue')} | {fleet_rate(r, 'drain')} | {fmt_int(num(r, 'received'))} "
              f"| {r.get('lost')} | {r.get('duplicated')} | {vs} "
              f"| {phase_cpu(r, 'queue'):.0f}% · {phase_cpu(r, 'drain'):.0f}% "
              f"| {r.get('broker_cpu_s', '—')} · {backend_cpu} | {wrote} |")
    P()


if __name__ == "__main__":
    main()
