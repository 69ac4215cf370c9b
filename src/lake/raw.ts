/**
 * Stage 1 — Kafka → raw/sensor_readings: the run (scheduled, or a backfill) that the ingestRaw
 * activity adapts to Temporal. It plans the read (src/kafka/offsets.ts: table checkpoint wins
 * over the workflow's, data loss, first runs), reads the ranges in bounded flushes and commits each
 * flush with its offsets as Delta txns (src/lake/raw-table.ts), so a retry resumes exactly from the
 * table. Heartbeats, cancellation, logging and test fault hooks come in as deps.
 */
import { PermanentKafkaError, type KafkaHandle } from '../kafka/connection';
import { checkLanded } from '../kafka/landed';
import {
  aheadOfLogEnd,
  offsetOf,
  planRead,
  setOffset,
  type LostRange,
  type PartitionRange,
  type PartitionWatermarks,
  type ReloggedPartition,
  type TopicOffsets,
} from '../kafka/offsets';
import { KafkaRecords, readRanges } from '../kafka/range-reader';
import { fetchWatermarks, offsetsForTimestamp } from '../kafka/watermarks';
import type { IngestRawInput, RawBackfill } from '../workflows/inputs';
import type { PartitionRef, RawResult } from './raw-result';
import type { Lake } from './duckdb';
import { RawTableWriter, readRawCheckpoint, type PreparedRawFile, type RawCheckpoint } from './raw-table';
import { SENSOR_PIPELINE, type StagePipeline } from './pipeline';
import { tableDir } from './tables';

/**
 * A healthy read advances (or finishes a commit) within seconds. A reader that stops advancing —
 * seen rarely under load, with two reads of one topic in one process — fails the attempt after
 * this long, and the retry resumes from what is committed.
 */
const READER_IDLE_TIMEOUT_MS = 30_000;

export interface RawRunInput extends Omit<IngestRawInput, 'topics' | 'startingOffsets' | 'failOnDataLoss'> {
  /** Resolved by the host: the input's, else the pipeline's source. */
  topics: string[];
  startingOffsets: NonNullable<IngestRawInput['startingOffsets']>;
  failOnDataLoss: boolean;
  /** The checkpoint the workflow carries (its previous run's result). */
  workflowCheckpoint?: TopicOffsets;
  /**
   * Fan-out: read and commit only these partitions (this activity's group); the other groups' activities own the
   * rest. Group 0 (`reportsGone`) also reports partitions that no longer exist. Unset = every partition.
   */
  group?: { partitions: PartitionRef[]; reportsGone: boolean };
}

/** What the run needs from its host (the activity): Kafka, the lake, and the Temporal wiring. */
export interface RawRunDeps {
  kafka: KafkaHandle;
  lakeRoot: string;
  /** Whose raw table and offsets (app ids); default the sensor pipeline. */
  pipeline?: StagePipeline;
  /** A DuckDB instance for the writes; the run closes it. */
  openLake: () => Promise<Lake>;
  /** Progress (after every commit, and while reading): the activity heartbeats it. */
  heartbeat: (details: unknown) => void;
  /** Stops the run between commits (cancellation, worker shutdown): what is committed stays. */
  signal?: AbortSignal;
  log: { warn(message: string, meta?: Record<string, unknown>): void };
  /** Points where tests make the run die (FaultHooks); production passes none. */
  hooks?: {
    beforeCommit?(stage: string, commitNumber: number): void;
    afterCommit?(stage: string, commitNumber: number): void;
    afterWatermarks?(stage: 'raw'): Promise<void>;
  };
}

/** One run: a backfill when the input says so, else the scheduled read from the checkpoint to the log ends. */
export async function runRaw(deps: RawRunDeps, input: RawRunInput): Promise<RawResult> {
  if (input.backfill) return backfillRaw(deps, input, input.backfill);
  const { kafka } = deps;
  const { tables, appIds } = deps.pipeline ?? SENSOR_PIPELINE;
  const dir = tableDir(deps.lakeRoot, tables.raw);
  let watermarks = await fetchWatermarks(kafka, input.topics);
  await deps.hooks?.afterWatermarks?.('raw');
  const table = await readRawCheckpoint(dir, appIds);
  // A checkpoint past log ends captured before it was read is normal when a concurrent raw run
  // (backfill, near-real-time follow-up, second worker) committed in between: capture again.
  // Only past a log end captured after the checkpoint is it a reset (planRead). Commits after
  // this read make our compare-and-swap fail and the retry re-plans.
  if (aheadOfLogEnd(watermarks, table.checkpoint).length > 0) watermarks = await fetchWatermarks(kafka, input.topics);
  const relogged = await findRelogged(deps, input, watermarks, table);
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
      relogged,
    }),
    input.group,
  );
  // What raw landed from a reset partition came from the earlier log: its last record is no
  // longer one to compare the log with, and is forgotten in the next commit (made even when
  // nothing is read), so the reset is reported once.
  const resets = plan.lost.filter((l) => l.kind === 'reset' && landedOf(table.landed, l.topic, l.partition));
  for (const l of plan.lost) {
    deps.log.warn(`data loss (${l.kind}; failOnDataLoss=false, continuing)`, { ...l });
  }
  if (plan.disagreements.length > 0) {
    deps.log.warn('workflow checkpoint differs from the raw table; using the table', { disagreements: plan.disagreements });
  }

  const committed: TopicOffsets = structuredClone(table.checkpoint);
  let recordsIn = 0;
  let commits = 0;
  const toRead = plan.ranges.filter((r) => r.from < r.to);
  // Positions the table does not hold yet even though nothing is to be read (a first run at
  // "latest", an empty new partition, a reset after data loss) are committed too, so that the
  // table alone can always restart the chain — whatever happens to the workflow's lastResult.
  let forget: PartitionRef[] = resets;
  const unrecorded = () => plan.ranges.filter((r) => offsetOf(committed, r.topic, r.partition) !== r.to || forget.some((f) => f.topic === r.topic && f.partition === r.partition));
  if (unrecorded().length > 0) {
    const lake = await deps.openLake();
    try {
      const writer = await RawTableWriter.open(lake, dir, undefined, appIds);
      try {
        const commit = async (records: KafkaRecords, positions: TopicOffsets, prepared?: PreparedRawFile) => {
          deps.hooks?.beforeCommit?.('raw', commits + 1);
          await writer.append(records, positions, committed, new Date(), forget, prepared);
          forget = [];
          commits += 1;
          recordsIn += records.length;
          for (const [topic, parts] of Object.entries(positions)) {
            for (const [p, next] of Object.entries(parts)) setOffset(committed, topic, Number(p), next);
          }
          deps.heartbeat({ committed, recordsIn });
          deps.hooks?.afterCommit?.('raw', commits);
        };
        await readRanges(kafka, toRead, {
          maxRecordsPerFlush: input.maxRecordsPerCommit,
          maxBytesPerFlush: input.maxBytesPerCommit,
          idleTimeoutMs: READER_IDLE_TIMEOUT_MS,
          onTick: () => deps.heartbeat({ committed, recordsIn }),
          // Cancellation (or worker shutdown) stops between commits: what is committed stays, exactly once.
          signal: deps.signal,
          // A flush's Parquet file is written while the previous flush's is (two DuckDB
          // connections): its staging (JS) overlaps the other's COPY (DuckDB's threads). Commits
          // stay in order, one at a time, and none after a failure (readRanges).
          prepare: (records) => writer.prepare(records, new Date()),
          flush: commit,
        }).catch((e) => {
          throw e instanceof Error && e.name.startsWith('KafkaJS') ? kafka.explain(e, 'reading Kafka') : e;
        });
        const rest: TopicOffsets = {};
        for (const r of unrecorded()) setOffset(rest, r.topic, r.partition, r.to);
        if (Object.keys(rest).length > 0) await commit(new KafkaRecords(), rest);
      } finally {
        writer.close();
      }
    } finally {
      lake.close();
    }
  }

  const after = await readRawCheckpoint(dir, appIds);
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
}

const landedOf = (landed: RawCheckpoint['landed'], topic: string, partition: number) => landed[topic]?.[String(partition)];

/**
 * The partitions about to be read past their checkpoint whose log is not the one raw landed from
 * (src/kafka/landed.ts): one small fetch per such partition. Partitions with nothing new are left
 * alone (nothing would be skipped yet), as are those whose checkpoint is already past the log end
 * (planRead reports those) and those whose last landed record is below the log start.
 */
async function findRelogged(deps: RawRunDeps, input: RawRunInput, watermarks: PartitionWatermarks[], table: RawCheckpoint): Promise<ReloggedPartition[]> {
  const mine = input.group ? inGroup(input.group.partitions) : () => true;
  const checks = watermarks.flatMap((w) => {
    const next = offsetOf(table.checkpoint, w.topic, w.partition);
    const landed = landedOf(table.landed, w.topic, w.partition);
    if (!mine(w.topic, w.partition) || next === undefined || !landed || next >= w.high || landed.offset >= next || landed.offset < w.low) return [];
    return [{ topic: w.topic, partition: w.partition, landed }];
  });
  if (checks.length === 0) return [];
  const result = await checkLanded(deps.kafka, checks, { idleTimeoutMs: READER_IDLE_TIMEOUT_MS, signal: deps.signal }).catch((e) => {
    throw e instanceof Error && e.name.startsWith('KafkaJS') ? deps.kafka.explain(e, 'checking the last landed records') : e;
  });
  if (result.unverifiable > 0) {
    deps.log.warn('last landed record no longer in Kafka (compacted away, or a transaction marker there): its log cannot be checked', { partitions: result.unverifiable });
  }
  return result.relogged;
}

const inGroup = (partitions: PartitionRef[]) => (topic: string, partition: number) =>
  partitions.some((p) => p.topic === topic && p.partition === partition);

function narrowToGroup(plan: ReturnType<typeof planRead>, group: RawRunInput['group']): ReturnType<typeof planRead> {
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
export async function backfillRaw(deps: RawRunDeps, input: RawRunInput, backfill: RawBackfill): Promise<RawResult> {
  const { kafka } = deps;
  const { tables, appIds } = deps.pipeline ?? SENSOR_PIPELINE;
  const dir = tableDir(deps.lakeRoot, tables.raw);
  const topics = 'offsets' in backfill ? Object.keys(backfill.offsets) : input.topics;
  const watermarks = await fetchWatermarks(kafka, topics);
  const table = await readRawCheckpoint(dir, appIds);
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
  const lake = await deps.openLake();
  try {
    const writer = await RawTableWriter.open(lake, dir, undefined, appIds);
    try {
      await readRanges(kafka, ranges, {
        maxRecordsPerFlush: input.maxRecordsPerCommit,
        maxBytesPerFlush: input.maxBytesPerCommit,
        idleTimeoutMs: READER_IDLE_TIMEOUT_MS,
        signal: deps.signal,
        onTick: () => deps.heartbeat({ written, alreadyPresent }),
        flush: async (records) => {
          deps.hooks?.beforeCommit?.('raw-backfill', commits + 1);
          const r = await writer.appendMissing(records, new Date());
          written += r.written;
          alreadyPresent += r.alreadyPresent;
          if (r.written > 0) commits += 1;
          deps.heartbeat({ written, alreadyPresent });
        },
      }).catch((e) => {
        throw e instanceof Error && e.name.startsWith('KafkaJS') ? kafka.explain(e, 'reading Kafka') : e;
      });
    } finally {
      writer.close();
    }
  } finally {
    lake.close();
  }
  const after = await readRawCheckpoint(dir, appIds);
  return { stage: 'raw', mode: 'backfill', checkpoint: after.checkpoint, recordsIn: written, commits, tableVersion: after.version, lost, checkpointDisagreements: [], alreadyPresent };
}
