/**
 * Is the log we read still the log we landed from? A topic deleted and recreated restarts its
 * offsets at 0; once its new log has grown past our checkpoint, offsets alone cannot tell (kafkajs
 * 2.2.4 knows no topic ids) and reading on at the checkpoint would silently skip the new log's
 * first records. So raw keeps, per partition, the offset and a signature of the last record it
 * landed (src/lake/raw-table.ts), and a run that is about to read a partition first fetches the
 * record Kafka now has at that offset: a different record means another log.
 *
 * Only a different record is proof. When the offset is below the log start (retention) or holds
 * no record any more (log compaction removed it: a compacted log keeps the surviving records'
 * offsets, so a fetch from there starts at a later one; or a new log has a transaction marker
 * there) nothing can be verified and nothing is reported: compaction and retention never change
 * a record that is still there, so the check has no false positives.
 */
import { createHash } from 'node:crypto';
import type { KafkaHandle } from './connection';
import type { ReloggedPartition } from './offsets';
import { readRanges } from './range-reader';

/** The last record raw landed from a partition. */
export interface LandedRecord {
  offset: number;
  /** recordSignature of its timestamp and value. */
  signature: number;
}

/**
 * 48 bits of SHA-256 over the record's timestamp and value (a safe integer, so it fits a Delta txn
 * version). A recreated topic's record at the same offset has another timestamp (and usually value):
 * a collision needs both to hash alike, 1 in 2^48.
 */
export function recordSignature(timestampMs: number, value: Uint8Array | null): number {
  const h = createHash('sha256');
  h.update(`${timestampMs}:${value === null ? 'null' : value.length}:`);
  if (value !== null) h.update(value);
  return h.digest().readUIntBE(0, 6);
}

export interface LandedCheck {
  topic: string;
  partition: number;
  landed: LandedRecord;
}

export interface LandedCheckResult {
  /** Partitions whose record at the landed offset is another one. */
  relogged: ReloggedPartition[];
  /** Partitions whose landed offset holds no record any more (compaction, a marker): not verifiable. */
  unverifiable: number;
}

/**
 * Fetches the record at each landed offset (one small fetch per partition, through the range reader)
 * and compares it with the landed signature. Offsets below the log start must be left out by the
 * caller (retention removed them: not verifiable).
 */
export async function checkLanded(handle: KafkaHandle, checks: LandedCheck[], opts: { idleTimeoutMs: number; signal?: AbortSignal }): Promise<LandedCheckResult> {
  const found = new Map<string, number>();
  const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;
  await readRanges(
    handle,
    checks.map((c) => ({ topic: c.topic, partition: c.partition, from: c.landed.offset, to: c.landed.offset + 1, origin: 'table' as const })),
    {
      maxRecordsPerFlush: checks.length,
      maxBytesPerFlush: Number.MAX_SAFE_INTEGER,
      idleTimeoutMs: opts.idleTimeoutMs,
      // The broker returns at least the record batch holding the offset; no more than that is wanted.
      fetchBytesPerPartition: 1024,
      signal: opts.signal,
      flush: async (records) => {
        for (const seg of records.segments) {
          for (let i = 0; i < seg.offsets.length; i++) found.set(key(seg.topic, seg.partition), recordSignature(seg.timestampsMs[i], records.value(seg, i)));
        }
      },
    },
  );
  const relogged: ReloggedPartition[] = [];
  let unverifiable = 0;
  for (const c of checks) {
    const signature = found.get(key(c.topic, c.partition));
    if (signature === undefined) unverifiable += 1;
    else if (signature !== c.landed.signature) relogged.push({ topic: c.topic, partition: c.partition, offset: c.landed.offset });
  }
  return { relogged, unverifiable };
}
