/**
 * The Delta maintenance operations (src/delta: optimize, vacuum, log cleanup, table properties) on
 * real tables, read back through DuckDB's delta_scan and delta-rs. No pipeline stages here (see
 * maintenance.test.ts for those); the clock is passed in (`now`) instead of waiting days.
 *
 * Local disk only: orphan files are aged with utimes(2), which an object store does not allow (the server sets
 * Last-Modified), and the 500-commit compaction would take minutes on an emulator. Compaction, vacuum and log
 * cleanup on az:// and s3:// run with the stages in maintenance.test.ts (parameterised over the stores).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  addNullableColumns,
  addedFilesSince,
  cleanupLog,
  clearSnapshotCache,
  commit,
  compact,
  createTable,
  DAY_MS,
  extensionCheckpointer,
  LocalStore,
  loadSnapshot,
  parseInterval,
  planCompaction,
  planLogCleanup,
  readCommit,
  vacuum,
  VacuumRetentionError,
  writeParquetDataFile,
  type DeltaField,
  type DeltaTable,
} from '../../src/delta';
import { openDuckDB, type Lake } from '../../src/lake/duckdb';
import { readWithDeltalake, readWithDeltaScan } from '../helpers/deltalake-reader';
import { tempRoots } from '../helpers/temp-root';

const FIELDS: DeltaField[] = [
  { name: 'topic', type: 'string', nullable: false },
  { name: 'partition', type: 'integer', nullable: false },
  { name: 'offset', type: 'long', nullable: false },
  { name: 'raw_payload', type: 'string', nullable: true },
  { name: 'arrived_at', type: 'timestamp', nullable: false },
];
const APP = 'tributary.raw/t/0';

let lake: Lake;
const newTempRoot = tempRoots('tributary-maint');
beforeAll(async () => {
  lake = await openDuckDB({ memoryLimit: '1GB' });
});
afterAll(() => {
  lake?.close();
});

async function newTable(configuration: Record<string, string> = {}): Promise<DeltaTable> {
  const root = newTempRoot();
  const store = new LocalStore(root);
  await createTable(store, FIELDS, { configuration });
  return { store, checkpointer: extensionCheckpointer(lake.connection) };
}

/** One append commit of `rows` rows with offsets from `from`, advancing the txn like stage 1. */
async function append(table: DeltaTable, from: number, rows: number): Promise<number> {
  const add = await writeParquetDataFile(
    lake.connection,
    table.store,
    `SELECT 't' AS topic, 0 AS "partition", i AS "offset", 'payload-' || i AS raw_payload, TIMESTAMPTZ '2026-11-30 12:00:00+00' + i * INTERVAL 1 SECOND AS arrived_at
       FROM range(${from}, ${from + rows}) r(i)`,
    FIELDS,
  );
  const c = await commit(table, {
    plan: async (snap) => ({ actions: [{ add: add! }], txns: [{ appId: APP, expected: snap.appTransactions.get(APP), next: from + rows }] }),
  });
  return c!.version;
}

const read = (table: DeltaTable, version?: number) => readWithDeltaScan(lake.connection, table.store.root, FIELDS, version);

describe('compaction (OPTIMIZE)', () => {
  it('500 small commits become a handful of files with the same rows, txn and readers agreeing; the change feed skips it', async () => {
    const table = await newTable({ 'delta.checkpointInterval': '100' });
    for (let i = 0; i < 500; i++) await append(table, i * 3, 3);
    const before = await read(table);
    const snapBefore = await loadSnapshot(table.store);
    expect(snapBefore.files.size).toBe(500);

    const r = await compact(table, lake.connection);
    expect(r.filesRemoved).toBe(500);
    expect(r.filesAdded).toBeLessThanOrEqual(5);
    const snap = await loadSnapshot(table.store);
    expect(snap.files.size).toBe(r.filesAdded);
    expect(snap.appTransactions.get(APP)).toBe(1500);

    const after = await read(table);
    expect(after).toEqual(before);
    const py = await readWithDeltalake(table.store.root, { appIds: [APP] });
    expect(py.rows).toEqual(after.rows);
    expect(py.files).toEqual([...snap.files.keys()].sort());
    expect(py.appTransactions[APP]).toBe(1500);

    // Delta's OPTIMIZE shape: dataChange=false on both sides, commitInfo operation OPTIMIZE.
    const actions = await readCommit(table.store, snap.version);
    expect(actions.find((a) => 'commitInfo' in a)).toMatchObject({ commitInfo: { operation: 'OPTIMIZE' } });
    for (const a of actions) {
      if ('add' in a) expect(a.add.dataChange).toBe(false);
      if ('remove' in a) expect(a.remove.dataChange).toBe(false);
    }
    const feed = await addedFilesSince(table.store, snapBefore.version, snap.version);
    expect(feed).toEqual([{ version: snap.version, adds: [] }]);

    // Nothing small left to merge: a second run is a no-op.
    expect((await compact(table, lake.connection)).versions).toEqual([]);
  }, 300_000);

  it('compacts files written before a column was added (they read it as NULL), whether the bin has newer files or not', async () => {
    const table = await newTable();
    for (let i = 0; i < 3; i++) await append(table, i * 3, 3);
    // a column added in the middle (Delta readers match by name), then rows that have it
    const wider: DeltaField[] = [...FIELDS.slice(0, 3), { name: 'added', type: 'string', nullable: true }, ...FIELDS.slice(3)];
    await addNullableColumns(table, wider);
    const add = await writeParquetDataFile(lake.connection, table.store, `SELECT 't' AS topic, 0 AS "partition", 9::BIGINT AS "offset", 'x' AS added, 'p' AS raw_payload, TIMESTAMPTZ '2026-11-30 12:00:00+00' AS arrived_at`, wider);
    await commit(table, { plan: async () => ({ actions: [{ add: add! }] }) });
    const before = await readWithDeltaScan(lake.connection, table.store.root, wider);
    const r = await compact(table, lake.connection);
    expect(r.filesRemoved).toBe(4);
    const after = await readWithDeltaScan(lake.connection, table.store.root, wider);
    expect(after.rows).toEqual(before.rows);
    expect(after.rows.filter((x) => x.added === 'x')).toHaveLength(1);
    // only old files in the bin: the column is in none of them
    const old = await newTable();
    for (let i = 0; i < 3; i++) await append(old, i * 3, 3);
    await addNullableColumns(old, wider);
    expect((await compact(old, lake.connection)).filesRemoved).toBe(3);
    expect((await readWithDeltaScan(lake.connection, old.store.root, wider)).rows.every((x) => x.added === null)).toBe(true);
  });

  it('plans bins near the target, never merges across groups, leaves big and ineligible files alone', () => {
    const mk = (p: string, size: number, t: number) => ({ path: p, size, modificationTime: t, dataChange: true, partitionValues: {} });
    const files = new Map([
      ['a', mk('a', 40, 1)],
      ['b', mk('b', 40, 2)],
      ['c', mk('c', 40, 3)],
      ['d', mk('d', 500, 4)], // big: stays
      ['e', mk('e', 10, 5)], // other group
      ['f', mk('f', 10, 6)],
      ['g', mk('g', 10, 7)], // not eligible
    ]);
    const plan = planCompaction(
      { files, metadata: { configuration: {} } as never },
      { targetFileSize: 100, groupOf: (f) => (f.path < 'e' ? 'x' : 'y'), eligible: (f) => f.path !== 'g' },
    );
    expect(plan.minFileSize).toBe(75);
    expect(plan.bins.map((b) => b.inputs.map((f) => f.path))).toEqual([['a', 'b'], ['e', 'f']]);
  });

  it('re-plans when a racer removed an input; a concurrent append does not conflict', async () => {
    const table = await newTable();
    for (let i = 0; i < 6; i++) await append(table, i * 2, 2);
    const victim = [...(await loadSnapshot(table.store)).files.values()][0];
    let raced = false;
    const racy: DeltaTable = {
      ...table,
      observer: {
        // Before compaction's first commit attempt: one append and one rewrite that drops an input.
        beforeCommit: async (e) => {
          if (raced || e.commitInfo.operation !== 'OPTIMIZE') return;
          raced = true;
          await append(table, 100, 2);
          await commit(table, { plan: async () => ({ actions: [{ remove: { path: victim.path, dataChange: true, deletionTimestamp: Date.now() } }] }) });
        },
      },
    };
    const before = await read(table);
    const r = await compact(racy, lake.connection);
    expect(raced).toBe(true);
    expect(r.binsLostToRacers).toBe(1);
    expect(r.versions.length).toBe(1); // the second round compacts what is left
    const snap = await loadSnapshot(table.store);
    // 5 old files + the racer's append are merged into one.
    expect(snap.files.size).toBe(1);
    const victimRows = before.rows.filter((row) => Number(row.offset) < 2).length;
    expect((await read(table)).numRows).toBe(before.numRows - victimRows + 2);
    // On disk: the 6 inputs (removed, kept for time travel), the racer's file and the one output;
    // the output of the dropped first-round bin was deleted.
    const data = fs.readdirSync(table.store.root).filter((n) => n.endsWith('.parquet'));
    expect(data.length).toBe(8);
  }, 120_000);
});

describe('vacuum', () => {
  it('keeps files inside the retention (time travel reads), deletes exactly the expired unreferenced ones, refuses a short retention unless forced', async () => {
    const table = await newTable();
    for (let i = 0; i < 4; i++) await append(table, i * 2, 2);
    const v4 = (await loadSnapshot(table.store)).version;
    const atV4 = await read(table, v4);
    const inputs = [...(await loadSnapshot(table.store)).files.keys()];
    await compact(table, lake.connection);
    // Checkpointed and loaded cold: the tombstones must come through the checkpoint.
    await table.checkpointer!(table.store);
    clearSnapshotCache();
    // An orphan: a data file no version references (a crashed writer's), written 10 days ago.
    const orphan = path.join(table.store.root, 'orphan-0000.parquet');
    fs.copyFileSync(path.join(table.store.root, inputs[0]), orphan);
    const tenDaysAgo = new Date(Date.now() - 10 * DAY_MS);
    fs.utimesSync(orphan, tenDaysAgo, tenDaysAgo);
    // A young orphan (a writer still in flight) stays whatever the tombstones say.
    fs.copyFileSync(path.join(table.store.root, inputs[0]), path.join(table.store.root, 'in-flight-0000.parquet'));

    // Now: the removed inputs are inside the 7-day retention, only the old orphan goes.
    const dry = await vacuum(table, { dryRun: true });
    expect(dry.files.map((f) => f.key)).toEqual(['orphan-0000.parquet']);
    expect(fs.existsSync(orphan)).toBe(true);
    const now = await vacuum(table);
    expect(now.deleted).toBe(1);
    expect(fs.existsSync(orphan)).toBe(false);
    expect(await read(table, v4)).toEqual(atV4); // time travel inside the retention
    expect((await readWithDeltalake(table.store.root, { version: v4 })).rows).toEqual(atV4.rows);

    // A retention shorter than the table's is refused unless forced (Spark's retention check).
    await expect(vacuum(table, { retentionMs: 0 })).rejects.toThrow(VacuumRetentionError);

    // Eight days later the removed inputs have expired: exactly they go (the in-flight file's
    // mtime is recent only relative to the real clock, so it goes too as a now-old orphan).
    const later = Date.now() + 8 * DAY_MS;
    const plan = await vacuum(table, { dryRun: true, now: later });
    expect(plan.files.map((f) => f.key).sort()).toEqual([...inputs, 'in-flight-0000.parquet'].sort());
    const done = await vacuum(table, { now: later });
    expect(done.deleted).toBe(inputs.length + 1);
    const live = [...(await loadSnapshot(table.store)).files.keys()];
    expect(fs.readdirSync(table.store.root).filter((n) => n.endsWith('.parquet')).sort()).toEqual(live.sort());
    const ops = [];
    const snap = await loadSnapshot(table.store);
    for (let v = snap.version - 3; v <= snap.version; v++) ops.push((await readCommit(table.store, v)).flatMap((a) => ('commitInfo' in a ? [a.commitInfo.operation] : [])));
    expect(ops.flat()).toEqual(['VACUUM START', 'VACUUM END', 'VACUUM START', 'VACUUM END']);
    // The latest version still reads the same everywhere.
    const after = await read(table);
    expect((await readWithDeltalake(table.store.root)).rows).toEqual(after.rows);
  }, 120_000);
});

describe('log cleanup', () => {
  it('deletes expired log files before a checkpoint, never from keepFromVersion on; the table and later versions still read', async () => {
    const table = await newTable({ 'delta.checkpointInterval': '5' });
    for (let i = 0; i < 12; i++) await append(table, i, 1); // versions 1..12, checkpoints at 5 and 10
    const latest = await read(table);
    const later = Date.now() + 31 * DAY_MS;

    expect((await planLogCleanup(table.store)).keys).toEqual([]); // nothing is 30 days old yet
    // A reader that still needs version 7 onwards: only checkpoint 5 may become the start.
    const kept = await planLogCleanup(table.store, { now: later, keepFromVersion: 7 });
    expect(kept.deleteBelow).toBe(5);
    const all = await planLogCleanup(table.store, { now: later });
    expect(all.deleteBelow).toBe(10);
    const none = await planLogCleanup(table.store, { now: later, keepFromVersion: 0 });
    expect(none.keys).toEqual([]);

    const r = await cleanupLog(table.store, { now: later, keepFromVersion: 7 });
    expect(r.deleted).toBe(5); // commits 0..4
    expect(fs.readdirSync(path.join(table.store.root, '_delta_log')).filter((n) => n.endsWith('.json')).length).toBe(8);
    expect(await read(table)).toEqual(latest);
    expect((await readWithDeltalake(table.store.root)).rows).toEqual(latest.rows);
    expect((await addedFilesSince(table.store, 6, 12)).length).toBe(6);
    expect((await read(table, 8)).numRows).toBe(8);
  }, 120_000);

  it('parses Delta intervals', () => {
    expect(parseInterval('interval 7 days')).toBe(7 * DAY_MS);
    expect(parseInterval('INTERVAL 1 week 12 hours')).toBe(7.5 * DAY_MS);
    expect(parseInterval('168 hours')).toBe(7 * DAY_MS);
    expect(() => parseInterval('interval 1 month')).toThrow(/months/);
    expect(() => parseInterval('seven days')).toThrow();
  });
});
