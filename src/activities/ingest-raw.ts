import { Context } from '@temporalio/activity';
import { connectKafka, PermanentKafkaError, type KafkaHandle } from '../kafka/connection';
import { aheadOfLogEnd, offsetOf, planRead, setOffset, type LostRange, type PartitionRange, type TopicOffsets } from '../kafka/offsets';
import { KafkaRecords, readRanges } from '../kafka/range-reader';
import { fetchWatermarks, offsetsForTimestamp } from '../kafka/watermarks';
import { lakeStores, openDuckDB } from '../lake/duckdb';
import { RawTableWriter, readRawCheckpoint } from '../lake/raw-table';
import { ensureTables, RAW, tableDir } from '../lake/tables';
import type { IngestRawInput, IngestRawResult, PartitionRef, RawBackfill } from '../workflows/inputs';
import type { ActivityDeps } from './deps';

/**
 * A healthy read advances (or finishes a commit) within seconds. A consumer that stops advancing —
 * seen rarely under load, with two reads of one topic in one process — fails the attempt after
 * this long, and the retry resumes from what is committed.
 */
const READER_IDLE_TIMEOUT_MS = 30_000;

export interface IngestRawActivityInput extends IngestRawInput {
  /** The checkpoint the workflow carries (its previous run's result). */
  workflowCheckpoint?: TopicOffsets;
  /**
   * Fan-out: read and commit only these partitions (this activity's group); the other groups' activities own the
   * rest. Group 0 (`reportsGone`) also reports partitions that no longer exist. Unset = every partition.
   */
  group?: { partitions: PartitionRef[]; reportsGone: boolean };
}

export function makeIngestRaw(deps: ActivityDeps) {
  return async function ingestRaw(input: IngestRawActivityInput): Promise<IngestRawResult> {
    const ctx = Context.current();
    const dir = tableDir(deps.config.lakeRoot, RAW);
    await ensureTables(deps.config.lakeRoot, [RAW]);
    // kafkajs lines go through the activity's logger: they carry the workflow id and stage.
    const kafka = connectKafka(deps.config.kafka, ctx.log);
    if (input.backfill) return backfillRaw(deps, kafka, dir, input, input.backfill);

    let watermarks = await fetchWatermarks(kafka, input.topics);
    await deps.faults?.afterWatermarks?.('raw');
    const table = await readRawCheckpoint(dir);
    // A checkpoint past log ends captured before it was read is normal when a concurrent raw run
    // (backfill, near-real-time follow-up, second worker) committed in between: capture again.
    // Only past a log end captured after the checkpoint is it a reset (planRead). Commits after
    // this read make our compare-and-swap fail and the retry re-plans.
    if (aheadOfLogEnd(watermarks, table.checkpoint).length > 0) watermarks = await fetchWatermarks(kafka, input.topics);
    // Planned over all partitions (a first run, a new partition, data loss are decided for the topic as a whole),
    // then narrowed to this activity's group.
    const plan = narrowToGroup(
      planRead({
        topics: input.topics,
        watermarks,
        tableCheckpoint: table.checkpoint,
        workflowCheckpoint: input.workflowCheckpoint,
        startingOffsets: input.startingOffsets,
        failOnDataLoss: input.failOnDataLoss,
      }),
      input.group,
    );
    for (const l of plan.lost) {
      ctx.log.warn(`data loss (${l.kind}; failOnDataLoss=false, continuing)`, { ...l });
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
      const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: deps.config.memory.perActivity });
      try {
        const writer = await RawTableWriter.open(lake, dir);
        const commit = async (records: KafkaRecords, positions: TopicOffsets) => {
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
          idleTimeoutMs: READER_IDLE_TIMEOUT_MS,
          onTick: () => ctx.heartbeat({ committed, recordsIn }),
          // Cancellation (or worker shutdown) stops between commits: what is committed stays, exactly once.
          signal: ctx.cancellationSignal,
          flush: commit,
        }).catch((e) => {
          throw e instanceof Error && e.name.startsWith('KafkaJS') ? kafka.explain(e, 'reading Kafka') : e;
        });
        const rest: TopicOffsets = {};
        for (const r of unrecorded()) setOffset(rest, r.topic, r.partition, r.to);
        if (Object.keys(rest).length > 0) await commit(new KafkaRecords(), rest);
      } finally {
        lake.close();
      }
    }

    const after = await readRawCheckpoint(dir);
    return {
      stage: 'raw',
      mode: 'scheduled',
      // A group reports only its own partitions' positions; the workflow puts the groups' together.
      checkpoint: input.group ? onlyPartitions(committed, input.group.partitions) : committed,
      recordsIn,
      commits,
      tableVersion: after.version,
      lost: plan.lost,
      checkpointDisagreements: plan.disagreements,
    };
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

const inGroup = (partitions: PartitionRef[]) => (topic: string, partition: number) =>
  partitions.some((p) => p.topic === topic && p.partition === partition);

function narrowToGroup(plan: ReturnType<typeof planRead>, group: IngestRawActivityInput['group']): ReturnType<typeof planRead> {
  if (!group) return plan;
  const mine = inGroup(group.partitions);
  const planned = inGroup(plan.ranges);
  return {
    ranges: plan.ranges.filter((r) => mine(r.topic, r.partition)),
    // A vanished partition is in no group: group 0 reports it.
    lost: plan.lost.filter((l) => mine(l.topic, l.partition) || (group.reportsGone && !planned(l.topic, l.partition))),
    disagreements: plan.disagreements.filter((d) => mine(d.topic, d.partition)),
  };
}

function onlyPartitions(offsets: TopicOffsets, partitions: PartitionRef[]): TopicOffsets {
  const out: TopicOffsets = {};
  for (const p of partitions) {
    const next = offsetOf(offsets, p.topic, p.partition);
    if (next !== undefined) setOffset(out, p.topic, p.partition, next);
  }
  return out;
}

/**
 * Re-lands the requested offsets: only records raw does not hold yet are written, only below the
 * scheduled checkpoint (at and past it the scheduled runs read), and no checkpoint moves. Safe to
 * run while the scheduled run is in flight and to retry: every write re-checks what raw holds.
 */
async function backfillRaw(deps: ActivityDeps, kafka: KafkaHandle, dir: string, input: IngestRawActivityInput, backfill: RawBackfill): Promise<IngestRawResult> {
  const ctx = Context.current();
  const topics = 'offsets' in backfill ? Object.keys(backfill.offsets) : input.topics;
  const watermarks = await fetchWatermarks(kafka, topics);
  const table = await readRawCheckpoint(dir);
  const requested: PartitionRange[] = [];
  if ('offsets' in backfill) {
    for (const [topic, parts] of Object.entries(backfill.offsets)) {
      for (const [p, [from, to]] of Object.entries(parts)) {
        if (!watermarks.some((w) => w.topic === topic && w.partition === Number(p))) {
          throw new PermanentKafkaError(`backfill: ${topic} has no partition ${p}`);
        }
        requested.push({ topic, partition: Number(p), from, to, origin: 'backfill' });
      }
    }
  } else {
    for (const topic of topics) {
      const starts = await offsetsForTimestamp(kafka, topic, Date.parse(backfill.fromTimestamp));
      const ends = backfill.toTimestamp ? await offsetsForTimestamp(kafka, topic, Date.parse(backfill.toTimestamp)) : undefined;
      for (const w of watermarks.filter((x) => x.topic === topic)) {
        requested.push({ topic, partition: w.partition, from: starts.get(w.partition) ?? w.high, to: ends?.get(w.partition) ?? w.high, origin: 'backfill' });
      }
    }
  }
  const lost: LostRange[] = [];
  const ranges = requested.map((r) => {
    const w = watermarks.find((x) => x.topic === r.topic && x.partition === r.partition)!;
    // At and past the scheduled checkpoint the scheduled runs read (without checking what raw
    // holds), so a backfill stays below it; a partition no scheduled run has recorded yet is left
    // to the scheduled run entirely.
    const owned = offsetOf(table.checkpoint, r.topic, r.partition) ?? r.from;
    const to = Math.max(r.from, Math.min(r.to, w.high, owned));
    if (r.from < w.low) lost.push({ topic: r.topic, partition: r.partition, from: r.from, to: Math.min(w.low, to), kind: 'retention', reason: 'were deleted from Kafka (retention); cannot be backfilled' });
    return { ...r, from: Math.max(r.from, w.low), to };
  });

  let written = 0;
  let alreadyPresent = 0;
  let commits = 0;
  const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: deps.config.memory.perActivity });
  try {
    const writer = await RawTableWriter.open(lake, dir);
    await readRanges(kafka, ranges, {
      maxRecordsPerFlush: input.maxRecordsPerCommit,
      maxBytesPerFlush: input.maxBytesPerCommit,
      idleTimeoutMs: READER_IDLE_TIMEOUT_MS,
      signal: ctx.cancellationSignal,
      onTick: () => ctx.heartbeat({ written, alreadyPresent }),
      flush: async (records) => {
        deps.faults?.beforeCommit?.('raw-backfill', commits + 1);
        const r = await writer.appendMissing(records, new Date());
        written += r.written;
        alreadyPresent += r.alreadyPresent;
        if (r.written > 0) commits += 1;
        ctx.heartbeat({ written, alreadyPresent });
      },
    }).catch((e) => {
      throw e instanceof Error && e.name.startsWith('KafkaJS') ? kafka.explain(e, 'reading Kafka') : e;
    });
  } finally {
    lake.close();
  }
  const after = await readRawCheckpoint(dir);
  return { stage: 'raw', mode: 'backfill', checkpoint: after.checkpoint, recordsIn: written, commits, tableVersion: after.version, lost, checkpointDisagreements: [], alreadyPresent };
}
