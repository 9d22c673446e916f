#!/usr/bin/env bash
# User-space instructions per message, counted by valgrind's callgrind: a near noise-free
# measure (±2 % between runs, from batching) of the broker's own CPU work per message, for A/B
# work on a shared machine where the load tool's p99 swings +-15-30 % between minutes
# (docs/performance.md, "Instructions per message"). It counts instructions, not time: cache
# misses and the kernel (two thirds of the CPU at these rates) do not show. Not part of the
# test suite.
#
#   bench/instructions.sh [--scenario S] [--qos Q] [--rate R] [--clients C] [--window-s N]
#                         [--top N] [-- extra actormq arguments]
#
# Defaults: point to point, QoS 0, 100 pairs, 500 msg/s (callgrind runs the broker ~50x
# slower: keep the rate low enough that it keeps up), a 6 s window counted after 4 s of
# warm-up. The broker runs as bench/run.sh runs it (one worker that also runs the I/O,
# embedded memory store). Printed: instructions per message in total and per library, then the
# --top (default 25) functions by their own instructions per message. A message is one
# published message (fan-out: one PUBLISH in, its deliveries out).
#
# Needs valgrind (Debian: valgrind) and mqtt-load built by bench/run.sh (in $SCRATCH) or
# buildable from $AMQ_SHARED_BENCH.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
NAME=instructions.sh
# One worker that also runs the I/O, as bench/run.sh runs it (callgrind runs one thread at a
# time anyway); the CPU number only matters for taskset, which callgrind does not use.
BROKER_CPU=${BROKER_CPU:-0}
PORT=${PORT:-18898}
AMQ_BIN=${AMQ_BIN:-$REPO/build-release/actors/actormq}
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
scenario=p2p qos=0 rate=500 clients=100 window_s=6 top=25
own_option() {
  case $1 in
    --window-s) window_s=$2 ;;
    --top) top=$2 ;;
    *) return 1 ;;
  esac
}
HELP_LINES='2,20p'
amq_parse_args "$@"
command -v valgrind >/dev/null || die "valgrind not found (Debian: valgrind)"
command -v callgrind_control >/dev/null || die "callgrind_control not found (Debian: valgrind)"
[ -x "$AMQ_BIN" ] || die "no $AMQ_BIN (cmake --build build-release, or set AMQ_BIN)"
LOAD=$(amq_load_tool)
amq_port_free
amq_work_dir
amq_broker_args
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$AMQ_BIN" "${AMQ_ARGS[@]}" \
  >"$work/broker.log" 2>&1 &
bpid=$!
amq_wait_listen 100 0.2
run_s=$((window_s + 8))
"$LOAD" --port "$PORT" --scenario "$scenario" --qos "$qos" --rate "$rate" --duration "$run_s" \
  --clients "$clients" --quiet >"$work/load.out" 2>&1 &
lpid=$!
sleep 4
callgrind_control -z "$bpid" >/dev/null 2>&1
sleep "$window_s"
callgrind_control -d "$bpid" >/dev/null 2>&1
wait "$lpid" || true
grep -o 'lost=[0-9]* ' "$work/load.out" | head -1 | sed 's/^/mqtt-load: /'
dump=$(ls "$work"/cg.out.* 2>/dev/null | head -1)
[ -n "$dump" ] || die "no callgrind dump"
msgs=$(awk -v r="$rate" -v w="$window_s" 'BEGIN { printf "%d", r * w }')
echo "scenario=$scenario qos=$qos rate=$rate clients=$clients window=${window_s}s messages~$msgs"
callgrind_annotate --threshold=100 --inclusive=no "$dump" 2>/dev/null |
  sed -n '/file:function/,$p' | python3 -c '
import re, sys, collections
msgs, top = int(sys.argv[1]), int(sys.argv[2])
rows = []
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)\s*(\[(.*)\])?\s*$", line)
    if not m:
        continue
    n = int(m.group(1).replace(",", ""))
    fn, ob = m.group(2), (m.group(4) or "?").split("/")[-1]
    rows.append((n, fn, ob))
# The frames that were live when the counters were zeroed (clone, start_thread, the thread
# trampoline) are charged everything after: drop them, they are no work of their own.
grand = max(n for n, _, _ in rows)
rows = [r for r in rows if r[0] < 0.98 * grand]
total = sum(n for n, _, _ in rows)
print(f"instructions per message: {total / msgs:,.0f}")
libs = collections.Counter()
for n, _, ob in rows:
    libs[ob] += n
for ob, n in libs.most_common():
    if n / msgs >= 1:
        print(f"  {ob:32s} {n / msgs:8,.0f}")
print(f"top {top} functions (own instructions per message):")
for n, fn, ob in sorted(rows, reverse=True)[:top]:
    fn = fn.split(":", 1)[-1]
    print(f"  {n / msgs:7,.0f}  {fn[:110]}")
' "$msgs" "$top"
