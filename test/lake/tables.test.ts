/**
 * The lake foundation: DuckDB opens with the version-checked delta extension; the four tables are
 * created (version 0 written by us), accept INSERTs through the extension, and read back the same
 * through delta_scan and the independent delta-rs reader.
 *
 * Local disk only: the extension checks are about files on this host, and the INSERTs go through the delta
 * extension's own writer, which tributary never uses to write (its commits are put-if-absent through the
 * store). Table creation on az:// and s3:// is done by every parameterised lake suite (ensureTables).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSnapshot } from '../helpers/delta-dir';
import { EXPECTED_DUCKDB_VERSION, LakeSetupError, openDuckDB, readExtensionFooter, type Lake } from '../../src/lake/duckdb';
import { sqlString } from '../../src/delta/sql';
import { ALL_TABLES, BRONZE, DEAD_LETTER, ensureTables, GOLD, RAW, tableDir, type TableDef } from '../../src/lake/tables';
import { deltaExtensionPath, readWithDeltalake, readWithDeltaScan } from '../helpers/deltalake-reader';

const made: string[] = [];
/** A fresh temp directory, removed after the file's tests. */
const tmp = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-tables-'));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A file with a DuckDB extension footer claiming another build. */
function fakeExtension(duckdbVersion: string, platform: string): string {
  const file = path.join(tmp(), 'delta.duckdb_extension');
  const footer = Buffer.alloc(512);
  const put = (i: number, s: string) => footer.write(s, 256 - 32 * (i + 1), 'latin1');
  put(0, '4');
  put(1, platform);
  put(2, duckdbVersion);
  put(3, 'fake');
  put(4, 'CPP');
  fs.writeFileSync(file, Buffer.concat([Buffer.alloc(1024), footer]));
  return file;
}

const ROWS: Record<string, string> = {
  [RAW.name]: `('sensor_readings', 2, 41, TIMESTAMPTZ '2026-01-01 00:00:00.123+00', '{"sensor_id":"a"}', NULL, TIMESTAMPTZ '2026-01-01 00:00:01+00'),
               ('sensor_readings', 0, 7, TIMESTAMPTZ '2026-01-01 00:00:00+00', NULL, '\\xFF\\xFE'::BLOB, TIMESTAMPTZ '2026-01-01 00:00:01+00')`,
  [BRONZE.name]: `('s-1', 21.5, 'C', 1767225600000, TIMESTAMPTZ '2026-01-01 00:00:01+00', 'sensor_readings', 0, 7, TIMESTAMPTZ '2026-01-01 00:00:00.5+00')`,
  [DEAD_LETTER.name]: `('{bad', 'sensor_readings', 1, 3, TIMESTAMPTZ '2026-01-01 00:00:01+00', TIMESTAMPTZ '2026-01-01 00:00:02+00', 12, 'invalid JSON')`,
  [GOLD.name]: `('s-1', 21.5, 'C', 1767225600000, TIMESTAMPTZ '2026-01-01 00:00:01+00', TIMESTAMPTZ '2026-01-01 00:00:01+00',
                  TIMESTAMPTZ '2026-01-01 00:00:00.5+00', 'sensor_readings', 0, 7)`,
};

describe('lake foundation', () => {
  let lake: Lake;
  beforeAll(async () => {
    lake = await openDuckDB();
  });
  afterAll(() => lake.close());

  it('the installed extension matches the embedded DuckDB', () => {
    const footer = readExtensionFooter(deltaExtensionPath());
    expect(footer).toMatchObject({ duckdbVersion: EXPECTED_DUCKDB_VERSION, platform: 'linux_amd64', abi: 'CPP' });
  });

  it.each([
    ['another DuckDB version', 'v1.5.6', 'linux_amd64', /built for DuckDB v1\.5\.6 on linux_amd64.*this is DuckDB v1\.5\.5/],
    ['another platform', 'v1.5.5', 'osx_arm64', /built for DuckDB v1\.5\.5 on osx_arm64/],
  ])('refuses an extension built for %s, before loading it', async (_what, version, platform, message) => {
    const open = openDuckDB({ extensionPath: fakeExtension(version, platform) });
    await expect(open).rejects.toThrow(LakeSetupError);
    await expect(openDuckDB({ extensionPath: fakeExtension(version, platform) })).rejects.toThrow(message);
  });

  it('says how to install the extension when it is missing', async () => {
    await expect(openDuckDB({ extensionPath: path.join(tmp(), 'nope', 'delta.duckdb_extension') })).rejects.toThrow(/npm run stack -- up/);
  });

  it('creates the four tables once, with the seed schema, minimal protocol', async () => {
    const root = tmp();
    expect(await ensureTables(root)).toEqual(ALL_TABLES.map((t) => t.name));
    expect(await ensureTables(root)).toEqual([]); // idempotent
    for (const t of ALL_TABLES) {
      const snap = await readSnapshot(tableDir(root, t));
      expect(snap.version).toBe(0);
      expect(snap.protocol).toMatchObject({ minReaderVersion: 1, minWriterVersion: 2 });
      expect(snap.metadata.fields).toEqual(t.fields);
    }
  });

  it('refuses to reuse a directory holding a table with another schema', async () => {
    const root = tmp();
    await ensureTables(root, [GOLD]);
    const impostor: TableDef = { ...BRONZE, name: GOLD.name };
    await expect(ensureTables(root, [impostor])).rejects.toThrow(/different schema/);
  });

  it.each(ALL_TABLES.map((t) => [t.name, t] as const))('%s: INSERT through the extension, read back by delta_scan and delta-rs', async (_name, table) => {
    const root = tmp();
    await ensureTables(root, [table]);
    const dir = tableDir(root, table);
    const c = lake.connection;
    await c.run(`ATTACH ${sqlString(dir)} AS t (TYPE delta)`);
    try {
      await c.run(`INSERT INTO t VALUES ${ROWS[table.name]}`);
    } finally {
      await c.run('DETACH t');
    }
    const viaDuckDB = await readWithDeltaScan(c, dir, table.fields);
    const viaDeltaRs = await readWithDeltalake(dir);
    expect(viaDeltaRs.version).toBe(1);
    expect(viaDeltaRs.numRows).toBe(viaDuckDB.numRows);
    expect(viaDeltaRs.rows).toEqual(viaDuckDB.rows);
    expect(viaDeltaRs.schema.map((f) => [f.name, f.type])).toEqual(table.fields.map((f) => [f.name, f.type]));
    // The types readers see: timestamps are UTC instants (TIMESTAMPTZ), longs are BIGINT.
    const described = (await c.runAndReadAll(`DESCRIBE SELECT * FROM delta_scan(${sqlString(dir)})`)).getRowObjects();
    const duckType: Record<string, string> = { string: 'VARCHAR', integer: 'INTEGER', long: 'BIGINT', double: 'DOUBLE', timestamp: 'TIMESTAMP WITH TIME ZONE', binary: 'BLOB', boolean: 'BOOLEAN' };
    expect(described.map((d) => [d.column_name, d.column_type])).toEqual(table.fields.map((f) => [f.name, duckType[f.type]]));
  });
});
