/**
 * Stage 1's record-batch decoder (src/kafka/record-batch.ts) on batches written by kafkajs' own
 * encoder (kafkajs 2.2.4, what our producers use), checked against kafkajs' own decoder where it has
 * one, plus what kafkajs cannot write: control batches (transaction markers), cut-off tails, corrupt
 * CRCs, other codecs. test/integration/record-batch.test.ts does the same on batches from the broker.
 */
import { isUtf8 } from 'node:buffer';
import { crc32c } from '../../src/kafka/crc32c';
import { decodeRecordSet, RecordBatchError, type AbortedTransaction } from '../../src/kafka/record-batch';

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs' encoder and decoder as the reference */
const Long = require('kafkajs/src/utils/long');
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (args: object) => Promise<{ buffer: Buffer }> };
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (args: object) => unknown;
const RecordBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (d: unknown) => Promise<{ records: { offset: string; timestamp: string; value: Buffer | null }[] }>;
const Decoder = require('kafkajs/src/protocol/decoder');
const { Types: Compression } = require('kafkajs/src/protocol/message/compression') as { Types: Record<string, number> };
/* eslint-enable @typescript-eslint/no-require-imports */

interface Rec {
  offset: number;
  ts: number;
  value: string | null; // hex
}

function collect(records: Uint8Array, aborted: AbortedTransaction[] = [], from = 0, stop = Number.MAX_SAFE_INTEGER, room = Infinity, verifyCrc = true) {
  const out: Rec[] = [];
  const r = decodeRecordSet(records, aborted, from, stop, {
    push: (offset, ts, bytes, start, length) => {
      out.push({ offset, ts, value: length < 0 ? null : Buffer.from(bytes.subarray(start, start + length)).toString('hex') });
      return out.length >= room;
    },
  }, { verifyCrc });
  return { ...r, records: out };
}

const hex = (v: string | Buffer | null) => (v === null ? null : Buffer.from(v).toString('hex'));

interface BatchSpec {
  firstOffset: number;
  firstTimestamp?: number;
  compression?: number;
  transactional?: boolean;
  producerId?: number;
  /** Per record: offsetDelta (gaps = compaction), timestampDelta, key, value, headers. */
  records: { offsetDelta: number; timestampDelta?: number; key?: string | null; value: string | Buffer | null; headers?: Record<string, string | string[]> }[];
  lastOffsetDelta?: number;
}

async function batch(spec: BatchSpec): Promise<Buffer> {
  const firstTimestamp = spec.firstTimestamp ?? 1_767_225_600_000;
  const encoded = await RecordBatch({
    compression: spec.compression ?? Compression.None,
    firstOffset: Long.fromValue(spec.firstOffset),
    firstTimestamp,
    maxTimestamp: firstTimestamp,
    lastOffsetDelta: spec.lastOffsetDelta ?? Math.max(...spec.records.map((r) => r.offsetDelta)),
    transactional: spec.transactional ?? false,
    producerId: Long.fromValue(spec.producerId ?? -1),
    records: spec.records.map((r) =>
      Record({
        offsetDelta: r.offsetDelta,
        timestampDelta: r.timestampDelta ?? 0,
        key: r.key === undefined || r.key === null ? null : Buffer.from(r.key),
        value: r.value === null ? null : Buffer.from(r.value),
        headers: r.headers ?? {},
      }),
    ),
  });
  return encoded.buffer;
}

/** A control batch (kafkajs cannot write one): a transaction marker of `producerId`. */
async function marker(offset: number, producerId: number, kind: 'abort' | 'commit'): Promise<Buffer> {
  const b = Buffer.from(
    await batch({
      firstOffset: offset,
      transactional: true,
      producerId,
      records: [{ offsetDelta: 0, key: Buffer.from([0, 0, 0, kind === 'abort' ? 0 : 1]).toString('latin1'), value: Buffer.from([0, 0, 0, 0, 0, 0]) }],
    }),
  );
  b.writeInt16BE(b.readInt16BE(21) | 0x20, 21); // the control flag
  b.writeUInt32BE(crc32c(b, 21), 17);
  return b;
}

/** kafkajs' own decoding of one batch: offsets, timestamps, values. */
async function kafkajsDecode(bytes: Buffer): Promise<Rec[]> {
  const decoded = await RecordBatchDecoder(new Decoder(bytes));
  return decoded.records.map((r) => ({ offset: Number(r.offset), ts: Number(r.timestamp), value: hex(r.value) }));
}

const EDGE_VALUES: (string | Buffer | null)[] = [
  '{"sensor_id":"a","value":1}',
  null, // tombstone
  '', // empty, not a tombstone
  Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), // not UTF-8
  'é😀',
  'x'.repeat(300), // a 2-byte varint length
];

describe('record-batch decoder', () => {
  it.each([
    ['uncompressed', Compression.None],
    ['gzip', Compression.GZIP],
  ])('%s: offsets beyond 2^32, timestamps, tombstones, empty and non-UTF-8 values, keys and headers — as kafkajs decodes them', async (_name, compression) => {
    const first = 5_000_000_000;
    const bytes = await batch({
      firstOffset: first,
      compression,
      records: EDGE_VALUES.map((value, i) => ({
        offsetDelta: i,
        timestampDelta: [0, 5, -3, 70_000, 1, 2 ** 40][i],
        key: i % 2 ? `key-${i}` : null,
        value,
        headers: (i === 0 ? { trace: 'abc', multi: ['1', '2'] } : {}) as Record<string, string | string[]>,
      })),
    });
    const got = collect(bytes);
    expect(got.records).toEqual(await kafkajsDecode(bytes));
    expect(got.records.map((r) => r.offset)).toEqual(EDGE_VALUES.map((_, i) => first + i));
    expect(got.records.map((r) => r.value)).toEqual(EDGE_VALUES.map(hex));
    expect(got.records[5].ts).toBe(1_767_225_600_000 + 2 ** 40);
    expect(isUtf8(Buffer.from(got.records[3].value!, 'hex'))).toBe(false);
    expect(got).toMatchObject({ next: first + EDGE_VALUES.length, full: false });
  });

  it('several batches; a tail cut anywhere is ignored and the next fetch starts after the last whole batch', async () => {
    const a = await batch({ firstOffset: 0, records: [0, 1, 2].map((d) => ({ offsetDelta: d, value: `a${d}` })) });
    const b = await batch({ firstOffset: 3, compression: Compression.GZIP, records: [0, 1].map((d) => ({ offsetDelta: d, value: `b${d}` })) });
    const c = await batch({ firstOffset: 5, records: [0, 1, 2, 3].map((d) => ({ offsetDelta: d, value: `c${d}` })) });
    const all = Buffer.concat([a, b, c]);
    expect(collect(all).records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (let cut = a.length + b.length; cut < all.length; cut++) {
      const got = collect(all.subarray(0, cut));
      expect(got.records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
      expect(got.next).toBe(5);
    }
    expect(collect(all.subarray(0, 10))).toEqual({ next: 0, full: false, records: [] });
  });

  it('from and stop inside batches (the broker returns whole batches), compaction gaps, and resuming after the sink is full', async () => {
    // Compacted: offsets 10, 13, 17 survive of 10..19 (lastOffsetDelta 9 is kept); then 20..22.
    const compacted = await batch({ firstOffset: 10, lastOffsetDelta: 9, records: [0, 3, 7].map((d) => ({ offsetDelta: d, value: `v${10 + d}` })) });
    const next = await batch({ firstOffset: 20, records: [0, 1, 2].map((d) => ({ offsetDelta: d, value: `v${20 + d}` })) });
    const all = Buffer.concat([compacted, next]);
    expect(collect(all)).toMatchObject({ next: 23, full: false });
    expect(collect(all, [], 11).records.map((r) => r.offset)).toEqual([13, 17, 20, 21, 22]);
    expect(collect(all, [], 14, 21)).toMatchObject({ next: 21, full: false, records: [{ offset: 17 }, { offset: 20 }] });
    // Only a gap left before stop: the position still reaches it.
    expect(collect(compacted, [], 18, 19)).toEqual({ next: 19, full: false, records: [] });
    // A sink that takes two at a time: resumed from `next`, the same records, each once.
    const seen: number[] = [];
    let from = 10;
    for (let i = 0; i < 10; i++) {
      const r = collect(all, [], from, 23, 2);
      seen.push(...r.records.map((x) => x.offset));
      from = r.next;
      if (!r.full) break;
    }
    expect(seen).toEqual([10, 13, 17, 20, 21, 22]);
    expect(from).toBe(23);
  });

  it('read_committed: drops aborted transactions up to their ABORT marker, never returns markers, keeps committed and non-transactional records', async () => {
    const P = 7; // aborts, then commits a second transaction
    const Q = 8; // commits
    const set = Buffer.concat([
      await batch({ firstOffset: 0, transactional: true, producerId: P, records: [{ offsetDelta: 0, value: 'p-aborted-0' }, { offsetDelta: 1, value: 'p-aborted-1' }] }),
      await batch({ firstOffset: 2, transactional: true, producerId: Q, records: [{ offsetDelta: 0, value: 'q-committed-2' }] }),
      await batch({ firstOffset: 3, records: [{ offsetDelta: 0, value: 'plain-3' }] }),
      await batch({ firstOffset: 4, transactional: true, producerId: P, compression: Compression.GZIP, records: [{ offsetDelta: 0, value: 'p-aborted-4' }] }),
      await marker(5, P, 'abort'),
      await marker(6, Q, 'commit'),
      await batch({ firstOffset: 7, transactional: true, producerId: P, records: [{ offsetDelta: 0, value: 'p-committed-7' }] }),
      await marker(8, P, 'commit'),
      await batch({ firstOffset: 9, transactional: true, producerId: Q, records: [{ offsetDelta: 0, value: 'q-aborted-9' }] }),
      await marker(10, Q, 'abort'),
    ]);
    const aborted = [
      { producerId: Q, firstOffset: 9 },
      { producerId: P, firstOffset: 0 },
    ];
    const got = collect(set, aborted);
    expect(got.records.map((r) => Buffer.from(r.value!, 'hex').toString())).toEqual(['q-committed-2', 'plain-3', 'p-committed-7']);
    expect(got.next).toBe(11);
    // Resumed inside the aborted range (a later call on the same fetch): still dropped.
    expect(collect(set, aborted, 4).records.map((r) => r.offset)).toEqual([7]);
    // Without the aborted list (read_uncommitted) only the markers go.
    expect(collect(set).records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 7, 9]);
  });

  it('fails on a corrupt batch (CRC-32C), on codecs it cannot read and on the pre-0.11 message format', async () => {
    const good = await batch({ firstOffset: 0, records: [{ offsetDelta: 0, value: 'hello' }] });
    const corrupt = Buffer.from(good);
    corrupt[corrupt.length - 3] ^= 0x01;
    expect(() => collect(corrupt)).toThrow(/CRC-32C mismatch/);
    expect(collect(corrupt, [], 0, 10, Infinity, false).records).toHaveLength(1);
    for (const [codec, name] of [
      [2, 'snappy'],
      [3, 'lz4'],
      [4, 'zstd'],
    ] as const) {
      const b = Buffer.from(good);
      b.writeInt16BE(codec, 21);
      b.writeUInt32BE(crc32c(b, 21), 17);
      expect(() => collect(b)).toThrow(new RecordBatchError(`record batch at offset 0 is ${name}-compressed: only uncompressed and gzip batches can be read; set the producers' compression.type to gzip or none`));
    }
    const v1 = Buffer.from(good);
    v1[16] = 1;
    expect(() => collect(v1)).toThrow(/magic 1/);
  });

  it('CRC-32C matches kafkajs and the standard check value', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const reference = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff));
    for (const n of [0, 1, 7, 8, 9, 15, 16, 17, 999]) expect(crc32c(data, 1, 1 + n)).toBe(reference(data.subarray(1, 1 + n)));
  });
});
