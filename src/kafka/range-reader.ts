/**
 * Reads fixed offset ranges from Kafka ("availableNow": up to end offsets captured before the
 * read starts) and hands them over in bounded batches.
 *
 * Offsets are owned by the caller (they are committed in the Delta table with the rows), so there
 * is no consumer group: the reader fetches each partition from its own position, from the
 * partition's leader (src/kafka/raw-fetch.ts: kafkajs connections, our Fetch decoding), and decodes
 * the record batches straight into column segments (src/kafka/record-batch.ts). Done-ness is
 * decided by positions, never by counting messages: aborted transactions, control records and
 * compaction all leave offset gaps.
 */
import type { KafkaHandle } from './connection';
import { setOffset, type PartitionRange, type TopicOffsets } from './offsets';
import { RawFetcher, type FetchedPartition } from './raw-fetch';
import { decodeRecordSet, type RecordSink } from './record-batch';

/**
 * One partition's records of a flush, column-wise: no object per record, nothing decoded, no
 * view per value. A value is a byte range of one of the flush's `sources` (KafkaRecords.sources:
 * the record sets as fetched, or a gzip batch's decompressed records); the UTF-8 check and decode
 * happen when the flush is written (src/lake/raw-table.ts), which hands DuckDB each source once.
 * The sources keep the fetch responses they are views of alive until the flush is written; those
 * responses hold little besides these records, so memory stays about the records' own size.
 */
export interface RecordSegment {
  topic: string;
  partition: number;
  offsets: number[];
  /** Message timestamps, epoch milliseconds. */
  timestampsMs: number[];
  /** Per record: index of the source holding its value. */
  valueSources: number[];
  /** Per record: where the value starts in its source. */
  valueStarts: number[];
  /** Per record: the value's length; -1 = null (a tombstone). */
  valueLengths: number[];
}

const NO_BYTES = new Uint8Array(0);

/** The records of one flush: segments in fetch order; within a partition, offsets ascend. */
export class KafkaRecords {
  readonly segments: RecordSegment[] = [];
  /** The byte arrays values are ranges of. */
  readonly sources: Uint8Array[] = [];
  /** Number of records. */
  length = 0;
  /** Sum of the values' sizes. */
  valueBytes = 0;

  /** The segment appended to next: the last one when it is the same partition, else a new one. */
  segment(topic: string, partition: number): RecordSegment {
    const last = this.segments[this.segments.length - 1];
    if (last && last.topic === topic && last.partition === partition) return last;
    const seg: RecordSegment = { topic, partition, offsets: [], timestampsMs: [], valueSources: [], valueStarts: [], valueLengths: [] };
    this.segments.push(seg);
    return seg;
  }

  /** A record whose value is bytes[start, start + length) (length -1: null). */
  pushRange(seg: RecordSegment, offset: number, timestampMs: number, bytes: Uint8Array, start: number, length: number): void {
    const sources = this.sources;
    if (sources[sources.length - 1] !== bytes) sources.push(bytes);
    seg.offsets.push(offset);
    seg.timestampsMs.push(timestampMs);
    seg.valueSources.push(sources.length - 1);
    seg.valueStarts.push(start);
    seg.valueLengths.push(length);
    this.length += 1;
    if (length > 0) this.valueBytes += length;
  }

  /** A record with a value of its own. */
  push(seg: RecordSegment, offset: number, timestampMs: number, value: Uint8Array | null): void {
    if (value === null) this.pushRange(seg, offset, timestampMs, NO_BYTES, 0, -1);
    else this.pushRange(seg, offset, timestampMs, value, 0, value.length);
  }

  /** Record i of `seg`'s value, as a view (null: a tombstone). */
  value(seg: RecordSegment, i: number): Uint8Array | null {
    const length = seg.valueLengths[i];
    if (length < 0) return null;
    const start = seg.valueStarts[i];
    return this.sources[seg.valueSources[i]].subarray(start, start + length);
  }
}

export interface RangeReadOptions<P = undefined> {
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
   * `prepared`: what `prepare` made of these records (undefined without one).
   */
  flush(records: KafkaRecords, positions: TopicOffsets, prepared: P | undefined): Promise<void>;
  /**
   * Optional work on a full batch that may overlap the previous batch's flush (e.g. writing its
   * data file while the previous commit's data file is still being written): started as soon as
   * the batch is full, at most one ahead of the flush in flight, its result handed to `flush`.
   * It must not make anything visible: a batch whose flush never runs (an earlier flush failed,
   * the read stopped) is prepared and dropped. A failed prepare fails the read like a failed flush.
   */
  prepare?(records: KafkaRecords): Promise<P>;
  /** Bytes fetched per partition per request (default 4 MiB); the broker still returns at least one whole record batch. */
  fetchBytesPerPartition?: number;
  /** Called every few seconds while reading, e.g. to heartbeat. */
  onTick?(): void;
  /** Stops the read between two flushes (worker shutdown, activity cancelled); rejects with its reason. */
  signal?: AbortSignal;
}

/** Fetch sizes: enough per fetch to keep the decoder busy, small enough that fetched-but-unread
 * data stays a fraction of a commit (memory is bounded by the commit limits, not by the backlog). */
const FETCH = { maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024, maxWaitMs: 200 };
/** Consecutive failed fetches (leader moved, connection lost: each refreshes metadata) before the read fails. */
const FETCH_RETRIES = 5;

interface Cursor {
  topic: string;
  partition: number;
  /** Next offset to read. */
  next: number;
  /** Exclusive end. */
  stop: number;
  /** Moved since the last flush. */
  unflushed: boolean;
}

export async function readRanges<P = undefined>(handle: KafkaHandle, ranges: PartitionRange[], opts: RangeReadOptions<P>): Promise<void> {
  const cursors: Cursor[] = ranges.filter((r) => r.from < r.to).map((r) => ({ topic: r.topic, partition: r.partition, next: r.from, stop: r.to, unflushed: false }));
  if (cursors.length === 0) return;
  opts.signal?.throwIfAborted();

  let buffer = new KafkaRecords();
  let lastProgressAt = Date.now();

  // Once finished (done or failed) no fetched record is looked at again: after a failed flush, a
  // later flush would commit positions past the records that were not written.
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
    const moved = cursors.filter((c) => c.unflushed);
    if (buffer.length === 0 && moved.length === 0) return;
    const positions: TopicOffsets = {};
    for (const c of moved) {
      setOffset(positions, c.topic, c.partition, c.next);
      c.unflushed = false;
    }
    const records = buffer;
    buffer = new KafkaRecords();
    // Its preparation overlaps the commit in flight (the reader waits below, so at most one batch
    // is prepared ahead of that commit, and one read while this one commits).
    const prepared: Promise<P | undefined> = opts.prepare ? opts.prepare(records) : Promise.resolve(undefined);
    const prepareSettled = prepared.then(
      () => undefined,
      () => undefined,
    );
    // One commit in flight while the next batch is read: the commit's Parquet/Delta I/O overlaps
    // with fetching. Commits still land one after the other, in offset order, and none starts
    // after one failed (it would record positions past records that were never written).
    await committing;
    if (stopped) {
      // Never return (and let the caller close what prepare uses) while it is still running.
      await prepareSettled;
      return;
    }
    commitStartedAt = Date.now();
    committing = prepared.then((p) => opts.flush(records, positions, p)).then(
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

  // The byte limit counts 64 bytes of overhead per record besides the value.
  const full = () => buffer.length >= opts.maxRecordsPerFlush || buffer.valueBytes + 64 * buffer.length >= opts.maxBytesPerFlush;

  /** One partition's fetched records into the buffer, flushing whenever it is full. */
  const take = async (c: Cursor, fetched: FetchedPartition) => {
    for (;;) {
      const seg = buffer.segment(c.topic, c.partition);
      const records = buffer;
      const sink: RecordSink = {
        push: (offset, timestampMs, bytes, start, length) => {
          records.pushRange(seg, offset, timestampMs, bytes, start, length);
          return full();
        },
      };
      const r = decodeRecordSet(fetched.records, fetched.abortedTransactions, c.next, c.stop, sink);
      if (r.next !== c.next) {
        c.next = r.next;
        c.unflushed = true;
        lastProgressAt = Date.now();
      }
      // Commits never exceed the limits, even inside one fetched batch.
      if (full()) await flush();
      if (!r.full || stopped) return;
    }
  };

  let fetcher: RawFetcher | undefined;
  const read = async () => {
    fetcher = await RawFetcher.connect(handle.kafka, [...new Set(cursors.map((c) => c.topic))]);
    try {
      let failures = 0;
      let round = 0;
      while (!stopped) {
        const open = cursors.filter((c) => c.next < c.stop);
        if (open.length === 0) break;
        try {
          // Partitions by leader; rotated each round so that every partition is sometimes first in
          // its request (a batch larger than the partition limit is only returned to the first).
          const byLeader = new Map<string, Cursor[]>();
          for (const topic of new Set(open.map((c) => c.topic))) {
            const mine = open.filter((c) => c.topic === topic);
            const led = fetcher!.leaders(topic, mine.map((c) => c.partition));
            const unled = mine.filter((c) => ![...led.values()].some((ps) => ps.includes(c.partition)));
            if (unled.length > 0) throw Object.assign(new Error(`no leader known for ${unled.map((c) => `${topic}[${c.partition}]`).join(', ')}`), { retriable: true });
            for (const [node, ps] of led) byLeader.set(node, [...(byLeader.get(node) ?? []), ...mine.filter((c) => ps.includes(c.partition))]);
          }
          round += 1;
          const fetched = await Promise.all(
            [...byLeader].map(([node, cs]) => {
              const k = round % cs.length;
              const order = [...cs.slice(k), ...cs.slice(0, k)];
              const parts = order.map((c) => ({ topic: c.topic, partition: c.partition, fetchOffset: c.next, maxBytes: opts.fetchBytesPerPartition ?? FETCH.maxBytesPerPartition }));
              return fetcher!.fetch(node, parts, FETCH);
            }),
          );
          let retry: Error | null = null;
          for (const f of fetched.flat()) {
            if (stopped) return;
            const c = open.find((x) => x.topic === f.topic && x.partition === f.partition);
            if (!c) continue;
            if (f.error) {
              if (f.error.type === 'OFFSET_OUT_OF_RANGE') {
                // Deleted (retention) or the topic was recreated since the read was planned: the
                // retry re-plans from the table, which reports it as data loss.
                throw new Error(`offset ${c.next} of ${c.topic}[${c.partition}] is no longer in Kafka (retention, or the topic was recreated) since the read was planned`);
              }
              if (!f.error.retriable) throw f.error;
              retry = f.error;
              continue;
            }
            await take(c, f);
          }
          if (retry) throw retry;
          failures = 0;
        } catch (e) {
          if (stopped || (e as { retriable?: boolean }).retriable !== true || ++failures > FETCH_RETRIES) throw e;
          // A leader moved, a connection dropped: new metadata, then the same positions again.
          await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** failures)));
          await fetcher!.refreshMetadata().catch(() => undefined);
        }
      }
      if (!stopped) {
        await flush();
        await committing;
        finish();
      }
    } finally {
      await fetcher!.disconnect();
    }
  };

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
      const stuck = cursors.filter((c) => c.next < c.stop).map((c) => `${c.topic}[${c.partition}]`).join(', ');
      finish(new Error(`no progress for ${opts.idleTimeoutMs} ms while reading ${stuck}`));
    }
  }, 2000);

  const reading = read().then(
    () => finish(),
    (e) => finish(e),
  );
  let error: unknown;
  try {
    error = await finished;
  } finally {
    clearInterval(ticker);
    opts.signal?.removeEventListener('abort', onAbort);
    await committing; // never return while a commit is still being written
    await fetcher?.disconnect(); // ends a fetch in flight (a stall, an abort)
    await reading;
  }
  if (error) throw error;
}
