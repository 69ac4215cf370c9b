/**
 * Snapshot + commit time against the table's age: tables of 1k, 10k and 100k versions (empty
 * commits, a checkpoint at the last multiple of the default interval below the end, as the
 * transaction's policy leaves it), then
 *   - cold load: a process's first snapshot (from _last_checkpoint, log files after it only);
 *   - commit: one txn-only commit through src/delta's transaction on the cached snapshot, as a
 *     running worker does it (mean of several).
 * Flat across sizes is the target (issue 10).
 *
 *   npx tsx bench/snapshot.ts [--versions 1000,10000,100000] [--commits 20]
 * Also run at the end of `npm run bench` (unless --no-snapshot).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { clearSnapshotCache, commit, DEFAULT_CHECKPOINT_INTERVAL, LocalStore, loadSnapshot } from '../src/delta';
import { safeDuckPath, sqlString } from '../src/delta/sql';
import { defaultExtensionPath } from '../src/lake/duckdb';
import { AGED_APP_ID, buildAgedTable, fastTmpDir } from '../test/helpers/aged-table';

export interface SnapshotBenchRow {
  versions: number;
  checkpoint: number;
  coldLoadMs: number;
  commitMs: number;
}

export async function snapshotBench(sizes: number[] = [1_000, 10_000, 100_000], commits = 20): Promise<SnapshotBenchRow[]> {
  const db = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
  const conn = await db.connect();
  await conn.run(`LOAD ${sqlString(safeDuckPath(process.env.DELTA_EXTENSION_PATH ?? defaultExtensionPath()))}`);
  const rows: SnapshotBenchRow[] = [];
  try {
    for (const versions of sizes) {
      const tmp = fs.mkdtempSync(path.join(fastTmpDir(), 'tributary-bench-snapshot-'));
      try {
        const checkpoint = Math.floor((versions - 1) / DEFAULT_CHECKPOINT_INTERVAL) * DEFAULT_CHECKPOINT_INTERVAL;
        const dir = path.join(tmp, 'table');
        await buildAgedTable(conn, dir, path.join(tmp, 'seed'), versions, checkpoint);
        const store = new LocalStore(dir);
        clearSnapshotCache();
        let t = performance.now();
        const snap = await loadSnapshot(store);
        const coldLoadMs = performance.now() - t;
        if (snap.version !== versions - 1) throw new Error(`loaded version ${snap.version}, expected ${versions - 1}`);
        let app = snap.appTransactions.get(AGED_APP_ID)!;
        t = performance.now();
        for (let i = 0; i < commits; i++) {
          await commit({ store }, { plan: async () => ({ actions: [], txns: [{ appId: AGED_APP_ID, expected: app, next: app + 1 }] }) });
          app += 1;
        }
        rows.push({ versions, checkpoint, coldLoadMs, commitMs: (performance.now() - t) / commits });
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    }
  } finally {
    conn.closeSync();
    db.closeSync();
    clearSnapshotCache();
  }
  return rows;
}

export function printSnapshotBench(rows: SnapshotBenchRow[]): void {
  console.log('\nDelta snapshot + commit vs table age (local store; target: flat)');
  for (const r of rows) {
    console.log(
      `  ${String(r.versions).padStart(7)} versions (checkpoint ${r.checkpoint}): cold snapshot ${r.coldLoadMs.toFixed(1).padStart(7)} ms, ` +
        `commit on the cached snapshot ${r.commitMs.toFixed(1).padStart(6)} ms`,
    );
  }
}

if (require.main === module) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const sizes = (arg('versions') ?? '1000,10000,100000').split(',').map(Number);
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 2)) throw new Error('--versions: comma-separated integers ≥ 2');
  const commits = Number(arg('commits') ?? 20);
  snapshotBench(sizes, commits).then(printSnapshotBench, (e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
