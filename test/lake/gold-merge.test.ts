/**
 * src/lake/gold.ts on real Delta tables: bronze is written directly with
 * writeParquetDataFile, gold by the merge; after every step gold is read back through DuckDB's
 * delta_scan and through delta-rs (Python `deltalake`), which must agree with each other, with our
 * own snapshot, and with the expected rows.
 */
import * as path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  addAction,
  commitActions,
  commitWithRetry,
  createDeltaTable,
  readSnapshot,
  txnAction,
  UnsupportedDeltaFeatureError,
  writeParquetDataFile,
} from '../helpers/delta-dir';
import {
  mergeBatchIntoGold,
  mergeBronzeIntoGold,
  planBronzeBatches,
  readGoldCheckpoint,
  type GoldMergeRequest,
} from '../../src/lake/gold';
import { addNullableColumns } from '../../src/delta';
import { joinRoot, openTableStore } from '../../src/delta/open-store';
import { attachStore } from '../../src/lake/duckdb';
import { sqlString } from '../../src/delta/sql';
import { BRONZE, ensureTables, GOLD, GOLD_CHECKPOINT_APP_ID, tableDir, UpstreamTableChangedError } from '../../src/lake/tables';
import { deltaExtensionPath, expectReadersAgree, loadDeltaExtension, readWithDeltaScan, type NormalizedRow } from '../helpers/deltalake-reader';
import { dataFileKeys, keyExists, lakeTargets, removeTable, type LakeTarget } from '../helpers/lake-targets';

const targets = lakeTargets('gold');

// One suite on every kind of lake root: local disk, Azurite, versitygw.
describe.each(targets)('gold merge on $name', (target: LakeTarget) => {
  let instance: DuckDBInstance;
  let conn: DuckDBConnection;
  let conn2: DuckDBConnection;

  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
    conn = await instance.connect();
    conn2 = await instance.connect();
    for (const c of [conn, conn2]) {
      // Nothing may depend on the session time zone.
      await c.run(`SET TimeZone = 'Asia/Kolkata'`);
      await loadDeltaExtension(c);
    }
    // An object store's extension and secret are the instance's: once for both connections.
    const o = target.object;
    if (o) await attachStore(conn, `${o.scheme}://${o.bucket}`, o.creds, path.dirname(deltaExtensionPath()));
  });

  afterAll(() => {
    conn?.closeSync();
    conn2?.closeSync();
    instance?.closeSync();
  });

  /** A fresh lake root with an empty bronze and gold table (`root` for more tables next to them). */
  async function tables(): Promise<{ root: string; bronze: string; gold: string }> {
    const root = target.newRoot();
    const bronze = joinRoot(root, 'bronze');
    const gold = joinRoot(root, 'gold');
    await createDeltaTable(bronze, BRONZE.fields);
    await createDeltaTable(gold, GOLD.fields);
    return { root, bronze, gold };
  }

  const T0 = Date.UTC(2026, 0, 1);
  /** Arrival time t (seconds after T0) as the readers normalise timestamps. */
  const at = (t: number) => new Date(T0 + t * 1000).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

  interface B {
    s: string;
    ts: number;
    v: number;
    unit?: string;
    /** arrival, seconds after T0 */
    t: number;
    partition?: number;
    offset?: number;
    /** Kafka timestamp, seconds after T0 (default: t, the record landed as soon as it was produced); null = unknown. */
    k?: number | null;
  }

  let offsetSeq = 0;
  /** Appends rows to bronze as one Delta version; returns it. */
  async function appendBronze(dir: string, rows: B[]): Promise<number> {
    const values = rows
      .map(
        (r) =>
          `(${sqlString(r.s)}, ${r.v}::DOUBLE, ${sqlString(r.unit ?? 'C')}, ${r.ts}::BIGINT, ` +
          `make_timestamptz(${(T0 + r.t * 1000) * 1000}::BIGINT), 'sensor_readings', ${r.partition ?? 0}::INTEGER, ${r.offset ?? offsetSeq++}::BIGINT, ` +
          (r.k === null ? 'NULL::TIMESTAMPTZ)' : `make_timestamptz(${(T0 + (r.k ?? r.t) * 1000) * 1000}::BIGINT))`),
      )
      .join(', ');
    const add = await writeParquetDataFile(
      conn,
      dir,
      `SELECT * FROM (VALUES ${values}) AS v(sensor_id, value, unit, ts_ms, arrived_at, topic, "partition", "offset", kafka_ts)`,
      BRONZE.fields,
    );
    return (await commitWithRetry(dir, async () => ({ actions: [addAction(add!)] })))!.version;
  }

  /** Bulk bronze rows generated in SQL (sensors × timestamps). */
  async function appendBronzeGrid(dir: string, sensors: string[], tsFrom: number, tsTo: number, value: string, t: number): Promise<number> {
    const add = await writeParquetDataFile(
      conn,
      dir,
      `SELECT s.sensor_id, (${value})::DOUBLE AS value, 'C' AS unit, r.ts_ms::BIGINT AS ts_ms, make_timestamptz(${(T0 + t * 1000) * 1000}::BIGINT) AS arrived_at,
              'sensor_readings' AS topic, 0::INTEGER AS "partition", (row_number() OVER ())::BIGINT AS "offset",
              make_timestamptz(${(T0 + t * 1000) * 1000}::BIGINT) AS kafka_ts
       FROM (SELECT unnest([${sensors.map(sqlString).join(', ')}]) AS sensor_id) s, range(${tsFrom}, ${tsTo}) r(ts_ms)`,
      BRONZE.fields,
    );
    return (await commitWithRetry(dir, async () => ({ actions: [addAction(add!)] })))!.version;
  }

  const g = (s: string, ts: number, v: number, arrived: number, updated: number, unit = 'C'): NormalizedRow => ({
    sensor_id: s,
    value: v,
    unit,
    ts_ms: String(ts),
    arrived_at: at(arrived),
    updated_at: at(updated),
  });

  const sortKey = (r: NormalizedRow) => JSON.stringify([r.sensor_id, r.value, r.unit, r.ts_ms, r.arrived_at, r.updated_at]);
  const sorted = (rows: NormalizedRow[]) => [...rows].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));

  /** Both readers and our snapshot agree on version, files, row count and rows; returns the rows. */
  async function readGold(dir: string, expected?: NormalizedRow[]) {
    const { snap, rows } = await expectReadersAgree(conn, dir, GOLD.fields, GOLD_CHECKPOINT_APP_ID);
    const duck = { rows, numRows: rows.length };
    const fromStats = [...snap.files.values()].reduce((n, a) => n + JSON.parse(a.stats!).numRecords, 0);
    expect(fromStats).toBe(duck.numRows);
    // One row per key, always.
    expect(new Set(duck.rows.map((r) => `${r.sensor_id}|${r.ts_ms}`)).size).toBe(duck.numRows);
    // The seed's columns; the winner's source position (source_*) is checked where it matters.
    const seed = (rows: NormalizedRow[]) => rows.map(({ source_kafka_ts: _k, source_topic: _t, source_partition: _p, source_offset: _o, ...r }) => r);
    if (expected) expect(sorted(seed(duck.rows))).toEqual(sorted(seed(expected)));
    return { snap, rows: duck.rows };
  }

  const incremental = (t: { bronze: string; gold: string }, extra: Partial<GoldMergeRequest> = {}) =>
    mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: t.gold, mode: { kind: 'incremental' }, ...extra });

  /** Parquet files in the table dir that are neither live nor removed by a commit (lost-attempt orphans). */
  async function orphans(dir: string): Promise<string[]> {
    const snap = await readSnapshot(dir);
    return (await dataFileKeys(dir)).filter((f) => !snap.files.has(f) && !snap.tombstones.has(f));
  }

  describe('merge semantics', () => {
    test('dedup inside a batch, newer arrival across batches, an older replay after a newer value, first arrival kept', async () => {
      const t = await tables();
      expect((await readGold(t.gold, [])).snap.version).toBe(0);

      // Batch 1: duplicates inside the batch.
      //  a@1000: same arrival → the higher offset wins; b@1000: the later arrival wins although its
      //  offset is lower, and arrived_at is the key's first arrival in the batch.
      await appendBronze(t.bronze, [
        { s: 'a', ts: 1000, v: 1, t: 10, offset: 1 },
        { s: 'a', ts: 1000, v: 2, t: 10, offset: 7 },
        { s: 'b', ts: 1000, v: 5, t: 10, offset: 3 },
        { s: 'b', ts: 1000, v: 6, t: 5, offset: 9 },
        { s: 'c', ts: 2000, v: 9, t: 10 },
      ]);
      const r1 = await incremental(t);
      expect(r1).toMatchObject({ mode: 'incremental', bronzeAfterVersion: -1, bronzeToVersion: 1, checkpoint: 1, rowsIn: 5, inserted: 3, updated: 0, commits: 1, goldVersion: 1 });
      expect(r1.perBatch[0].keys).toBe(3);
      await readGold(t.gold, [g('a', 1000, 2, 10, 10), g('b', 1000, 5, 5, 10), g('c', 2000, 9, 10, 10)]);
      expect(await readGoldCheckpoint(t.gold)).toEqual({ bronzeVersion: 1, goldVersion: 1 });

      // Batch 2: a newer value for a (across batches; a unit change too), a new key.
      await appendBronze(t.bronze, [
        { s: 'a', ts: 1000, v: 3, unit: 'F', t: 20 },
        { s: 'd', ts: 1000, v: 4, t: 20 },
      ]);
      const r2 = await incremental(t);
      expect(r2).toMatchObject({ bronzeAfterVersion: 1, bronzeToVersion: 2, rowsIn: 2, inserted: 1, updated: 1, skippedOlder: 0, commits: 1, goldVersion: 2 });
      await readGold(t.gold, [g('a', 1000, 3, 10, 20, 'F'), g('b', 1000, 5, 5, 10), g('c', 2000, 9, 10, 10), g('d', 1000, 4, 20, 20)]);

      // Batch 3: an older replay arriving after the newer value (e.g. stage 2 re-deserializing old
      // raw versions keeps their arrival times): the newest value stays. b's replay carries an even
      // earlier arrival, which becomes its first arrival; its value stays too.
      await appendBronze(t.bronze, [
        { s: 'a', ts: 1000, v: 1, t: 10, offset: 1 },
        { s: 'a', ts: 1000, v: 2, t: 10, offset: 7 },
        { s: 'b', ts: 1000, v: 7, t: 2 },
      ]);
      const r3 = await incremental(t);
      expect(r3).toMatchObject({ rowsIn: 3, inserted: 0, updated: 0, skippedOlder: 2, arrivalBackdated: 1, commits: 1, checkpoint: 3 });
      const after3 = await readGold(t.gold, [g('a', 1000, 3, 10, 20, 'F'), g('b', 1000, 5, 2, 10), g('c', 2000, 9, 10, 10), g('d', 1000, 4, 20, 20)]);

      // Batch 4: only stale rows → nothing changes, but the checkpoint is recorded (a txn-only commit).
      await appendBronze(t.bronze, [{ s: 'd', ts: 1000, v: 0, t: 1 }]);
      const r4 = await incremental(t);
      expect(r4).toMatchObject({ rowsIn: 1, inserted: 0, updated: 0, skippedOlder: 1, arrivalBackdated: 1, filesRewritten: 1 });
      await readGold(t.gold, [g('a', 1000, 3, 10, 20, 'F'), g('b', 1000, 5, 2, 10), g('c', 2000, 9, 10, 10), g('d', 1000, 4, 1, 20)]);
      await appendBronze(t.bronze, [{ s: 'd', ts: 1000, v: 0, t: 30 - 29 }]);
      const r5 = await incremental(t);
      expect(r5).toMatchObject({ rowsIn: 1, skippedOlder: 1, arrivalBackdated: 0, filesRewritten: 0, filesAdded: 0, commits: 1 });
      const snap5 = await readSnapshot(t.gold);
      expect(snap5.appTransactions.get(GOLD_CHECKPOINT_APP_ID)).toBe(5);
      expect([...snap5.files.keys()].sort()).toEqual([...(await readSnapshot(t.gold, snap5.version - 1)).files.keys()].sort());
      expect(after3.snap.version).toBe(3);

      // Order independence: a fresh gold rebuilt from all of bronze in one batch, or one version per
      // batch, equals the incrementally merged one.
      const all = (await readGold(t.gold)).rows;
      for (const maxRowsPerBatch of [1_000_000, 1]) {
        const fresh = joinRoot(t.root, `gold-rebuilt-${maxRowsPerBatch}`);
        await createDeltaTable(fresh, GOLD.fields);
        const rb = await mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: fresh, mode: { kind: 'backfill', afterVersion: -1 }, maxRowsPerBatch });
        expect(rb.batches).toBe(maxRowsPerBatch === 1 ? 5 : 1);
        await readGold(fresh, all);
        // A backfill never sets the scheduled checkpoint.
        expect((await readGoldCheckpoint(fresh)).bronzeVersion).toBeNull();
      }
    });

    test('idempotent: the same batch twice, a run with nothing new, and a backfill of everything change nothing', async () => {
      const t = await tables();
      const v1 = await appendBronzeGrid(t.bronze, ['s1', 's2', 's3'], 0, 100, 'ts_ms / 10', 1);
      await appendBronzeGrid(t.bronze, ['s2'], 50, 150, '-ts_ms', 2);
      const batches = await planBronzeBatches(conn, t.bronze, 0, 2, 250);
      expect(batches.map((b) => [b.afterVersion, b.toVersion, b.rows])).toEqual([
        [0, 1, 300],
        [1, 2, 100],
      ]);
      expect(v1).toBe(1);

      const first = await mergeBatchIntoGold(conn, t.bronze, t.gold, batches[0], { checkpointAppId: GOLD_CHECKPOINT_APP_ID });
      expect(first).toMatchObject({ inserted: 300, goldVersion: 1, alreadyMerged: false, attempts: 1 });
      const before = await readGold(t.gold);
      // The activity died after the commit and retries the very same batch.
      const again = await mergeBatchIntoGold(conn, t.bronze, t.gold, batches[0], { checkpointAppId: GOLD_CHECKPOINT_APP_ID });
      expect(again).toMatchObject({ inserted: 0, updated: 0, goldVersion: null, alreadyMerged: true, removedFiles: [], addedFiles: [] });
      expect((await readGold(t.gold, before.rows)).snap.version).toBe(1);

      const rest = await incremental(t);
      expect(rest).toMatchObject({ bronzeAfterVersion: 1, bronzeToVersion: 2, inserted: 50, updated: 50, commits: 1, goldVersion: 2, checkpoint: 2 });
      const merged = await readGold(t.gold);
      expect(merged.rows.filter((r) => r.sensor_id === 's2' && Number(r.ts_ms) >= 50).every((r) => r.value === -Number(r.ts_ms))).toBe(true);

      const nothing = await incremental(t);
      expect(nothing).toMatchObject({ bronzeAfterVersion: 2, bronzeToVersion: 2, rowsIn: 0, commits: 0, goldVersion: 2, checkpoint: 2 });
      const backfill = await mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: t.gold, mode: { kind: 'backfill', afterVersion: -1 }, maxRowsPerBatch: 120 });
      expect(backfill).toMatchObject({ mode: 'backfill', rowsIn: 400, inserted: 0, updated: 0, commits: 0, goldVersion: 2, checkpoint: 2 });
      expect(backfill.skippedOlder).toBe(400);
      await readGold(t.gold, merged.rows);
      expect(await orphans(t.gold)).toEqual([]);
    });

    test('a workflow checkpoint is used only when the table has none; the table wins when both exist', async () => {
      const t = await tables();
      await appendBronze(t.bronze, [{ s: 'a', ts: 1, v: 1, t: 1 }]);
      await appendBronze(t.bronze, [{ s: 'a', ts: 2, v: 2, t: 2 }]);
      // Fresh gold, workflow says version 1 is merged already: only version 2 is read.
      const r = await mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: t.gold, mode: { kind: 'incremental' }, workflowCheckpoint: 1 });
      expect(r).toMatchObject({ bronzeAfterVersion: 1, bronzeToVersion: 2, inserted: 1, checkpointDisagreement: null });
      await appendBronze(t.bronze, [{ s: 'a', ts: 3, v: 3, t: 3 }]);
      const r2 = await mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: t.gold, mode: { kind: 'incremental' }, workflowCheckpoint: 0 });
      expect(r2).toMatchObject({ bronzeAfterVersion: 2, bronzeToVersion: 3, inserted: 1, checkpointDisagreement: { table: 2, workflow: 0 } });
      await expect(mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: joinRoot(t.root, 'nope'), mode: { kind: 'incremental' } })).rejects.toThrow(/not a Delta table/);
      const g2 = joinRoot(t.root, 'gold2');
      await createDeltaTable(g2, GOLD.fields);
      await expect(mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: g2, mode: { kind: 'incremental' }, workflowCheckpoint: 9 })).rejects.toThrow(
        /checkpoint says bronze version 9 was merged, but .* is at version 3/,
      );
    });
  });

  describe('source order (issue 16 finding 2)', () => {
    /** A fresh bronze/gold pair; each element of `merges` is appended as one bronze version and merged on its own. */
    async function mergeEach(merges: B[][]): Promise<NormalizedRow[]> {
      const t = await tables();
      for (const rows of merges) {
        await appendBronze(t.bronze, rows);
        await incremental(t);
      }
      return sorted((await readGold(t.gold)).rows);
    }

    test('a raw backfill re-landing an old record after a newer correction, or a skewed worker clock, does not change gold', async () => {
      const old: B = { s: 'a', ts: 1000, v: 1, t: 10, k: 10, offset: 1 };
      const correction: B = { s: 'a', ts: 1000, v: 2, t: 20, k: 20, offset: 2 };
      // The backfill lands the very same Kafka record again, now (arrival 100).
      const rows = await mergeEach([[old], [correction], [{ ...old, t: 100 }]]);
      expect(rows).toEqual([{ ...g('a', 1000, 2, 10, 20), source_kafka_ts: at(20), source_topic: 'sensor_readings', source_partition: 0, source_offset: '2' }]);
      // A later record landed by a worker whose clock runs behind: the Kafka position decides, not the arrival.
      const skewed = await mergeEach([[{ s: 'b', ts: 1, v: 1, t: 50, k: 50, offset: 10 }], [{ s: 'b', ts: 1, v: 2, t: 40, k: 60, offset: 11 }]]);
      expect(skewed.map((r) => [r.value, r.arrived_at, r.updated_at])).toEqual([[2, at(40), at(40)]]);
    });

    test('the same rows in any batch order, grouping or repetition give identical gold', async () => {
      const rows: B[] = [
        { s: 'a', ts: 1, v: 1, t: 10, k: 5, partition: 0, offset: 100 },
        { s: 'a', ts: 1, v: 2, t: 10, k: 6, partition: 1, offset: 3 },
        { s: 'a', ts: 1, v: 3, t: 30, k: 6, partition: 0, offset: 101 }, // same Kafka ts: partition decides
        { s: 'a', ts: 1, v: 2, t: 90, k: 6, partition: 1, offset: 3 }, // the winner re-landed later
        { s: 'b', ts: 1, v: 7, t: 10, k: null, partition: 0, offset: 50 }, // no Kafka ts: before every timestamp
        { s: 'b', ts: 1, v: 8, t: 5, k: 1, partition: 0, offset: 2 },
        { s: 'c', ts: 2, v: 9, t: 10, k: 3, partition: 0, offset: 7 },
        { s: 'c', ts: 2, v: 10, t: 10, k: 3, partition: 0, offset: 8 },
      ];
      const oneBatch = await mergeEach([rows]);
      expect(oneBatch.map((r) => [r.sensor_id, r.value, r.arrived_at, r.updated_at])).toEqual([
        ['a', 2, at(10), at(10)],
        ['b', 8, at(5), at(5)],
        ['c', 10, at(10), at(10)],
      ]);
      const orders = [rows.map((r) => [r]), [...rows].reverse().map((r) => [r]), [rows.slice(4), rows.slice(0, 4)], [rows.slice(3), rows, rows.slice(0, 2)]];
      for (const merges of orders) expect(await mergeEach(merges)).toEqual(oneBatch);
    });

    test('a file rewritten for one key keeps its other rows whose winner had no Kafka timestamp', async () => {
      // The rewrite compared every row of the file with its batch version; a row without one (NULL)
      // ranked above a winner without Kafka timestamp, and its values became NULL (the NOT NULL
      // check refused the file: the merge failed on every retry).
      const rows = await mergeEach([
        [
          { s: 'a', ts: 1, v: 1, t: 10, k: null, offset: 1 },
          { s: 'b', ts: 2, v: 2, t: 10, k: 10, offset: 2 },
        ],
        [{ s: 'b', ts: 2, v: 3, t: 20, k: 20, offset: 3 }],
      ]);
      expect(rows.map((r) => [r.sensor_id, r.value, r.arrived_at, r.updated_at, r.source_kafka_ts])).toEqual([
        ['a', 1, at(10), at(10), null],
        ['b', 3, at(10), at(20), at(20)],
      ]);
    });

    test('a tie (same Kafka timestamp) resolves the same inside a batch and across batches', async () => {
      const p0: B = { s: 'a', ts: 1, v: 1, t: 10, k: 10, partition: 0, offset: 9 };
      const p1: B = { s: 'a', ts: 1, v: 2, t: 10, k: 10, partition: 1, offset: 1 };
      const inside = await mergeEach([[p0, p1]]);
      expect(inside.map((r) => r.value)).toEqual([2]);
      expect(await mergeEach([[p0], [p1]])).toEqual(inside);
      expect(await mergeEach([[p1], [p0]])).toEqual(inside);
    });

    test('tables written before the source position existed: ensureTables adds the columns, old rows read NULL and order first', async () => {
      const root = target.newRoot();
      const bronze = tableDir(root, BRONZE);
      const gold = tableDir(root, GOLD);
      const without = (fields: typeof BRONZE.fields, n: number) => fields.slice(0, fields.length - n);
      await createDeltaTable(bronze, without(BRONZE.fields, 1));
      await createDeltaTable(gold, without(GOLD.fields, 4));
      const oldRow = async (v: number, t: number, offset: number) => {
        const add = await writeParquetDataFile(
          conn,
          bronze,
          `SELECT 'a' AS sensor_id, ${v}::DOUBLE AS value, 'C' AS unit, 1::BIGINT AS ts_ms, make_timestamptz(${(T0 + t * 1000) * 1000}::BIGINT) AS arrived_at,
                  'sensor_readings' AS topic, 0::INTEGER AS "partition", ${offset}::BIGINT AS "offset"`,
          without(BRONZE.fields, 1),
        );
        await commitWithRetry(bronze, async () => ({ actions: [addAction(add!)] }));
      };
      await oldRow(1, 10, 1);
      await oldRow(5, 20, 0); // a lower offset that arrived later: the old rule let it win
      // Gold as the former code wrote it (the old arrival rule): b's value from the later arrival.
      const legacy = await writeParquetDataFile(
        conn,
        gold,
        `SELECT 'a' AS sensor_id, 5::DOUBLE AS value, 'C' AS unit, 1::BIGINT AS ts_ms, make_timestamptz(${(T0 + 10_000) * 1000}::BIGINT) AS arrived_at,
                make_timestamptz(${(T0 + 20_000) * 1000}::BIGINT) AS updated_at`,
        without(GOLD.fields, 4),
      );
      await commitWithRetry(gold, async () => ({ actions: [addAction(legacy!), txnAction(GOLD_CHECKPOINT_APP_ID, 2)] }));

      expect(await ensureTables(root, [BRONZE, GOLD])).toEqual([]);
      expect((await readSnapshot(bronze)).metadata.fields).toEqual(BRONZE.fields);
      expect((await readSnapshot(gold)).metadata.fields).toEqual(GOLD.fields);
      expect(await addNullableColumns({ store: openTableStore(gold) }, GOLD.fields)).toBeNull();
      // A legacy gold row (no source position) is compared by the former arrival rule; a new record
      // with a Kafka timestamp is later than the legacy rows (NULL Kafka timestamps order first).
      await appendBronze(bronze, [{ s: 'a', ts: 1, v: 7, t: 15, k: 15, offset: 2 }]);
      await mergeBronzeIntoGold(conn, { bronzeDir: bronze, goldDir: gold, mode: { kind: 'incremental' } });
      await readGold(gold, [g('a', 1, 5, 10, 20)]);
      await appendBronze(bronze, [{ s: 'a', ts: 1, v: 8, t: 25, k: 25, offset: 3 }]);
      await mergeBronzeIntoGold(conn, { bronzeDir: bronze, goldDir: gold, mode: { kind: 'incremental' } });
      await readGold(gold, [g('a', 1, 8, 10, 25)]);
      // A rebuild from all of bronze: the legacy rows (NULL Kafka ts) order before the new ones.
      const fresh = joinRoot(root, 'gold-rebuilt');
      await createDeltaTable(fresh, GOLD.fields);
      await mergeBronzeIntoGold(conn, { bronzeDir: bronze, goldDir: fresh, mode: { kind: 'backfill', afterVersion: -1 } });
      await readGold(fresh, [g('a', 1, 8, 10, 25)]);
      const bronzeRows = await readWithDeltaScan(conn, bronze, BRONZE.fields);
      expect(bronzeRows.rows.filter((r) => r.kafka_ts === null).length).toBe(2);
    });
  });

  describe('copy-on-write', () => {
    test('reads only the files whose ts_ms/sensor_id stats can hold a key, rewrites only those with changes, clusters new files', async () => {
      const t = await tables();
      const layout = { targetRowsPerFile: 100, clusterMs: 1_000_000 };
      const aSensors = Array.from({ length: 10 }, (_, i) => `a-${i}`);
      await appendBronzeGrid(t.bronze, aSensors, 0, 100, 'ts_ms', 1);
      const r1 = await incremental(t, { layout });
      // 1000 rows sorted by (ts_ms, sensor_id), cut in 10 files: file i holds ts 10i..10i+9.
      expect(r1).toMatchObject({ inserted: 1000, filesAdded: 10, filesRewritten: 0 });
      const s1 = (await readGold(t.gold)).snap;
      const tsRange = (p: string) => {
        const st = JSON.parse(s1.files.get(p)!.stats!);
        return [st.minValues.ts_ms, st.maxValues.ts_ms, st.minValues.sensor_id, st.maxValues.sensor_id, st.numRecords];
      };
      const aFiles = [...s1.files.keys()].sort((x, y) => tsRange(x)[0] - tsRange(y)[0]);
      expect(aFiles.map(tsRange)).toEqual(Array.from({ length: 10 }, (_, i) => [10 * i, 10 * i + 9, 'a-0', 'a-9', 100]));

      // Other sensors over the same time range: new keys → new files only, nothing rewritten.
      await appendBronzeGrid(t.bronze, ['b-0', 'b-1', 'b-2', 'b-3', 'b-4'], 0, 100, '1000 + ts_ms', 2);
      const r2 = await incremental(t, { layout });
      expect(r2).toMatchObject({ inserted: 500, updated: 0, filesRewritten: 0, filesAdded: 5 });
      expect(r2.perBatch[0].candidateFiles).toBe(0); // the a-files overlap in ts, but 'b-…' > 'a-9'
      const s2 = (await readGold(t.gold)).snap;

      // Batch 3: a correction to a-3@55 (file 5), a new key a-0@1000 past every file, and a new key
      // a-55@25, inside file 2's ts and sensor ranges (so file 2 is read, but not rewritten).
      await appendBronze(t.bronze, [
        { s: 'a-3', ts: 55, v: -1, t: 3 },
        { s: 'a-0', ts: 1000, v: -2, t: 3 },
        { s: 'a-55', ts: 25, v: -3, t: 3 },
      ]);
      const r3 = await incremental(t, { layout });
      const b3 = r3.perBatch[0];
      expect(b3).toMatchObject({ inserted: 2, updated: 1, skippedOlder: 0 });
      // Read: file 5 and file 2 only — the b-files overlap in ts but not in sensor_id ('a-…' < 'b-0').
      expect(b3.candidateFiles).toBe(2);
      expect(b3.removedFiles).toEqual([aFiles[5]]);
      expect(b3.addedFiles).toHaveLength(2); // file 5 rewritten + one file of new keys (one ts cluster)
      const s3 = (await readGold(t.gold)).snap;
      const live = new Set(s3.files.keys());
      for (const p of s2.files.keys()) expect(live.has(p)).toBe(p !== aFiles[5]);
      const stats = b3.addedFiles.map((p) => JSON.parse(s3.files.get(p)!.stats!));
      expect(stats.map((s) => [s.numRecords, s.minValues.ts_ms, s.maxValues.ts_ms]).sort((x, y) => x[0] - y[0])).toEqual([
        [2, 25, 1000],
        [100, 50, 59],
      ]);
      const [row] = (await conn.runAndReadAll(`SELECT value FROM delta_scan(${sqlString(t.gold)}) WHERE sensor_id = 'a-3' AND ts_ms = 55`)).getRowObjects();
      expect(row.value).toBe(-1);

      // Clustering: new keys spanning three ts clusters land in three files, none spanning two clusters.
      await appendBronze(
        t.bronze,
        [999_999, 1_000_000, 1_500_000, 2_000_000, 2_000_001].map((ts) => ({ s: 'c-0', ts, v: 1, t: 4 })),
      );
      const r4 = await incremental(t, { layout: { targetRowsPerFile: 1_000_000, clusterMs: 1_000_000 } });
      expect(r4.filesAdded).toBe(3);
      const s4 = (await readGold(t.gold)).snap;
      const clusters = r4.perBatch[0].addedFiles.map((p) => {
        const st = JSON.parse(s4.files.get(p)!.stats!);
        return [Math.floor(st.minValues.ts_ms / 1_000_000), Math.floor(st.maxValues.ts_ms / 1_000_000)];
      });
      expect(clusters.sort()).toEqual([
        [0, 0],
        [1, 1],
        [2, 2],
      ]);
      expect(await orphans(t.gold)).toEqual([]);
    });
  });

  describe('a backlog, window by window (src/lake/gold-windows.ts)', () => {
    /**
     * Bronze version `v` (100 rows): sensors s-0..s-4, ts_ms in [1000v, 1000v + 1500) — so keys
     * repeat inside a version and overlap the next one —, every 5th row late into the previous
     * version's range, every 13th without a Kafka timestamp, pairs of rows sharing one Kafka
     * timestamp on two partitions (a tie the partition decides), rows out of ts order.
     */
    async function appendVersion(dir: string, v: number): Promise<void> {
      const add = await writeParquetDataFile(
        conn,
        dir,
        `SELECT 's-' || (hash(i, ${v}) % 5) AS sensor_id, (${v} * 1000 + i)::DOUBLE AS value, 'C' AS unit,
                (CASE WHEN i % 5 = 0 AND ${v} > 0 THEN (${v} - 1) * 1000 + (hash(i * 7, ${v}) % 100) * 10
                      ELSE ${v} * 1000 + (hash(i * 3, ${v}) % 150) * 10 END)::BIGINT AS ts_ms,
                make_timestamptz(${(T0 + 1000) * 1000}::BIGINT + ${v} * 1000000) AS arrived_at, 'sensor_readings' AS topic,
                (i % 2)::INTEGER AS "partition", (${v} * 1000 + i)::BIGINT AS "offset",
                CASE WHEN i % 13 = 0 THEN NULL ELSE make_timestamptz((${T0} + ${v} * 1000 + i // 2) * 1000) END AS kafka_ts
         FROM range(100) r(i) ORDER BY hash(i)`,
        BRONZE.fields,
      );
      await commitWithRetry(dir, async () => ({ actions: [addAction(add!)] }));
    }
    const full = (rows: NormalizedRow[]) => [...rows].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    const small = { targetRowsPerFile: 40, clusterMs: 1000 };

    test('one commit, no file written twice, files within the layout; the same gold as one step and as version by version', async () => {
      const t = await tables();
      const oneStep = joinRoot(t.root, 'gold-one-step');
      const byVersion = joinRoot(t.root, 'gold-by-version');
      await createDeltaTable(oneStep, GOLD.fields);
      await createDeltaTable(byVersion, GOLD.fields);
      const merge = (goldDir: string, maxRowsPerBatch: number) =>
        mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir, mode: { kind: 'incremental' }, maxRowsPerBatch, layout: small });
      const same = async () => {
        const rows = full((await readGold(t.gold)).rows);
        expect(full((await readGold(oneStep)).rows)).toEqual(rows);
        expect(full((await readGold(byVersion)).rows)).toEqual(rows);
        return rows;
      };

      // Gold empty, 6 versions (600 rows) > maxRowsPerBatch 150: windows of ≤ 40 bronze rows.
      for (let v = 0; v < 6; v++) await appendVersion(t.bronze, v);
      const windows: number[] = [];
      const r = await mergeBronzeIntoGold(conn, {
        bronzeDir: t.bronze,
        goldDir: t.gold,
        mode: { kind: 'incremental' },
        maxRowsPerBatch: 150,
        layout: small,
        afterWindow: (_b, done) => void windows.push(done),
      });
      expect(r).toMatchObject({ batches: 1, commits: 1, filesRewritten: 0, rowsIn: 600 });
      expect(windows.length).toBeGreaterThan(15);
      expect(r.perBatch[0].keys).toBe(r.inserted);
      expect((await merge(oneStep, 10_000)).batches).toBe(1); // ≤ maxRowsPerBatch: one step, as before
      expect((await merge(byVersion, 1)).batches).toBe(6); // windows of ≤ 1 row impossible: by versions
      const rows = await same();
      expect(rows.length).toBe(r.inserted);
      const snap = await readSnapshot(t.gold);
      expect(snap.files.size).toBe(r.filesAdded);
      for (const a of snap.files.values()) {
        const st = JSON.parse(a.stats!);
        expect(st.numRecords).toBeLessThanOrEqual(small.targetRowsPerFile);
        expect(Math.floor(st.minValues.ts_ms / small.clusterMs)).toBe(Math.floor(st.maxValues.ts_ms / small.clusterMs));
      }

      // Gold holds keys now: a backlog of late corrections and new keys; windows that gold files
      // overlap are merged copy-on-write, the others written straight.
      for (let v = 6; v < 10; v++) await appendVersion(t.bronze, v);
      const r2 = await merge(t.gold, 150);
      expect(r2).toMatchObject({ batches: 1, commits: 1 });
      expect(r2.filesRewritten).toBeGreaterThan(0);
      expect(r2.updated).toBeGreaterThan(0);
      await merge(oneStep, 10_000);
      await merge(byVersion, 1);
      await same();
      expect(await orphans(t.gold)).toEqual([]);
    });

    test('a gold file spanning the backlog allows no window cut: merged by versions, same gold', async () => {
      const t = await tables();
      const ref = joinRoot(t.root, 'gold-ref');
      await createDeltaTable(ref, GOLD.fields);
      for (let v = 0; v < 3; v++) await appendVersion(t.bronze, v);
      // One file over all of ts 0..3490 (as a compaction would leave it).
      const wide = { targetRowsPerFile: 1_000_000, clusterMs: 1_000_000 };
      await mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: t.gold, mode: { kind: 'incremental' }, layout: wide });
      await mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: ref, mode: { kind: 'incremental' }, layout: wide });
      expect((await readSnapshot(t.gold)).files.size).toBe(1);
      // The same records landed again (a raw backfill) and a new version: 300 rows inside the wide
      // file's range, more than one window may hold (150).
      for (const v of [0, 1, 2, 3]) await appendVersion(t.bronze, v);
      const r = await mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: t.gold, mode: { kind: 'incremental' }, maxRowsPerBatch: 150, layout: small });
      expect(r.batches).toBe(4); // whole versions of ≤ 150 rows, one commit each
      await mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: ref, mode: { kind: 'incremental' }, maxRowsPerBatch: 10_000, layout: small });
      expect(full((await readGold(t.gold)).rows)).toEqual(full((await readGold(ref)).rows));
    });
  });

  describe('concurrency', () => {
    test('refuses a bronze table recreated past the checkpoint instead of silently skipping its first versions (issue 16 finding 1)', async () => {
      const t = await tables();
      await appendBronzeGrid(t.bronze, ['x'], 0, 10, 'ts_ms', 1);
      await incremental(t);
      await removeTable(t.bronze);
      await createDeltaTable(t.bronze, BRONZE.fields);
      for (let i = 0; i < 3; i++) await appendBronzeGrid(t.bronze, ['y'], i * 10, i * 10 + 10, 'ts_ms', 2 + i);
      const before = (await readSnapshot(t.gold)).version;
      const refused = await incremental(t).then(() => null, (e: Error) => e);
      expect(refused).toBeInstanceOf(UpstreamTableChangedError);
      expect(refused!.message).toMatch(/Nothing was written.*move gold\/sensor_readings aside and run mergeGoldWorkflow/);
      expect((await readSnapshot(t.gold)).version).toBe(before);
    });

    test('a cancelled run stops between batches: merged batches stay, the next run resumes from the checkpoint (issue 16 finding 7)', async () => {
      const t = await tables();
      const v1 = await appendBronzeGrid(t.bronze, ['x'], 0, 10, 'ts_ms', 1);
      await appendBronzeGrid(t.bronze, ['y'], 0, 10, 'ts_ms', 2);
      const cancel = new AbortController();
      // Built outside the call: an option the run does not know would otherwise not even compile.
      const extra = { maxRowsPerBatch: 10, signal: cancel.signal, afterBatch: () => cancel.abort(new Error('activity cancelled')) };
      await expect(incremental(t, extra)).rejects.toThrow('activity cancelled');
      expect((await readGoldCheckpoint(t.gold)).bronzeVersion).toBe(v1);
      const rest = await incremental(t);
      expect(rest).toMatchObject({ bronzeAfterVersion: v1, inserted: 10 });
      expect((await readGold(t.gold)).rows).toHaveLength(20);
    });

    test('two mergers racing for a version: the loser rebuilds on the winner snapshot (newest value wins either way)', async () => {
      const t = await tables();
      await appendBronzeGrid(t.bronze, ['x', 'y'], 0, 10, 'ts_ms', 1); // v1
      await incremental(t);
      const v2 = await appendBronze(t.bronze, [{ s: 'x', ts: 5, v: 100, t: 3 }]); // A: an older correction
      const v3 = await appendBronze(t.bronze, [
        { s: 'x', ts: 5, v: 200, t: 4 },
        { s: 'y', ts: 6, v: 300, t: 4 },
      ]); // B: newer
      const base = (await readSnapshot(t.gold)).version;

      let bResult: Awaited<ReturnType<typeof mergeBronzeIntoGold>> | undefined;
      const attemptsSeen: number[] = [];
      const a = await mergeBronzeIntoGold(conn, {
        bronzeDir: t.bronze,
        goldDir: t.gold,
        mode: { kind: 'backfill', afterVersion: v2 - 1, toVersion: v2 },
        beforeCommitAttempt: async (attempt, snapVersion) => {
          attemptsSeen.push(snapVersion);
          if (attempt === 1) {
            // B commits base+1 between A's read and A's commit.
            bResult = await mergeBronzeIntoGold(conn2, { bronzeDir: t.bronze, goldDir: t.gold, mode: { kind: 'backfill', afterVersion: v3 - 1, toVersion: v3 } });
          }
        },
      });
      expect(bResult!.goldVersion).toBe(base + 1);
      expect(attemptsSeen).toEqual([base]); // A's second build found nothing to commit: B's x is newer
      expect(a.perBatch[0]).toMatchObject({ attempts: 2, updated: 0, skippedOlder: 1, goldVersion: null });
      expect(a.goldVersion).toBe(base + 1);
      await readGold(t.gold);
      const x = (await conn.runAndReadAll(`SELECT value FROM delta_scan(${sqlString(t.gold)}) WHERE sensor_id = 'x' AND ts_ms = 5`)).getRowObjects();
      expect(x[0].value).toBe(200);
      expect(await orphans(t.gold)).toEqual([]);

      // The other way round: the newer one (C) loses the race to an older one (D) and must rewrite
      // the file D just wrote — proof that it rebuilt from the new snapshot.
      const v4 = await appendBronze(t.bronze, [{ s: 'y', ts: 7, v: 400, t: 5 }]); // D: older
      const v5 = await appendBronze(t.bronze, [{ s: 'y', ts: 7, v: 500, t: 6 }]); // C: newer
      let dResult: Awaited<ReturnType<typeof mergeBronzeIntoGold>> | undefined;
      const c = await mergeBronzeIntoGold(conn, {
        bronzeDir: t.bronze,
        goldDir: t.gold,
        mode: { kind: 'backfill', afterVersion: v5 - 1, toVersion: v5 },
        beforeCommitAttempt: async (attempt) => {
          if (attempt === 1) dResult = await mergeBronzeIntoGold(conn2, { bronzeDir: t.bronze, goldDir: t.gold, mode: { kind: 'backfill', afterVersion: v4 - 1, toVersion: v4 } });
        },
      });
      const cb = c.perBatch[0];
      expect(cb).toMatchObject({ attempts: 2, updated: 1, goldVersion: base + 3 });
      expect(cb.removedFiles).toEqual(dResult!.perBatch[0].addedFiles);
      const rows = (await readGold(t.gold)).rows;
      expect(rows.find((r) => r.sensor_id === 'y' && r.ts_ms === '7')).toMatchObject({ value: 500, updated_at: at(6), arrived_at: at(1) });
      expect(await orphans(t.gold)).toEqual([]);
    });

    test('two scheduled runs over the same range: one commits, the other finds its txn and commits nothing', async () => {
      const t = await tables();
      await appendBronzeGrid(t.bronze, ['x', 'y'], 0, 10, 'ts_ms', 1);
      let other: Awaited<ReturnType<typeof mergeBronzeIntoGold>> | undefined;
      const r = await incremental(t, {
        beforeCommitAttempt: async (attempt) => {
          if (attempt === 1) other = await mergeBronzeIntoGold(conn2, { bronzeDir: t.bronze, goldDir: t.gold, mode: { kind: 'incremental' } });
        },
      });
      expect(other).toMatchObject({ inserted: 20, commits: 1, goldVersion: 1, checkpoint: 1 });
      expect(r.perBatch[0]).toMatchObject({ attempts: 2, alreadyMerged: true, goldVersion: null });
      expect(r).toMatchObject({ inserted: 0, commits: 0, goldVersion: 1, checkpoint: 1 });
      expect((await readGold(t.gold)).rows).toHaveLength(20);
      expect(await orphans(t.gold)).toEqual([]);
    });
  });

  describe('protocol and log', () => {
    test('refuses a gold table whose protocol or schema it does not implement, with a clear error', async () => {
      const t = await tables();
      await appendBronze(t.bronze, [{ s: 'a', ts: 1, v: 1, t: 1 }]);
      await commitActions(t.gold, 1, [{ protocol: { minReaderVersion: 1, minWriterVersion: 4 } }]);
      const err = await incremental(t).then(
        () => null,
        (e) => e,
      );
      expect(err).toBeInstanceOf(UnsupportedDeltaFeatureError);
      expect(err.message).toMatch(/minWriterVersion 4 requires CHECK constraints/);
      expect(await dataFileKeys(t.gold)).toEqual([]);

      const wrong = joinRoot(t.root, 'wrong');
      await createDeltaTable(wrong, GOLD.fields.filter((f) => f.name !== 'updated_at'));
      await expect(mergeBronzeIntoGold(conn, { bronzeDir: t.bronze, goldDir: wrong, mode: { kind: 'incremental' } })).rejects.toThrow(
        /not the gold schema tributary writes: column updated_at \(timestamp\) is missing/,
      );
    });

    test('many small batches with Delta checkpoints every 3 versions: readers agree, stats from the checkpoint still prune', async () => {
      const t = await tables();
      for (let i = 0; i < 7; i++) await appendBronzeGrid(t.bronze, ['p', 'q'], i * 10, i * 10 + 10, `ts_ms + ${i}`, i + 1);
      const r = await incremental(t, { maxRowsPerBatch: 20, checkpointInterval: 3, layout: { targetRowsPerFile: 20, clusterMs: 1_000_000 } });
      expect(r.commits).toBe(7);
      expect(await keyExists(t.gold, `_delta_log/${'6'.padStart(20, '0')}.checkpoint.parquet`)).toBe(true);
      await readGold(t.gold);
      await appendBronze(t.bronze, [{ s: 'p', ts: 15, v: -15, t: 100 }]);
      const r2 = await incremental(t, { checkpointInterval: 3, layout: { targetRowsPerFile: 20, clusterMs: 1_000_000 } });
      expect(r2.perBatch[0]).toMatchObject({ candidateFiles: 1, updated: 1, removedFiles: [expect.any(String)] });
      const rows = (await readGold(t.gold)).rows;
      expect(rows).toHaveLength(140);
      expect(rows.find((x) => x.sensor_id === 'p' && x.ts_ms === '15')).toMatchObject({ value: -15, updated_at: at(100), arrived_at: at(2) });
      expect((await readGoldCheckpoint(t.gold)).bronzeVersion).toBe(8);
    });
  });
});
