"""The Spark baseline of the bench (`npm run bench -- --vs-spark`): the seed's three Databricks jobs
(/work/shared/seed, "Job 1/2/3") as written there, run one after the other in one local[2] Spark
session on the bench's topic, each timed from start to the end of its availableNow run.

Run by bench/spark.ts with the venv and jars scripts/spark-install.sh installs:
  .stack/spark/venv/bin/python bench/spark-jobs.py --brokers H:P --topic T --dir D --jars a.jar,b.jar
Prints progress on stderr and one JSON line on stdout.

Changes from the seed, all outside the jobs' logic, each because the bench needs it:
  - the topic is the bench's topic, not "sensor_readings", and PLAINTEXT (the seed's SASL_SSL
    connection to Event Hubs has no bearing on throughput here);
  - startingOffsets "earliest" instead of "latest": the bench measures working off a backlog, and
    "latest" on a first run reads nothing;
  - the tables live in a local warehouse directory (in-memory catalog) and gold.sensor_readings is
    created before Job 3 with the columns Job 3 writes (the seed assumes it exists);
  - spark.driver.memory 4g (default 1g) so 10M rows fit; everything else is Spark's default.
"""
import argparse
import json
import os
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--brokers", required=True)
parser.add_argument("--topic", required=True)
parser.add_argument("--dir", required=True)
parser.add_argument("--jars", required=True)
parser.add_argument("--driver-memory", default="4g")
args = parser.parse_args()


def log(msg):
    print(f"spark-jobs: {msg}", file=sys.stderr, flush=True)


t_start = time.monotonic()
from pyspark.sql import SparkSession  # noqa: E402

spark = (
    SparkSession.builder.master("local[2]")
    .appName("tributary-bench-spark-baseline")
    .config("spark.jars", args.jars)
    .config("spark.driver.memory", args.driver_memory)
    .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
    .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
    .config("spark.sql.warehouse.dir", os.path.join(args.dir, "warehouse"))
    .config("spark.ui.enabled", "false")
    .config("pipeline.kafka.brokers", args.brokers)
    .config("pipeline.checkpoint.raw", os.path.join(args.dir, "checkpoints", "raw"))
    .config("pipeline.checkpoint.bronze", os.path.join(args.dir, "checkpoints", "bronze"))
    .config("pipeline.checkpoint.gold", os.path.join(args.dir, "checkpoints", "gold"))
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
for db in ("raw", "bronze", "gold"):
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
startup_s = time.monotonic() - t_start
log(f"session up in {startup_s:.1f} s")

timings = {}
cpu = {}


def _jvm_pid():
    # pyspark starts the driver JVM through spark-submit, which execs java: the gateway's child is the JVM.
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    return proc.pid if proc is not None else None


JVM_PID = _jvm_pid()


def cpu_seconds():
    """CPU time of the driver JVM (all its threads: executors run inside it in local mode) plus this
    Python process, from /proc; None when the JVM's pid is unknown."""
    if JVM_PID is None:
        return None
    try:
        with open(f"/proc/{JVM_PID}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        jvm = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    except OSError:
        return None
    return jvm + time.process_time()


def cpu_since(c0):
    c1 = cpu_seconds()
    return None if c0 is None or c1 is None else c1 - c0


# ------------------------------------------------------------------------------------------ Job 1
# Notebook: /Pipelines/Sensor/01_raw_ingest
t0 = time.monotonic()
c0 = cpu_seconds()
from pyspark.sql.functions import col, current_timestamp  # noqa: E402

raw_stream = (
    spark.readStream.format("kafka")
    .option("kafka.bootstrap.servers", spark.conf.get("pipeline.kafka.brokers"))
    .option("subscribe", args.topic)
    .option("startingOffsets", "earliest")
    .option("failOnDataLoss", "false")
    .load()
)
raw_landed = raw_stream.select(
    col("topic"),
    col("partition").cast("int"),
    col("offset").cast("long"),
    col("timestamp").alias("kafka_ts"),
    col("value").cast("string").alias("raw_payload"),
    current_timestamp().alias("arrived_at"),
)
(
    raw_landed.writeStream.format("delta")
    .outputMode("append")
    .option("checkpointLocation", spark.conf.get("pipeline.checkpoint.raw"))
    .trigger(availableNow=True)
    .toTable("raw.sensor_readings")
    .awaitTermination()
)
timings["raw"] = time.monotonic() - t0
cpu["raw"] = cpu_since(c0)
log(f"job 1 raw: {timings['raw']:.1f} s")

# ------------------------------------------------------------------------------------------ Job 2
# Notebook: /Pipelines/Sensor/02_deserialize
t0 = time.monotonic()
c0 = cpu_seconds()
from pyspark.sql.functions import from_json, lit  # noqa: E402
from pyspark.sql.types import DoubleType, LongType, StringType, StructType  # noqa: E402

SENSOR_SCHEMA = StructType().add("sensor_id", StringType()).add("value", DoubleType()).add("unit", StringType()).add("ts_ms", LongType())

raw_stream = spark.readStream.format("delta").option("checkpointLocation", spark.conf.get("pipeline.checkpoint.bronze")).table("raw.sensor_readings")


def parse_and_route(batch_df, batch_id):
    parsed = batch_df.withColumn("parsed", from_json(col("raw_payload"), SENSOR_SCHEMA))
    # Good records: all required fields present and non-null
    good = parsed.filter(
        col("parsed.sensor_id").isNotNull()
        & col("parsed.value").isNotNull()
        & col("parsed.unit").isNotNull()
        & col("parsed.ts_ms").isNotNull()
        & (col("parsed.value").between(-100, 10000))
    ).select(
        col("parsed.sensor_id"),
        col("parsed.value"),
        col("parsed.unit"),
        col("parsed.ts_ms"),
        col("arrived_at"),
        col("topic"),
        col("partition"),
        col("offset"),
    )
    # Bad records: anything that failed parsing or validation
    bad = parsed.filter(
        col("parsed.sensor_id").isNull()
        | col("parsed.value").isNull()
        | col("parsed.unit").isNull()
        | col("parsed.ts_ms").isNull()
        | ~(col("parsed.value").between(-100, 10000))
    ).select(
        col("raw_payload"),
        col("topic"),
        col("partition"),
        col("offset"),
        col("arrived_at"),
        current_timestamp().alias("failed_at"),
        lit(batch_id).cast("long").alias("batch_id"),
    )
    good.write.format("delta").mode("append").saveAsTable("bronze.sensor_readings")
    bad.write.format("delta").mode("append").saveAsTable("bronze.sensor_readings_dead_letter")


(
    raw_stream.writeStream.foreachBatch(parse_and_route)
    .option("checkpointLocation", spark.conf.get("pipeline.checkpoint.bronze"))
    .trigger(availableNow=True)
    .start()
    .awaitTermination()
)
timings["bronze"] = time.monotonic() - t0
cpu["bronze"] = cpu_since(c0)
log(f"job 2 bronze: {timings['bronze']:.1f} s")

# ------------------------------------------------------------------------------------------ Job 3
# The seed assumes gold.sensor_readings exists; created here (not timed) with the columns Job 3 writes.
spark.sql(
    "CREATE TABLE IF NOT EXISTS gold.sensor_readings "
    "(sensor_id STRING, value DOUBLE, unit STRING, ts_ms BIGINT, arrived_at TIMESTAMP, updated_at TIMESTAMP) USING DELTA"
)
# Notebook: /Pipelines/Sensor/03_merge_gold
t0 = time.monotonic()
c0 = cpu_seconds()
from delta.tables import DeltaTable  # noqa: E402

bronze_stream = spark.readStream.format("delta").table("bronze.sensor_readings")
gold_table = DeltaTable.forName(spark, "gold.sensor_readings")


def merge_to_gold(batch_df, batch_id):
    # Deduplicate within the batch before merging
    deduped = batch_df.dropDuplicates(["sensor_id", "ts_ms"])
    gold_table.alias("gold").merge(deduped.alias("new"), "gold.sensor_id = new.sensor_id AND gold.ts_ms = new.ts_ms").whenMatchedUpdate(
        set={"value": "new.value", "unit": "new.unit", "updated_at": "new.arrived_at"}
    ).whenNotMatchedInsert(
        values={
            "sensor_id": "new.sensor_id",
            "value": "new.value",
            "unit": "new.unit",
            "ts_ms": "new.ts_ms",
            "arrived_at": "new.arrived_at",
            "updated_at": "new.arrived_at",
        }
    ).execute()


(
    bronze_stream.writeStream.foreachBatch(merge_to_gold)
    .option("checkpointLocation", spark.conf.get("pipeline.checkpoint.gold"))
    .trigger(availableNow=True)
    .start()
    .awaitTermination()
)
timings["gold"] = time.monotonic() - t0
cpu["gold"] = cpu_since(c0)
log(f"job 3 gold: {timings['gold']:.1f} s")

counts = {
    "raw": spark.table("raw.sensor_readings").count(),
    "bronze": spark.table("bronze.sensor_readings").count(),
    "deadLetter": spark.table("bronze.sensor_readings_dead_letter").count(),
    "gold": spark.table("gold.sensor_readings").count(),
}
spark.stop()
print(json.dumps({"startupSeconds": startup_s, "seconds": timings, "cpuSeconds": cpu, "rows": counts, "driverMemory": args.driver_memory}), flush=True)
