/**
 * Reads fixed offset ranges from Kafka ("availableNow": up to end offsets captured before the
 * read starts) and hands them over in bounded batches.
 *
 * Offsets are owned by the caller (they are committed in the Delta table with the rows), so the
 * consumer group here is a throwaway: a fresh id per read, nothing committed to Kafka. Done-ness
 * is decided by positions, never by counting messages: aborted transactions, control records and
 * compaction all leave offset gaps.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { KafkaHandle } from './connection';
import { setOffset, type PartitionRange, type TopicOffsets } from './offsets';

/**
 * One fetched partition batch's records, column-wise: no object per record, nothing decoded.
 * `values` are the values as fetched (views into kafkajs' fetch response; null = a tombstone):
 * the UTF-8 check and decode happen when the batch is written (src/lake/raw-table.ts).
 * The views keep the fetch responses they point into alive until the flush is written; those
 * responses hold little besides these records, so memory stays about the records' own size.
 */
export interface RecordSegment {
  topic: string;
  partition: number;
  offsets: number[];
  /** Message timestamps, epoch milliseconds. */
  timestampsMs: number[];
  values: (Buffer | null)[];
}

/** The records of one flush: segments in fetch order; within a partition, offsets ascend. */
export class KafkaRecords {
  readonly segments: RecordSegment[] = [];
  /** Number of records. */
  length = 0;
  /** Sum of the values' sizes. */
  valueBytes = 0;

  /** The segment appended to next: the last one when it is the same partition, else a new one. */
  segment(topic: string, partition: number): RecordSegment {
    const last = this.segments[this.segments.length - 1];
    if (last && last.topic === topic && last.partition === partition) return last;
    const seg: RecordSegment = { topic, partition, offsets: [], timestampsMs: [], values: [] };
    this.segments.push(seg);
    return seg;
  }

  push(seg: RecordSegment, offset: number, timestampMs: number, value: Buffer | null): void {
    seg.offsets.push(offset);
    seg.timestampsMs.push(timestampMs);
    seg.values.push(value);
    this.length += 1;
    this.valueBytes += value?.length ?? 0;
  }
}

export interface RangeReadOptions {
  maxRecordsPerFlush: number;
  maxBytesPerFlush: number;
  /**
   * Fail when no partition advances for this long although data is still expected. Time spent
   * waiting for a commit (flush) does not count: a slow commit is progress, not a stall.
   */
  idleTimeoutMs: number;
  /**
   * Fail when one commit takes longer than this (default 10 minutes): a hung commit. The read
   * still waits for it before returning, but onTick (the activity's heartbeat) stops, so the
   * heartbeat timeout ends the attempt.
   */
  commitTimeoutMs?: number;
  /**
   * Persists a batch. `positions` holds the next offset of every partition that advanced since
   * the previous flush (it may advance without records: aborted transactions, control records).
   * Must store records and positions atomically. Calls never overlap and come in offset order;
   * while one runs, the next batch is read (so memory holds up to two batches' worth).
   */
  flush(records: KafkaRecords, positions: TopicOffsets): Promise<void>;
  /** Bytes fetched per partition per request (default 4 MiB); the broker still returns at least one whole record batch. */
  fetchBytesPerPartition?: number;
  /** Called every few seconds while reading, e.g. to heartbeat. */
  onTick?(): void;
  /** Stops the read between two flushes (worker shutdown, activity cancelled); rejects with its reason. */
  signal?: AbortSignal;
}

/**
 * kafkajs 2.2.4 (pinned) keeps aborted and control records in the batch but not in `messages`;
 * `isEmptyIncludingFiltered` is public in its JS but missing from its typings. When it is false,
 * `lastOffset()` is the last record actually fetched (otherwise it guesses highWatermark - 1).
 */
function hasRawRecords(batch: EachBatchPayload['batch']): boolean {
  return !(batch as unknown as { isEmptyIncludingFiltered(): boolean }).isEmptyIncludingFiltered();
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export async function readRanges(handle: KafkaHandle, ranges: PartitionRange[], opts: RangeReadOptions): Promise<void> {
  const wanted = ranges.filter((r) => r.from < r.to);
  if (wanted.length === 0) return;
  opts.signal?.throwIfAborted();

  const position = new Map(wanted.map((r) => [key(r.topic, r.partition), r.from]));
  const end = new Map(wanted.map((r) => [key(r.topic, r.partition), r.to]));
  const remaining = new Set(position.keys());
  const unflushed = new Set<string>();
  let buffer = new KafkaRecords();
  let lastProgressAt = Date.now();

  // Once finished (done or failed) no batch is looked at again: after a failed flush, a later
  // flush would commit positions past the records that were not written.
  let stopped = false;
  let resolveFinished!: (error?: unknown) => void;
  const finished = new Promise<unknown>((resolve) => (resolveFinished = resolve));
  const finish = (error?: unknown) => {
    stopped = true;
    resolveFinished(error);
  };

  let committing: Promise<void> = Promise.resolve();
  /** When the commit now in flight started (null: none is). */
  let commitStartedAt: number | null = null;
  const flush = async () => {
    if (buffer.length === 0 && unflushed.size === 0) return;
    const positions: TopicOffsets = {};
    for (const r of wanted) {
      const k = key(r.topic, r.partition);
      if (unflushed.has(k)) setOffset(positions, r.topic, r.partition, position.get(k)!);
    }
    const records = buffer;
    buffer = new KafkaRecords();
    unflushed.clear();
    // One commit in flight while the next batch is read: the commit's Parquet/Delta I/O overlaps
    // with fetching. Commits still land one after the other, in offset order, and none starts
    // after one failed (it would record positions past records that were never written).
    await committing;
    if (stopped) return;
    commitStartedAt = Date.now();
    committing = opts.flush(records, positions).then(
      () => {
        commitStartedAt = null;
        lastProgressAt = Date.now(); // a finished commit is progress
      },
      (e) => {
        commitStartedAt = null;
        finish(e);
      },
    );
  };

  const onBatch = async ({ batch, heartbeat, isStale, pause, resolveOffset }: EachBatchPayload) => {
    if (stopped) return;
    const k = key(batch.topic, batch.partition);
    const stop = end.get(k);
    if (stop === undefined || !remaining.has(k)) {
      pause(); // not part of this read, or already complete
      return;
    }
    if (isStale()) return;
    const advance = (next: number) => {
      if (next === position.get(k)) return;
      position.set(k, next);
      unflushed.add(k);
      lastProgressAt = Date.now();
    };
    // The byte limit counts 64 bytes of overhead per record besides the value.
    const full = () => buffer.length >= opts.maxRecordsPerFlush || buffer.valueBytes + 64 * buffer.length >= opts.maxBytesPerFlush;
    let seg = buffer.segment(batch.topic, batch.partition);
    for (const m of batch.messages) {
      const offset = Number(m.offset);
      if (offset < position.get(k)!) continue; // re-delivered after a seek, or before the planned start
      if (offset >= stop) break;
      buffer.push(seg, offset, Number(m.timestamp), m.value);
      advance(offset + 1);
      if (full()) {
        await flush(); // commits never exceed the limits, even inside one fetched batch
        seg = buffer.segment(batch.topic, batch.partition);
      }
    }
    // Filtered records (aborted transactions, control markers) still move the position.
    if (hasRawRecords(batch)) {
      advance(Math.max(position.get(k)!, Math.min(Number(batch.lastOffset()) + 1, stop)));
      // kafkajs fetches a partition from its last *resolved* offset (eachBatchAutoResolve is off;
      // nothing is committed to Kafka either way). Unresolved, a partition holding more than one
      // fetch (maxBytesPerPartition) would be re-fetched from the same offset forever.
      resolveOffset(batch.lastOffset());
    }
    if (position.get(k)! >= stop) {
      remaining.delete(k);
      pause();
    }
    if (full() || remaining.size === 0) await flush();
    if (remaining.size === 0) {
      await committing;
      finish();
    } else await heartbeat();
  };

  const consumer: Consumer = handle.kafka.consumer({
    groupId: `tributary-reader-${randomUUID()}`,
    readUncommitted: false,
    allowAutoTopicCreation: false,
    // Enough per fetch to keep the decoder busy, small enough that fetched-but-unread data stays
    // a fraction of a commit (memory is bounded by the commit limits, not by the backlog).
    maxBytesPerPartition: opts.fetchBytesPerPartition ?? 4 * 1024 * 1024,
    maxBytes: 16 * 1024 * 1024,
    maxWaitTimeInMs: 200,
    sessionTimeout: 60000,
    retry: { retries: 3, restartOnFailure: async () => false },
  });
  consumer.on(consumer.events.CRASH, (e) => finish(e.payload.error));
  const onAbort = () => finish(opts.signal?.reason ?? new Error('read aborted'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const commitTimeoutMs = opts.commitTimeoutMs ?? 600_000;
  const ticker = setInterval(() => {
    opts.onTick?.();
    const now = Date.now();
    if (commitStartedAt !== null) {
      // While a commit is being written the read may wait for it (two batches at most in memory):
      // the stall clock restarts when it finishes. Only a commit that never finishes is an error.
      if (now - commitStartedAt > commitTimeoutMs) finish(new Error(`a commit has not finished after ${commitTimeoutMs} ms`));
      return;
    }
    if (now - lastProgressAt > opts.idleTimeoutMs) {
      const stuck = [...remaining].map((k) => k.replace('\u0000', '[') + ']').join(', ');
      finish(new Error(`no progress for ${opts.idleTimeoutMs} ms while reading ${stuck}`));
    }
  }, 2000);

  let error: unknown;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set(wanted.map((r) => r.topic))], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async (payload) => {
        try {
          await onBatch(payload);
        } catch (e) {
          finish(e);
        }
      },
    });
    for (const r of wanted) consumer.seek({ topic: r.topic, partition: r.partition, offset: String(r.from) });
    error = await finished;
  } catch (e) {
    error = e;
  } finally {
    clearInterval(ticker);
    opts.signal?.removeEventListener('abort', onAbort);
    await committing; // never return while a commit is still being written
    await consumer.disconnect().catch(() => undefined);
  }
  if (error) throw error;
}
