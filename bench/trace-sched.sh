#!/usr/bin/env bash
# Who runs on which core during a burst: a whole-machine scheduler trace of one load scenario,
# with the broker's sends on it. Made to see how the broker's threads and the load tool share
# the two cores when nothing is pinned (docs/performance.md, session-12 section: it showed a
# woken worker queueing behind its waker on one core while the other core idled).
#
#   bench/trace-sched.sh [--broker actormq|mosquitto] [--gap-us N] [--show K]
#                        [--scenario S] [--qos Q] [--rate R] [--clients C]
#                        [-- extra actormq arguments]
#
# Defaults: actormq (build-release/actors/actormq) with its default threads and nothing pinned
# (BROKER_CPU=N pins the broker as bench/run.sh does), fan-out 1->50, QoS 0, 100 publishes/s;
# 1 s recorded from the middle of a 6 s run with `perf record -a` (sched_switch, sched_wakeup,
# the broker's recvfrom/sendmsg; Mosquitto's read/write are not traced, so for it only the
# scheduling part is meaningful).
#
# A *burst* starts at a broker read that follows at least --gap-us (default 3000) of silence.
# Printed: mqtt-load's RESULT figures; per burst (median over bursts, µs after its first read)
# the first and last send; the CPU time per burst the broker, the tool and other programs had
# in the 1.5 ms after the read (both cores together, so at most 3,000 µs); and the timeline of
# burst number K (--show, default 10): every context switch, wake-up of a broker thread or of
# the tool (with the core it is put on) and broker send, by core.
#
# Needs perf (linux-perf) with access to tracepoints (root or perf_event_paranoid <= -1), and
# mqtt-load built by bench/run.sh (in $SCRATCH) or buildable from $AMQ_SHARED_BENCH.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
NAME=trace-sched.sh
BROKER_CPU=${BROKER_CPU:-}
PORT=${PORT:-18898}
AMQ_BIN=${AMQ_BIN:-$REPO/build-release/actors/actormq}
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
broker=actormq scenario=fanout qos=0 rate=100 clients=50 gap_us=3000 show=10
own_option() {
  case $1 in
    --broker) broker=$2 ;;
    --gap-us) gap_us=$2 ;;
    --show) show=$2 ;;
    *) return 1 ;;
  esac
}
HELP_LINES='2,24p'
amq_parse_args "$@"
command -v perf >/dev/null || die "perf not found (Debian: linux-perf)"
LOAD=$(amq_load_tool)
amq_port_free
amq_work_dir
amq_start_broker "$broker" "$work/broker.log"
(sleep 3
 perf record -q -a -m 4096 -e sched:sched_switch -e sched:sched_wakeup \
   -e syscalls:sys_enter_recvfrom -e syscalls:sys_enter_sendmsg \
   -o "$work/perf.data" -- sleep 1 >/dev/null 2>&1) &
ppid=$!
"$LOAD" --port "$PORT" --scenario "$scenario" --qos "$qos" --rate "$rate" --duration 6 \
  --clients "$clients" --broker-pid "$bpid" --quiet 2>/dev/null |
  grep '^RESULT' | sed -E 's/.*(sent=[0-9]+).*(lost=[0-9]+).*(p50_us=[0-9.]+) (p99_us=[0-9.]+).*(broker_cpu_pct=[0-9.]+).*/mqtt-load: \1 \2 \3 \4 \5/' || true
wait "$ppid" || true
comm=$(cat "/proc/$bpid/task/"*/comm 2>/dev/null | sort -u | tr '\n' ' ')
kill "$bpid" 2>/dev/null || true
wait "$bpid" 2>/dev/null || true
perf script -i "$work/perf.data" -F comm,tid,cpu,time,event,trace 2>/dev/null |
  GAP_US=$gap_us SHOW=$show BROKER_COMMS="$comm" python3 -c '
import collections, os, re, statistics, sys
gap = float(os.environ["GAP_US"]) * 1e-6
show = int(os.environ["SHOW"])
comms = set(os.environ["BROKER_COMMS"].split())
is_broker = lambda c: c in comms
is_tool = lambda c: c.startswith("mqtt-load")
line_re = re.compile(r"\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+(\d+\.\d+):\s+(\S+):\s*(.*)")
ev = []
for line in sys.stdin:
    m = line_re.match(line)
    if m:
        ev.append((float(m.group(4)), m.group(1), int(m.group(2)), int(m.group(3)),
                   m.group(5).split(":")[-1], m.group(6)))
ev.sort()
starts, last = [], None
for i, (t, c, tid, cpu, e, tr) in enumerate(ev):
    if is_broker(c) and e in ("sys_enter_recvfrom", "sys_enter_sendmsg"):
        if e == "sys_enter_recvfrom" and (last is None or t - last >= gap):
            starts.append(i)
        last = t
window = 0.0015
firsts, lasts, share = [], [], collections.defaultdict(float)
cpus = sorted({e[3] for e in ev})
for n, i0 in enumerate(starts[1:-1]):
    t0 = ev[i0][0]
    running = {}
    j = i0
    while j > 0 and len(running) < len(cpus) and t0 - ev[j][0] < 0.05:
        t, c, tid, cpu, e, tr = ev[j]
        if e == "sched_switch" and cpu not in running:
            running[cpu] = re.search(r"next_comm=(.+?) next_pid=", tr).group(1)
        j -= 1
    since = {cpu: t0 for cpu in cpus}
    sends, lines = [], []
    def account(cpu, until):
        who = running.get(cpu, "?")
        kind = "broker" if is_broker(who) else "tool" if is_tool(who) else "idle" if who.startswith("swapper") else "other"
        share[kind] += until - since[cpu]
    j = i0
    while j < len(ev) and ev[j][0] < t0 + window:
        t, c, tid, cpu, e, tr = ev[j]
        at = (t - t0) * 1e6
        if e == "sched_switch":
            nxt = re.search(r"next_comm=(.+?) next_pid=(\d+)", tr)
            account(cpu, t)
            running[cpu], since[cpu] = nxt.group(1), t
            lines.append(f"{at:7.0f}  cpu{cpu}  -> {nxt.group(1)}/{nxt.group(2)}")
        elif e == "sched_wakeup":
            w = re.search(r"comm=(.+?) pid=(\d+) .*target_cpu=(\d+)", tr)
            if w and (is_broker(w.group(1)) or is_tool(w.group(1))):
                lines.append(f"{at:7.0f}  cpu{cpu}  {c} wakes {w.group(1)}/{w.group(2)} on cpu{int(w.group(3))}")
        elif is_broker(c) and e == "sys_enter_sendmsg":
            sends.append(at)
            lines.append(f"{at:7.0f}  cpu{cpu}  {c}/{tid} sends")
        elif is_broker(c):
            lines.append(f"{at:7.0f}  cpu{cpu}  {c}/{tid} reads")
        j += 1
    for cpu in cpus:
        account(cpu, t0 + window)
    if sends:
        firsts.append(sends[0])
        lasts.append(sends[-1])
    if n == show:
        shown = lines
bursts = max(len(starts) - 2, 0)
if not bursts or not firsts:
    sys.exit("no bursts with sends found (is --gap-us below the scenario'"'"'s tick?)")
print(f"bursts: {bursts}; first send median {statistics.median(firsts):.0f} us, last send median {statistics.median(lasts):.0f} us")
print("CPU time per burst in the 1.5 ms after its read (both cores): " +
      ", ".join(f"{k} {v / bursts * 1e6:.0f} us" for k, v in sorted(share.items())))
if show < bursts:
    print(f"burst {show}, us after its first read:")
    print("\n".join(shown))
'
