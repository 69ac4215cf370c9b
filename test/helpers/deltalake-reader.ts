/**
 * Test helpers that read a Delta table two independent ways and return comparable results:
 *  - readWithDeltalake: the Python `deltalake` package (delta-rs), via test/helpers/deltalake_read.py;
 *  - readWithDeltaScan: DuckDB's delta extension `delta_scan`.
 * Both normalise values the same way (see deltalake_read.py) and sort rows, so tests can compare
 * them with toEqual. Missing tools fail loudly: a test that silently skipped would prove nothing.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { readSnapshot, type DeltaField, type DeltaPrimitive, type Snapshot } from './delta-dir';
import { safeDuckPath, sqlIdent, sqlString } from '../../src/delta/sql';
import { parseStoreUrl, storeUrl } from '../../src/delta/store-config';
import { objectStoreTargets } from './object-stores';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const STACK_DIR = path.resolve(REPO_ROOT, process.env.STACK_DIR ?? '.stack');
const FALLBACK_VENV_PYTHON = '/tmp/deltalake-venv/bin/python';
const FALLBACK_DELTA_EXTENSION = '/tmp/probe/ext/duckdb_extension_delta/extensions/v1.5.5/delta.duckdb_extension';

export type NormalizedValue = string | number | boolean | null;
export type NormalizedRow = Record<string, NormalizedValue>;

export interface DeltalakeReadResult {
  version: number;
  numRows: number;
  rows: NormalizedRow[];
  protocol: { minReaderVersion: number; minWriterVersion: number; readerFeatures: string[] | null; writerFeatures: string[] | null };
  schema: { name: string; type: string; nullable: boolean }[];
  metadata: { id: string; name: string | null; description: string | null; partitionColumns: string[]; configuration: Record<string, string> };
  /** Live data files, relative to the table dir, sorted. */
  files: string[];
  /** appId → txn version (null if never set), for the app ids asked for. */
  appTransactions: Record<string, number | null>;
}

/** DELTALAKE_PYTHON, else the stack's venv, else /tmp/deltalake-venv; throws if none exists. */
export function deltalakePython(): string {
  const fromEnv = process.env.DELTALAKE_PYTHON;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`DELTALAKE_PYTHON=${fromEnv} does not exist`);
    return fromEnv;
  }
  const candidates = [path.join(STACK_DIR, 'venv', 'bin', 'python'), FALLBACK_VENV_PYTHON];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new Error(
      `no Python with the 'deltalake' package: set DELTALAKE_PYTHON, run 'npm run stack -- up', or ` +
        `'python3 -m venv /tmp/deltalake-venv && /tmp/deltalake-venv/bin/pip install deltalake pyarrow' (looked at ${candidates.join(', ')})`,
    );
  }
  return found;
}

/** DELTA_EXTENSION_PATH, else the stack's copy, else the probe download; throws if none exists. */
export function deltaExtensionPath(): string {
  const fromEnv = process.env.DELTA_EXTENSION_PATH;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`DELTA_EXTENSION_PATH=${fromEnv} does not exist`);
    return fromEnv;
  }
  const candidates = [path.join(STACK_DIR, 'duckdb', 'v1.5.5', 'delta.duckdb_extension'), FALLBACK_DELTA_EXTENSION];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`delta extension not found: set DELTA_EXTENSION_PATH (looked at ${candidates.join(', ')})`);
  return found;
}

export async function loadDeltaExtension(conn: DuckDBConnection): Promise<void> {
  await conn.run(`LOAD ${sqlString(safeDuckPath(deltaExtensionPath()))}`);
}

/**
 * An in-memory DuckDB with the delta extension loaded and a session time zone other than UTC, so that a
 * test shows nothing depends on the zone (TimeZone can't be a create option in 1.5.5).
 */
export async function duckDBWithDelta(timeZone: string): Promise<{ instance: DuckDBInstance; conn: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
  const conn = await instance.connect();
  await conn.run(`SET TimeZone = ${sqlString(timeZone)}`);
  await loadDeltaExtension(conn);
  return { instance, conn };
}

/** Sorts rows by their JSON text in schema column order (the same on both sides). */
export function sortRows(rows: NormalizedRow[], columns?: string[]): NormalizedRow[] {
  const keyed = rows.map((r) => {
    const cols = columns ?? Object.keys(r);
    const ordered: NormalizedRow = {};
    for (const c of cols) ordered[c] = r[c] ?? null;
    return { key: JSON.stringify(ordered), row: ordered };
  });
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map((k) => k.row);
}

export interface DeltalakeReadOptions {
  version?: number;
  appIds?: string[];
  /**
   * delta-rs storage options for az:// / s3:// tables (passed in the environment, not argv) and extra env;
   * default: the local stack's object store of the table's scheme (test/helpers/object-stores.ts).
   */
  storage?: { options: Record<string, string>; env?: Record<string, string> };
}

export function readWithDeltalake(tableDir: string, opts: DeltalakeReadOptions = {}, attempt = 1): Promise<DeltalakeReadResult> {
  const python = deltalakePython();
  const script = path.join(__dirname, 'deltalake_read.py');
  const args = [script, tableDir];
  if (opts.version !== undefined) args.push('--version', String(opts.version));
  for (const a of opts.appIds ?? []) args.push('--app-id', a);
  const scheme = /^([a-z0-9]+):\/\//.exec(tableDir)?.[1];
  const storage = opts.storage ?? (scheme ? objectStoreTargets().find((t) => t.scheme === scheme)?.deltalake : undefined);
  return new Promise((resolve, reject) => {
    const env = storage ? { ...process.env, ...storage.env, DELTALAKE_STORAGE_OPTIONS: JSON.stringify(storage.options) } : process.env;
    execFile(python, args, { maxBuffer: 256 * 1024 * 1024, timeout: 120_000, env }, (err, stdout, stderr) => {
      if (err) {
        // delta-rs' runtime has aborted the Python process once under CI load ("terminate called
        // without an active exception"); that is the reader crashing, not an answer about the
        // table, so it gets one more try. Any other failure is reported as is.
        if (attempt === 1 && (err.signal === 'SIGABRT' || /terminate called/.test(stderr))) {
          readWithDeltalake(tableDir, opts, 2).then(resolve, reject);
          return;
        }
        reject(new Error(`deltalake reader failed (${python}): ${stderr.trim() || err.message}`));
        return;
      }
      try {
        const out = JSON.parse(stdout) as DeltalakeReadResult;
        out.rows = sortRows(out.rows, out.schema.map((f) => f.name));
        resolve(out);
      } catch (e) {
        reject(new Error(`deltalake reader printed invalid JSON: ${(e as Error).message}: ${stdout.slice(0, 500)}`));
      }
    });
  });
}

function normalizedExpr(name: string, type: DeltaPrimitive): string {
  const c = sqlIdent(name);
  switch (type) {
    case 'long':
      return `CAST(${c} AS VARCHAR)`;
    case 'timestamp':
      return `strftime(${c} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')`;
    case 'binary':
      return `lower(hex(${c}))`;
    case 'date':
      return `strftime(${c}, '%Y-%m-%d')`;
    default:
      // decimal(p,s): exact text with all s digits, as the Python side prints it
      return type.startsWith('decimal(') ? `CAST(${c} AS VARCHAR)` : c;
  }
}

/** Rows through DuckDB's `delta_scan` (extension must be loaded), normalised like the Python side. */
export async function readWithDeltaScan(
  conn: DuckDBConnection,
  tableDir: string,
  fields: DeltaField[],
  version?: number,
): Promise<{ numRows: number; rows: NormalizedRow[] }> {
  // az:// and s3:// roots go in as they are (validated by parseStoreUrl); local paths are made absolute and checked.
  const dir = sqlString(/^[a-z0-9]+:\/\//.test(tableDir) ? storeUrl(parseStoreUrl(tableDir)) : safeDuckPath(tableDir));
  const from = version === undefined ? `delta_scan(${dir})` : `delta_scan(${dir}, version => ${Math.trunc(version)})`;
  const cols = fields.map((f) => `${normalizedExpr(f.name, f.type)} AS ${sqlIdent(f.name)}`).join(', ');
  const rows = (await conn.runAndReadAll(`SELECT ${cols} FROM ${from}`)).getRowObjectsJson() as NormalizedRow[];
  return { numRows: rows.length, rows: sortRows(rows, fields.map((f) => f.name)) };
}

/**
 * Our snapshot, DuckDB's delta_scan and delta-rs agree on version, live files, row count, rows and
 * the given txn app id; returns the snapshot and the (sorted) rows.
 */
export async function expectReadersAgree(conn: DuckDBConnection, tableDir: string, fields: DeltaField[], appId: string): Promise<{ snap: Snapshot; rows: NormalizedRow[] }> {
  const snap = await readSnapshot(tableDir);
  const duck = await readWithDeltaScan(conn, tableDir, fields);
  const py = await readWithDeltalake(tableDir, { appIds: [appId] });
  expect(py.version).toBe(snap.version);
  expect(py.numRows).toBe(duck.numRows);
  expect(py.rows).toEqual(duck.rows);
  expect(py.files).toEqual([...snap.files.keys()].sort());
  expect(py.appTransactions[appId]).toBe(snap.appTransactions.get(appId) ?? null);
  return { snap, rows: duck.rows };
}
