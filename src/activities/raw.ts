import { Context } from '@temporalio/activity';
import { connectKafka } from '../kafka/connection';
import { fetchWatermarks } from '../kafka/watermarks';
import { lakeStores, openDuckDB } from '../lake/duckdb';
import { runRaw, type RawRunInput } from '../lake/raw';
import type { PartitionRef, RawResult } from '../lake/raw-result';
import type { ActivityDeps } from './deps';
import { ensureStageTables, resolvePipeline, topicsOf } from './pipeline';
import { DEFAULT_PIPELINE } from '../pipelines/name';
import type { IngestRawInput } from '../workflows/inputs';

/** The workflow's input: topics, startingOffsets and failOnDataLoss default to the pipeline's source. */
export type IngestRawActivityInput = Omit<RawRunInput, 'topics' | 'startingOffsets' | 'failOnDataLoss'> &
  Pick<IngestRawInput, 'topics' | 'startingOffsets' | 'failOnDataLoss'>;

/** Stage 1: Kafka → raw (src/lake/raw.ts), with the activity's heartbeats, cancellation, logger and fault hooks. */
export function makeIngestRaw(deps: ActivityDeps) {
  return async function ingestRaw(input: IngestRawActivityInput): Promise<RawResult> {
    const ctx = Context.current();
    const pipeline = resolvePipeline(deps, input.pipeline);
    await ensureStageTables(deps, pipeline, ['raw']);
    const topics = await topicsOf(deps, pipeline, input.topics, ctx.log);
    return runRaw(
      {
        // kafkajs lines go through the activity's logger: they carry the workflow id and stage.
        kafka: connectKafka(deps.config.kafka, ctx.log),
        lakeRoot: deps.config.lakeRoot,
        pipeline,
        openLake: () => openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: deps.config.memory.perActivity }),
        heartbeat: (details) => ctx.heartbeat(details),
        signal: ctx.cancellationSignal,
        log: ctx.log,
        hooks: deps.faults,
      },
      {
        ...input,
        topics,
        startingOffsets: input.startingOffsets ?? pipeline.source.startingOffsets,
        failOnDataLoss: input.failOnDataLoss ?? pipeline.source.failOnDataLoss,
      },
    );
  };
}

/** The topic-partitions stage 1 would read (the fan-out's unit): every partition of the topics, from Kafka. */
export function makeListRawPartitions(deps: ActivityDeps) {
  return async function listRawPartitions(input: { pipeline?: string; topics?: string[] }): Promise<PartitionRef[]> {
    const log = Context.current().log;
    const topics = await topicsOf(deps, resolvePipeline(deps, input.pipeline ?? DEFAULT_PIPELINE), input.topics, log);
    const watermarks = await fetchWatermarks(connectKafka(deps.config.kafka, log), topics);
    return watermarks.map((w) => ({ topic: w.topic, partition: w.partition }));
  };
}
