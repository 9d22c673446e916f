#!/usr/bin/env bash
# Real Redis and a single-node KRaft Kafka for the integration tests.
#
#   scripts/services.sh start    # (re)start both, wait until READY, write the env file
#   scripts/services.sh stop     # stop both by PID (TERM, then KILL after 30 s)
#   scripts/services.sh status   # show PIDs, ports and readiness
#   scripts/services.sh env      # print the env file (AMQ_TEST_REDIS_PORT=..., AMQ_TEST_KAFKA_BOOTSTRAP=...)
#   scripts/services.sh stop-kafka / start-kafka   # Kafka alone, restarted on the same data dir and ports
#
# Everything lives in the run dir ${AMQ_SERVICES_DIR:-<repo>/build/services}:
# pid files, logs, a fresh Kafka data dir per start, and `env`, which a shell
# loads with `set -a; . build/services/env; set +a`.
#
# Ports: the first free ones from 16379 (Redis) and 19092 (Kafka PLAINTEXT,
# then the controller). Both listen on 127.0.0.1 only. Redis keeps no data on
# disk. Processes are only ever stopped by the PID this script recorded.
#
# Kafka comes from scripts/fetch-kafka.sh (jars from Maven Central); Java 17.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="${AMQ_SERVICES_DIR:-$repo/build/services}"
timeout_s="${AMQ_SERVICES_TIMEOUT:-90}"
envfile="$run/env"

log() { echo "services: $*" >&2; }
now_us() { echo "${EPOCHREALTIME/./}"; }
secs_since() { local d=$(( $(now_us) - $1 )); printf '%d.%d' $((d / 1000000)) $(( (d / 100000) % 10 )); }

# First port >= $1 that nothing listens on and that we can bind on 127.0.0.1,
# skipping the ports given after it.
free_port() {
  python3 - "$@" <<'PY'
import socket, sys
start, skip = int(sys.argv[1]), {int(x) for x in sys.argv[2:]}
for port in range(start, start + 1000):
    if port in skip:
        continue
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    # Also refuse ports that something listens on at another address (e.g. 0.0.0.0 / ::).
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM); c.settimeout(0.2)
    busy = c.connect_ex(("127.0.0.1", port)) == 0
    c.close()
    if not busy:
        print(port); sys.exit(0)
sys.exit("no free port from %d" % start)
PY
}

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# alive <pidfile> <cmdline-substring>: the recorded PID runs and is still ours.
alive() {
  local pid
  [[ -f "$1" ]] || return 1
  pid="$(cat "$1")"
  [[ -n "$pid" && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' </proc/"$pid"/cmdline | grep -qF -- "$2"
}

# stop_pid <name> <pidfile> <cmdline-substring>
stop_pid() {
  local name="$1" pidfile="$2" marker="$3" pid i
  if ! alive "$pidfile" "$marker"; then
    rm -f "$pidfile"
    return 0
  fi
  pid="$(cat "$pidfile")"
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    alive "$pidfile" "$marker" || break
    sleep 0.1
  done
  if alive "$pidfile" "$marker"; then
    log "$name (pid $pid) ignored TERM for 30 s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do alive "$pidfile" "$marker" || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

fail_with_log() { # <what> <logfile>
  log "$1"
  if [[ -f "$2" ]]; then
    log "---- last 60 lines of $2 ----"
    tail -n 60 "$2" >&2
    log "---- end of $2 ----"
  fi
  cmd_stop
  exit 1
}

start_redis() {
  local port dir="$run/redis" t0
  command -v redis-server >/dev/null || { log "redis-server not found (run scripts/install-deps.sh)"; exit 1; }
  mkdir -p "$dir"
  port="$(free_port "${AMQ_REDIS_PORT_BASE:-16379}")"
  t0=$(now_us)
  # No persistence (no RDB, no AOF), loopback only, foreground so $! is its PID.
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
    --save '' --appendonly no --dir "$dir" --daemonize no \
    --logfile "$dir/redis.log" --databases 16 \
    </dev/null >>"$dir/redis.log" 2>&1 &
  echo $! >"$run/redis.pid"
  local deadline=$(( $(date +%s) + timeout_s ))
  while :; do
    if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]; then break; fi
    alive "$run/redis.pid" redis-server || fail_with_log "redis-server exited during start-up" "$dir/redis.log"
    (( $(date +%s) < deadline )) || fail_with_log "redis-server not READY after ${timeout_s} s" "$dir/redis.log"
    sleep 0.05
  done
  REDIS_PORT="$port"
  log "redis READY on 127.0.0.1:$port (pid $(cat "$run/redis.pid"), $(secs_since "$t0") s)"
}

start_kafka() {
  local kdir jars dir="$run/kafka" bport cport cid t0
  command -v java >/dev/null || { log "java not found (run scripts/install-deps.sh)"; exit 1; }
  kdir="$("$repo/scripts/fetch-kafka.sh")"
  jars="$kdir/jars"
  rm -rf "$dir"
  mkdir -p "$dir/data" "$dir/tmp"
  bport="$(free_port "${AMQ_KAFKA_PORT_BASE:-19092}")"
  cport="$(free_port $((bport + 1)) "$bport")"

  cat >"$dir/log4j2.properties" <<'L4J'
# Everything to stderr (which start_kafka sends to kafka.log) at INFO, so the
# "Kafka Server started" line appears; tool stdout stays clean.
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.err.ref = STDERR
logger.state.name = state.change.logger
logger.state.level = WARN
L4J

  cat >"$dir/server.properties" <<PROPS
# Single-node KRaft (broker+controller), static quorum, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
PROPS

  local jvm=(java -Djava.awt.headless=true -Djava.io.tmpdir="$dir/tmp" -Dkafka.logs.dir="$dir"
             -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$jars/*")
  t0=$(now_us)
  cid="$(python3 -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
  if ! "${jvm[@]}" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC kafka.tools.StorageTool format -t "$cid" \
       -c "$dir/server.properties" >"$dir/format.log" 2>&1; then
    fail_with_log "kafka storage format failed" "$dir/format.log"
  fi
  local tf fmt_s
  tf=$(now_us); fmt_s=$(secs_since "$t0")
  launch_kafka "$dir/kafka.log"
  KAFKA_BOOTSTRAP="127.0.0.1:$bport"
  log "kafka READY on $KAFKA_BOOTSTRAP (controller $cport, pid $(cat "$run/kafka.pid"); format $fmt_s s, start to READY $(secs_since "$tf") s)"
}

# launch_kafka <logfile>: runs kafka.Kafka on $run/kafka/server.properties (data
# dir already formatted) and waits until READY; sets bport.
launch_kafka() {
  local dir="$run/kafka" jars
  jars="$("$repo/scripts/fetch-kafka.sh")/jars"
  bport="$(sed -n 's/^listeners=PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$dir/server.properties")"
  local jvm=(java -Djava.awt.headless=true -Djava.io.tmpdir="$dir/tmp" -Dkafka.logs.dir="$dir"
             -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$jars/*")
  nohup "${jvm[@]}" -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    kafka.Kafka "$dir/server.properties" </dev/null >"$1" 2>&1 &
  echo $! >"$run/kafka.pid"
  local deadline=$(( $(date +%s) + timeout_s ))
  while :; do
    if grep -q 'Kafka Server started' "$1" && port_open "$bport"; then break; fi
    # kill -0, not alive(): right after the fork the child's cmdline is
    # still this script's until nohup has exec'd java.
    kill -0 "$(cat "$run/kafka.pid")" 2>/dev/null || fail_with_log "kafka exited during start-up" "$1"
    (( $(date +%s) < deadline )) || fail_with_log "kafka not READY after ${timeout_s} s" "$1"
    sleep 0.2
  done
}

# Fault tests: stop Kafka alone (by PID), start it again on the same data dir and ports.
cmd_stop_kafka() { mkdir -p "$run"; stop_pid kafka "$run/kafka.pid" kafka.Kafka; }
cmd_start_kafka() {
  local t0 bport
  [[ -f "$run/kafka/server.properties" ]] || { log "no Kafka data in $run (run start first)"; exit 1; }
  alive "$run/kafka.pid" kafka.Kafka && { log "kafka already running (pid $(cat "$run/kafka.pid"))"; return 0; }
  t0=$(now_us)
  launch_kafka "$run/kafka/kafka-restart.log"
  log "kafka READY again on 127.0.0.1:$bport, same data (pid $(cat "$run/kafka.pid"), $(secs_since "$t0") s)"
}

cmd_stop() {
  mkdir -p "$run"
  stop_pid kafka "$run/kafka.pid" kafka.Kafka
  stop_pid redis "$run/redis.pid" redis-server
  rm -f "$envfile"
}

cmd_start() {
  mkdir -p "$run"
  cmd_stop            # a fresh pair every time: fresh Kafka data dir, empty Redis
  start_redis
  start_kafka
  cat >"$envfile.tmp" <<ENV
AMQ_TEST_REDIS_HOST=127.0.0.1
AMQ_TEST_REDIS_PORT=$REDIS_PORT
AMQ_TEST_KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP
ENV
  mv "$envfile.tmp" "$envfile"
  log "env written to $envfile"
  cat "$envfile"
}

cmd_status() {
  local rc=0
  if alive "$run/redis.pid" redis-server; then echo "redis: running, pid $(cat "$run/redis.pid")"; else echo "redis: stopped"; rc=3; fi
  if alive "$run/kafka.pid" kafka.Kafka; then echo "kafka: running, pid $(cat "$run/kafka.pid")"; else echo "kafka: stopped"; rc=3; fi
  [[ -f "$envfile" ]] && cat "$envfile"
  return $rc
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cat "$envfile" ;;
  stop-kafka) cmd_stop_kafka ;;
  start-kafka) cmd_start_kafka ;;
  *) echo "usage: $0 start|stop|status|env|stop-kafka|start-kafka" >&2; exit 2 ;;
esac
