#!/usr/bin/env bash
# When does each subscriber get a message, by its rank among the deliveries of one PUBLISH
# (fan-out) or within one tick of all publishers (p2p, fan-in)? mqtt-load reports one latency
# histogram; this builds a copy of it that also writes every received message (publisher,
# sequence number, send and receive time), runs one scenario against actormq or Mosquitto,
# and prints the latency of the 1st, 5th, 10th, 25th, 40th and 50th receipt of each fan-out
# PUBLISH (or, for a tick of many publishers, of the first and last receipt and the
# publishers' own send span), medians and p90 over the run. The medians over hundreds of
# bursts are far steadier than the overall p99 on this shared machine (docs/performance.md).
#
#   bench/receipts.sh [--broker actormq|mosquitto] [--scenario S] [--qos Q] [--rate R]
#                     [--clients C] [--duration S] [-- extra actormq arguments]
#
# Defaults: actormq (build-release, run as bench/run.sh runs it: one worker that also runs the
# I/O, pinned to $BROKER_CPU), fan-out 1->50, QoS 1, 100 publishes/s, 6 s. The patched tool is
# built from $AMQ_SHARED_BENCH/mqtt-load.cpp into $SCRATCH/mqtt-load-receipts; the shared
# source is not changed. Writing each receipt costs the tool ~1 us per message: compare
# brokers with this tool, not with figures from plain mqtt-load.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
NAME=receipts.sh
BROKER_CPU=${BROKER_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
PORT=${PORT:-18897}
AMQ_BIN=${AMQ_BIN:-$REPO/build-release/actors/actormq}
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
broker=actormq scenario=fanout qos=1 rate=100 clients=50 duration=6
own_option() {
  case $1 in
    --broker) broker=$2 ;;
    --duration) duration=$2 ;;
    *) return 1 ;;
  esac
}
HELP_LINES='2,18p'
amq_parse_args "$@"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
[ -f "$SHARED/mqtt-load.cpp" ] || die "no $SHARED/mqtt-load.cpp (set AMQ_SHARED_BENCH)"
TOOL=$SCRATCH/mqtt-load-receipts
mkdir -p "$SCRATCH"
if [ ! -x "$TOOL" ] || [ "$SHARED/mqtt-load.cpp" -nt "$TOOL" ]; then
  python3 - "$SHARED/mqtt-load.cpp" "$SCRATCH/mqtt-load-receipts.cpp" <<'PY'
import sys
src = open(sys.argv[1]).read()
anchor = "    st.hist.add(t > ts ? t - ts : 0);\n"
if src.count(anchor) != 1:
    sys.exit("receipts.sh: mqtt-load.cpp changed; the receive path to patch was not found")
dump = anchor + (
    '    { static FILE* df = getenv("MLT_DUMP") ? fopen(getenv("MLT_DUMP"), "w") : nullptr;\n'
    '      if (df && S.phase.load() == PH_RUN)\n'
    '        fprintf(df, "%u %llu %llu %llu\\n", h2[1], (unsigned long long)seq,\n'
    '                (unsigned long long)ts, (unsigned long long)t); }\n')
open(sys.argv[2], "w").write(src.replace(anchor, dump))
PY
  g++ -O2 -std=c++17 "$SCRATCH/mqtt-load-receipts.cpp" -o "$TOOL" -lpthread || die "build failed"
fi
amq_port_free
amq_work_dir
amq_start_broker "$broker" "$work/broker.log"
MLT_DUMP=$work/receipts.txt taskset -c "$TOOL_CPU" "$TOOL" --port "$PORT" --scenario "$scenario" \
  --qos "$qos" --rate "$rate" --duration "$duration" --clients "$clients" --broker-pid "$bpid" \
  --quiet 2>/dev/null | grep '^RESULT' | grep -o 'lost=[0-9]* .*p99_us=[0-9.]*' |
  sed -E 's/ (gaps|tail|dup|ooo|rate|send_rate)=[0-9.]*//g; s/^/mqtt-load: /'
python3 - "$work/receipts.txt" "$broker" <<'PY'
import collections, statistics, sys
rows = [tuple(int(x) for x in l.split()) for l in open(sys.argv[1]) if len(l.split()) == 4]
if not rows:
    sys.exit("receipts.sh: no messages received in the run phase")
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]
lat = [(t - ts) / 1000 for _, _, ts, t in rows]
print(f"{sys.argv[2]}: {len(rows)} receipts, latency p50 {pct(lat, .5):.0f} us, p99 {pct(lat, .99):.0f} us")
per_pub = collections.defaultdict(list)
for pub, seq, ts, t in rows:
    per_pub[(pub, seq)].append((t - ts) / 1000)
fan = statistics.median(len(v) for v in per_pub.values())
if fan >= 5:
    ranks = [r for r in (1, 5, 10, 25, 40, 50, 100) if r <= fan]
    by_rank = collections.defaultdict(list)
    for v in per_pub.values():
        if len(v) < fan:
            continue
        v.sort()
        for r in ranks:
            by_rank[r].append(v[r - 1])
    print(f"receipt rank among the {fan:.0f} deliveries of a PUBLISH: median / p90 latency, us")
    for r in ranks:
        print(f"  {r:3d}: {statistics.median(by_rank[r]):6.0f} / {pct(by_rank[r], .9):6.0f}")
else:
    ticks = collections.defaultdict(list)
    for pub, seq, ts, t in rows:
        ticks[seq].append((ts, t))
    size = statistics.median(len(v) for v in ticks.values())
    span, first, last = [], [], []
    for v in ticks.values():
        if len(v) < size:
            continue
        t0 = min(ts for ts, _ in v)
        span.append((max(ts for ts, _ in v) - t0) / 1000)
        first.append((min(t for _, t in v) - t0) / 1000)
        last.append((max(t for _, t in v) - t0) / 1000)
    print(f"ticks of {size:.0f} messages, from the tick's first send: median / p90, us")
    print(f"  publishers' send span {statistics.median(span):6.0f} / {pct(span, .9):6.0f}")
    print(f"  first receipt         {statistics.median(first):6.0f} / {pct(first, .9):6.0f}")
    print(f"  last receipt          {statistics.median(last):6.0f} / {pct(last, .9):6.0f}")
PY
