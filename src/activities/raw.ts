import { Context } from '@temporalio/activity';
import { connectKafka } from '../kafka/connection';
import { fetchWatermarks } from '../kafka/watermarks';
import { lakeStores, openDuckDB } from '../lake/duckdb';
import { runRaw, type RawRunInput } from '../lake/raw';
import { ensureTables, RAW } from '../lake/tables';
import type { PartitionRef, RawResult } from '../lake/raw-result';
import type { ActivityDeps } from './deps';

export type IngestRawActivityInput = RawRunInput;

/** Stage 1: Kafka → raw (src/lake/raw.ts), with the activity's heartbeats, cancellation, logger and fault hooks. */
export function makeIngestRaw(deps: ActivityDeps) {
  return async function ingestRaw(input: IngestRawActivityInput): Promise<RawResult> {
    const ctx = Context.current();
    await ensureTables(deps.config.lakeRoot, [RAW]);
    return runRaw(
      {
        // kafkajs lines go through the activity's logger: they carry the workflow id and stage.
        kafka: connectKafka(deps.config.kafka, ctx.log),
        lakeRoot: deps.config.lakeRoot,
        openLake: () => openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: deps.config.memory.perActivity }),
        heartbeat: (details) => ctx.heartbeat(details),
        signal: ctx.cancellationSignal,
        log: ctx.log,
        hooks: deps.faults,
      },
      input,
    );
  };
}

/** The topic-partitions stage 1 would read (the fan-out's unit): every partition of the topics, from Kafka. */
export function makeListRawPartitions(deps: ActivityDeps) {
  return async function listRawPartitions(input: { topics: string[] }): Promise<PartitionRef[]> {
    const kafka = connectKafka(deps.config.kafka, Context.current().log);
    const watermarks = await fetchWatermarks(kafka, input.topics);
    return watermarks.map((w) => ({ topic: w.topic, partition: w.partition }));
  };
}
