#!/usr/bin/env bash
# The local stack without Docker: Apache Kafka (KRaft) and mongo-java-server (MongoDB wire
# protocol on an H2 file, durable per write: deploy/local/mongo), both from Maven Central jars.
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

mongo_build() { # jars from Maven Central + the launcher compiled against them, cached
  local out=$state/mongo-server stamp
  stamp=$(cat "$here/mongo/pom.xml" "$here/mongo/HotlineMongo.java" | sha256sum | cut -c1-16)
  if [ ! -f "$out/.stamp-$stamp" ]; then
    log "resolving mongo-java-server from Maven Central and compiling its launcher (first run only)"
    rm -rf "$out"; mkdir -p "$out/classes"
    mvn -q -B -f "$here/mongo/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$out/libs" >&2
    javac -d "$out/classes" -cp "$out/libs/*" "$here/mongo/HotlineMongo.java" >&2
    touch "$out/.stamp-$stamp"
  fi
  echo "$out"
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
  KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}  # every test has topics of its own
  # shellcheck disable=SC2086
  nohup java $KAFKA_HEAP_OPTS $JIT_OPTS -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$logs/kafka" -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$props" >>"$logs/kafka.log" 2>&1 &
  echo $! >"$run/kafka.pid"
  wait_port kafka "$host" "$port" 90
  echo kafka
}

# Both JVMs share two cores with the services. With the full (C2) compiler, their first
# minute of traffic compiles hot paths on those cores: `make demo` on a fresh stack saw its
# webhook p50 go from 30 ms to 800 ms for 50 s, then recover. The quick compiler alone
# (C1) has no such phase; JIT_OPTS="" restores the default.
JIT_OPTS=${JIT_OPTS--XX:TieredStopAtLevel=1}

start_mongo() {
  local host port; read -r host port <<<"$(mongo_hostport "$mongo_uri")"
  if answers "$host" "$port"; then log "MongoDB wire answers at $host:$port; not starting one"; return 0; fi
  if [ -n "${HOTLINE_MONGODB_URI:-}" ] && [ "$host:$port" != "127.0.0.1:27017" ]; then
    log "HOTLINE_MONGODB_URI=$mongo_uri does not answer"; return 1
  fi
  local out
  out=$(mongo_build)
  # The H2 backend keeps every collection's pages in the heap it is given: cap it.
  MONGO_HEAP_OPTS=${MONGO_HEAP_OPTS:--Xms256m -Xmx3g}  # its page cache is 512 MB; 512 MB in all ran out at 160,000 tasks (bench)
  # shellcheck disable=SC2086
  nohup java $MONGO_HEAP_OPTS $JIT_OPTS -XX:+UseG1GC -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$out/classes:$out/libs/*" HotlineMongo "$host" "$port" "$state/mongo-data/hotline.mv.db" \
    >>"$logs/mongo.log" 2>&1 &
  echo $! >"$run/mongo.pid"
  wait_port mongo "$host" "$port" 60
  echo mongo
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
    kafka_libs >/dev/null & p1=$!; mongo_build >/dev/null & p2=$!
    wait $p1; wait $p2
    started=$( { start_kafka; start_mongo; } )
    [ -n "$mark" ] && printf '%s\n' $started >>"$mark"
    log "up: Kafka $kafka_bootstrap, MongoDB wire $mongo_uri${started:+ (started: $(echo $started))}"
    ;;
  down)
    if [ "${1:-}" = --only ]; then
      [ -f "$2" ] && for name in $(sort -u "$2"); do stop_one "$name"; done
      rm -f "$2"
    else
      stop_one mongo; stop_one kafka
    fi
    ;;
  status)
    for name in kafka mongo; do
      if alive "$name"; then echo "$name: running (pid $(cat "$run/$name.pid"))"; else echo "$name: not started here"; fi
    done
    ;;
  *) echo "usage: $0 up [--mark FILE] | down [--only FILE] | status" >&2; exit 2 ;;
esac
