/**
 * Stage 1's column-wise staging (src/lake/raw-table.ts): records arrive as per-partition segments
 * of undecoded values; the writer checks UTF-8 (isUtf8), DuckDB joins topic/partition by segment,
 * decodes and types the columns. Checked against Node's own decisions for edge-case bytes, for segments of several
 * partitions interleaved in one flush, and for the backfill path (appendMissing).
 */
import { isUtf8 } from 'node:buffer';
import { KafkaRecords } from '../../src/kafka/range-reader';
import type { Lake } from '../../src/lake/duckdb';
import { lakeTargets } from '../helpers/lake-targets';
import { RawTableWriter, readRawCheckpoint } from '../../src/lake/raw-table';
import { sqlString } from '../../src/delta/sql';
import { ensureTables, RAW, tableDir } from '../../src/lake/tables';

const VALUES: (string | null)[] = [
  '7b2273656e736f725f6964223a2261227d', // {"sensor_id":"a"}
  'c3a9', // é
  'f09f9880', // 😀 (4 bytes)
  '00', // NUL is valid UTF-8
  'efbfbf', // U+FFFF
  'ff', // invalid byte
  'eda080', // UTF-16 surrogate: invalid in UTF-8
  'c080', // overlong NUL
  'f4908080', // above U+10FFFF
  'e282', // truncated sequence
  null, // tombstone
  '', // empty value (not a tombstone)
];

const targets = lakeTargets('raw-table');

// One suite on every kind of lake root: local disk, Azurite, versitygw.
describe.each(targets)('raw table writer on $name: column-wise staging', (target) => {
  let lake: Lake;
  let root: string;
  beforeAll(async () => {
    lake = await target.openLake();
  });
  afterAll(() => lake.close());
  beforeEach(async () => {
    root = target.newRoot();
    await ensureTables(root, [RAW]);
  });

  /** Segments p0, p1, p0 (a later fetch of p0) in one flush; offsets and timestamps per record. */
  function records(from = 0): KafkaRecords {
    const r = new KafkaRecords();
    const add = (partition: number, offset: number, hex: string | null) =>
      r.push(r.segment('t', partition), offset, 1_767_225_600_000 + offset, hex === null ? null : Buffer.from(hex, 'hex'));
    VALUES.forEach((v, i) => i >= from && i < 6 && add(0, 100 + i, v));
    VALUES.forEach((v, i) => i >= from && add(1, 5_000_000_000 + i, v)); // offsets beyond 2^32
    VALUES.forEach((v, i) => i >= Math.max(from, 6) && add(0, 100 + i, v));
    return r;
  }

  async function readBack(): Promise<{ partition: number; offset: number; ts: number; text: string | null; bytes: string | null }[]> {
    const rows = await lake.connection.runAndReadAll(
      `SELECT "partition", "offset", epoch_ms(kafka_ts) AS ts, raw_payload, hex(raw_payload_bytes) AS bytes
       FROM delta_scan(${sqlString(tableDir(root, RAW))}) ORDER BY "partition", "offset"`,
    );
    return rows.getRowObjects().map((x) => ({
      partition: Number(x.partition),
      offset: Number(x.offset),
      ts: Number(x.ts),
      text: x.raw_payload === null ? null : String(x.raw_payload),
      bytes: x.bytes === null ? null : String(x.bytes).toLowerCase(),
    }));
  }

  function expected(partition: number, offset: number, hex: string | null) {
    const b = hex === null ? null : Buffer.from(hex, 'hex');
    const utf8 = b !== null && isUtf8(b);
    return { partition, offset, ts: 1_767_225_600_000 + offset, text: utf8 ? b!.toString('utf8') : null, bytes: b !== null && !utf8 ? hex : null };
  }

  it('lands every record of interleaved segments with its partition, offset, timestamp and the UTF-8 split Node would make', async () => {
    const writer = await RawTableWriter.open(lake, tableDir(root, RAW));
    await writer.append(records(), { t: { 0: 100 + VALUES.length, 1: 5_000_000_000 + VALUES.length } }, {}, new Date());
    const want = [...VALUES.map((v, i) => expected(0, 100 + i, v)), ...VALUES.map((v, i) => expected(1, 5_000_000_000 + i, v))];
    expect(await readBack()).toEqual(want);
    expect((await readRawCheckpoint(tableDir(root, RAW))).checkpoint).toEqual({ t: { 0: 100 + VALUES.length, 1: 5_000_000_000 + VALUES.length } });
    // The data file itself is in partition and offset order although p0's segments came around p1's
    // (the writer stages in that order instead of sorting in the COPY): one file, read in file order.
    const inFile = await lake.connection.runAndReadAll(`SELECT "partition", "offset" FROM delta_scan(${sqlString(tableDir(root, RAW))})`);
    expect(inFile.getRows().map(([p, o]) => [Number(p), Number(o)])).toEqual(want.map((w) => [w.partition, w.offset]));
  });

  it('backfill appends only the records raw does not hold, from the same staging', async () => {
    const writer = await RawTableWriter.open(lake, tableDir(root, RAW));
    expect(await writer.appendMissing(records(8), new Date())).toEqual({ written: 8, alreadyPresent: 0 });
    expect(await writer.appendMissing(records(), new Date())).toEqual({ written: 16, alreadyPresent: 8 });
    const want = [...VALUES.map((v, i) => expected(0, 100 + i, v)), ...VALUES.map((v, i) => expected(1, 5_000_000_000 + i, v))];
    expect(await readBack()).toEqual(want);
  });
});
