/**
 * A Delta table that has lived long: `versions` commits (0 and 1 real, the rest empty commits
 * written straight to disk, which is fast) and a checkpoint at `checkpointAt`. The log stays
 * consistent: the empty commits change nothing, so the checkpoint (made by the delta extension at
 * version 1 and copied under the later version's name) is the true state at `checkpointAt`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { addAction, commit, commitFileName, createTable, extensionCheckpointer, LocalStore, writeParquetDataFile, type DeltaField } from '../../src/delta';

/**
 * Where to build such tables: a tmpfs when there is one (creating 200k files on the disk here
 * takes minutes, on tmpfs seconds; the empty commits are hard links to one file, so they cost
 * directory entries, not pages).
 */
export function fastTmpDir(): string {
  return process.env.TRIBUTARY_FAST_TMP ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
}

export const AGED_FIELDS: DeltaField[] = [{ name: 'id', type: 'long', nullable: false }];
export const AGED_APP_ID = 'aged/app';

/** `conn` must have the delta extension loaded. `dir` must not exist; `seedDir` is scratch space. */
export async function buildAgedTable(conn: DuckDBConnection, dir: string, seedDir: string, versions: number, checkpointAt: number): Promise<void> {
  if (versions < 2 || checkpointAt < 1 || checkpointAt >= versions) throw new Error('need versions >= 2 and 1 <= checkpointAt < versions');
  const seed = new LocalStore(seedDir);
  await createTable(seed, AGED_FIELDS);
  const add = await writeParquetDataFile(conn, seed, 'SELECT 42::BIGINT AS id', AGED_FIELDS);
  await commit({ store: seed }, { plan: async () => ({ actions: [addAction(add!)], txns: [{ appId: AGED_APP_ID, expected: undefined, next: 1 }] }) });
  await extensionCheckpointer(conn)(seed);

  const log = path.join(dir, '_delta_log');
  const seedLog = path.join(seedDir, '_delta_log');
  fs.mkdirSync(log, { recursive: true });
  fs.copyFileSync(path.join(seedDir, add!.path), path.join(dir, add!.path));
  fs.copyFileSync(path.join(seedLog, commitFileName(0)), path.join(log, commitFileName(0)));
  fs.copyFileSync(path.join(seedLog, commitFileName(1)), path.join(log, commitFileName(1)));
  const empty = `{"commitInfo":{"timestamp":${Date.now()},"operation":"WRITE","engineInfo":"aged-table"}}\n`;
  const emptyFile = path.join(dir, 'empty-commit');
  fs.writeFileSync(emptyFile, empty);
  for (let v = 2; v < versions; v++) fs.linkSync(emptyFile, path.join(log, commitFileName(v)));
  fs.rmSync(emptyFile);
  const cp = `${String(checkpointAt).padStart(20, '0')}.checkpoint.parquet`;
  fs.copyFileSync(path.join(seedLog, `${String(1).padStart(20, '0')}.checkpoint.parquet`), path.join(log, cp));
  const last = JSON.parse(fs.readFileSync(path.join(seedLog, '_last_checkpoint'), 'utf8'));
  fs.writeFileSync(path.join(log, '_last_checkpoint'), JSON.stringify({ ...last, version: checkpointAt }));
}
