/**
 * Delta `date` and `decimal(p,s)` columns written by src/delta read back identically through
 * DuckDB's delta extension (delta_scan, which prunes files by our stats) and delta-rs: NULLs,
 * negative values, the limits of each precision, dates at the edges of what readers parse; after
 * a checkpoint; after adding such columns to an existing table.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  addAction,
  checkpointWithExtension,
  commitFileName,
  commitWithRetry,
  createDeltaTable,
  parseSchemaString,
  readSnapshot,
  schemaStringOf,
  validateFields,
  type DeltaField,
} from '../helpers/delta-dir';
import { addNullableColumns, decimalOf, duckTypeOf, LocalStore, writeParquetDataFile } from '../../src/delta';
import { sqlString } from '../../src/delta/sql';
import { duckDBWithDelta, readWithDeltaScan, readWithDeltalake, sortRows, type NormalizedRow } from '../helpers/deltalake-reader';
import { tempRoots } from '../helpers/temp-root';

const FIELDS: DeltaField[] = [
  { name: 'id', type: 'long', nullable: false },
  { name: 'd', type: 'date', nullable: true },
  { name: 'amount', type: 'decimal(12,2)', nullable: true },
  { name: 'big', type: 'decimal(38,10)', nullable: true },
];

const MAX12 = '9999999999.99';
const MAX38 = '9999999999999999999999999999.9999999999';

/** [id, date, amount, big] as text (exact), in two files so that stats pruning matters. */
const FILE_A: [number, string | null, string | null, string | null][] = [
  [1, '2024-02-29', '12.50', '0.0000000001'],
  [2, '1969-12-31', `-${MAX12}`, `-${MAX38}`],
  [3, null, null, null],
  [4, '0001-01-01', '0.00', '0.0000000000'],
];
const FILE_B: [number, string | null, string | null, string | null][] = [
  [5, '9999-12-31', MAX12, MAX38],
  [6, '1970-01-01', '-0.01', '-123456789012345678.1234567890'],
  [7, '2000-01-01', '1.00', null],
];

let instance: DuckDBInstance;
let conn: DuckDBConnection;

beforeAll(async () => {
  // Nothing may depend on the session zone (dates of instants are UTC dates).
  ({ instance, conn } = await duckDBWithDelta('Asia/Tokyo'));
});

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
});

const newRoot = tempRoots('tributary-delta-types');
const tempTableDir = (): string => path.join(newRoot(), 'table');

/** The rows as a SELECT whose columns are text: writeParquetDataFile casts them to the table's types. */
function valuesSql(rows: typeof FILE_A): string {
  const lit = (v: string | null) => (v === null ? 'NULL' : sqlString(v));
  return `SELECT * FROM (VALUES ${rows.map(([id, d, a, b]) => `(${id}::BIGINT, ${lit(d)}, ${lit(a)}, ${lit(b)})`).join(', ')}) AS v(id, d, amount, big)`;
}

const expected = (rows: typeof FILE_A): NormalizedRow[] => rows.map(([id, d, amount, big]) => ({ id: String(id), d, amount, big }));

async function append(dir: string, rows: typeof FILE_A): Promise<void> {
  const add = await writeParquetDataFile(conn, new LocalStore(dir), valuesSql(rows), FIELDS);
  await commitWithRetry(dir, async () => ({ actions: [addAction(add!)] }));
}

async function count(dir: string, where: string): Promise<number> {
  const r = (await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM delta_scan(${sqlString(dir)}) WHERE ${where}`)).getRowObjects();
  return Number(r[0].n);
}

describe('date and decimal columns', () => {
  test('schema: validated precision/scale, one spelling, DuckDB types, foreign spellings normalised', () => {
    expect(duckTypeOf('date')).toBe('DATE');
    expect(duckTypeOf('decimal(12,2)')).toBe('DECIMAL(12,2)');
    expect(duckTypeOf('decimal(38,10)')).toBe('DECIMAL(38,10)');
    expect(decimalOf('decimal(38,38)')).toEqual({ precision: 38, scale: 38 });
    expect(decimalOf('double')).toBeNull();
    expect(() => validateFields(FIELDS)).not.toThrow();
    for (const bad of ['decimal(39,0)', 'decimal(0,0)', 'decimal(5,6)']) {
      expect(() => validateFields([{ name: 'x', type: bad as DeltaField['type'], nullable: true }])).toThrow(/precision/);
    }
    expect(() => validateFields([{ name: 'x', type: 'decimal(12, 2)' as DeltaField['type'], nullable: true }])).toThrow(/decimal\(12,2\)/);
    expect(() => validateFields([{ name: 'x', type: 'decimal' as DeltaField['type'], nullable: true }])).toThrow(/unsupported type/);
    // Spark's parser accepts blanks inside the parentheses; we read them as the canonical spelling.
    const foreign = JSON.stringify({ type: 'struct', fields: [{ name: 'a', type: 'decimal( 12 , 2 )', nullable: true, metadata: {} }] });
    expect(parseSchemaString(foreign)).toEqual([{ name: 'a', type: 'decimal(12,2)', nullable: true }]);
    expect(() => parseSchemaString(JSON.stringify({ type: 'struct', fields: [{ name: 'a', type: 'decimal(40,2)', nullable: true }] }))).toThrow(/precision/);
    expect(parseSchemaString(schemaStringOf(FIELDS))).toEqual(FIELDS);
  });

  test('both readers read back exactly what was written; stats are exact and prune correctly; a checkpoint keeps it', async () => {
    const dir = tempTableDir();
    await createDeltaTable(dir, FIELDS, { name: 'types' });
    await append(dir, FILE_A);
    await append(dir, FILE_B);

    // The log: Spark's spelling of the types, and stats as Spark writes them.
    const lines = fs
      .readFileSync(path.join(dir, '_delta_log', commitFileName(0)), 'utf8')
      .split('\n')
      .filter((l) => l.includes('metaData'));
    expect(JSON.parse(JSON.parse(lines[0]).metaData.schemaString).fields.map((f: { type: string }) => f.type)).toEqual(['long', 'date', 'decimal(12,2)', 'decimal(38,10)']);
    const addLine = fs
      .readFileSync(path.join(dir, '_delta_log', commitFileName(1)), 'utf8')
      .split('\n')
      .find((l) => l.includes('"add"'))!;
    const stats = JSON.parse(addLine).add.stats as string;
    // Decimals are exact JSON numbers (as text: a JS number cannot hold 38 digits), dates ISO strings.
    expect(stats).toContain(`"minValues":{"id":1,"d":"0001-01-01","amount":-${MAX12},"big":-${MAX38}}`);
    expect(stats).toContain(`"maxValues":{"id":4,"d":"2024-02-29","amount":12.50,"big":0.0000000001}`);
    expect(stats).toContain(`"nullCount":{"id":0,"d":1,"amount":1,"big":1}`);

    const all = sortRows(expected([...FILE_A, ...FILE_B]), ['id', 'd', 'amount', 'big']);
    const duck = await readWithDeltaScan(conn, dir, FIELDS);
    const py = await readWithDeltalake(dir);
    expect(duck.rows).toEqual(all);
    expect(py.rows).toEqual(all);
    expect(py.schema.map((f) => f.type)).toEqual(['long', 'date', 'decimal(12,2)', 'decimal(38,10)']);
    const described = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM delta_scan(${sqlString(dir)})`)).getRowObjects();
    expect(described.map((r) => String(r.column_type))).toEqual(['BIGINT', 'DATE', 'DECIMAL(12,2)', 'DECIMAL(38,10)']);

    // delta_scan skips files by these stats: every predicate must still find its rows.
    const probes = async () => {
      expect(await count(dir, `amount = ${MAX12}`)).toBe(1);
      expect(await count(dir, `amount = -${MAX12}`)).toBe(1);
      expect(await count(dir, `amount BETWEEN -0.01 AND 0.00`)).toBe(2);
      expect(await count(dir, `big = ${MAX38}`)).toBe(1);
      expect(await count(dir, `big = 0.0000000001`)).toBe(1);
      expect(await count(dir, `big < -123456789012345678.1234567889`)).toBe(2);
      expect(await count(dir, `d = DATE '9999-12-31'`)).toBe(1);
      expect(await count(dir, `d = DATE '0001-01-01'`)).toBe(1);
      expect(await count(dir, `d BETWEEN DATE '1969-12-31' AND DATE '1970-01-01'`)).toBe(2);
      expect(await count(dir, `d IS NULL`)).toBe(1);
    };
    await probes();

    // Through a checkpoint (written by the extension, read by our snapshot, delta_scan and delta-rs).
    const before = await readSnapshot(dir);
    await expect(checkpointWithExtension(conn, dir)).resolves.toBe(2);
    for (let v = 0; v <= 2; v++) fs.rmSync(path.join(dir, '_delta_log', commitFileName(v)));
    const after = await readSnapshot(dir);
    expect(after.metadata.fields).toEqual(FIELDS);
    // The stats text survives the checkpoint byte for byte (a 38-digit decimal must not become a double).
    expect([...after.files.values()].map((a) => a.stats).sort()).toEqual([...before.files.values()].map((a) => a.stats).sort());
    expect((await readWithDeltaScan(conn, dir, FIELDS)).rows).toEqual(all);
    expect((await readWithDeltalake(dir)).rows).toEqual(all);
    await probes();
  });

  test('an instant becomes its UTC date whatever the session zone; stats skip dates readers cannot parse', async () => {
    const dir = tempTableDir();
    const fields: DeltaField[] = [
      { name: 'id', type: 'long', nullable: false },
      { name: 'd', type: 'date', nullable: true },
    ];
    await createDeltaTable(dir, fields);
    const store = new LocalStore(dir);
    // 2024-03-01T20:00Z is already March 2nd in Tokyo (the session zone): the Delta date is the UTC one.
    const add = await writeParquetDataFile(conn, store, `SELECT 1::BIGINT AS id, TIMESTAMPTZ '2024-03-01 20:00:00+00' AS d`, fields);
    expect(JSON.parse(add!.stats!).minValues.d).toBe('2024-03-01');
    // Year 10000 is a valid DuckDB date but not one Spark or Python parse: no bound rather than a wrong one.
    const far = await writeParquetDataFile(conn, store, `SELECT 2::BIGINT AS id, DATE '10000-01-01' AS d UNION ALL SELECT 3, DATE '2000-01-01'`, fields);
    const s = JSON.parse(far!.stats!);
    expect(s.minValues).toEqual({ id: 2, d: '2000-01-01' });
    expect(s.maxValues).toEqual({ id: 3 });
    await store.delete(far!.path);
    await commitWithRetry(dir, async () => ({ actions: [addAction(add!)] }));
    expect((await readWithDeltalake(dir)).rows).toEqual([{ id: '1', d: '2024-03-01' }]);
  });

  test('date and decimal columns added to an existing table: old rows read NULL in both readers', async () => {
    const dir = tempTableDir();
    const base = FIELDS.slice(0, 1);
    await createDeltaTable(dir, base);
    const store = new LocalStore(dir);
    const old = await writeParquetDataFile(conn, store, `SELECT 1::BIGINT AS id`, base);
    await commitWithRetry(dir, async () => ({ actions: [addAction(old!)] }));
    await expect(addNullableColumns({ store }, FIELDS)).resolves.toBe(2);
    await append(dir, FILE_B);
    const want = sortRows([{ id: '1', d: null, amount: null, big: null }, ...expected(FILE_B)], ['id', 'd', 'amount', 'big']);
    expect((await readWithDeltaScan(conn, dir, FIELDS)).rows).toEqual(want);
    expect((await readWithDeltalake(dir)).rows).toEqual(want);
    expect(await count(dir, `amount IS NULL`)).toBe(1);
  });
});
