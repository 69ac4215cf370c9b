import { Context } from '@temporalio/activity';
import { connectKafka } from '../kafka/connection';
import { offsetOf, planRead, setOffset, type TopicOffsets } from '../kafka/offsets';
import { readRanges, type KafkaRecord } from '../kafka/range-reader';
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
    // Positions the table does not hold yet even though nothing is to be read (a first run at
    // "latest", an empty new partition, a reset after data loss) are committed too, so that the
    // table alone can always restart the chain — whatever happens to the workflow's lastResult.
    const unrecorded = () => plan.ranges.filter((r) => offsetOf(committed, r.topic, r.partition) !== r.to);
    if (unrecorded().length > 0) {
      const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath });
      try {
        const writer = await RawTableWriter.open(lake, dir);
        const commit = async (records: KafkaRecord[], positions: TopicOffsets) => {
          deps.faults?.beforeCommit?.('raw', commits + 1);
          await writer.append(records, positions, committed, new Date());
          commits += 1;
          recordsIn += records.length;
          for (const [topic, parts] of Object.entries(positions)) {
            for (const [p, next] of Object.entries(parts)) setOffset(committed, topic, Number(p), next);
          }
          ctx.heartbeat({ committed, recordsIn });
          deps.faults?.afterCommit?.('raw', commits);
        };
        await readRanges(kafka, toRead, {
          maxRecordsPerFlush: input.maxRecordsPerCommit,
          maxBytesPerFlush: input.maxBytesPerCommit,
          idleTimeoutMs: 120_000,
          onTick: () => ctx.heartbeat({ committed, recordsIn }),
          // Cancellation (or worker shutdown) stops between commits: what is committed stays, exactly once.
          signal: ctx.cancellationSignal,
          flush: commit,
        }).catch((e) => {
          throw e instanceof Error && e.name.startsWith('KafkaJS') ? kafka.explain(e, 'reading Kafka') : e;
        });
        const rest: TopicOffsets = {};
        for (const r of unrecorded()) setOffset(rest, r.topic, r.partition, r.to);
        if (Object.keys(rest).length > 0) await commit([], rest);
      } finally {
        lake.close();
      }
    }

    const after = await readRawCheckpoint(dir);
    return {
      stage: 'raw',
      checkpoint: committed,
      recordsIn,
      commits,
      tableVersion: after.version,
      lost: plan.lost,
      checkpointDisagreements: plan.disagreements,
    };
  };
}
