/**
 * Benchmark of table maintenance (src/delta/optimize.ts): what compaction buys.
 *
 *   npx tsx bench/maintenance.ts [--commits 2000] [--rows-per-commit 50] [--merges 100] [--merge-rows 2000]
 *   (or: npm run bench -- --maintenance, which runs this after the stages)
 *
 * 1. raw: a raw-shaped table of --commits append commits (one small file each, a checkpoint every
 *    50 versions as the writers do). Timed before and after compaction: a cold snapshot load
 *    (no per-process cache) and a full scan through delta_scan (count + sum over every payload).
 * 2. gold: --merges incremental MERGEs of --merge-rows bronze rows each (sensor readings moving
 *    forward in time, 10% late corrections), the way stage 3 fills gold: many small files per
 *    hour window. The lake is then copied; one more identical MERGE is timed on the copy as it is
 *    and on the copy after compacting gold.
 * Prints one line per measurement and a JSON summary.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { clearSnapshotCache, commit, compact, createTable, extensionCheckpointer, LocalStore, loadSnapshot, writeParquetDataFile, type DeltaTable } from '../src/delta';
import { openDuckDB } from '../src/lake/duckdb';
import { mergeBronzeIntoGold } from '../src/lake/gold';
import { tableLayout } from '../src/lake/maintenance';
import { safeDuckPath, sqlString } from '../src/delta/sql';
import { BRONZE, GOLD, RAW } from '../src/lake/tables';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt);
}

async function timed<T>(f: () => Promise<T>): Promise<{ s: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await f();
  return { s: Number(process.hrtime.bigint() - t) / 1e9, value };
}

const T0 = Date.UTC(2026, 0, 1);

async function buildRaw(conn: DuckDBConnection, table: DeltaTable, commits: number, rows: number): Promise<void> {
  await createTable(table.store, RAW.fields);
  for (let c = 0; c < commits; c++) {
    const add = await writeParquetDataFile(
      conn,
      table.store,
      `SELECT 'sensor_readings' AS topic, (i % 3)::INTEGER AS "partition", i AS "offset", make_timestamptz((${T0} + i) * 1000) AS kafka_ts,
              '{"sensor_id":"s-' || (i % 1000) || '","value":' || (i % 997) || ',"unit":"C","ts_ms":' || (${T0} + i) || '}' AS raw_payload,
              NULL::BLOB AS raw_payload_bytes, make_timestamptz((${T0} + i) * 1000) AS arrived_at
       FROM range(${c * rows}, ${(c + 1) * rows}) r(i)`,
      RAW.fields,
    );
    await commit(table, { plan: async () => ({ actions: [{ add: add! }] }) });
  }
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

/** Median of 5: a cold snapshot load, and a full scan through delta_scan. */
async function measureRaw(conn: DuckDBConnection, store: LocalStore): Promise<{ files: number; snapshotS: number; scanS: number }> {
  const snaps: number[] = [];
  const scans: number[] = [];
  let files = 0;
  for (let i = 0; i < 5; i++) {
    clearSnapshotCache();
    const snap = await timed(() => loadSnapshot(store));
    files = snap.value.files.size;
    snaps.push(snap.s);
    const sql = `SELECT count(*) AS n, sum(length(raw_payload)) AS b FROM delta_scan(${sqlString(safeDuckPath(store.root))})`;
    scans.push((await timed(async () => (await conn.runAndReadAll(sql)).getRowObjects())).s);
  }
  return { files, snapshotS: median(snaps), scanS: median(scans) };
}

/** Bronze rows of merge round r: new readings (1000 sensors moving forward a second per row block) + 10% late corrections. */
async function appendBronze(conn: DuckDBConnection, store: LocalStore, r: number, rows: number): Promise<void> {
  const fresh = Math.floor(rows * 0.9);
  const add = await writeParquetDataFile(
    conn,
    store,
    `WITH k AS (
       SELECT ${r * fresh} + i AS n FROM range(${fresh}) t(i)
       UNION ALL SELECT (hash(${r} * 7919 + i) % greatest(${r * fresh}, 1))::BIGINT FROM range(${rows - fresh}) t(i))
     SELECT 's-' || (n % 1000) AS sensor_id, (n % 997)::DOUBLE + ${r} AS value, 'C' AS unit, (${T0} + (n // 1000) * 1000)::BIGINT AS ts_ms,
            make_timestamptz((${T0} + 10000000 + ${r} * 1000) * 1000) AS arrived_at, 'sensor_readings' AS topic, 0::INTEGER AS "partition", (${r} * ${rows} + row_number() OVER ())::BIGINT AS "offset",
            make_timestamptz((${T0} + 10000000 + ${r} * 1000) * 1000) AS kafka_ts
     FROM k`,
    BRONZE.fields,
  );
  await commit({ store }, { plan: async () => ({ actions: [{ add: add! }] }) });
}

const mergeOnce = (conn: DuckDBConnection, root: string) =>
  mergeBronzeIntoGold(conn, { bronzeDir: path.join(root, 'bronze'), goldDir: path.join(root, 'gold'), mode: { kind: 'incremental' } });

export interface MaintenanceBenchResult {
  raw: { commits: number; before: { files: number; snapshotS: number; scanS: number }; compactS: number; after: { files: number; snapshotS: number; scanS: number } };
  gold: { merges: number; mergeRows: number; filesBefore: number; mergeBeforeS: number; compactS: number; filesAfter: number; mergeAfterS: number };
}

export async function maintenanceBench(opts: { commits?: number; rowsPerCommit?: number; merges?: number; mergeRows?: number } = {}): Promise<MaintenanceBenchResult> {
  const commits = opts.commits ?? 2000;
  const merges = opts.merges ?? 100;
  const mergeRows = opts.mergeRows ?? 2000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-maint-'));
  const lake = await openDuckDB({ memoryLimit: '1GB' });
  const conn = lake.connection;
  try {
    // ── raw ──
    const raw: DeltaTable = { store: new LocalStore(path.join(dir, 'raw')), checkpointer: extensionCheckpointer(conn) };
    const built = await timed(() => buildRaw(conn, raw, commits, opts.rowsPerCommit ?? 50));
    console.log(`raw: built ${commits} commits in ${built.s.toFixed(1)} s`);
    const before = await measureRaw(conn, raw.store as LocalStore);
    console.log(`raw before compaction: ${before.files} files, cold snapshot ${before.snapshotS.toFixed(3)} s, full scan ${before.scanS.toFixed(3)} s`);
    const compacted = await timed(async () => {
      await compact(raw, conn);
      await raw.checkpointer!(raw.store);
    });
    const after = await measureRaw(conn, raw.store as LocalStore);
    console.log(`raw compaction + checkpoint ${compacted.s.toFixed(2)} s → ${after.files} files, cold snapshot ${after.snapshotS.toFixed(3)} s, full scan ${after.scanS.toFixed(3)} s`);

    // ── gold ──
    const a = path.join(dir, 'a');
    await createTable(new LocalStore(path.join(a, 'bronze')), BRONZE.fields);
    await createTable(new LocalStore(path.join(a, 'gold')), GOLD.fields);
    for (let r = 0; r < merges; r++) {
      await appendBronze(conn, new LocalStore(path.join(a, 'bronze')), r, mergeRows);
      await mergeOnce(conn, a);
    }
    const b = path.join(dir, 'b');
    fs.cpSync(a, b, { recursive: true });
    await appendBronze(conn, new LocalStore(path.join(a, 'bronze')), merges, mergeRows);
    await appendBronze(conn, new LocalStore(path.join(b, 'bronze')), merges, mergeRows);
    clearSnapshotCache();
    const filesBefore = (await loadSnapshot(new LocalStore(path.join(a, 'gold')))).files.size;
    const mergeBefore = await timed(() => mergeOnce(conn, a));
    const goldB: DeltaTable = { store: new LocalStore(path.join(b, 'gold')) };
    const c = await timed(() => compact(goldB, conn, tableLayout(GOLD)));
    const filesAfter = (await loadSnapshot(goldB.store)).files.size;
    clearSnapshotCache();
    const mergeAfter = await timed(() => mergeOnce(conn, b));
    console.log(
      `gold after ${merges} merges of ${mergeRows} rows: ${filesBefore} files, next MERGE ${mergeBefore.s.toFixed(3)} s; ` +
        `compaction ${c.s.toFixed(2)} s → ${filesAfter} files, same MERGE ${mergeAfter.s.toFixed(3)} s`,
    );
    return {
      raw: { commits, before, compactS: compacted.s, after },
      gold: { merges, mergeRows, filesBefore, mergeBeforeS: mergeBefore.s, compactS: c.s, filesAfter, mergeAfterS: mergeAfter.s },
    };
  } finally {
    lake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  maintenanceBench({ commits: arg('commits', 2000), rowsPerCommit: arg('rows-per-commit', 50), merges: arg('merges', 100), mergeRows: arg('merge-rows', 2000) })
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
