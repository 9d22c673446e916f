# Shared by the single-scenario instruments (trace-latency.sh, receipts.sh, instructions.sh):
# sourced, not run. The caller sets NAME (for messages), REPO, PORT and, for amq_start_broker,
# AMQ_BIN, BROKER_CPU and the array `extra` (more actormq arguments).
SHARED=${AMQ_SHARED_BENCH:-$REPO/../shared/bench}
SCRATCH=${SCRATCH:-${TMPDIR:-/tmp}/actormq-bench-$UID}

die() {
  echo "$NAME: $*" >&2
  exit 1
}

# mqtt-load, built by bench/run.sh in $SCRATCH or here from the shared source; prints its path.
amq_load_tool() {
  local load=$SCRATCH/mqtt-load
  if [ ! -x "$load" ]; then
    [ -f "$SHARED/mqtt-load.cpp" ] || die "no $load and no $SHARED/mqtt-load.cpp to build it from"
    mkdir -p "$SCRATCH"
    g++ -O2 -std=c++17 "$SHARED/mqtt-load.cpp" -o "$load" -lpthread >&2 || die "mqtt-load build failed"
  fi
  echo "$load"
}

amq_port_free() {
  if ss -ltn | grep -q ":$PORT "; then die "port $PORT is in use (another run?)"; fi
}

# The actormq command line bench/run.sh uses (one worker that also runs the I/O, memory store),
# on $PORT, with "${extra[@]}" appended. With BROKER_CPU empty (unpinned): actormq's default
# threads instead of one worker.
amq_broker_args() {
  AMQ_ARGS=(--bind 127.0.0.1 --port "$PORT" --storage memory --log-level warn
            --set admin.enabled=false --set runtime.io_threads=0)
  [ -n "$BROKER_CPU" ] && AMQ_ARGS+=(--set runtime.worker_threads=1)
  AMQ_ARGS+=("${extra[@]}")
}

# Starts actormq or Mosquitto pinned to $BROKER_CPU (not pinned if it is empty), logging to $1;
# sets bpid and waits until it listens on $PORT.
amq_start_broker() {
  local broker=$1 log=$2 pin=()
  [ -n "$BROKER_CPU" ] && pin=(taskset -c "$BROKER_CPU")
  case $broker in
    actormq)
      [ -x "$AMQ_BIN" ] || die "no $AMQ_BIN (cmake --build build-release, or set AMQ_BIN)"
      amq_broker_args
      "${pin[@]}" "$AMQ_BIN" "${AMQ_ARGS[@]}" >"$log" 2>&1 &
      ;;
    mosquitto)
      printf 'listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\nmax_queued_messages 0\n' \
        "$PORT" >"$log.conf"
      "${pin[@]}" mosquitto -c "$log.conf" >"$log" 2>&1 &
      ;;
    *) die "--broker must be actormq or mosquitto" ;;
  esac
  bpid=$!
  amq_wait_listen 50 0.1
}

# Waits up to $1 x $2 s for a listener on $PORT.
amq_wait_listen() {
  for _ in $(seq "$1"); do ss -ltn | grep -q ":$PORT " && return 0; sleep "$2"; done
  kill "$bpid" 2>/dev/null
  die "broker did not listen on $PORT"
}

# The load options every instrument takes (sets scenario, qos, rate, clients); returns 1 for
# any other option (amq_parse_args).
amq_load_option() {
  case $1 in
    --scenario) scenario=$2 ;;
    --qos) qos=$2 ;;
    --rate) rate=$2 ;;
    --clients) clients=$2 ;;
    *) return 1 ;;
  esac
}

# Parses the command line: the load options above; `-- ARGS` (more actormq arguments, into the
# array `extra`); -h/--help (prints the lines $HELP_LINES, e.g. '2,19p', of the script); and the
# script's own options through its function `own_option NAME VALUE`, which returns 1 for a name
# it does not know.
amq_parse_args() {
  extra=()
  while [ $# -gt 0 ]; do
    case $1 in
      --) shift; extra=("$@"); return 0 ;;
      -h|--help) sed -n "$HELP_LINES" "$0"; exit 0 ;;
    esac
    if amq_load_option "$1" "${2:-}" || own_option "$1" "${2:-}"; then
      [ $# -ge 2 ] || die "$1 needs a value"
      shift 2
    else
      echo "$NAME: unknown argument $1" >&2
      exit 2
    fi
  done
}

# A scratch directory in `work`; at exit it is removed and the broker ($bpid, once started)
# stopped if it still runs.
amq_work_dir() {
  work=$(mktemp -d)
  bpid=""
  trap amq_cleanup EXIT
}

amq_cleanup() {
  if [ -n "$bpid" ]; then
    kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
  fi
  rm -rf "$work"
}
