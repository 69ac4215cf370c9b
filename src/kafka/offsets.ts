/**
 * Which offsets a raw-ingest run reads, per topic-partition: a pure function of the broker's
 * watermarks, the checkpoint committed in the raw table, the checkpoint the workflow carries,
 * and the user's startingOffsets / failOnDataLoss (the seed's Spark options, same meanings).
 *
 * All offsets are "next offset to read" (Kafka's convention), as plain numbers (JSON-safe in
 * workflow history; Kafka offsets stay far below 2^53 in practice and inputs are checked).
 *
 * Resets. Kafka's log end never moves backwards, except when the topic was deleted and recreated
 * (offsets restart at 0) or the log was truncated (unclean leader election). So a checkpoint past
 * the log end is a reset — provided the log end was captured AFTER the checkpoint was read: one
 * captured before may simply predate a concurrent raw run's commit (see the stage-1 activity,
 * which re-captures in that case). On a reset the offsets below the checkpoint are never read
 * again (raw already holds them, from the old log); the records Kafka now has or will write there
 * cannot be landed and are reported as a lost range of kind 'reset' (failOnDataLoss=true: the
 * run fails, non-retryable). Reading continues from the checkpoint once the log passes it.
 *
 * A recreated topic whose new log has already grown past the checkpoint shows no such sign in
 * its offsets (kafkajs 2.2.4 knows no topic ids). The stage compares the last record raw landed
 * with the record Kafka now has at that offset (src/kafka/landed.ts); a different one is the same
 * reset, planned by the same code (`relogged`).
 */

/** topic → partition (as a string key, JSON-friendly) → next offset to read. */
export type TopicOffsets = Record<string, Record<string, number>>;

/**
 * Spark's startingOffsets: "latest", "earliest", or a JSON map topic → partition → offset where
 * -2 means earliest and -1 latest, e.g. {"sensor_readings":{"0":23,"1":-2}}.
 */
export type StartingOffsets = 'latest' | 'earliest' | TopicOffsets;

export interface PartitionWatermarks {
  topic: string;
  partition: number;
  /** Earliest offset still in the log. */
  low: number;
  /** End offset captured when the run starts (read_committed: the last stable offset). */
  high: number;
}

export interface PartitionRange {
  topic: string;
  partition: number;
  from: number;
  /** Exclusive. */
  to: number;
  /** Where `from` came from. */
  origin: 'table' | 'workflow' | 'startingOffsets' | 'new partition' | 'data loss reset' | 'backfill';
}

export interface LostRange {
  topic: string;
  partition: number;
  from: number;
  /** Exclusive; null when unknown (the partition is gone). */
  to: number | null;
  /** retention: deleted before read; reset: log end below the checkpoint; gone: partition vanished. */
  kind: 'retention' | 'reset' | 'gone';
  reason: string;
}

/** Partitions whose checkpoint is past the captured log end (a reset, or a high captured too early). */
export function aheadOfLogEnd(watermarks: PartitionWatermarks[], checkpoint: TopicOffsets): PartitionWatermarks[] {
  return watermarks.filter((w) => (offsetOf(checkpoint, w.topic, w.partition) ?? -1) > w.high);
}

/** A partition whose record at `offset` — the last one raw landed from it — is not the one raw holds: another log. */
export interface ReloggedPartition {
  topic: string;
  partition: number;
  offset: number;
}

export interface CheckpointDisagreement {
  topic: string;
  partition: number;
  workflow: number | null;
  table: number;
}

export interface ReadPlan {
  ranges: PartitionRange[];
  lost: LostRange[];
  disagreements: CheckpointDisagreement[];
}

export class DataLossError extends Error {
  override name = 'DataLossError';
  constructor(readonly lost: LostRange[]) {
    super(
      'data loss (failOnDataLoss=true): ' +
        lost
          .map((l) => `${l.topic}[${l.partition}] offsets ${l.from}..${l.to === null ? '?' : l.to - 1} ${l.reason}`)
          .join('; ') +
        (lost.some((l) => l.kind === 'reset')
          ? '. To go on without the reset ranges, run once with failOnDataLoss=false (the result and the log list them); ' +
            'to land the new log from its start, ingest it into a new raw table'
          : ''),
    );
  }
}

export class StartingOffsetsError extends Error {
  override name = 'StartingOffsetsError';
}

export function offsetOf(offsets: TopicOffsets | undefined, topic: string, partition: number): number | undefined {
  return offsets?.[topic]?.[String(partition)];
}

export function setOffset(offsets: TopicOffsets, topic: string, partition: number, next: number): void {
  (offsets[topic] ??= {})[String(partition)] = next;
}

export function planRead(input: {
  topics: string[];
  watermarks: PartitionWatermarks[];
  tableCheckpoint: TopicOffsets;
  workflowCheckpoint?: TopicOffsets;
  startingOffsets: StartingOffsets;
  failOnDataLoss: boolean;
  /** Partitions whose log is not the one raw landed from, although it reaches past the checkpoint. */
  relogged?: ReloggedPartition[];
}): ReadPlan {
  const { watermarks, tableCheckpoint, workflowCheckpoint, startingOffsets } = input;
  const ranges: PartitionRange[] = [];
  const lost: LostRange[] = [];
  const disagreements: CheckpointDisagreement[] = [];

  for (const topic of input.topics) {
    const parts = watermarks.filter((w) => w.topic === topic);
    // The table is the truth; the workflow's copy only fills in what the table has never seen
    // (e.g. a fresh table directory) so that an emptied lake does not silently jump to "latest".
    const known = { ...(workflowCheckpoint?.[topic] ?? {}), ...(tableCheckpoint[topic] ?? {}) };
    const firstRun = Object.keys(known).length === 0;

    for (const w of parts) {
      const fromTable = offsetOf(tableCheckpoint, topic, w.partition);
      const fromWorkflow = offsetOf(workflowCheckpoint, topic, w.partition);
      if (fromTable !== undefined && fromWorkflow !== undefined && fromTable !== fromWorkflow) {
        disagreements.push({ topic, partition: w.partition, workflow: fromWorkflow, table: fromTable });
      }
      let from: number;
      let origin: PartitionRange['origin'];
      if (fromTable !== undefined) [from, origin] = [fromTable, 'table'];
      else if (fromWorkflow !== undefined) [from, origin] = [fromWorkflow, 'workflow'];
      else if (firstRun) [from, origin] = [startingOffset(startingOffsets, w), 'startingOffsets'];
      else [from, origin] = [w.low, 'new partition'];

      const relogged = input.relogged?.find((r) => r.topic === topic && r.partition === w.partition);
      const reset =
        from > w.high
          ? `the log end ${w.high} is below the checkpoint ${from} (topic deleted and recreated, or truncated by an unclean leader election)`
          : relogged && relogged.offset < from && from >= w.low
            ? `the record at offset ${relogged.offset} is not the one raw landed from there (topic deleted and recreated)`
            : null;
      if (reset !== null) {
        // Never back to the log start: raw holds offsets below the checkpoint already.
        lost.push({
          topic,
          partition: w.partition,
          from: w.low,
          to: from,
          kind: 'reset',
          reason: `cannot be landed: ${reset}; raw holds these offsets from the earlier log, reading resumes at ${from}${from > w.high ? ' once the log passes it' : ''}`,
        });
        origin = 'data loss reset';
      } else if (from < w.low) {
        lost.push({ topic, partition: w.partition, from, to: w.low, kind: 'retention', reason: 'were deleted from Kafka (retention) before being read' });
        [from, origin] = [w.low, 'data loss reset'];
      }
      ranges.push({ topic, partition: w.partition, from, to: Math.max(from, w.high), origin });
    }

    for (const [p, next] of Object.entries(known)) {
      if (!parts.some((w) => String(w.partition) === p)) {
        lost.push({ topic, partition: Number(p), from: next, to: null, kind: 'gone', reason: 'are gone: the partition no longer exists' });
      }
    }
  }
  if (input.failOnDataLoss && lost.length > 0) throw new DataLossError(lost);
  return { ranges, lost, disagreements };
}

function startingOffset(starting: StartingOffsets, w: PartitionWatermarks): number {
  if (starting === 'latest') return w.high;
  if (starting === 'earliest') return w.low;
  const explicit = offsetOf(starting, w.topic, w.partition);
  if (explicit === undefined) {
    // Spark refuses this too: a silent default would skip or re-read a whole partition.
    throw new StartingOffsetsError(`startingOffsets gives no offset for ${w.topic}[${w.partition}]; list every partition (-2 = earliest, -1 = latest)`);
  }
  if (explicit === -1) return w.high;
  if (explicit === -2) return w.low;
  return explicit;
}
