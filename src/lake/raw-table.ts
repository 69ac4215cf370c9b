/**
 * Appends Kafka records to raw/sensor_readings with the per-partition "next offset" stored in
 * the same Delta commit as Delta `txn` actions (appId `tributary.raw/<topic>/<partition>`,
 * version = next offset). Rows and offsets become visible together or not at all, so a run that
 * dies anywhere can be retried from the table.
 *
 * Why our own commit and not the extension's INSERT + delta_set_transaction_version: the
 * extension checks the expected txn version against a snapshot bound before its INSERT starts
 * appending, leaving a window where two writers both commit the same offsets; and it drops the
 * txn when the transaction appended no file (a batch of only aborted-transaction records).
 * Here the check and the put-if-absent commit use one snapshot version (src/delta/transaction.ts).
 */
import { isUtf8 } from 'node:buffer';
import { BLOB, DOUBLE, DuckDBDataChunk, INTEGER, TINYINT, type DuckDBConnection } from '@duckdb/node-api';
import { openTableStore } from '../delta/open-store';
import { addAction, commit, loadSnapshot, recordCountOf, txnAction, writeParquetDataFile, type Action, type AddAction, type CommitObserver, type DeltaTable } from '../delta';
import { safeDuckPath, sqlString } from '../delta/sql';
import { recordSignature, type LandedRecord } from '../kafka/landed';
import type { KafkaRecords, RecordSegment } from '../kafka/range-reader';
import { setOffset, type TopicOffsets } from '../kafka/offsets';
import type { Lake } from './duckdb';
import type { PartitionRef } from './raw-result';
import { lakeTable, parseRawTxnAppId, RAW, rawTxnAppId, SENSOR_APP_IDS, type StageAppIds } from './tables';

/**
 * Beside each partition's checkpoint, every commit that lands records from it also records the
 * last one (src/kafka/landed.ts): its offset and signature, as two more txns named after the
 * checkpoint's app id (Delta readers ignore txns they do not know). Offset -1: none to check
 * (forgotten after a reset: the next records landed are from the new log).
 */
const LANDED_OFFSET = 'landed-offset:';
const LANDED_SIGNATURE = 'landed-signature:';

export interface RawCheckpoint {
  /** Next offset per topic-partition. */
  checkpoint: TopicOffsets;
  /** topic → partition → the last record landed from it (below the checkpoint). */
  landed: Record<string, Record<string, LandedRecord>>;
  version: number;
}

/** The committed checkpoint and last landed records, from the table's txn actions (`ids`: the pipeline's app ids). */
export async function readRawCheckpoint(tableDir: string, ids: StageAppIds = SENSOR_APP_IDS): Promise<RawCheckpoint> {
  const snap = await loadSnapshot(openTableStore(tableDir));
  const checkpoint: TopicOffsets = {};
  const landed: RawCheckpoint['landed'] = {};
  for (const [appId, version] of snap.appTransactions) {
    const tp = parseRawTxnAppId(appId, ids);
    if (tp) setOffset(checkpoint, tp.topic, tp.partition, version);
    const of = appId.startsWith(LANDED_OFFSET) ? parseRawTxnAppId(appId.slice(LANDED_OFFSET.length), ids) : null;
    const signature = snap.appTransactions.get(LANDED_SIGNATURE + appId.slice(LANDED_OFFSET.length));
    if (of && version >= 0 && signature !== undefined) (landed[of.topic] ??= {})[String(of.partition)] = { offset: version, signature };
  }
  return { checkpoint, landed, version: snap.version };
}

/** The txns recording the last record of each partition in `records`, and forgetting it for `forget` partitions without records. */
function landedTxns(records: KafkaRecords, forget: PartitionRef[], ids: StageAppIds): Action[] {
  const last = new Map<string, { offset: number; signature: number }>();
  for (const seg of records.segments) {
    const n = seg.offsets.length;
    if (n > 0) last.set(rawTxnAppId(seg.topic, seg.partition, ids), { offset: seg.offsets[n - 1], signature: recordSignature(seg.timestampsMs[n - 1], records.value(seg, n - 1)) });
  }
  for (const p of forget) {
    const appId = rawTxnAppId(p.topic, p.partition, ids);
    if (!last.has(appId)) last.set(appId, { offset: -1, signature: 0 });
  }
  return [...last].flatMap(([appId, l]) => [txnAction(LANDED_OFFSET + appId, l.offset), txnAction(LANDED_SIGNATURE + appId, l.signature)]);
}

/**
 * A flush is staged column-wise, in data chunks of 2048 rows (DuckDB's vector size): per record
 * its segment number, offset and timestamp as DOUBLE (exact below 2^53, no BigInt), written into
 * the chunk's typed arrays and copied once per column per chunk; its value's bytes (one native
 * copy per value — the only per-record call into DuckDB, where the appender made six); and its
 * kind (0 null, 1 UTF-8, 2 other bytes). Plus one row per partition segment with its topic and
 * partition. DuckDB then joins the segment, decodes the UTF-8 values and types the columns,
 * vectorized. No column holds a NULL: the chunk's validity mask would cost a BigInt operation per
 * row after the first one. The UTF-8 check stays in JS (Node's isUtf8, SIMD, on the value's view the
 * blob vector takes anyway: half the CPU of a JS ASCII scan before it, bench/RESULTS.md 2026-12-01):
 * DuckDB's try(decode()) agrees with isUtf8 but cost 0.38 µs per row against 0.02 for a plain
 * decode (one invalid value makes a whole vector fall back to row-by-row evaluation). Measured and
 * rejected: handing DuckDB each fetched record set once and cutting values out in SQL
 * (`bytes[start:end]`) — DuckDB copies the whole source BLOB per row.
 */
/** Rows per data chunk: DuckDB's vector size. */
const CHUNK_ROWS = 2048;
const KIND_NULL = 0;
const KIND_UTF8 = 1;
const KIND_BYTES = 2;
const STAGING_TYPES = [INTEGER, DOUBLE, DOUBLE, BLOB, TINYINT];
const CREATE_STAGING = [
  `CREATE OR REPLACE TEMP TABLE raw_staging (seg INTEGER, "offset" DOUBLE, kafka_ts_ms DOUBLE, value BLOB, kind TINYINT)`,
  `CREATE OR REPLACE TEMP TABLE raw_segments (seg INTEGER, topic VARCHAR, "partition" INTEGER)`,
  `CREATE OR REPLACE TEMP VIEW raw_batch AS
     SELECT g.topic, g."partition", CAST(s."offset" AS BIGINT) AS "offset", CAST(s.kafka_ts_ms AS BIGINT) AS kafka_ts_ms,
            CASE WHEN s.kind = ${KIND_UTF8} THEN decode(s.value) END AS raw_payload,
            CASE WHEN s.kind = ${KIND_BYTES} THEN s.value END AS raw_payload_bytes
     FROM raw_staging s JOIN raw_segments g USING (seg)`,
];
const NO_BYTES = { bytes: new Uint8Array(0) };

/** Segments by topic and partition, each partition's in their (offset) order: a stable sort. */
function inFileOrder(segments: RecordSegment[]): RecordSegment[] {
  return segments
    .map((seg, i) => ({ seg, i }))
    .sort((a, b) => (a.seg.topic < b.seg.topic ? -1 : a.seg.topic > b.seg.topic ? 1 : a.seg.partition - b.seg.partition || a.i - b.i))
    .map((x) => x.seg);
}

/** A flush's data file, written (RawTableWriter.prepare) but not committed yet. */
export class PreparedRawFile {
  constructor(
    readonly records: KafkaRecords,
    readonly add: AddAction | null,
  ) {}
}

/**
 * Where one flush is staged and written: a connection of its own (temp tables are per
 * connection, and one connection runs one query at a time) and the flush it is busy with.
 */
interface Stager {
  connection: DuckDBConnection;
  idle: Promise<void>;
}

export class RawTableWriter {
  /** Flushes alternate between two stagers, so one is staged (JS) while the other's COPY runs (DuckDB threads). */
  private nextStager = 0;

  private constructor(
    private readonly lake: Lake,
    private readonly table: DeltaTable,
    private readonly ids: StageAppIds,
    private readonly stagers: Stager[],
  ) {}

  /** `ids`: the pipeline's app ids (its offsets are `<ids.rawPrefix><topic>/<partition>`). Close it before the lake. */
  static async open(lake: Lake, tableDir: string, observer?: CommitObserver, ids: StageAppIds = SENSOR_APP_IDS): Promise<RawTableWriter> {
    // lake.connection stages backfills (appendMissing) and checkpoints the table; flushes have two connections of their own.
    const own = await Promise.all([lake.instance.connect(), lake.instance.connect()]);
    try {
      for (const c of [lake.connection, ...own]) for (const sql of CREATE_STAGING) await c.run(sql);
    } catch (e) {
      for (const c of own) c.closeSync();
      throw e;
    }
    const stagers = own.map((connection) => ({ connection, idle: Promise.resolve() }));
    return new RawTableWriter(lake, lakeTable(lake.connection, tableDir, { observer }), ids, stagers);
  }

  /** Closes the stagers' connections (after their last flush: awaits none). */
  close(): void {
    for (const s of this.stagers) s.connection.closeSync();
  }

  /**
   * Writes `records`' data file (Parquet, not committed: invisible until append commits it), on
   * the next of two stagers, after that stager's previous flush: so a flush is staged while the
   * previous one's file is still being written. A file whose commit never comes stays an orphan
   * that no snapshot references (as after a crash between writing and committing).
   */
  async prepare(records: KafkaRecords, arrivedAt: Date): Promise<PreparedRawFile> {
    if (records.length === 0) return new PreparedRawFile(records, null);
    const stager = this.stagers[this.nextStager];
    this.nextStager = (this.nextStager + 1) % this.stagers.length;
    const written = stager.idle.then(() => this.writeDataFile(stager.connection, records, arrivedAt));
    stager.idle = written.then(
      () => undefined,
      () => undefined,
    );
    return new PreparedRawFile(records, await written);
  }

  /**
   * One Delta commit: the records plus the new positions. `expected` is the checkpoint this writer
   * started from; if another writer (e.g. an overlapping backfill) moved any of these partitions
   * meanwhile, nothing is committed and ConcurrentWriterError is thrown: the retry re-plans.
   * The last record landed per partition is recorded with them; for `forget` partitions (reset:
   * what was landed came from an earlier log) it is cleared unless this commit lands a newer one.
   */
  async append(records: KafkaRecords, positions: TopicOffsets, expected: TopicOffsets, arrivedAt: Date, forget: PartitionRef[] = [], prepared?: PreparedRawFile): Promise<number> {
    if (prepared && prepared.records !== records) throw new Error('RawTableWriter.append: prepared for other records');
    const { add } = prepared ?? (await this.prepare(records, arrivedAt));
    const txns = Object.entries(positions).flatMap(([topic, parts]) =>
      Object.entries(parts).map(([p, next]) => ({ appId: rawTxnAppId(topic, Number(p), this.ids), next, expected: expected[topic]?.[p] })),
    );
    const committed = await commit(this.table, {
      plan: async () => ({
        actions: [...(add ? [addAction(add)] : []), ...landedTxns(records, forget, this.ids)],
        txns,
        commitInfo: { operation: 'WRITE', operationParameters: { mode: 'Append' }, engineInfo: 'tributary raw ingest' },
      }),
    });
    return committed!.version;
  }

  /**
   * Backfill: appends those of `records` that raw does not hold yet, without touching any
   * checkpoint. The "not yet" is decided against the snapshot the commit goes on top of: after a
   * lost version race the transaction rebuilds the plan on the new snapshot.
   */
  async appendMissing(records: KafkaRecords, arrivedAt: Date): Promise<{ written: number; alreadyPresent: number }> {
    if (records.length === 0) return { written: 0, alreadyPresent: 0 };
    const c = this.lake.connection;
    await this.stage(c, records);
    let written = 0;
    const plan = async (snap: { version: number }) => {
      await c.run(`CREATE OR REPLACE TEMP TABLE raw_missing AS
        SELECT s.* FROM raw_batch s ANTI JOIN (
          SELECT topic, "partition", "offset" FROM delta_scan(${sqlString(safeDuckPath(this.table.store.root))}, version => ${snap.version})
          WHERE "offset" BETWEEN (SELECT min("offset") FROM raw_staging) AND (SELECT max("offset") FROM raw_staging)
        ) r USING (topic, "partition", "offset")`);
      const add = await writeParquetDataFile(c, this.table.store, this.rowsSql('raw_missing', arrivedAt), RAW.fields);
      written = add ? recordCountOf(add) ?? 0 : 0;
      if (!add) return null;
      return { actions: [addAction(add)], commitInfo: { operation: 'WRITE', operationParameters: { mode: 'Append' }, engineInfo: 'tributary raw backfill' } };
    };
    await commit(this.table, { plan, rebuild: plan });
    return { written, alreadyPresent: records.length - written };
  }

  /** Appender → staging table → one Parquet file with stats (DuckDB does the typing and encoding). */
  private async writeDataFile(c: DuckDBConnection, records: KafkaRecords, arrivedAt: Date): Promise<AddAction | null> {
    await this.stage(c, records);
    return writeParquetDataFile(c, this.table.store, this.rowsSql('raw_batch', arrivedAt), RAW.fields);
  }

  private async stage(c: DuckDBConnection, records: KafkaRecords): Promise<void> {
    // Replaced, not emptied: DuckDB keeps a DELETEd in-memory table's storage, so one writer's
    // memory grew by a batch (~50 MiB per 250k records) with every commit (3.2 GiB at a 10M backlog).
    await c.run(CREATE_STAGING[0]);
    await c.run(CREATE_STAGING[1]);
    const segments = await c.createAppender('raw_segments');
    const rows = await c.createAppender('raw_staging');
    const chunk = DuckDBDataChunk.create(STAGING_TYPES);
    const sources = records.sources;
    let segNo = 0;
    // Staged in the file's order — by topic and partition; a partition's segments are already in
    // offset order — so that the COPY need not sort (the sort was a third of its CPU).
    for (const seg of inFileOrder(records.segments)) {
      const n = seg.offsets.length;
      if (n === 0) continue;
      const { offsets, timestampsMs, valueSources, valueStarts, valueLengths } = seg;
      for (let from = 0; from < n; from += CHUNK_ROWS) {
        const size = Math.min(CHUNK_ROWS, n - from);
        chunk.reset();
        chunk.rowCount = size;
        const [vSeg, vOffset, vTs, vValue, vKind] = STAGING_TYPES.map((_, i) => chunk.getColumnVector(i));
        for (let j = 0; j < size; j++) {
          const i = from + j;
          const len = valueLengths[i];
          vSeg.setItem(j, segNo);
          vOffset.setItem(j, offsets[i]);
          vTs.setItem(j, timestampsMs[i]);
          if (len < 0) {
            vValue.setItem(j, NO_BYTES);
            vKind.setItem(j, KIND_NULL);
          } else {
            const start = valueStarts[i];
            const bytes = sources[valueSources[i]];
            const value = bytes.subarray(start, start + len);
            // The blob vector copies `.bytes` into DuckDB when flushed.
            vValue.setItem(j, { bytes: value });
            vKind.setItem(j, isUtf8(value) ? KIND_UTF8 : KIND_BYTES);
          }
        }
        for (const v of [vSeg, vOffset, vTs, vValue, vKind]) v.flush();
        rows.appendDataChunk(chunk);
      }
      segments.appendInteger(segNo);
      segments.appendVarchar(seg.topic);
      segments.appendInteger(seg.partition);
      segments.endRow();
      segNo += 1;
    }
    rows.closeSync();
    segments.closeSync();
  }

  /**
   * The raw table's columns from a staged relation (a fixed internal name), ordered by topic,
   * partition and offset: raw_batch is staged in that order and DuckDB keeps insertion order
   * (preserve_insertion_order), so only raw_missing (an anti join) is sorted.
   */
  private rowsSql(relation: 'raw_batch' | 'raw_missing', arrivedAt: Date): string {
    return `SELECT topic, "partition", "offset", make_timestamptz(kafka_ts_ms * 1000) AS kafka_ts, raw_payload, raw_payload_bytes,
              ${sqlString(arrivedAt.toISOString())}::TIMESTAMPTZ AS arrived_at
       FROM ${relation}${relation === 'raw_missing' ? ' ORDER BY topic, "partition", "offset"' : ''}`;
  }
}
