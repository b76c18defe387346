#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft, one combined broker+controller node) for end-to-end tests,
# from the jars on Maven Central, plus thin wrappers around Kafka's own command-line tools.
#
#   kafka.sh install                               fetch the jars once into the cache
#   kafka.sh run DIR PORT CONTROLLER_PORT          format DIR and exec the broker (foreground)
#   kafka.sh topic BOOTSTRAP create NAME PARTITIONS
#   kafka.sh produce BOOTSTRAP TOPIC               one message per stdin line
#   kafka.sh consume BOOTSTRAP TOPIC COUNT         print COUNT messages from the start, then exit
#   kafka.sh libs                                  print the jar folder
set -euo pipefail

VERSION="${KAFKA_VERSION:-4.1.1}"
CACHE="${RUNNEL_CACHE:-$HOME/.cache/runnel}"
HOME_DIR="$CACHE/kafka-$VERSION"
LIBS="$HOME_DIR/libs"
MARKER="$HOME_DIR/.installed"
POM="$(cd "$(dirname "${BASH_SOURCE[0]}")/../kafka" && pwd)/pom.xml"
# How long `consume` waits for the next message before giving up.
CONSUME_TIMEOUT_MS="${KAFKA_CONSUME_TIMEOUT_MS:-30000}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

apt_install() {
  echo "kafka.sh: installing $*" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# Kafka 4 brokers need Java 17 or newer.
java_major() {
  java -version 2>&1 | sed -nE '1s/.*version "([0-9]+)(\.[0-9]+)*.*".*/\1/p'
}

need_java() {
  if command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 17 ] 2>/dev/null; then
    return 0
  fi
  apt_install openjdk-17-jre-headless || apt_install default-jre-headless
}

install() {
  [ -f "$MARKER" ] && return 0
  need_java
  command -v mvn >/dev/null 2>&1 || apt_install maven
  mkdir -p "$HOME_DIR"
  # One installer at a time (tests may start several brokers at once); the lock is held by a
  # subshell so it is never inherited by a broker.
  (
    flock 9
    [ -f "$MARKER" ] && exit 0
    rm -rf "$LIBS.tmp"
    # Only Maven Central: the pom names the broker, the tools and a Log4j 2 binding.
    mvn -q -B -Dstyle.color=never -f "$POM" -Dkafka.version="$VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >&2
    ls "$LIBS.tmp/kafka_2.13-$VERSION.jar" "$LIBS.tmp/kafka-tools-$VERSION.jar" >/dev/null
    rm -rf "$LIBS"
    mv "$LIBS.tmp" "$LIBS"
    touch "$MARKER"
  ) 9>"$HOME_DIR/.lock"
}

# Log4j 2 configuration: everything to stdout (broker) or WARN and up to stderr (tools, whose
# stdout carries data).
log_config() {
  local file=$1 level=$2 target=$3
  cat >"$file" <<CONF
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = $target
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $level
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = $level
logger.apache.name = org.apache.kafka
logger.apache.level = $level
CONF
}

# A random KRaft cluster id: 16 random bytes in URL-safe base64 without padding, which is what
# `kafka-storage.sh random-uuid` prints, without starting a JVM for it.
cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    # Kafka refuses ids that start with '-' (they read as options).
    [ "${id:0:1}" != "-" ] && { echo "$id"; return; }
  done
}

run() {
  [ $# -eq 3 ] || [ $# -eq 4 ] || die "usage: kafka.sh run DIR PORT CONTROLLER_PORT [HOST]"
  # HOST: the address clients connect to (default 127.0.0.1; a bridge address lets pods in).
  local dir=$1 port=$2 cport=$3 host=${4:-127.0.0.1}
  install
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  cat >"$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://$host:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
CONF
  log_config "$dir/log4j2.properties" INFO SYSTEM_OUT
  local cp="$LIBS/*"
  local jvm=(-Xms128m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$dir/log4j2.properties")
  if [ ! -f "$dir/data/meta.properties" ]; then
    java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format \
      --config "$dir/server.properties" --cluster-id "$(cluster_id)" --ignore-formatted
  fi
  exec java "${jvm[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties"
}

# Runs one of Kafka's tool classes with a small, quick-starting JVM.
tool() {
  [ -f "$MARKER" ] || install
  local conf
  conf=$(mktemp --suffix=.properties)
  log_config "$conf" WARN SYSTEM_ERR
  local rc=0
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$conf" -cp "$LIBS/*" "$@" || rc=$?
  rm -f "$conf"
  return "$rc"
}

topic() {
  [ $# -eq 4 ] && [ "$2" = create ] || die "usage: kafka.sh topic BOOTSTRAP create NAME PARTITIONS"
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$1" --create \
    --topic "$3" --partitions "$4" --replication-factor 1
}

produce() {
  [ $# -eq 2 ] || die "usage: kafka.sh produce BOOTSTRAP TOPIC < lines"
  # acks=all and a close on end of input: every line is stored when this returns.
  tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$1" --topic "$2" \
    --producer-property acks=all
}

consume() {
  [ $# -eq 3 ] || die "usage: kafka.sh consume BOOTSTRAP TOPIC COUNT"
  local out rc=0 got
  out=$(mktemp)
  tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$1" --topic "$2" \
    --from-beginning --isolation-level read_committed --max-messages "$3" \
    --timeout-ms "$CONSUME_TIMEOUT_MS" >"$out" || rc=$?
  cat "$out"
  got=$(wc -l <"$out")
  rm -f "$out"
  [ "$got" -ge "$3" ] || die "got $got of $3 messages from $2 (consumer exit $rc)"
}

cmd=${1:-}
shift || true
case "$cmd" in
  install) install ;;
  run) run "$@" ;;
  topic) topic "$@" ;;
  produce) produce "$@" ;;
  consume) consume "$@" ;;
  libs) echo "$LIBS" ;;
  *) die "usage: kafka.sh install | run DIR PORT CONTROLLER_PORT [HOST] | topic BOOTSTRAP create NAME PARTITIONS | produce BOOTSTRAP TOPIC | consume BOOTSTRAP TOPIC COUNT | libs" ;;
esac
