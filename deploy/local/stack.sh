#!/usr/bin/env bash
# The local stack without Docker: Apache Kafka (KRaft, from Maven Central jars) and
# FerretDB (MongoDB wire protocol, embedded in a small Go program).
#
#   stack.sh up [--mark FILE]      start what is not running; FILE lists what this call started
#   stack.sh down [--only FILE]    stop what we started (only the parts FILE lists, if given)
#   stack.sh status
#
# Nothing is started when HOTLINE_KAFKA_BOOTSTRAP / HOTLINE_MONGODB_URI point at servers
# that already answer. Processes are tracked by PID files under .local/run, never by name.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${HOTLINE_LOCAL_DIR:-$root/.local}
run=$state/run
logs=$state/logs
mkdir -p "$run" "$logs"

kafka_bootstrap=${HOTLINE_KAFKA_BOOTSTRAP:-127.0.0.1:9092}
mongo_uri=${HOTLINE_MONGODB_URI:-mongodb://127.0.0.1:27017}
ferret_backend=${HOTLINE_FERRETDB_BACKEND:-sqlite}

log() { printf '[stack] %s\n' "$*" >&2; }

# host:port → "host port"
split_hostport() { local hp=${1%%,*}; echo "${hp%:*} ${hp##*:}"; }
mongo_hostport() {
  local rest=${1#mongodb://}; rest=${rest#*@}; rest=${rest%%/*}; rest=${rest%%\?*}; rest=${rest%%,*}
  case $rest in *:*) echo "${rest%:*} ${rest##*:}" ;; *) echo "$rest 27017" ;; esac
}
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
alive() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

wait_port() { # name host port seconds
  local deadline=$((SECONDS + $4))
  until answers "$2" "$3"; do
    if ! alive "$1"; then log "$1 exited; last log lines:"; tail -n 30 "$logs/$1.log" >&2; return 1; fi
    if [ $SECONDS -ge $deadline ]; then log "$1 not ready after $4 s"; tail -n 30 "$logs/$1.log" >&2; return 1; fi
    sleep 0.3
  done
}

kafka_libs() {
  local libs=$state/kafka-libs stamp
  stamp=$(sha256sum "$here/kafka/pom.xml" | cut -c1-16)
  if [ ! -f "$libs/.stamp-$stamp" ]; then
    log "resolving Kafka jars from Maven Central (first run only)"
    rm -rf "$libs"
    mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" >&2
    touch "$libs/.stamp-$stamp"
  fi
  echo "$libs"
}

ferretdb_bin() {
  local bin=$state/bin/ferretdb stamp
  stamp=$(cat "$here/ferretdb/go.mod" "$here/ferretdb/go.sum" "$here/ferretdb/main.go" | sha256sum | cut -c1-16)
  if [ ! -x "$bin" ] || [ ! -f "$state/bin/.stamp-$stamp" ]; then
    log "building FerretDB (first run only, a few minutes)"
    mkdir -p "$state/bin"
    (cd "$here/ferretdb" && go build -o "$bin" .) >&2
    rm -f "$state/bin"/.stamp-*; touch "$state/bin/.stamp-$stamp"
  fi
  echo "$bin"
}

start_kafka() {
  local host port; read -r host port <<<"$(split_hostport "$kafka_bootstrap")"
  if answers "$host" "$port"; then log "Kafka answers at $host:$port; not starting one"; return 0; fi
  if [ -n "${HOTLINE_KAFKA_BOOTSTRAP:-}" ] && [ "$kafka_bootstrap" != "127.0.0.1:9092" ]; then
    log "HOTLINE_KAFKA_BOOTSTRAP=$kafka_bootstrap does not answer"; return 1
  fi
  local libs data=$state/kafka-data props=$state/kafka-server.properties
  libs=$(kafka_libs)
  { cat "$here/kafka/server.properties"; echo "log.dirs=$data"; } >"$props"
  if [ ! -f "$data/meta.properties" ]; then
    java -cp "$libs/*" kafka.tools.StorageTool format \
      -t "$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid)" -c "$props" >>"$logs/kafka.log" 2>&1
  fi
  mkdir -p "$logs/kafka"
  KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
  # shellcheck disable=SC2086
  nohup java $KAFKA_HEAP_OPTS -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$logs/kafka" -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$props" >>"$logs/kafka.log" 2>&1 &
  echo $! >"$run/kafka.pid"
  wait_port kafka "$host" "$port" 90
  echo kafka
}

start_ferretdb() {
  local host port; read -r host port <<<"$(mongo_hostport "$mongo_uri")"
  if answers "$host" "$port"; then log "MongoDB wire answers at $host:$port; not starting one"; return 0; fi
  if [ -n "${HOTLINE_MONGODB_URI:-}" ] && [ "$host:$port" != "127.0.0.1:27017" ]; then
    log "HOTLINE_MONGODB_URI=$mongo_uri does not answer"; return 1
  fi
  local bin args
  bin=$(ferretdb_bin)
  if [ "$ferret_backend" = postgresql ]; then
    args=(-handler postgresql -postgresql-url "${HOTLINE_FERRETDB_POSTGRESQL_URL:?set HOTLINE_FERRETDB_POSTGRESQL_URL}")
  else
    mkdir -p "$state/ferretdb-data"
    # BEGIN IMMEDIATE: concurrent writers wait (busy_timeout) instead of failing SQLITE_BUSY
    args=(-handler sqlite -sqlite-url "file:$state/ferretdb-data/?_txlock=immediate&_pragma=busy_timeout(30000)")
  fi
  nohup "$bin" -listen "$host:$port" "${args[@]}" >>"$logs/ferretdb.log" 2>&1 &
  echo $! >"$run/ferretdb.pid"
  wait_port ferretdb "$host" "$port" 60
  echo ferretdb
}

stop_one() {
  local name=$1 pid
  alive "$name" || { rm -f "$run/$name.pid"; return 0; }
  pid=$(cat "$run/$name.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$run/$name.pid"
  log "stopped $name (pid $pid)"
}

cmd=${1:-status}; shift || true
case $cmd in
  up)
    mark=""; [ "${1:-}" = --mark ] && mark=$2
    # Build/resolve both first so they overlap, then start.
    kafka_libs >/dev/null & p1=$!; ferretdb_bin >/dev/null & p2=$!
    wait $p1; wait $p2
    started=$( { start_kafka; start_ferretdb; } )
    [ -n "$mark" ] && printf '%s\n' $started >>"$mark"
    log "up: Kafka $kafka_bootstrap, MongoDB wire $mongo_uri${started:+ (started: $(echo $started))}"
    ;;
  down)
    if [ "${1:-}" = --only ]; then
      [ -f "$2" ] && for name in $(sort -u "$2"); do stop_one "$name"; done
      rm -f "$2"
    else
      stop_one ferretdb; stop_one kafka
    fi
    ;;
  status)
    for name in kafka ferretdb; do
      if alive "$name"; then echo "$name: running (pid $(cat "$run/$name.pid"))"; else echo "$name: not started here"; fi
    done
    ;;
  *) echo "usage: $0 up [--mark FILE] | down [--only FILE] | status" >&2; exit 2 ;;
esac
