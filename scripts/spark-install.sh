#!/usr/bin/env bash
# Installs the Spark baseline the bench compares against (`npm run bench -- --vs-spark`), cached under
# .stack/spark/ like the stack's other pieces (env STACK_DIR overrides .stack):
#   - a Python venv with pyspark 3.5.3 + delta-spark 3.3.2 from PyPI;
#   - the jars Spark's Kafka source and Delta need, from Maven Central with `mvn dependency:copy`
#     (no Ivy at run time): spark-sql-kafka-0-10_2.12 3.5.3 and its runtime dependencies that pyspark
#     does not ship (spark-token-provider-kafka-0-10, kafka-clients, commons-pool2), and delta-spark_2.12 /
#     delta-storage 3.3.2 (the delta-spark wheel holds only Python; its jars normally come through Ivy).
# Idempotent: a marker file records the pins; a second run with the same pins does nothing.
# Prints one line per piece; on failure one actionable line on stderr and exit 1.
set -euo pipefail

PYSPARK_VERSION=3.5.3
DELTA_SPARK_VERSION=3.3.2
SCALA=2.12
# The versions spark-sql-kafka-0-10_2.12 3.5.3 depends on (its pom), for `mvn dependency:copy`.
KAFKA_CLIENTS_VERSION=3.4.1
COMMONS_POOL2_VERSION=2.11.1
JARS=(
  "org.apache.spark:spark-sql-kafka-0-10_$SCALA:$PYSPARK_VERSION"
  "org.apache.spark:spark-token-provider-kafka-0-10_$SCALA:$PYSPARK_VERSION"
  "org.apache.kafka:kafka-clients:$KAFKA_CLIENTS_VERSION"
  "org.apache.commons:commons-pool2:$COMMONS_POOL2_VERSION"
  "io.delta:delta-spark_$SCALA:$DELTA_SPARK_VERSION"
  "io.delta:delta-storage:$DELTA_SPARK_VERSION"
)

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_DIR=${STACK_DIR:-$REPO_ROOT/.stack}
mkdir -p "$STACK_DIR"
STACK_DIR=$(cd "$STACK_DIR" && pwd)
SPARK_DIR=$STACK_DIR/spark
VENV=$SPARK_DIR/venv
JAR_DIR=$SPARK_DIR/jars
LOG_DIR=$STACK_DIR/logs
MARKER=$SPARK_DIR/.complete
PINS="pyspark==$PYSPARK_VERSION delta-spark==$DELTA_SPARK_VERSION ${JARS[*]}"
mkdir -p "$LOG_DIR"

say() { printf 'spark: %s\n' "$*"; }
die() {
  printf 'spark: error: %s\n' "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

if [[ -f $MARKER && $(<"$MARKER") == "$PINS" && -x $VENV/bin/python ]]; then
  say "pyspark $PYSPARK_VERSION + delta-spark $DELTA_SPARK_VERSION and ${#JARS[@]} jars installed (cached) -> $SPARK_DIR"
  exit 0
fi

have java || die "java not found (Spark 3.5 needs Java 8/11/17): apt-get install -y openjdk-17-jre-headless"
have python3 || die "python3 not found: apt-get install -y python3 python3-venv python3-pip"
have mvn || die "mvn not found (fetches the Kafka/Delta jars from Maven Central): apt-get install -y maven"
rm -f "$MARKER"

if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV" >"$LOG_DIR/spark-venv.log" 2>&1 || die "python3 -m venv failed: $(tail -n 1 "$LOG_DIR/spark-venv.log")"
fi
say "installing pyspark==$PYSPARK_VERSION delta-spark==$DELTA_SPARK_VERSION from PyPI (about 320 MB, once)"
"$VENV/bin/python" -m pip install --disable-pip-version-check --retries 2 \
  "pyspark==$PYSPARK_VERSION" "delta-spark==$DELTA_SPARK_VERSION" >"$LOG_DIR/spark-pip.log" 2>&1 ||
  die "could not install pyspark/delta-spark from PyPI: $(tail -n 1 "$LOG_DIR/spark-pip.log"); log: $LOG_DIR/spark-pip.log"

mkdir -p "$JAR_DIR"
for a in "${JARS[@]}"; do
  say "mvn dependency:copy $a"
  mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="$a" -DoutputDirectory="$JAR_DIR" >"$LOG_DIR/spark-mvn.log" 2>&1 ||
    die "could not fetch $a from Maven Central: $(grep -m1 '\[ERROR\]' "$LOG_DIR/spark-mvn.log" | cut -c1-160); log: $LOG_DIR/spark-mvn.log"
done
"$VENV/bin/python" -c 'import pyspark, delta; print(pyspark.__version__)' >/dev/null 2>>"$LOG_DIR/spark-pip.log" ||
  die "pyspark installed but does not import; log: $LOG_DIR/spark-pip.log"
printf '%s' "$PINS" >"$MARKER"
say "installed -> $SPARK_DIR (venv, $(ls "$JAR_DIR" | wc -l) jars)"
