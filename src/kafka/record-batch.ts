/**
 * Decodes the record set of one fetched partition (Kafka's v2 record batches, "magic 2") straight
 * into a reader segment's columns: offsets, timestamps and where each value lies in the fetched
 * bytes. No object per record (not even a view), no string, no key or header decoded (stage 1
 * keeps neither).
 *
 * Record batch (https://kafka.apache.org/documentation/#recordbatch), byte positions:
 *   0 baseOffset int64 · 8 batchLength int32 · 12 partitionLeaderEpoch int32 · 16 magic int8 ·
 *   17 crc uint32 (CRC-32C of 21..end) · 21 attributes int16 · 23 lastOffsetDelta int32 ·
 *   27 baseTimestamp int64 · 35 maxTimestamp int64 · 43 producerId int64 · 51 producerEpoch int16 ·
 *   53 baseSequence int32 · 57 recordCount int32 · 61 records (compressed as a whole if attributes say so)
 * Record: length varint · attributes int8 · timestampDelta varlong · offsetDelta varint ·
 *   keyLength varint, key · valueLength varint (-1 = null: a tombstone), value · headers.
 * Varints are zigzag-encoded.
 *
 * read_committed, as Kafka's own consumer does it (Fetcher/CompletedFetch): the fetch response lists
 * the aborted transactions (producer id, first offset) in the fetched range; a producer's
 * transactional batches are dropped from its aborted transaction's first offset up to its ABORT
 * marker; control batches (COMMIT/ABORT markers) are never records. Every batch, kept or dropped,
 * moves the position to its last offset + 1 — this also steps over compaction gaps (a compacted
 * batch keeps its lastOffsetDelta) and transaction markers. kafkajs 2.2.4 filters the same records
 * per message; Kafka's per-batch rule differs from it only for two aborted transactions of different
 * producers starting in one fetch, where kafkajs can drop too few (it opens one per record).
 *
 * The broker may cut the last batch of a response short (partition or response byte limit): an
 * incomplete tail is ignored and the next fetch starts at the position reached.
 */
import { gunzipSync } from 'node:zlib';
import { crc32c } from './crc32c';

/** One aborted transaction from the fetch response. Producer ids and offsets as numbers (exact below 2^53). */
export interface AbortedTransaction {
  producerId: number;
  firstOffset: number;
}

/** Where decoded records go (KafkaRecords + its segment; kept minimal so tests can collect too). */
export interface RecordSink {
  /**
   * One record; its value is bytes[start, start + length), length -1 = null (a tombstone). `bytes`
   * is the record set given to decodeRecordSet, or a gzip batch's decompressed records.
   * Returns true when the sink is full: decoding stops after this record.
   */
  push(offset: number, timestampMs: number, bytes: Uint8Array, start: number, length: number): boolean;
}

export interface DecodeResult {
  /** The next offset to fetch: past every record, control record and dropped batch seen (≤ stop). */
  next: number;
  /** The sink filled up: records below `stop` may remain in this record set (decode again from `next`). */
  full: boolean;
}

export class RecordBatchError extends Error {
  override name = 'RecordBatchError';
}

const HEADER = 61;
const ATTR_COMPRESSION = 0x07;
const ATTR_LOG_APPEND_TIME = 0x08;
const ATTR_TRANSACTIONAL = 0x10;
const ATTR_CONTROL = 0x20;
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** int64 big-endian at `at` as a number (exact below 2^53; Kafka offsets, timestamps, producer ids). */
function int64(b: Uint8Array, at: number): number {
  const hi = (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]; // signed
  const lo = ((b[at + 4] << 24) | (b[at + 5] << 16) | (b[at + 6] << 8) | b[at + 7]) >>> 0;
  return hi * 4294967296 + lo;
}
function int32(b: Uint8Array, at: number): number {
  return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}

/**
 * Decoding cursor over one batch's records: a varint reader with its position. A class with two
 * fields (one per batch, not per record) so V8 keeps the hot loop monomorphic.
 */
class Cursor {
  constructor(
    readonly b: Uint8Array,
    public at: number,
    readonly end: number,
  ) {}

  /** Zigzag varint of up to 64 bits, as a number (exact within ±2^53). */
  varint(): number {
    const b = this.b;
    let at = this.at;
    let byte = b[at++];
    let raw: number;
    if (byte < 0x80) raw = byte;
    else {
      raw = byte & 0x7f;
      byte = b[at++];
      raw |= (byte & 0x7f) << 7;
      if (byte >= 0x80) {
        byte = b[at++];
        raw |= (byte & 0x7f) << 14;
        if (byte >= 0x80) {
          byte = b[at++];
          raw |= (byte & 0x7f) << 21;
          if (byte >= 0x80) {
            // Beyond 28 bits: continue in floating point (no 32-bit overflow).
            let mul = 268435456; // 2^28
            do {
              if (at >= this.end) throw new RecordBatchError('record batch: varint runs past the batch');
              byte = b[at++];
              raw += (byte & 0x7f) * mul;
              mul *= 128;
            } while (byte >= 0x80);
          }
        }
      }
    }
    if (at > this.end) throw new RecordBatchError('record batch: varint runs past the batch');
    this.at = at;
    // zigzag: even → n/2, odd → -(n+1)/2 (float-safe for values past 2^31)
    return raw < 1073741824 ? (raw >>> 1) ^ -(raw & 1) : raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  }
}

/**
 * Decodes `records` (one partition's record set from a fetch response) into `sink`: the records
 * with from ≤ offset < stop that read_committed lets through, in offset order.
 *
 * Stateless: after the sink filled up, call again with from = the returned `next`; the batches
 * before it are only scanned (their headers), so the aborted-transaction state is rebuilt the same.
 */
export function decodeRecordSet(
  records: Uint8Array,
  abortedTransactions: readonly AbortedTransaction[],
  from: number,
  stop: number,
  sink: RecordSink,
  opts: { verifyCrc: boolean } = { verifyCrc: true },
): DecodeResult {
  let next = from;
  // Aborted transactions by first offset; the producers whose aborted transaction has begun.
  const pending = abortedTransactions.length > 1 ? [...abortedTransactions].sort((a, b) => a.firstOffset - b.firstOffset) : abortedTransactions;
  let pendingAt = 0;
  let aborting: Set<number> | null = null;
  const n = records.length;
  let at = 0;
  while (at + HEADER <= n && next < stop) {
    const batchLength = int32(records, at + 8);
    const end = at + 12 + batchLength;
    if (batchLength < HEADER - 12 || end > n) break; // incomplete tail: refetch from `next`
    const magic = records[at + 16];
    if (magic !== 2) {
      throw new RecordBatchError(`record batch at offset ${int64(records, at)} has magic ${magic}: only Kafka's v2 format (Kafka ≥ 0.11) is supported`);
    }
    const base = int64(records, at);
    const lastOffset = base + int32(records, at + 23);
    const attributes = (records[at + 21] << 8) | records[at + 22];
    while (pendingAt < pending.length && pending[pendingAt].firstOffset <= lastOffset) {
      (aborting ??= new Set()).add(pending[pendingAt++].producerId);
    }
    if (lastOffset < next) {
      // Already read (the broker returns whole batches); its markers still close transactions.
      if (attributes & ATTR_CONTROL) closeAborted(at);
      at = end;
      continue;
    }
    if (opts.verifyCrc) {
      const want = int32(records, at + 17) >>> 0;
      if (crc32c(records, at + 21, end) !== want) {
        throw new RecordBatchError(`record batch at offset ${base}: CRC-32C mismatch (corrupt data from the broker)`);
      }
    }
    if (attributes & ATTR_CONTROL) {
      closeAborted(at);
    } else if (!(attributes & ATTR_TRANSACTIONAL && aborting?.has(int64(records, at + 43)))) {
      const full = decodeBatch(records, at, end, base, attributes, from > base ? from : base, stop, sink);
      if (full >= 0) return { next: full + 1, full: true };
    }
    next = Math.min(lastOffset + 1, stop);
    at = end;
  }
  return { next, full: false };

  /** A control batch at `batchAt`: an ABORT marker (control type 0) ends its producer's aborted transaction. */
  function closeAborted(batchAt: number): void {
    if (!aborting) return;
    // The marker's key: version int16, type int16 (0 abort, 1 commit). One uncompressed record.
    const c = new Cursor(records, batchAt + HEADER, batchAt + 12 + int32(records, batchAt + 8));
    c.varint(); // length
    c.at += 1; // attributes
    c.varint(); // timestampDelta
    c.varint(); // offsetDelta
    const keyLength = c.varint();
    if (keyLength >= 4 && records[c.at + 2] === 0 && records[c.at + 3] === 0) aborting.delete(int64(records, batchAt + 43));
  }
}

/**
 * The records of one data batch with offset in [from, stop) into the sink. Returns the offset of
 * the record after which the sink was full, or -1.
 */
function decodeBatch(b: Uint8Array, at: number, end: number, base: number, attributes: number, from: number, stop: number, sink: RecordSink): number {
  const count = int32(b, at + 57);
  const baseTs = int64(b, at + 27);
  const logAppendTime = (attributes & ATTR_LOG_APPEND_TIME) !== 0;
  const maxTs = logAppendTime ? int64(b, at + 35) : 0;
  const codec = attributes & ATTR_COMPRESSION;
  let c: Cursor;
  if (codec === 0) c = new Cursor(b, at + HEADER, end);
  else if (codec === 1) {
    const plain = gunzipSync(b.subarray(at + HEADER, end));
    c = new Cursor(plain, 0, plain.length);
  } else {
    // kafkajs 2.2.4 decodes only gzip without extra codec packages (none are installed here), and
    // Node 20 has no zstd: a topic written with these fails clearly rather than being skipped.
    throw new RecordBatchError(`record batch at offset ${base} is ${CODECS[codec] ?? `codec ${codec}`}-compressed: only uncompressed and gzip batches can be read; set the producers' compression.type to gzip or none`);
  }
  const bytes = c.b;
  for (let i = 0; i < count; i++) {
    const length = c.varint();
    const recordEnd = c.at + length;
    if (length < 0 || recordEnd > c.end) throw new RecordBatchError(`record batch at offset ${base}: record ${i} runs past the batch`);
    c.at += 1; // attributes (unused)
    const tsDelta = c.varint();
    const offset = base + c.varint();
    if (offset >= stop) return -1;
    if (offset >= from) {
      const keyLength = c.varint();
      if (keyLength > 0) c.at += keyLength;
      const valueLength = c.varint();
      if (c.at + valueLength > recordEnd) throw new RecordBatchError(`record batch at offset ${base}: record ${i}'s value runs past it`);
      if (sink.push(offset, logAppendTime ? maxTs : baseTs + tsDelta, bytes, c.at, valueLength < 0 ? -1 : valueLength)) return offset;
    }
    c.at = recordEnd; // headers skipped
  }
  return -1;
}
