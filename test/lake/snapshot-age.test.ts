/**
 * Snapshots don't grow with the table's age: a table with 200,000 commits and a checkpoint near
 * the end loads (no RangeError from a spread of the listing), and the load touches only log files
 * from the checkpoint on (counted through a TableStore wrapper). A commit on it then advances the
 * per-process snapshot from the new commit alone.
 *
 * Local disk only: a 200,000-commit table is built with a fast local fixture (aged-table.ts); on an emulator it
 * would take minutes. What the load touches is counted at the TableStore seam, so it holds for every store.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { clearSnapshotCache, commit, LocalStore, loadSnapshot, LOG_PREFIX, type TableStore } from '../../src/delta';
import { AGED_APP_ID, buildAgedTable, fastTmpDir } from '../helpers/aged-table';
import { CountingStore } from '../helpers/counting-store';
import { loadDeltaExtension } from '../helpers/deltalake-reader';

const VERSIONS = 200_000;
const CHECKPOINT = 199_990;

let instance: DuckDBInstance;
let conn: DuckDBConnection;
let tmp: string;
let dir: string;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
  conn = await instance.connect();
  await loadDeltaExtension(conn);
  tmp = fs.mkdtempSync(path.join(fastTmpDir(), 'tributary-aged-'));
  dir = path.join(tmp, 'table');
  await buildAgedTable(conn, dir, path.join(tmp, 'seed'), VERSIONS, CHECKPOINT);
}, 600_000);

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The 20-digit version a log key names (NaN for _last_checkpoint). */
const versionOf = (key: string) => Number(key.slice(LOG_PREFIX.length, LOG_PREFIX.length + 20));

function expectOnlyFromCheckpoint(store: CountingStore): void {
  for (const key of store.touched()) {
    if (key === `${LOG_PREFIX}_last_checkpoint`) continue;
    expect(key.startsWith(LOG_PREFIX)).toBe(true);
    expect(versionOf(key)).toBeGreaterThanOrEqual(CHECKPOINT);
  }
}

test('200,000 commits, checkpoint near the end: loads, reading only the files after the checkpoint', async () => {
  clearSnapshotCache();
  const store = new CountingStore(new LocalStore(dir));
  const snap = await loadSnapshot(store);
  expect(snap.version).toBe(VERSIONS - 1);
  expect(snap.files.size).toBe(1);
  expect(snap.appTransactions.get(AGED_APP_ID)).toBe(1);
  expectOnlyFromCheckpoint(store);
  expect(store.reads.filter((k) => k.endsWith('.json'))).toHaveLength(VERSIONS - 1 - CHECKPOINT);
  expect(store.located).toEqual([`${LOG_PREFIX}${String(CHECKPOINT).padStart(20, '0')}.checkpoint.parquet`]);
});

test('a commit goes on top of it; the next commit of the same writer needs no listing, a load lists from there', async () => {
  clearSnapshotCache();
  const store = new CountingStore(new LocalStore(dir));
  const table: { store: TableStore } = { store };
  const done = await commit(table, { plan: async () => ({ actions: [], txns: [{ appId: AGED_APP_ID, expected: 1, next: 2 }] }) });
  expect(done!.version).toBe(VERSIONS);
  expectOnlyFromCheckpoint(store);
  store.reset();
  const next = await commit(table, { plan: async () => ({ actions: [], txns: [{ appId: AGED_APP_ID, expected: 2, next: 3 }] }) });
  expect(next!.version).toBe(VERSIONS + 1);
  // On the snapshot the first commit left: one read (is our version still ours?), no listing.
  expect(store.lists).toEqual([]);
  expect(store.reads).toEqual([`${LOG_PREFIX}${String(VERSIONS).padStart(20, '0')}.json`]);
  store.reset();
  const snap = await loadSnapshot(store);
  expect(snap.version).toBe(VERSIONS + 1);
  expect(snap.appTransactions.get(AGED_APP_ID)).toBe(3);
  // Advanced from the cached snapshot: one listing from its version, nothing else read.
  expect(store.reads).toEqual([]);
  expect(store.located).toEqual([]);
  expect(store.listed.filter((k) => !k.endsWith('_last_checkpoint'))).toEqual([`${LOG_PREFIX}${String(VERSIONS + 1).padStart(20, '0')}.json`]);
});

test('without _last_checkpoint it falls back to listing the whole log and still starts from the checkpoint', async () => {
  clearSnapshotCache();
  fs.renameSync(path.join(dir, '_delta_log', '_last_checkpoint'), path.join(tmp, 'hint'));
  try {
    const store = new CountingStore(new LocalStore(dir));
    const snap = await loadSnapshot(store);
    expect(snap.version).toBe(VERSIONS + 1);
    expect(snap.files.size).toBe(1);
    expect(store.reads.every((k) => k.endsWith('_last_checkpoint') || versionOf(k) > CHECKPOINT)).toBe(true);
  } finally {
    fs.renameSync(path.join(tmp, 'hint'), path.join(dir, '_delta_log', '_last_checkpoint'));
  }
});
