/**
 * src/lake/delta-log.ts against two independent readers: DuckDB's delta extension (delta_scan /
 * ATTACH) and delta-rs (Python `deltalake`). Each test gets its own table dir; the dir names
 * contain a single quote on purpose, to exercise SQL string escaping of paths.
 *
 * Local disk only: these tests craft and damage log files byte by byte on the filesystem (the Delta protocol
 * layer, not a stage); the same code on az:// and s3:// runs in the parameterised lake suites
 * (test/helpers/lake-targets.ts) and the stores' own semantics in object-store.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  Action,
  AddAction,
  DeltaCommitConflictError,
  DeltaField,
  UnsupportedDeltaFeatureError,
  addAction,
  checkpointWithExtension,
  commitActions,
  commitFileName,
  commitWithRetry,
  createDeltaTable,
  dataFilePath,
  readSnapshot,
  removeAction,
  txnAction,
  writeParquetDataFile,
} from '../helpers/delta-dir';
import { sqlIdent, sqlString } from '../../src/delta/sql';
import { duckDBWithDelta, loadDeltaExtension, readWithDeltaScan, readWithDeltalake, NormalizedRow } from '../helpers/deltalake-reader';
import { tempRoots } from '../helpers/temp-root';

const FIELDS: DeltaField[] = [
  { name: 'id', type: 'long', nullable: false },
  { name: 'name', type: 'string', nullable: true },
  { name: 'value', type: 'double', nullable: true },
  { name: 'n', type: 'integer', nullable: true },
  { name: 'ts', type: 'timestamp', nullable: true },
  { name: 'payload', type: 'binary', nullable: true },
  { name: 'ok', type: 'boolean', nullable: true },
];

let instance: DuckDBInstance;
let conn: DuckDBConnection;
let attachSeq = 0;

beforeAll(async () => {
  ({ instance, conn } = await duckDBWithDelta('America/New_York'));
});

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
});

// A quote in the path: SQL built from paths must escape it.
const newRoot = tempRoots("tributary-delta-it's");
const tempTableDir = (): string => path.join(newRoot(), 'table');

async function q(sql: string, c: DuckDBConnection = conn): Promise<Record<string, unknown>[]> {
  return (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

/** Rows (id, name, value, n, ts, payload, ok) as a SELECT; ts given as naive UTC text. */
function valuesSql(rows: [number, string | null, number | null, number | null, string | null, string | null, boolean | null][]): string {
  const lit = (v: unknown) => (v === null ? 'NULL' : typeof v === 'string' ? sqlString(v) : String(v));
  const body = rows
    .map(
      ([id, name, value, n, ts, payloadHex, ok]) =>
        `(${id}::BIGINT, ${lit(name)}::VARCHAR, ${lit(value)}::DOUBLE, ${lit(n)}::INTEGER, ${ts === null ? 'NULL::TIMESTAMP' : `TIMESTAMP ${sqlString(ts)}`}, ${payloadHex === null ? 'NULL::BLOB' : `unhex(${sqlString(payloadHex)})`}, ${lit(ok)}::BOOLEAN)`,
    )
    .join(', ');
  return `SELECT * FROM (VALUES ${body}) AS v(id, name, value, n, ts, payload, ok)`;
}

async function append(dir: string, sql: string, extra: Action[] = []): Promise<{ version: number; add: AddAction }> {
  const add = await writeParquetDataFile(conn, dir, sql, FIELDS);
  if (!add) throw new Error('expected rows');
  const res = await commitWithRetry(dir, async () => ({ actions: [addAction(add), ...extra], commitInfo: { operation: 'WRITE' } }));
  return { version: res!.version, add };
}

async function attach(dir: string): Promise<string> {
  const alias = `t${++attachSeq}`;
  await conn.run(`ATTACH ${sqlString(dir)} AS ${sqlIdent(alias)} (TYPE delta)`);
  return alias;
}

function logLines(dir: string, version: number): Record<string, any>[] {
  return fs
    .readFileSync(path.join(dir, '_delta_log', commitFileName(version)), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}

/** Our snapshot, delta_scan and delta-rs must agree on version, files, row count and rows. */
async function expectReadersAgree(dir: string, version: number, expectedRows?: NormalizedRow[], appIds: string[] = []) {
  const snap = await readSnapshot(dir);
  expect(snap.version).toBe(version);
  const duck = await readWithDeltaScan(conn, dir, FIELDS);
  const py = await readWithDeltalake(dir, { appIds });
  expect(py.version).toBe(version);
  expect(py.numRows).toBe(duck.numRows);
  expect(py.rows).toEqual(duck.rows);
  expect(py.files).toEqual([...snap.files.keys()].sort());
  const rowsFromStats = [...snap.files.values()].reduce((n, a) => n + JSON.parse(a.stats ?? '{"numRecords":0}').numRecords, 0);
  expect(rowsFromStats).toBe(duck.numRows);
  if (expectedRows) expect(duck.rows).toEqual(expectedRows);
  for (const a of appIds) expect(py.appTransactions[a] ?? null).toBe(snap.appTransactions.get(a) ?? null);
  return { snap, duck, py };
}

const row = (
  id: number,
  name: string | null,
  value: number | null,
  n: number | null,
  ts: string | null,
  payload: string | null,
  ok: boolean | null,
): NormalizedRow => ({ id: String(id), name, value, n, ts, payload, ok });

describe('createDeltaTable', () => {
  test('writes version 0 (protocol 1/2, metaData, commitInfo) that both readers accept', async () => {
    const dir = tempTableDir();
    await expect(createDeltaTable(dir, FIELDS, { name: 'test.things', description: 'a test table' })).resolves.toEqual({ created: true, version: 0 });
    const lines = logLines(dir, 0);
    expect(lines.map((l) => Object.keys(l)[0])).toEqual(['commitInfo', 'protocol', 'metaData']);
    expect(lines[1].protocol).toEqual({ minReaderVersion: 1, minWriterVersion: 2 });
    expect(lines[2].metaData).toMatchObject({ partitionColumns: [], configuration: {}, format: { provider: 'parquet', options: {} } });
    expect(typeof lines[2].metaData.createdTime).toBe('number');

    const snap = await readSnapshot(dir);
    expect(snap.version).toBe(0);
    expect(snap.metadata.fields).toEqual(FIELDS);
    expect(snap.files.size).toBe(0);

    const { py } = await expectReadersAgree(dir, 0, []);
    expect(py.protocol).toMatchObject({ minReaderVersion: 1, minWriterVersion: 2 });
    expect(py.schema).toEqual(FIELDS);
    expect(py.metadata).toMatchObject({ name: 'test.things', description: 'a test table', partitionColumns: [] });
    // No temp files left behind in the log.
    expect(fs.readdirSync(path.join(dir, '_delta_log'))).toEqual([commitFileName(0)]);
  });

  test('is idempotent for the same schema and refuses a different one, naming table and difference', async () => {
    const dir = tempTableDir();
    await createDeltaTable(dir, FIELDS);
    await expect(createDeltaTable(dir, FIELDS)).resolves.toEqual({ created: false, version: 0 });
    await append(dir, valuesSql([[1, 'a', 1.5, 1, '2024-01-01 00:00:00', null, true]]));
    await expect(createDeltaTable(dir, FIELDS)).resolves.toEqual({ created: false, version: 1 });

    const changed = FIELDS.map((f) => (f.name === 'value' ? { ...f, type: 'long' as const } : f)).concat([{ name: 'extra', type: 'string', nullable: true }]);
    await expect(createDeltaTable(dir, changed)).rejects.toThrow(
      new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} already exists with a different schema: .*column value is double in the table but long requested.*extra`),
    );
    await expect(createDeltaTable(dir, FIELDS.map((f) => (f.name === 'id' ? { ...f, nullable: true } : f)))).rejects.toThrow(/id is NOT NULL in the table but nullable requested/);
    // Invalid schemas are refused before anything is written.
    await expect(createDeltaTable(tempTableDir(), [{ name: 'a b', type: 'long', nullable: true }])).rejects.toThrow(/forbids/);
    await expect(createDeltaTable(tempTableDir(), [FIELDS[0], { ...FIELDS[0], name: 'ID' }])).rejects.toThrow(/duplicate/);
  });

  test('two concurrent creators: one creates, the other sees created=false', async () => {
    const dir = tempTableDir();
    const results = await Promise.all([createDeltaTable(dir, FIELDS), createDeltaTable(dir, FIELDS), createDeltaTable(dir, FIELDS)]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(results.every((r) => r.version === 0)).toBe(true);
  });
});

describe('writeParquetDataFile + commitActions', () => {
  test('appends a file with exact stats; both readers see the same rows', async () => {
    const dir = tempTableDir();
    await createDeltaTable(dir, FIELDS);
    const sql = valuesSql([
      [1, 'alpha', 1.5, 7, '2024-01-01 00:00:00.123456', 'ff00fe', true],
      [2, "it's", -2.25, null, '2024-03-04 05:06:07.999901', null, false],
      [3, null, null, -3, null, '', null],
    ]);
    const add = await writeParquetDataFile(conn, dir, sql, FIELDS);
    expect(add).not.toBeNull();
    expect(add!.path).toMatch(/^[0-9a-f-]{36}\.parquet$/);
    expect(add!.size).toBe(fs.statSync(path.join(dir, add!.path)).size);
    expect(add!.dataChange).toBe(true);
    expect(JSON.parse(add!.stats!)).toEqual({
      numRecords: 3,
      minValues: { id: 1, name: 'alpha', value: -2.25, n: -3, ts: '2024-01-01T00:00:00.123Z' },
      // max timestamp is rounded UP to the millisecond so that it stays an upper bound
      maxValues: { id: 3, name: "it's", value: 1.5, n: 7, ts: '2024-03-04T05:06:08.000Z' },
      nullCount: { id: 0, name: 1, value: 1, n: 1, ts: 1, payload: 1, ok: 1 },
    });

    await commitActions(dir, 1, [addAction(add!)], { operation: 'WRITE' });
    expect(logLines(dir, 1).map((l) => Object.keys(l)[0])).toEqual(['commitInfo', 'add']);
    await expectReadersAgree(dir, 1, [
      row(1, 'alpha', 1.5, 7, '2024-01-01T00:00:00.123456Z', 'ff00fe', true),
      row(2, "it's", -2.25, null, '2024-03-04T05:06:07.999901Z', null, false),
      row(3, null, null, -3, null, '', null),
    ]);

    // The data file really is TIMESTAMPTZ (UTC-adjusted, µs) and BLOB, as the Delta types require.
    const types = await q(`SELECT name, type, logical_type FROM parquet_schema(${sqlString(path.join(dir, add!.path))}) WHERE name IN ('ts', 'payload')`);
    expect(JSON.stringify(types)).toMatch(/isAdjustedToUTC=1|isAdjustedToUTC=true/i);
  });

  test('stats come from the COPY (Parquet footer), equal to a re-scan of the written file, for the edge cases', async () => {
    // The oracle: Delta stats computed by aggregating the written file (what the writer did before
    // it took them from the footer); the rules of PROTOCOL.md as src/delta/data-files.ts states them.
    const F: DeltaField[] = [
      { name: 'id', type: 'long', nullable: false },
      { name: 'n', type: 'integer', nullable: true },
      { name: 'd', type: 'double', nullable: true },
      { name: `it's_Ünï`, type: 'string', nullable: true },
      { name: 'ts', type: 'timestamp', nullable: true },
      { name: 'b', type: 'binary', nullable: true },
      { name: 'o', type: 'boolean', nullable: true },
    ];
    const rescan = async (file: string): Promise<unknown> => {
      const ISO = `'%Y-%m-%dT%H:%M:%S.%gZ'`;
      const s = sqlIdent(F[3].name);
      const r = (
        await conn.runAndReadAll(`SELECT count(*)::VARCHAR AS n,
            min(id)::VARCHAR AS id0, max(id)::VARCHAR AS id1, min(n)::VARCHAR AS n0, max(n)::VARCHAR AS n1,
            CASE WHEN bool_or(NOT isfinite(d)) THEN NULL ELSE min(d) END AS d0, CASE WHEN bool_or(NOT isfinite(d)) THEN NULL ELSE max(d) END AS d1,
            left(min(${s}), 32) AS s0, CASE WHEN length(max(${s})) <= 32 THEN max(${s}) END AS s1,
            CASE WHEN isfinite(min(ts)) THEN strftime(min(ts) AT TIME ZONE 'UTC', ${ISO}) END AS ts0,
            CASE WHEN isfinite(max(ts)) THEN strftime((max(ts) + INTERVAL 999 MICROSECONDS) AT TIME ZONE 'UTC', ${ISO}) END AS ts1,
            ${F.map((f, i) => `(count(*) - count(${sqlIdent(f.name)}))::INTEGER AS nc${i}`).join(', ')}
          FROM read_parquet(${sqlString(file)})`)
      ).getRowObjectsJson()[0] as Record<string, string | number | null>;
      const pick = (pairs: [string, unknown][]) => Object.fromEntries(pairs.filter(([, v]) => v !== null));
      const num = (v: unknown) => (v === null ? null : Number(v));
      // Through JSON text, as the log holds it (-0 is written 0).
      return JSON.parse(JSON.stringify({
        numRecords: Number(r.n),
        minValues: pick([['id', num(r.id0)], ['n', num(r.n0)], ['d', num(r.d0)], [F[3].name, r.s0], ['ts', r.ts0]]),
        maxValues: pick([['id', num(r.id1)], ['n', num(r.n1)], ['d', num(r.d1)], [F[3].name, r.s1], ['ts', r.ts1]]),
        nullCount: Object.fromEntries(F.map((f, i) => [f.name, r[`nc${i}`]])),
      }));
    };
    const long = (c: string, n: number) => `repeat(${sqlString(c)}, ${n})`;
    const rows = (...r: string[]) => `SELECT * FROM (VALUES ${r.join(', ')}) AS v(id, n, d, ${sqlIdent(F[3].name)}, ts, b, o)`;
    const r = (id: number, n: string, d: string, s: string, ts: string, b = 'NULL::BLOB', o = 'NULL::BOOLEAN') =>
      `(${id}::BIGINT, (${n})::INTEGER, (${d})::DOUBLE, (${s})::VARCHAR, (${ts})::TIMESTAMPTZ, ${b}, ${o})`;
    const cases = [
      // µs timestamps (min truncated, max rounded up across a second), exact doubles, -0.0, ±2^31, a 32-char max
      rows(
        r(1, '-2147483648', '0.1::DOUBLE + 0.2::DOUBLE', `'alpha'`, `'2024-01-01 00:00:00.123456+00'`, `'\\xff'::BLOB`, 'true'),
        r(2, '2147483647', "'-0.0'", long('b', 32), `'2024-03-04 05:06:07.999901+00'`),
        r(9007199254740993, 'NULL', '1e21', `'it''s'`, `'2024-03-04 05:06:07.9995+00'`),
      ),
      // a max longer than the 32-char prefix (omitted), multibyte and over-256-byte strings (cut in the footer)
      rows(r(1, '1', '1.5', long('é', 20), "'1999-12-31 23:59:59+00'"), r(2, '2', '-1e-300', long('🌊', 60), "'2000-01-01 00:00:00+00'")),
      rows(r(1, '1', '2.5', long('a', 300), 'NULL'), r(2, '2', '3.5', long('a', 33), 'NULL')),
      rows(r(1, '1', '2.5', long('€', 31), "'2024-01-01 00:00:00+00'"), r(2, '2', '3.5', `${long('a', 300)} || 'b'`, "'2024-01-01 00:00:00+00'")),
      // NaN, ±Infinity: no double bounds; infinite timestamps: none either; all-NULL columns: only nullCount
      rows(r(1, 'NULL', "'NaN'", 'NULL', "'infinity'"), r(2, 'NULL', '1', 'NULL', "'2024-01-01 00:00:00+00'")),
      rows(r(1, '5', "'Infinity'", `'x'`, "'-infinity'"), r(2, '6', '1', `'y'`, "'2024-01-01 00:00:00+00'")),
      rows(r(1, '5', "'-Infinity'", `''`, 'NULL')),
    ];
    const dir = tempTableDir();
    await createDeltaTable(dir, F);
    for (const sql of cases) {
      const add = await writeParquetDataFile(conn, dir, sql, F);
      expect(JSON.parse(add!.stats!)).toEqual(await rescan(path.join(dir, add!.path)));
    }
    // Where the footer has no bound, none is written (stats are optional; a wrong bound is not):
    // timestamps outside years 1..9999 (BC, a max rounding past 9999-12-31), which readers misparse;
    // a string column whose over-256-byte max DuckDB cannot cut at a character boundary.
    const add = await writeParquetDataFile(
      conn,
      dir,
      rows(r(1, '1', '1', long('é', 200), 'make_timestamptz(-70000000000000000)'), r(2, '1', '1', long('🌊', 100), `'9999-12-31 23:59:59.9999+00'`)),
      F,
    );
    const stats = JSON.parse(add!.stats!);
    expect(stats.minValues).toEqual({ id: 1, n: 1, d: 1 });
    expect(stats.maxValues).toEqual({ id: 2, n: 1, d: 1 });
    expect(stats.nullCount).toEqual({ id: 0, n: 0, d: 0, [F[3].name]: 0, ts: 0, b: 2, o: 2 });
  });

  test('0 rows → null and no file; column mismatch and NOT NULL violations throw and leave no file', async () => {
    const dir = tempTableDir();
    await createDeltaTable(dir, FIELDS);
    const before = fs.readdirSync(dir).sort();
    await expect(writeParquetDataFile(conn, dir, `${valuesSql([[1, 'a', 1, 1, null, null, null]])} WHERE false`, FIELDS)).resolves.toBeNull();
    await expect(writeParquetDataFile(conn, dir, 'SELECT 1::BIGINT AS id, 2 AS other', FIELDS)).rejects.toThrow(/missing: name.*unexpected: other/);
    await expect(writeParquetDataFile(conn, dir, valuesSql([[1, 'a', 1, 1, null, null, null]]).replace('1::BIGINT', 'NULL::BIGINT'), FIELDS)).rejects.toThrow(/id is NOT NULL/);
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  });

  test('time travel: readSnapshot/delta_scan/deltalake at an older version', async () => {
    const dir = tempTableDir();
    await createDeltaTable(dir, FIELDS);
    await append(dir, valuesSql([[1, 'a', 1, 1, '2024-01-01 00:00:00', null, true]]));
    await append(dir, valuesSql([[2, 'b', 2, 2, '2024-01-02 00:00:00', null, true]]));
    const v1 = await readSnapshot(dir, 1);
    expect(v1.version).toBe(1);
    expect(v1.files.size).toBe(1);
    const duck = await readWithDeltaScan(conn, dir, FIELDS, 1);
    const py = await readWithDeltalake(dir, { version: 1 });
    expect(py.version).toBe(1);
    expect(py.rows).toEqual(duck.rows);
    expect(duck.rows.map((r) => r.id)).toEqual(['1']);
    await expect(readSnapshot(dir, 5)).rejects.toThrow(/version 5 does not exist/);
  });
});

describe('DuckDB delta extension on a table created here', () => {
  test('INSERT works; BEGIN; INSERT; INSERT; COMMIT is one version; our commits and its commits interleave', async () => {
    const dir = tempTableDir();
    await createDeltaTable(dir, FIELDS);
    const t = await attach(dir);
    await conn.run(`INSERT INTO ${t} ${valuesSql([[1, 'x', 1, 1, '2024-01-01 00:00:00', 'aa', true]])}`);
    expect((await readSnapshot(dir)).version).toBe(1);

    await conn.run('BEGIN');
    await conn.run(`INSERT INTO ${t} ${valuesSql([[2, 'y', 2, 2, null, null, false]])}`);
    await conn.run(`INSERT INTO ${t} ${valuesSql([[3, 'z', 3, 3, null, null, null]])}`);
    await conn.run('COMMIT');
    const snap2 = await readSnapshot(dir);
    expect(snap2.version).toBe(2);
    expect(logLines(dir, 2).filter((l) => l.add)).toHaveLength(2);
    expect(snap2.protocol).toEqual({ minReaderVersion: 1, minWriterVersion: 2 }); // unchanged by the extension

    // Our writer after the extension, then the extension again after a copy-on-write remove.
    const { add } = await append(dir, valuesSql([[4, 'w', 4, 4, '2024-01-04 00:00:00', null, true]]));
    const first = [...snap2.files.values()].find((a) => logLines(dir, 1).some((l) => l.add?.path === a.path))!;
    await commitWithRetry(dir, async () => ({ actions: [removeAction(first)] }));
    await conn.run(`INSERT INTO ${t} ${valuesSql([[5, 'v', 5, 5, null, null, null]])}`);
    expect((await q(`SELECT list(id ORDER BY id)::VARCHAR AS ids FROM ${t}`))[0].ids).toBe('[2, 3, 4, 5]');
    const { snap } = await expectReadersAgree(dir, 5);
    expect(snap.files.has(add.path)).toBe(true);
    expect(snap.tombstones.has(first.path)).toBe(true);
    await conn.run(`DETACH ${t}`);
  });

  test('txn functions: get/set signatures, compare-and-swap at COMMIT, nothing recorded without appended files', async () => {
    const dir = tempTableDir();
    await createDeltaTable(dir, FIELDS);
    const t = await attach(dir);
    const getV = async (app: string) => (await q(`SELECT version FROM delta_get_transaction_version(${sqlString(t)}, ${sqlString(app)})`))[0].version;
    expect(await getV('stage1')).toBeNull();

    // Safe order: the INSERT is the first statement touching t in the transaction.
    await conn.run('BEGIN');
    await conn.run(`INSERT INTO ${t} ${valuesSql([[1, 'a', null, null, null, null, null]])}`);
    await conn.run(`CALL delta_set_transaction_version(${sqlString(t)}, 'stage1', 10::UBIGINT, NULL::UBIGINT)`);
    await conn.run('COMMIT');
    expect(await getV('stage1')).toBe('10');
    expect(logLines(dir, 1).find((l) => l.txn)?.txn).toMatchObject({ appId: 'stage1', version: 10 });
    expect((await readSnapshot(dir)).appTransactions.get('stage1')).toBe(10);

    // Wrong expected version: COMMIT fails, nothing is committed, its parquet file is deleted.
    const filesBefore = fs.readdirSync(dir).sort();
    await conn.run('BEGIN');
    await conn.run(`INSERT INTO ${t} ${valuesSql([[2, 'b', null, null, null, null, null]])}`);
    await conn.run(`CALL delta_set_transaction_version(${sqlString(t)}, 'stage1', 11::UBIGINT, 9::UBIGINT)`);
    await expect(conn.run('COMMIT')).rejects.toThrow(/did not match the expected previous version of '9' \(found: '10'\)/);
    expect((await readSnapshot(dir)).version).toBe(1);
    expect(fs.readdirSync(dir).sort()).toEqual(filesBefore);

    // CALL with no appended file (autocommit, or 0-row INSERT) records nothing.
    await conn.run(`CALL delta_set_transaction_version(${sqlString(t)}, 'stage1', 12::UBIGINT, 10::UBIGINT)`);
    await conn.run('BEGIN');
    await conn.run(`INSERT INTO ${t} ${valuesSql([[3, 'c', null, null, null, null, null]])} WHERE false`);
    await conn.run(`CALL delta_set_transaction_version(${sqlString(t)}, 'stage1', 12::UBIGINT, 10::UBIGINT)`);
    await conn.run('COMMIT');
    expect((await readSnapshot(dir)).version).toBe(1);
    expect(await getV('stage1')).toBe('10');

    // Our txn actions are visible to the extension and to delta-rs, and vice versa.
    await append(dir, valuesSql([[4, 'd', null, null, null, null, null]]), [txnAction('stage1', 11), txnAction('other', 3)]);
    expect(await getV('stage1')).toBe('11');
    expect(await getV('other')).toBe('3');
    const { py } = await expectReadersAgree(dir, 2, undefined, ['stage1', 'other', 'never']);
    expect(py.appTransactions).toEqual({ stage1: 11, other: 3, never: null });
    await conn.run(`DETACH ${t}`);
  });

  test('racing extension writers: INSERT-then-CALL is a real CAS; CALL-then-INSERT is NOT (documented hazard)', async () => {
    const other = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
    const c2 = await other.connect();
    try {
      await loadDeltaExtension(c2);
      for (const order of ['insert-first', 'call-first'] as const) {
        const dir = tempTableDir();
        await createDeltaTable(dir, FIELDS);
        const t = await attach(dir);
        await c2.run(`ATTACH ${sqlString(dir)} AS racer (TYPE delta)`);
        const set = (alias: string) => `CALL delta_set_transaction_version(${sqlString(alias)}, 'app', 1::UBIGINT, NULL::UBIGINT)`;
        await conn.run('BEGIN');
        if (order === 'insert-first') await conn.run(`INSERT INTO ${t} ${valuesSql([[1, 'mine', null, null, null, null, null]])}`);
        await conn.run(set(t));
        // The racer commits the same batch (same app id, expected NULL) in between.
        await c2.run('BEGIN');
        await c2.run(`INSERT INTO racer ${valuesSql([[2, 'racer', null, null, null, null, null]])}`);
        await c2.run(set('racer'));
        await c2.run('COMMIT');
        if (order === 'call-first') await conn.run(`INSERT INTO ${t} ${valuesSql([[1, 'mine', null, null, null, null, null]])}`);
        if (order === 'insert-first') {
          await expect(conn.run('COMMIT')).rejects.toThrow(/commit conflict at version 1/);
          expect((await readSnapshot(dir)).version).toBe(1);
        } else {
          // The expected-version check used the snapshot bound by the CALL (before the racer), and the
          // commit went to latest+1: both batches landed. If this starts failing, the extension fixed it.
          await conn.run('COMMIT');
          expect((await readSnapshot(dir)).version).toBe(2);
        }
        await conn.run(`DETACH ${t}`);
        await c2.run('DETACH racer');
      }
    } finally {
      c2.closeSync();
      other.closeSync();
    }
  });
});

describe('copy-on-write and concurrency', () => {
  test('rewrite: remove some files and add a replacement in one version', async () => {
    const dir = tempTableDir();
    await createDeltaTable(dir, FIELDS);
    const { add: a } = await append(dir, valuesSql([[1, 'keep', 1, 1, '2024-01-01 00:00:00', null, true], [2, 'keep', 2, 2, null, null, true]]));
    const { add: b } = await append(dir, valuesSql([[3, 'old', 3, 3, null, null, true], [4, 'drop', 4, 4, null, null, true], [5, 'old', 5, 5, null, null, true]]));

    // "UPDATE name='new' WHERE name='old'; DELETE WHERE name='drop'" on file b only.
    const res = await commitWithRetry(dir, async (snap) => {
      const target = snap.files.get(b.path)!;
      const src = sqlString(dataFilePath(dir, target.path));
      const replacement = await writeParquetDataFile(
        conn,
        dir,
        `SELECT id, CASE WHEN name = 'old' THEN 'new' ELSE name END AS name, value, n, ts, payload, ok FROM read_parquet(${src}) WHERE name <> 'drop'`,
        FIELDS,
      );
      return { actions: [removeAction(target), ...(replacement ? [addAction(replacement)] : [])], commitInfo: { operation: 'UPDATE' } };
    });
    expect(res).toEqual({ version: 3 });
    const lines = logLines(dir, 3);
    expect(lines.find((l) => l.remove)?.remove).toMatchObject({ path: b.path, dataChange: true, extendedFileMetadata: true, size: b.size, partitionValues: {} });
    const { snap } = await expectReadersAgree(dir, 3, [
      row(1, 'keep', 1, 1, '2024-01-01T00:00:00.000000Z', null, true),
      row(2, 'keep', 2, 2, null, null, true),
      row(3, 'new', 3, 3, null, null, true),
      row(5, 'new', 5, 5, null, null, true),
    ]);
    expect(snap.files.has(a.path)).toBe(true);
    expect(snap.files.has(b.path)).toBe(false);
    expect(snap.tombstones.has(b.path)).toBe(true);
    // The old file stays on disk for readers of older versions (until vacuum).
    expect(fs.existsSync(path.join(dir, b.path))).toBe(true);
    expect((await readWithDeltaScan(conn, dir, FIELDS, 2)).numRows).toBe(5);

    // A builder that returns null commits nothing; a stale remove is refused.
    await expect(commitWithRetry(dir, async () => null)).resolves.toBeNull();
    await expect(commitWithRetry(dir, async () => ({ actions: [removeAction(b)] }))).rejects.toThrow(/not a live file/);
  });

  test('two writers racing for one version: one wins, the loser gets DeltaCommitConflictError; retry lands next', async () => {
    const dir = tempTableDir();
    await createDeltaTable(dir, FIELDS);
    const f1 = (await writeParquetDataFile(conn, dir, valuesSql([[1, 'w1', null, null, null, null, null]]), FIELDS))!;
    const f2 = (await writeParquetDataFile(conn, dir, valuesSql([[2, 'w2', null, null, null, null, null]]), FIELDS))!;
    const results = await Promise.allSettled([commitActions(dir, 1, [addAction(f1)]), commitActions(dir, 1, [addAction(f2)])]);
    const won = results.findIndex((r) => r.status === 'fulfilled');
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(won).toBeGreaterThanOrEqual(0);
    expect(lost.reason).toBeInstanceOf(DeltaCommitConflictError);
    expect(lost.reason.version).toBe(1);
    expect(fs.readdirSync(path.join(dir, '_delta_log')).sort()).toEqual([commitFileName(0), commitFileName(1)]); // no temp leftovers

    const loser = won === 0 ? f2 : f1;
    let attempts = 0;
    const retried = await commitWithRetry(dir, async (snap) => {
      attempts++;
      if (attempts === 1) {
        // Someone else commits between our read and our commit: forces one retry.
        const sneaky = (await writeParquetDataFile(conn, dir, valuesSql([[3, 'sneaky', null, null, null, null, null]]), FIELDS))!;
        await commitActions(dir, snap.version + 1, [addAction(sneaky)]);
      }
      return { actions: [addAction(loser)] };
    });
    expect(attempts).toBe(2);
    expect(retried).toEqual({ version: 3 });

    // Racing the DuckDB extension for the same version.
    const snap = await readSnapshot(dir);
    const t = await attach(dir);
    await conn.run(`INSERT INTO ${t} ${valuesSql([[4, 'ext', null, null, null, null, null]])}`);
    const f5 = (await writeParquetDataFile(conn, dir, valuesSql([[5, 'ours', null, null, null, null, null]]), FIELDS))!;
    await expect(commitActions(dir, snap.version + 1, [addAction(f5)])).rejects.toBeInstanceOf(DeltaCommitConflictError);
    await expect(commitWithRetry(dir, async () => ({ actions: [addAction(f5)] }))).resolves.toEqual({ version: 5 });
    await conn.run(`DETACH ${t}`);

    // Many concurrent commitWithRetry callers: contiguous versions, nothing lost.
    const many = await Promise.all(
      [6, 7, 8, 9].map(async (id) => {
        const f = (await writeParquetDataFile(conn, dir, valuesSql([[id, 'many', null, null, null, null, null]]), FIELDS))!;
        return commitWithRetry(dir, async () => ({ actions: [addAction(f)] }));
      }),
    );
    expect(many.map((m) => m!.version).sort()).toEqual([6, 7, 8, 9]);
    const { duck } = await expectReadersAgree(dir, 9);
    expect(duck.rows.map((r) => r.id).sort()).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9']);
    await expect(commitActions(dir, 11, [])).rejects.toThrow(/version 10 does not exist/);
  });
});

describe('checkpoints', () => {
  test('snapshot after a DuckDB CHECKPOINT, also once the older JSON commits are gone', async () => {
    const dir = tempTableDir();
    await createDeltaTable(dir, FIELDS, { name: 'cp' });
    const { add: a } = await append(dir, valuesSql([[1, 'a', 1, 1, '2024-01-01 00:00:00', 'ab', true]]), [txnAction('app', 1)]);
    await append(dir, valuesSql([[2, 'b', 2, 2, null, null, false]]), [txnAction('app', 2)]);
    await commitWithRetry(dir, async (snap) => ({ actions: [removeAction(snap.files.get(a.path)!)] }));
    const t = await attach(dir);
    await conn.run(`INSERT INTO ${t} ${valuesSql([[3, 'c', 3, 3, null, null, null]])}`);
    const before = await readSnapshot(dir);
    expect(before.version).toBe(4);

    await expect(checkpointWithExtension(conn, dir)).resolves.toBe(4);
    const logFiles = fs.readdirSync(path.join(dir, '_delta_log'));
    expect(logFiles).toContain('00000000000000000004.checkpoint.parquet');
    expect(JSON.parse(fs.readFileSync(path.join(dir, '_delta_log', '_last_checkpoint'), 'utf8')).version).toBe(4);

    const same = (s: typeof before) => ({
      version: s.version,
      protocol: { minReaderVersion: s.protocol.minReaderVersion, minWriterVersion: s.protocol.minWriterVersion },
      metadata: { id: s.metadata.id, name: s.metadata.name, fields: s.metadata.fields, partitionColumns: s.metadata.partitionColumns, configuration: s.metadata.configuration },
      files: [...s.files.values()].sort((x, y) => x.path.localeCompare(y.path)),
      tombstones: [...s.tombstones.keys()].sort(),
      apps: [...s.appTransactions.entries()],
    });
    // Remove the commits the checkpoint covers (what log cleanup does): the checkpoint must be used.
    for (let v = 0; v <= 4; v++) fs.rmSync(path.join(dir, '_delta_log', commitFileName(v)));
    const fromCheckpoint = await readSnapshot(dir);
    expect(same(fromCheckpoint)).toEqual(same(before));
    await expectReadersAgree(dir, 4, undefined, ['app']);

    // Commits after the checkpoint: checkpoint + JSON tail.
    await append(dir, valuesSql([[5, 'e', 5, 5, null, null, null]]), [txnAction('app', 3)]);
    const after = await readSnapshot(dir);
    expect(after.version).toBe(5);
    expect(after.appTransactions.get('app')).toBe(3);
    const { duck } = await expectReadersAgree(dir, 5, undefined, ['app']);
    expect(duck.rows.map((r) => r.id)).toEqual(['2', '3', '5']);
    await expect(readSnapshot(dir, 3)).rejects.toThrow(/cannot reconstruct version 3/);
    expect((await readSnapshot(dir, 4)).files.size).toBe(2);

    // Plain `CHECKPOINT <alias>` on an ATTACHed table does the same; the newest checkpoint is used.
    await conn.run(`CHECKPOINT ${t}`);
    expect(fs.readdirSync(path.join(dir, '_delta_log'))).toContain('00000000000000000005.checkpoint.parquet');
    fs.rmSync(path.join(dir, '_delta_log', commitFileName(5)));
    expect(same(await readSnapshot(dir))).toEqual(same(after));
    await expectReadersAgree(dir, 5, undefined, ['app']);
    await conn.run(`DETACH ${t}`);
  });
});

describe('refuses what it does not implement', () => {
  const writeV0 = (dir: string, lines: object[]) => {
    fs.mkdirSync(path.join(dir, '_delta_log'), { recursive: true });
    fs.writeFileSync(path.join(dir, '_delta_log', commitFileName(0)), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  };
  const meta = (extra: object = {}, schemaFields: object[] = [{ name: 'id', type: 'long', nullable: true, metadata: {} }]) => ({
    metaData: {
      id: 'x',
      format: { provider: 'parquet', options: {} },
      schemaString: JSON.stringify({ type: 'struct', fields: schemaFields }),
      partitionColumns: [],
      configuration: {},
      ...extra,
    },
  });

  test.each([
    ['deletion vectors', { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['deletionVectors'], writerFeatures: ['deletionVectors'] }, meta()],
    ['column mapping (reader 2)', { minReaderVersion: 2, minWriterVersion: 5 }, meta({ configuration: { 'delta.columnMapping.mode': 'name' } })],
    ['v2 checkpoints', { minReaderVersion: 3, minWriterVersion: 7, readerFeatures: ['v2Checkpoint'], writerFeatures: ['v2Checkpoint'] }, meta()],
    ['unknown types', { minReaderVersion: 1, minWriterVersion: 2 }, meta({}, [{ name: 't', type: 'timestamp_ntz', nullable: true, metadata: {} }])],
  ])('readSnapshot refuses %s', async (_name, protocol, metaData) => {
    const dir = tempTableDir();
    writeV0(dir, [{ protocol }, metaData]);
    await expect(readSnapshot(dir)).rejects.toBeInstanceOf(UnsupportedDeltaFeatureError);
  });

  test('an add with a deletion vector is refused; writer 4 tables can be read but not written', async () => {
    const dir = tempTableDir();
    writeV0(dir, [{ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, meta()]);
    await commitActions(dir, 1, [
      { add: { path: 'x.parquet', partitionValues: {}, size: 1, modificationTime: 1, dataChange: true, deletionVector: { storageType: 'i', pathOrInlineDv: 'abc', sizeInBytes: 1, cardinality: 1 } } },
    ]);
    await expect(readSnapshot(dir)).rejects.toThrow(/deletion vectors/);

    const dir4 = tempTableDir();
    writeV0(dir4, [{ protocol: { minReaderVersion: 1, minWriterVersion: 4 } }, meta()]);
    await expect(readSnapshot(dir4)).resolves.toMatchObject({ version: 0 });
    await expect(commitWithRetry(dir4, async () => ({ actions: [] }))).rejects.toBeInstanceOf(UnsupportedDeltaFeatureError);
    await expect(readSnapshot(tempTableDir())).rejects.toThrow(/not a Delta table/);
  });
});
