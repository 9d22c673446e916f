#!/usr/bin/env bash
# Broker-side latency of one load scenario, from syscall tracepoints: when, after the read that
# starts a burst of input, does the broker make its first and its last send? A far steadier
# instrument than mqtt-load's p99 on a shared machine (docs/performance.md, "Where the time
# goes"), for actormq and Mosquitto alike (it only looks at their syscalls).
#
#   bench/trace-latency.sh [--broker actormq|mosquitto] [--gap-us N] [--record-s N]
#                          [--scenario S] [--qos Q] [--rate R] [--clients C]
#                          [-- extra actormq arguments]
#
# Defaults: actormq (build-release/actors/actormq, as bench/run.sh runs it: one worker that runs
# the I/O, pinned to $BROKER_CPU), fan-out 1->50, QoS 0, 100 publishes/s; 3 s recorded from the
# middle of a 6 s run. The broker's own `perf record` runs pinned to $TOOL_CPU (with mqtt-load),
# so it never preempts the broker.
#
# A *burst* is the syscalls from a read that follows at least --gap-us (default 3000) of
# silence up to the next such read: one PUBLISH of a low-rate fan-out, or one tick of a
# fixed-rate run (mqtt-load ticks every ~1-5 ms: use --gap-us below the tick). Printed:
# mqtt-load's RESULT figures, the number of bursts, and the offsets of the first, middle and
# last send of each burst from its first read (median / p90 / p99 over bursts, microseconds).
# Bursts with fewer sends than --sends (default: the median count) are left out, so a partial
# burst at the recording's edge does not count.
#
# Needs perf (linux-perf) with access to tracepoints (root or perf_event_paranoid <= -1), and
# mqtt-load built by bench/run.sh (in $SCRATCH) or buildable from $AMQ_SHARED_BENCH.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
NAME=trace-latency.sh
BROKER_CPU=${BROKER_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
PORT=${PORT:-18899}
AMQ_BIN=${AMQ_BIN:-$REPO/build-release/actors/actormq}
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
broker=actormq scenario=fanout qos=0 rate=100 clients=50 gap_us=3000 record_s=3 sends=""
own_option() {
  case $1 in
    --broker) broker=$2 ;;
    --gap-us) gap_us=$2 ;;
    --record-s) record_s=$2 ;;
    --sends) sends=$2 ;;
    *) return 1 ;;
  esac
}
HELP_LINES='2,25p'
amq_parse_args "$@"
command -v perf >/dev/null || die "perf not found (Debian: linux-perf)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
LOAD=$(amq_load_tool)
amq_port_free
amq_work_dir
amq_start_broker "$broker" "$work/broker.log"
duration=$((record_s + 3))
(sleep 2.5
 taskset -c "$TOOL_CPU" perf record -q -e syscalls:sys_enter_recvfrom -e syscalls:sys_enter_read \
   -e syscalls:sys_enter_sendmsg -e syscalls:sys_enter_write -e syscalls:sys_enter_sendto \
   -p "$bpid" -o "$work/perf.data" -- sleep "$record_s" >/dev/null 2>&1) &
ppid=$!
taskset -c "$TOOL_CPU" "$LOAD" --port "$PORT" --scenario "$scenario" --qos "$qos" --rate "$rate" \
  --duration "$duration" --clients "$clients" --broker-pid "$bpid" --quiet 2>/dev/null |
  grep '^RESULT' | sed -E 's/.*(sent=[0-9]+).*(lost=[0-9]+).*(p50_us=[0-9.]+) (p99_us=[0-9.]+).*(broker_cpu_pct=[0-9.]+).*/mqtt-load: \1 \2 \3 \4 \5/' || true
wait "$ppid" || true
kill "$bpid" 2>/dev/null || true
wait "$bpid" 2>/dev/null || true
perf script -i "$work/perf.data" -F time,event 2>/dev/null | GAP_US=$gap_us SENDS=$sends python3 -c '
import os, statistics, sys
gap = float(os.environ["GAP_US"]) * 1e-6
bursts, cur, last = [], None, None
for line in sys.stdin:
    f = line.split()
    if len(f) < 2:
        continue
    t, ev = float(f[0].rstrip(":")), f[1]
    is_read = "recvfrom" in ev or "enter_read" in ev
    if is_read and (last is None or t - last >= gap):
        if cur is not None:
            bursts.append(cur)
        cur = (t, [])
    elif cur is not None and not is_read:
        cur[1].append(t - cur[0])
    last = t
if not bursts:
    sys.exit("no bursts recorded (is --gap-us above the time between inputs?)")
counts = sorted(len(b[1]) for b in bursts)
want = int(os.environ["SENDS"]) if os.environ.get("SENDS") else counts[len(counts) // 2]
full = [b for b in bursts if len(b[1]) >= want and want > 0]
if not full:
    sys.exit("no burst with %d sends" % want)
def dist(i):
    v = sorted(b[1][i] * 1e6 for b in full)
    return "%.0f / %.0f / %.0f" % (statistics.median(v), v[int(len(v) * 0.9)], v[min(len(v) - 1, int(len(v) * 0.99))])
print("bursts: %d of %d with >= %d sends (median sends per burst %d)" % (len(full), len(bursts), want, counts[len(counts) // 2]))
print("send offsets from the burst'"'"'s first read, median / p90 / p99 us:")
print("  first  %s" % dist(0))
if want > 2:
    print("  middle %s  (send %d)" % (dist(want // 2 - 1), want // 2))
if want > 1:
    print("  last   %s  (send %d)" % (dist(want - 1), want))
'
