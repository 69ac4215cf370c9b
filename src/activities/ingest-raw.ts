import { Context } from '@temporalio/activity';
import { connectKafka } from '../kafka/connection';
import { planRead, setOffset, type TopicOffsets } from '../kafka/offsets';
import { readRanges } from '../kafka/range-reader';
import { fetchWatermarks } from '../kafka/watermarks';
import { openDuckDB } from '../lake/duckdb';
import { RawTableWriter, readRawCheckpoint } from '../lake/raw-table';
import { ensureTables, RAW, tableDir } from '../lake/tables';
import type { IngestRawInput, IngestRawResult } from '../workflows/inputs';
import type { ActivityDeps } from './deps';

export interface IngestRawActivityInput extends IngestRawInput {
  /** The checkpoint the workflow carries (its previous run's result). */
  workflowCheckpoint?: TopicOffsets;
}

export function makeIngestRaw(deps: ActivityDeps) {
  return async function ingestRaw(input: IngestRawActivityInput): Promise<IngestRawResult> {
    const ctx = Context.current();
    const dir = tableDir(deps.config.lakeRoot, RAW);
    await ensureTables(deps.config.lakeRoot, [RAW]);
    const kafka = connectKafka(deps.config.kafka);

    const watermarks = await fetchWatermarks(kafka, input.topics);
    // Read after the watermarks: a commit by a concurrent writer in between makes our
    // compare-and-swap fail and the retry re-plans, rather than re-reading its records.
    const table = await readRawCheckpoint(dir);
    const plan = planRead({
      topics: input.topics,
      watermarks,
      tableCheckpoint: table.checkpoint,
      workflowCheckpoint: input.workflowCheckpoint,
      startingOffsets: input.startingOffsets,
      failOnDataLoss: input.failOnDataLoss,
    });
    for (const l of plan.lost) {
      ctx.log.warn('data loss: records deleted by Kafka before they were read (failOnDataLoss=false, continuing)', { ...l });
    }
    if (plan.disagreements.length > 0) {
      ctx.log.warn('workflow checkpoint differs from the raw table; using the table', { disagreements: plan.disagreements });
    }

    const committed: TopicOffsets = structuredClone(table.checkpoint);
    let recordsIn = 0;
    let commits = 0;
    const toRead = plan.ranges.filter((r) => r.from < r.to);
    if (toRead.length > 0) {
      const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath });
      try {
        const writer = await RawTableWriter.open(lake, dir);
        await readRanges(kafka, toRead, {
          maxRecordsPerFlush: input.maxRecordsPerCommit,
          maxBytesPerFlush: input.maxBytesPerCommit,
          idleTimeoutMs: 120_000,
          onTick: () => ctx.heartbeat({ committed, recordsIn }),
          flush: async (records, positions) => {
            deps.faults?.beforeCommit?.('raw', commits + 1);
            await writer.append(records, positions, committed, new Date());
            commits += 1;
            recordsIn += records.length;
            for (const [topic, parts] of Object.entries(positions)) {
              for (const [p, next] of Object.entries(parts)) setOffset(committed, topic, Number(p), next);
            }
            ctx.heartbeat({ committed, recordsIn });
            deps.faults?.afterCommit?.('raw', commits);
          },
        }).catch((e) => {
          throw e instanceof Error && e.name.startsWith('KafkaJS') ? kafka.explain(e, 'reading Kafka') : e;
        });
      } finally {
        lake.close();
      }
    }

    // Every planned partition is now at its end; partitions with nothing new never got a commit,
    // so their position lives only in the workflow's checkpoint.
    const checkpoint: TopicOffsets = structuredClone(committed);
    for (const r of plan.ranges) setOffset(checkpoint, r.topic, r.partition, r.to);
    const after = await readRawCheckpoint(dir);
    return {
      stage: 'raw',
      checkpoint,
      recordsIn,
      commits,
      tableVersion: after.version,
      lost: plan.lost,
      checkpointDisagreements: plan.disagreements,
    };
  };
}
