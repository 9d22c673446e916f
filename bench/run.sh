#!/usr/bin/env bash
# actormq benchmark suite: actormq vs Mosquitto vs the null broker, one command.
#
#   bench/run.sh [all|throughput|idle|persist] [--quick] [--repeat N]
#                [--brokers "actormq actormq2 mosquitto limit actormq-redis actormq-kafka"]
#                [--no-build] [--rev GIT_REV] [--out FILE] [--cases REGEX] [--unpinned]
#
# Parts (default all): throughput = fan-in/fan-out/p2p rows (mqtt-load); idle = 10,000 and
# 50,000 idle connections (mqtt-load --scenario conn; broker RSS per connection, connect rate;
# actormq with its default embedded store and admin API, as a user runs it);
# persist = offline queueing into a persistent session and reconnect drain of a 100,000-message
# backlog (actormq-fleet --scenario backlog, for both brokers alike: mqtt-load cannot hold a
# session offline), for actormq on each queue backend (embedded RocksDB; DEVICE queue in Redis;
# APPLICATION queue in Kafka) and Mosquitto with persistence. `bench/run.sh idle --brokers
# "actormq mosquitto"` measures idle memory alone.
#
# What it does (details and how to read the output: docs/performance.md):
#   1. builds actormq in Release (build-release/), and mqtt-load + limit-broker from
#      ../shared/bench/*.cpp into a scratch directory (their source never enters this repo);
#   2. for every scenario, runs every broker one after the other on loopback: a fresh broker
#      process per run, started on a fixed port, polled until it listens (with a deadline),
#      loaded by mqtt-load --broker-pid, and stopped by the PID this script started (never by
#      name);
#   3. writes bench/results/<date>.md: the table, the machine, and the raw RESULT lines.
#
# Brokers:
#   actormq   actormq pinned to CPU $BROKER_CPU, one worker thread that also runs the I/O (io_threads 0)
#   actormq2  actormq NOT pinned (may use both cores, default worker threads); the tool is
#             still pinned to $TOOL_CPU, so the two share that core
#   mosquitto Debian's mosquitto, pinned to $BROKER_CPU (config: see mosquitto_conf below)
#   limit     ../shared/bench/limit-broker (the "null broker" ceiling), pinned to $BROKER_CPU
#   actormq-redis  (persist only) actormq as 'actormq', the DEVICE session's queue in Redis
#             (storage.device_queue: redis; Redis AOF with appendfsync $REDIS_APPENDFSYNC)
#   actormq-kafka  (persist only) actormq as 'actormq', the session classified APPLICATION by a
#             client-id rule, its queue in Kafka (storage.application_queue: kafka,
#             storage.sessions: kafka, acks=all, replication factor 1)
# Redis and a single-node Kafka are started for the run by scripts/services.sh
# (AMQ_SERVICES_DIR=<run dir>/services) when one of the last two is listed, stopped at the end.
# Default --brokers: persist: "actormq actormq-redis actormq-kafka mosquitto"; all: all six;
# throughput, idle: "actormq actormq2 mosquitto limit".
# mqtt-load (and actormq-fleet) always run pinned to $TOOL_CPU.
#
# --unpinned runs everything as a user would: no taskset for the brokers or the tools, and
# actormq with its default threads (one worker per core, each running the I/O of its share of the
# connections), so the brokers and mqtt-load share both cores as the kernel schedules them.
# `actormq` and `actormq2` are then the same; list one of them.
#
# --cases REGEX keeps only the rows whose label matches (grep -E), e.g. '_5k' for the fixed-rate
# latency rows (the report's "p99 at fixed rates" table wants several --repeat runs).
#
# --rev GIT_REV benchmarks a committed revision instead of the working tree: it is exported with
# `git archive` into the scratch directory and built there (the repo is not touched). Use it when
# the working tree is in the middle of someone's edits.
#
# Environment: AMQ_SHARED_BENCH (default <repo>/../shared/bench), BROKER_CPU (0), TOOL_CPU (1),
# DURATION (10; 3 with --quick), HOLD (idle-connection hold, 20 s; 5 with --quick),
# CONNS (idle connections, 10000), PORT_BASE (18871: actormq, +1 mosquitto, +2 limit),
# MOSQUITTO (mosquitto binary), SCRATCH (default ${TMPDIR:-/tmp}/actormq-bench-$UID),
# REDIS_APPENDFSYNC (always|everysec|no: Redis AOF fsync policy set with CONFIG SET; default
# always, i.e. crash-safe like the embedded store; off = services.sh's Redis without AOF).
set -u -o pipefail

REPO=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null) || REPO=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${AMQ_SHARED_BENCH:-$REPO/../shared/bench}
SCRATCH=${SCRATCH:-${TMPDIR:-/tmp}/actormq-bench-$UID}
BROKER_CPU=${BROKER_CPU:-0}
TOOL_CPU=${TOOL_CPU:-1}
PORT_BASE=${PORT_BASE:-18871}
MOSQUITTO=${MOSQUITTO:-mosquitto}
CONNS=${CONNS:-10000}
QUICK=0
PART=all
REPEAT=1
BUILD=1
BROKERS=
OUTFILE=
PINNED=1
REV=
CASES_RE=

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    all|throughput|idle|persist) PART=$1 ;;
    --quick) QUICK=1 ;;
    --repeat) REPEAT=${2:?--repeat needs N}; shift ;;
    --brokers) BROKERS=${2:?--brokers needs a list}; shift ;;
    --no-build) BUILD=0 ;;
    --rev) REV=${2:?--rev needs a git revision}; shift ;;
    --out) OUTFILE=${2:?--out needs a file}; shift ;;
    --cases) CASES_RE=${2:?--cases needs a regular expression}; shift ;;
    --unpinned) PINNED=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 1 ;;
  esac
  shift
done
# How brokers and tools are started (see --unpinned).
if [ "$PINNED" = 1 ]; then
  BPIN=(taskset -c "$BROKER_CPU")
  TPIN=(taskset -c "$TOOL_CPU")
  AMQ_THREADS=(--set runtime.worker_threads=1 --set runtime.io_threads=0)
else
  BPIN=()
  TPIN=()
  AMQ_THREADS=()
fi
case $REPEAT in ''|*[!0-9]*|0) echo "run.sh: --repeat needs a positive integer" >&2; exit 1 ;; esac
if [ -z "$BROKERS" ]; then
  case $PART in
    persist) BROKERS="actormq actormq-redis actormq-kafka mosquitto" ;;
    all) BROKERS="actormq actormq2 mosquitto limit actormq-redis actormq-kafka" ;;
    *) BROKERS="actormq actormq2 mosquitto limit" ;;
  esac
fi
REDIS_APPENDFSYNC=${REDIS_APPENDFSYNC:-always}
case $REDIS_APPENDFSYNC in always|everysec|no|off) ;; *) echo "run.sh: REDIS_APPENDFSYNC must be always, everysec, no or off" >&2; exit 1 ;; esac
if [ "$QUICK" = 1 ]; then DURATION=${DURATION:-3}; HOLD=${HOLD:-5}; else DURATION=${DURATION:-10}; HOLD=${HOLD:-20}; fi

log() { echo "[$(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 2; }

[ -f "$SHARED/mqtt-load.cpp" ] && [ -f "$SHARED/limit-broker.cpp" ] ||
  die "cannot find mqtt-load.cpp / limit-broker.cpp in $SHARED (set AMQ_SHARED_BENCH)"
for b in $BROKERS; do
  case $b in actormq|actormq2|mosquitto|limit|actormq-redis|actormq-kafka) ;; *) die "unknown broker '$b'" ;; esac
done
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v ss >/dev/null || die "ss not found (iproute2)"
case " $BROKERS " in *" mosquitto "*) command -v "$MOSQUITTO" >/dev/null || die "mosquitto not found" ;; esac

mkdir -p "$SCRATCH" || die "cannot create $SCRATCH"
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
RUNDIR=$SCRATCH/$RUN_ID
mkdir -p "$RUNDIR"
RESULTS=$RUNDIR/results.txt
: >"$RESULTS"
log "scratch: $RUNDIR"

# ---- build ---------------------------------------------------------------------------------
SRC=$REPO
if [ -n "$REV" ]; then
  REV_SHA=$(git -C "$REPO" rev-parse --verify --short "$REV^{commit}") || die "unknown revision $REV"
  SRC=$SCRATCH/src-$REV_SHA
  if [ ! -f "$SRC/CMakeLists.txt" ]; then
    log "exporting $REV ($REV_SHA) to $SRC"
    mkdir -p "$SRC" && git -C "$REPO" archive "$REV_SHA" | tar -x -C "$SRC" || die "git archive failed"
  fi
fi
AMQ_BIN=$SRC/build-release/actors/actormq
if [ "$BUILD" = 1 ]; then
  log "building actormq (Release) in $SRC/build-release"
  (cd "$SRC" && cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMQ_BUILD_TESTS=OFF >"$RUNDIR/build.log" 2>&1 &&
    cmake --build build-release -j2 --target actormq actormq-fleet >>"$RUNDIR/build.log" 2>&1) ||
    { tail -30 "$RUNDIR/build.log" >&2; die "actormq build failed (log: $RUNDIR/build.log)"; }
fi
[ -x "$AMQ_BIN" ] || AMQ_BIN=$(find "$SRC/build-release" -type f -name actormq -perm -u+x 2>/dev/null | head -1)
case " $BROKERS " in *" actormq"*) [ -x "$AMQ_BIN" ] || die "actormq binary not found under $SRC/build-release/" ;; esac
FLEET_BIN=$SRC/build-release/examples/fleet/actormq-fleet
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$SRC/build-release/CMakeCache.txt" 2>/dev/null)

for tool in mqtt-load limit-broker; do
  if [ ! -x "$SCRATCH/$tool" ] || [ "$SHARED/$tool.cpp" -nt "$SCRATCH/$tool" ]; then
    log "building $tool from $SHARED/$tool.cpp"
    g++ -O2 -std=c++17 "$SHARED/$tool.cpp" -o "$SCRATCH/$tool" -lpthread || die "$tool build failed"
  fi
done
LOAD=$SCRATCH/mqtt-load
LIMIT=$SCRATCH/limit-broker

# ---- broker configs ------------------------------------------------------------------------
# Mosquitto: the shared baseline's config (../shared/bench/run-baseline.sh): no persistence
# (actormq runs with --storage memory), a queue of 1,000,000 so that Mosquitto does not drop
# acknowledged QoS 1 messages within a run (with 100,000 it did, see the shared README), and
# Mosquitto's default in-flight window (20). TCP_NODELAY: actormq sets it on every socket
# (its edge batches writes itself). Mosquitto writes one packet per write(), so Nagle helps its
# throughput at max rate but adds ~40 ms stalls at low rates. To give Mosquitto its better
# setting in each row, max-rate runs use its default (Nagle on) and fixed-rate latency runs
# use `set_tcp_nodelay true`. MOSQ_NODELAY=0|1 forces one setting for every run.
# The persistent-session rows (persist) need a session that survives its connection in both
# brokers: Mosquitto gets `persistence true` (its store is written on autosave/shutdown, not per
# message) and a queue of 1,000,000 (> the 100,000 backlog); actormq runs on its default embedded
# RocksDB store (every QoS 1 message is stored before PUBACK) in a fresh data directory.
mosquitto_conf() { # $1 port, $2 nodelay(0|1), $3 persist(0|1), $4 run -> path
  local f=$RUNDIR/mosquitto-$2-${3:-0}-r${4:-0}.conf
  {
    echo "listener $1 127.0.0.1"
    echo "allow_anonymous true"
    echo "max_queued_messages 1000000"
    if [ "${3:-0}" = 1 ]; then
      # mosquitto started as root drops to the 'mosquitto' user: let it write its store. A fresh
      # store per run, like actormq's data dirs: a second run that loaded the first run's store
      # (saved at shutdown) stopped delivering half of its backlog.
      mkdir -p "$RUNDIR/mosquitto-data-$4" && chmod 0777 "$RUNDIR/mosquitto-data-$4"
      echo "persistence true"
      echo "persistence_location $RUNDIR/mosquitto-data-$4/"
    else
      echo "persistence false"
    fi
    echo "log_dest stderr"
    echo "log_type error"
    echo "log_type warning"
    echo "connection_messages false"
    [ "$2" = 1 ] && echo "set_tcp_nodelay true"
  } >"$f"
  echo "$f"
}

port_of() {
  case $1 in actormq|actormq2|actormq-redis|actormq-kafka) echo "$PORT_BASE" ;; mosquitto) echo $((PORT_BASE + 1)) ;; limit) echo $((PORT_BASE + 2)) ;; esac
}
listening() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q LISTEN; }

BPID=
BNAME=
BPORT=
BLOG=
START_DEADLINE=${START_DEADLINE:-20}
STOP_DEADLINE=${STOP_DEADLINE:-15}
HARD_NOFILE=$(ulimit -Hn)
[ "$HARD_NOFILE" = unlimited ] && HARD_NOFILE=1048576

start_broker() { # $1 broker, $2 label, $3 run, $4 nodelay -> sets BPID; returns 1 on failure
  BNAME=$1
  BPORT=$(port_of "$1")
  BLOG=$RUNDIR/$1-$2-r$3.log
  if listening "$BPORT"; then
    echo "EVENT broker=$1 case=$2 run=$3 event=port_busy port=$BPORT" >>"$RESULTS"
    log "port $BPORT is already in use; not starting $1"
    return 1
  fi
  local store="--storage memory" deadline=$START_DEADLINE admin="--set admin.enabled=false"
  [ "$2" = backlog ] && store="--data-dir $RUNDIR/$1-data-$3"
  # Idle connections are measured as a user runs the broker: the embedded store and the admin
  # API (its session directory holds an entry per session) as they are by default; port 0
  # because another run may hold 8083.
  case $2 in conn*) store="--data-dir $RUNDIR/$1-data-$2-$3" admin="--set admin.port=0" ;; esac
  case $1 in
    actormq)
      # shellcheck disable=SC2086
      (ulimit -n "$HARD_NOFILE"; exec "${BPIN[@]}" "$AMQ_BIN" --bind 127.0.0.1 --port "$BPORT" \
        $store --log-level warn $admin \
        "${AMQ_THREADS[@]}") >"$BLOG" 2>&1 &
      ;;
    actormq-redis)
      # The backlog's DEVICE session queues in Redis; its limit is raised to Mosquitto's
      # max_queued_messages (the default, 10,000, would drop most of the backlog).
      deadline=$((START_DEADLINE * 3))
      (ulimit -n "$HARD_NOFILE"; exec "${BPIN[@]}" "$AMQ_BIN" --bind 127.0.0.1 --port "$BPORT" \
        $store --log-level warn --set admin.enabled=false \
        "${AMQ_THREADS[@]}" \
        --set storage.device_queue=redis --set storage.redis.host=127.0.0.1 \
        --set "storage.redis.port=$AMQ_TEST_REDIS_PORT" --set "storage.redis.key_prefix=amqb-r$3:" \
        --set storage.redis.wait_at_boot_ms=10000 \
        --set session.device_persisted_messages_limit=1000000) >"$BLOG" 2>&1 &
      ;;
    actormq-kafka)
      # The backlog's session ($FLEET_PREFIX<n>) is APPLICATION by a client-id rule (the sender
      # stays DEVICE); its queue is a Kafka topic, session records replicated to Kafka too.
      deadline=$((START_DEADLINE * 3))
      (ulimit -n "$HARD_NOFILE"; exec "${BPIN[@]}" "$AMQ_BIN" --bind 127.0.0.1 --port "$BPORT" \
        $store --log-level warn --set admin.enabled=false \
        "${AMQ_THREADS[@]}" \
        --set storage.application_queue=kafka --set storage.sessions=kafka \
        --set "storage.kafka.bootstrap_servers=$AMQ_TEST_KAFKA_BOOTSTRAP" \
        --set "storage.kafka.topic_prefix=amqb-r$3" --set storage.kafka.replication_factor=1 \
        --set storage.kafka.wait_at_boot_ms=10000 \
        --set "session.client_type_rules=[{field: client_id, kind: regex, pattern: \"^${FLEET_PREFIX}[0-9]+\$\", type: application}]") \
        >"$BLOG" 2>&1 &
      ;;
    actormq2)
      # shellcheck disable=SC2086
      (ulimit -n "$HARD_NOFILE"; exec "$AMQ_BIN" --bind 127.0.0.1 --port "$BPORT" \
        $store --log-level warn $admin) >"$BLOG" 2>&1 &
      ;;
    mosquitto)
      local conf
      conf=$(mosquitto_conf "$BPORT" "$4" "$([ "$2" = backlog ] && echo 1 || echo 0)" "$3")
      (ulimit -n "$HARD_NOFILE"; exec "${BPIN[@]}" "$MOSQUITTO" -c "$conf") >"$BLOG" 2>&1 &
      ;;
    limit)
      (ulimit -n "$HARD_NOFILE"; exec "${BPIN[@]}" "$LIMIT" --port "$BPORT") >"$BLOG" 2>&1 &
      ;;
  esac
  BPID=$!
  local t0=$SECONDS
  until listening "$BPORT"; do
    if ! kill -0 "$BPID" 2>/dev/null; then
      wait "$BPID"; local rc=$?
      echo "EVENT broker=$1 case=$2 run=$3 event=start_failed rc=$rc log=$BLOG" >>"$RESULTS"
      log "$1 exited during start-up (rc $rc); log: $BLOG"
      BPID=
      return 1
    fi
    if [ $((SECONDS - t0)) -ge "$deadline" ]; then
      echo "EVENT broker=$1 case=$2 run=$3 event=start_timeout log=$BLOG" >>"$RESULTS"
      log "$1 did not listen on $BPORT within ${deadline}s"
      stop_broker "$2" "$3"
      return 1
    fi
    sleep 0.1
  done
  # Make sure the listener is the process we started (the PID execs taskset -> broker).
  if ! ss -ltnpH "sport = :$BPORT" 2>/dev/null | grep -q "pid=$BPID,"; then
    echo "EVENT broker=$1 case=$2 run=$3 event=foreign_listener port=$BPORT" >>"$RESULTS"
    log "port $BPORT listens, but not as PID $BPID"
    stop_broker "$2" "$3"
    return 1
  fi
  sleep 1 # settle, so the 'before' RSS is the idle footprint
}

stop_broker() { # $1 label, $2 run
  [ -n "$BPID" ] || return 0
  if ! kill -0 "$BPID" 2>/dev/null; then
    wait "$BPID" 2>/dev/null; local rc=$?
    echo "EVENT broker=$BNAME case=$1 run=$2 event=died_during_run rc=$rc log=$BLOG" >>"$RESULTS"
    log "!! $BNAME (PID $BPID) died during the run, rc $rc; log: $BLOG"
    BPID=
    return
  fi
  kill -TERM "$BPID" 2>/dev/null
  local t0=$SECONDS
  while kill -0 "$BPID" 2>/dev/null; do
    # a zombie child still answers kill -0; check its state
    [ "$(awk '{print $3}' "/proc/$BPID/stat" 2>/dev/null)" = Z ] && break
    if [ $((SECONDS - t0)) -ge "$STOP_DEADLINE" ]; then
      echo "EVENT broker=$BNAME case=$1 run=$2 event=hang_on_sigterm after_s=$STOP_DEADLINE log=$BLOG" >>"$RESULTS"
      log "!! $BNAME (PID $BPID) ignored SIGTERM for ${STOP_DEADLINE}s; SIGKILL"
      kill -KILL "$BPID" 2>/dev/null
      break
    fi
    sleep 0.1
  done
  wait "$BPID" 2>/dev/null; local rc=$?
  case $rc in 0|143) ;; *) echo "EVENT broker=$BNAME case=$1 run=$2 event=exit_status rc=$rc log=$BLOG" >>"$RESULTS" ;; esac
  BPID=
  t0=$SECONDS
  while listening "$BPORT" && [ $((SECONDS - t0)) -lt 5 ]; do sleep 0.1; done
}
# ---- Redis and Kafka for actormq-redis / actormq-kafka (scripts/services.sh) ---------------
SERVICES_DIR=$RUNDIR/services
SERVICES_UP=0
services() { AMQ_SERVICES_DIR=$SERVICES_DIR "$REPO/scripts/services.sh" "$@" >>"$RUNDIR/services.log" 2>&1; }
start_services() {
  grep -q '|fleet|' <<<"$SCENARIOS" || return 0
  case " $BROKERS " in *" actormq-redis "*|*" actormq-kafka "*) ;; *) return 0 ;; esac
  log "starting Redis and Kafka (scripts/services.sh, AMQ_SERVICES_DIR=$SERVICES_DIR)"
  local ok=1
  services start || ok=0
  if [ "$ok" = 1 ]; then
    SERVICES_UP=1
    set -a; . "$SERVICES_DIR/env"; set +a
    if [ "$REDIS_APPENDFSYNC" != off ]; then
      # services.sh runs Redis without persistence; the bench row wants it crash-safe.
      local rc="redis-cli -h 127.0.0.1 -p $AMQ_TEST_REDIS_PORT" t0=$SECONDS
      $rc config set appendfsync "$REDIS_APPENDFSYNC" >/dev/null && $rc config set appendonly yes >/dev/null || ok=0
      while [ "$ok" = 1 ]; do # until the first AOF rewrite is done and the AOF is on
        local info
        info=$($rc info persistence | tr -d '\r')
        grep -q '^aof_enabled:1' <<<"$info" && grep -q '^aof_rewrite_in_progress:0' <<<"$info" && break
        [ $((SECONDS - t0)) -lt 30 ] || ok=0
        sleep 0.2
      done
    fi
  fi
  if [ "$ok" = 0 ]; then
    echo "EVENT broker=services case=backlog run=0 event=services_start_failed log=$RUNDIR/services.log" >>"$RESULTS"
    log "!! Redis/Kafka did not start (log: $RUNDIR/services.log); no actormq-redis / actormq-kafka rows"
    BROKERS=$(tr ' ' '\n' <<<"$BROKERS" | grep -vxE 'actormq-(redis|kafka)' | xargs)
    return 0
  fi
  REDIS_PID=$(cat "$SERVICES_DIR/redis.pid")
  KAFKA_PID=$(cat "$SERVICES_DIR/kafka.pid")
  log "Redis on $AMQ_TEST_REDIS_PORT (pid $REDIS_PID, AOF appendfsync $REDIS_APPENDFSYNC), Kafka on $AMQ_TEST_KAFKA_BOOTSTRAP (pid $KAFKA_PID)"
}
stop_services() {
  [ "$SERVICES_UP" = 1 ] || return 0
  log "stopping Redis and Kafka"
  services stop
  SERVICES_UP=0
}
# CPU seconds (user + system) a process has used so far; 0 if it is gone.
CLK_TCK=$(getconf CLK_TCK)
cpu_s() { awk -v hz="$CLK_TCK" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0; }
redis_aof_bytes() { # 0 without AOF
  redis-cli -h 127.0.0.1 -p "$AMQ_TEST_REDIS_PORT" info persistence 2>/dev/null | tr -d '\r' |
    awk -F: '$1 == "aof_current_size" {n = $2} END {print n + 0}'
}

cleanup() { stop_broker cleanup 0; stop_services; }
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# ---- scenarios -----------------------------------------------------------------------------
COMMON="--size 64 --inflight 100"
FLEET_PREFIX=amqb-
# label | mode (max|fixed|conn) | mqtt-load arguments
SCENARIOS_FULL="
fanin_q0|max|--scenario fanin --clients 8 --qos 0 --rate 0
fanin_q1|max|--scenario fanin --clients 8 --qos 1 --rate 0
fanout_q0|max|--scenario fanout --clients 50 --qos 0 --rate 0
fanout_q1|max|--scenario fanout --clients 50 --qos 1 --rate 0
p2p_q0|max|--scenario p2p --clients 100 --qos 0 --rate 0
p2p_q1|max|--scenario p2p --clients 100 --qos 1 --rate 0
fanin_q0_5k|fixed|--scenario fanin --clients 8 --qos 0 --rate 5000
fanin_q1_5k|fixed|--scenario fanin --clients 8 --qos 1 --rate 5000
fanout_q0_5k|fixed|--scenario fanout --clients 50 --qos 0 --rate 100
fanout_q1_5k|fixed|--scenario fanout --clients 50 --qos 1 --rate 100
p2p_q0_5k|fixed|--scenario p2p --clients 100 --qos 0 --rate 5000
p2p_q1_5k|fixed|--scenario p2p --clients 100 --qos 1 --rate 5000
fanout_q0_5kp|fixed|--scenario fanout --clients 50 --qos 0 --rate 5000
fanout_q1_5kp|fixed|--scenario fanout --clients 50 --qos 1 --rate 5000
conn10k|conn|--scenario conn --clients 10000 --keepalive 10
conn50k|conn|--scenario conn --clients 50000 --keepalive 10
backlog|fleet|--scenario backlog --backlog 100000 --qos 1
"
SCENARIOS_QUICK="
fanin_q1|max|--scenario fanin --clients 8 --qos 1 --rate 0
fanout_q0|max|--scenario fanout --clients 50 --qos 0 --rate 0
p2p_q1|max|--scenario p2p --clients 100 --qos 1 --rate 0
fanin_q1_5k|fixed|--scenario fanin --clients 8 --qos 1 --rate 5000
conn|conn|--scenario conn --clients $CONNS --keepalive 10
"
if [ "$QUICK" = 1 ]; then SCENARIOS=$SCENARIOS_QUICK; else SCENARIOS=$SCENARIOS_FULL; fi
case $PART in
  throughput) SCENARIOS=$(grep -E '\|(max|fixed)\|' <<<"$SCENARIOS") ;;
  idle) SCENARIOS=$(grep -E '\|conn\|' <<<"$SCENARIOS") ;;
  persist) SCENARIOS=$(grep -E '\|fleet\|' <<<"$SCENARIOS") ;;
esac
if [ -n "$CASES_RE" ]; then
  SCENARIOS=$(while IFS='|' read -r label rest; do
    [ -n "$label" ] && grep -qE -- "$CASES_RE" <<<"$label" && echo "$label|$rest"; done <<<"$SCENARIOS")
  [ -n "$SCENARIOS" ] || die "--cases '$CASES_RE' matches no row"
fi

one() { # $1 broker, $2 label, $3 mode, $4 run, $5 args
  local b=$1 label=$2 mode=$3 r=$4 args=$5 nodelay=0 dur=$DURATION
  case ${MOSQ_NODELAY:-auto} in auto) [ "$mode" = fixed ] && nodelay=1 ;; 1) nodelay=1 ;; esac
  [ "$mode" = conn ] && dur=$HOLD
  [ "$mode" = fleet ] && [ "$b" = limit ] && return 0 # the null broker keeps no sessions
  case $b in actormq-redis|actormq-kafka) [ "$mode" = fleet ] || return 0 ;; esac # backends: persist rows only
  if [ "$mode" = fleet ] && [ ! -x "$FLEET_BIN" ]; then
    echo "EVENT broker=$b case=$label run=$r event=no_fleet_binary path=$FLEET_BIN" >>"$RESULTS"
    return 0
  fi
  start_broker "$b" "$label" "$r" "$nodelay" || return 0
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  log "run $r/$REPEAT  $label  $b (PID $BPID, port $BPORT, loadavg $load)"
  local extra=
  if [ "$mode" = fleet ]; then
    # CPU seconds the broker and the backend servers used over the whole fleet run (set-up,
    # queueing, drain): the backend's work is part of what the broker costs.
    local bc0 rc0=0 kc0=0 ra0=0
    bc0=$(cpu_s "$BPID")
    case $b in actormq-redis) rc0=$(cpu_s "$REDIS_PID"); ra0=$(redis_aof_bytes) ;; actormq-kafka) kc0=$(cpu_s "$KAFKA_PID") ;; esac
    # shellcheck disable=SC2086
    timeout -k 5 300 "${TPIN[@]}" "$FLEET_BIN" --port "$BPORT" --quiet --id-prefix "$FLEET_PREFIX" \
      --duration 240 --drain 5 $args >"$RUNDIR/load-$b-$label-r$r.txt" 2>&1
    extra="broker_cpu_s=$(awk -v a="$bc0" -v b="$(cpu_s "$BPID")" 'BEGIN{printf "%.2f", b - a}')"
    # backend_bytes: what the backend wrote for this run (Redis: AOF growth; Kafka: the size of
    # this run's topics), the evidence that the backlog went through that backend.
    case $b in
      actormq-redis) extra="$extra backend_cpu_s=$(awk -v a="$rc0" -v b="$(cpu_s "$REDIS_PID")" 'BEGIN{printf "%.2f", b - a}')"
        extra="$extra backend_bytes=$(($(redis_aof_bytes) - ra0))" ;;
      actormq-kafka) extra="$extra backend_cpu_s=$(awk -v a="$kc0" -v b="$(cpu_s "$KAFKA_PID")" 'BEGIN{printf "%.2f", b - a}')"
        extra="$extra backend_bytes=$(find "$SERVICES_DIR"/kafka/data/ -path "*/amqb-r$r.*" -name '*.log' -printf '%s\n' 2>/dev/null | awk '{n += $1} END {print n + 0}')" ;;
    esac
  else
    # shellcheck disable=SC2086
    timeout -k 5 $((dur + 150)) "${TPIN[@]}" "$LOAD" --port "$BPORT" --broker-pid "$BPID" --quiet \
      $COMMON $args --duration "$dur" --id-prefix "amqb-" >"$RUNDIR/load-$b-$label-r$r.txt" 2>&1
  fi
  local rc=$?
  local line
  line=$(grep -m1 '^RESULT ' "$RUNDIR/load-$b-$label-r$r.txt")
  if [ -n "$line" ]; then
    echo "RESULT broker=$b run=$r case=$label mode=$mode loadavg=$load mosq_nodelay=$([ "$b" = mosquitto ] && echo "$nodelay" || echo -) ${line#RESULT }${extra:+ $extra}" >>"$RESULTS"
  else
    echo "EVENT broker=$b case=$label run=$r event=no_result tool_rc=$rc out=$RUNDIR/load-$b-$label-r$r.txt" >>"$RESULTS"
    log "!! no RESULT line from mqtt-load (rc $rc)"
  fi
  [ "$rc" = 0 ] || echo "EVENT broker=$b case=$label run=$r event=tool_exit rc=$rc out=$RUNDIR/load-$b-$label-r$r.txt" >>"$RESULTS"
  stop_broker "$label" "$r"
  # broker-side drop / error lines (actormq logs dropped messages at warn level)
  local drops
  drops=$(grep -ciE 'drop|error|fatal|abort' "$BLOG" 2>/dev/null)
  [ "${drops:-0}" -gt 0 ] && echo "EVENT broker=$b case=$label run=$r event=log_lines count=$drops first=\"$(grep -m1 -iE 'drop|error|fatal|abort' "$BLOG" | tr '"' "'" | cut -c1-200)\" log=$BLOG" >>"$RESULTS"
  return 0
}

start_services
{
  echo "run_id=$RUN_ID"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "kernel=$(uname -r)"
  echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "build_type=${BUILD_TYPE:-unknown}"
  if [ -n "$REV" ]; then
    echo "actormq_commit=$REV_SHA (exported with git archive, clean)"
  else
    echo "actormq_commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD -- . ':!bench' ':!docs' 2>/dev/null || echo ' + uncommitted changes (working tree)')"
  fi
  echo "mosquitto=$("$MOSQUITTO" -h 2>/dev/null | sed -n 's/^mosquitto version //p' | head -1)"
  echo "gxx=$(g++ -dumpfullversion 2>/dev/null)"
  echo "broker_cpu=$BROKER_CPU"
  echo "tool_cpu=$TOOL_CPU"
  echo "pinned=$PINNED"
  echo "duration=$DURATION"
  echo "hold=$HOLD"
  echo "conns=$CONNS"
  echo "repeat=$REPEAT"
  echo "quick=$QUICK"
  echo "part=$PART"
  echo "cases=${CASES_RE:-all}"
  echo "brokers=$BROKERS"
  echo "mosq_nodelay=${MOSQ_NODELAY:-auto}"
  echo "shared=$(cd "$SHARED" && pwd)"
  if [ "$SERVICES_UP" = 1 ]; then
    echo "redis=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), AOF appendfsync $REDIS_APPENDFSYNC"
    echo "kafka=$(basename "$(AMQ_SERVICES_DIR=$SERVICES_DIR "$REPO/scripts/fetch-kafka.sh" 2>/dev/null | tail -1)"), single node (KRaft), replication factor 1"
  fi
} >"$RUNDIR/meta.txt"

for r in $(seq "$REPEAT"); do
  while IFS='|' read -r label mode args; do
    [ -n "$label" ] || continue
    for b in $BROKERS; do one "$b" "$label" "$mode" "$r" "$args"; done
  done <<<"$SCENARIOS"
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUNDIR/meta.txt"
stop_services

if [ -z "$OUTFILE" ]; then
  mkdir -p "$REPO/bench/results"
  OUTFILE=$REPO/bench/results/$(date -u +%F).md
  [ -e "$OUTFILE" ] && OUTFILE=$REPO/bench/results/$(date -u +%F-%H%M).md
fi
python3 "$REPO/bench/report.py" "$RUNDIR/meta.txt" "$RESULTS" >"$OUTFILE" || die "report failed"
log "raw results: $RESULTS"
log "report: $OUTFILE"
