#!/usr/bin/env bash
# Fetches the Apache Kafka broker (KRaft, broker+controller) as jars from Maven
# Central with `mvn` — no tarball, no Docker — for the integration tests.
#
#   scripts/fetch-kafka.sh            # prints the cache dir on the last line
#
# Cache: ${AMQ_DEPS_DIR:-<repo>/.deps}/kafka-<version>/jars. A no-op when the
# cache is complete (a `.complete` stamp written after a successful copy).
# Recipe and pitfalls: shared reference "kafka-from-maven" (see docs/testing.md).
#
# Env: AMQ_KAFKA_VERSION (default 4.1.1), AMQ_LOG4J_VERSION (default 2.24.3,
# Kafka 4.1's own), AMQ_DEPS_DIR.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="${AMQ_DEPS_DIR:-$repo/.deps}"
kver="${AMQ_KAFKA_VERSION:-4.1.1}"
log4j="${AMQ_LOG4J_VERSION:-2.24.3}"
kdir="$deps/kafka-$kver"
stamp="$kdir/jars/.complete"

if [[ -f "$stamp" ]] && ls "$kdir/jars"/kafka_2.13-"$kver".jar >/dev/null 2>&1; then
  echo "fetch-kafka: Kafka $kver already cached in $kdir/jars ($(ls "$kdir/jars" | grep -c '\.jar$') jars)" >&2
  echo "$kdir"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch-kafka: mvn not found (run scripts/install-deps.sh)" >&2; exit 1; }

mkdir -p "$kdir"
tmp="$kdir/jars.tmp"
rm -rf "$tmp"
# kafka_2.13 brings every broker/controller module transitively; logging is not
# in any Kafka POM, so add log4j-core and the SLF4J-1.x → log4j2 binding
# (Kafka's POMs use slf4j-api 1.7.36). Without a binding the broker is silent
# and the "Kafka Server started" readiness line never appears.
cat >"$kdir/kafka-pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.actormq</groupId><artifactId>kafka-test-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$kver</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>$log4j</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$log4j</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$log4j</version></dependency>
  </dependencies>
</project>
POM

echo "fetch-kafka: resolving Kafka $kver + log4j $log4j from Maven Central ..." >&2
start=$(date +%s)
# Pinning the plugin version avoids resolving `dependency:` through remote
# metadata. Three tries against transient registry errors, each bounded.
for attempt in 1 2 3; do
  if timeout 600 mvn -B -q -Dstyle.color=never -f "$kdir/kafka-pom.xml" \
       org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
       -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 </dev/null \
       | sed 's/\x1b\[[0-9;]*m//g' >&2; then
    break
  fi
  (( attempt < 3 )) || { echo "fetch-kafka: mvn failed 3 times" >&2; exit 1; }
  echo "fetch-kafka: mvn failed (attempt $attempt), retrying in 5 s" >&2
  rm -rf "$tmp"
  sleep 5
done

for must in "kafka_2.13-$kver.jar" "kafka-clients-$kver.jar" "kafka-server-$kver.jar" "kafka-raft-$kver.jar" \
            "log4j-core-$log4j.jar" "log4j-slf4j-impl-$log4j.jar"; do
  [[ -f "$tmp/$must" ]] || { echo "fetch-kafka: $must missing after mvn copy-dependencies" >&2; exit 1; }
done
if ls "$tmp"/slf4j-api-2.* >/dev/null 2>&1; then
  echo "fetch-kafka: slf4j-api 2.x on the classpath with an SLF4J-1 binding; the broker would be silent" >&2
  exit 1
fi

rm -rf "$kdir/jars"
mv "$tmp" "$kdir/jars"
touch "$stamp"
echo "fetch-kafka: $(ls "$kdir/jars" | grep -c '\.jar$') jars in $kdir/jars ($(( $(date +%s) - start )) s)" >&2
echo "$kdir"
