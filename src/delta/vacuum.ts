/**
 * VACUUM: deletes data files the table no longer needs, as Delta does:
 *
 *   keep   = files of the current version ∪ files removed less than the retention ago
 *            (`remove.deletionTimestamp` ≥ now − retention: time travel and slow readers)
 *   delete = every other data file whose own modification time is also older than the retention —
 *            removed files past retention, and orphans no version references (a crashed writer's);
 *            a file younger than the retention may belong to a commit still in flight.
 *
 * Data files are every key outside hidden paths (a segment starting with `_` or `.`: the log,
 * temp files). The retention is `delta.deletedFileRetentionDuration` (default 7 days); a shorter
 * one given by the caller is refused unless forced (Spark's retentionDurationCheck). A real run
 * writes Delta's `VACUUM START` / `VACUUM END` commits (commitInfo only) around the deletes.
 */
import { dataFileKey } from './data-files';
import { loadSnapshot, type Snapshot } from './snapshot';
import { deletedFileRetentionMs } from './table-properties';
import { commit, type DeltaTable } from './transaction';

export class VacuumRetentionError extends Error {
  override name = 'VacuumRetentionError';
}

export interface VacuumOptions {
  /** Overrides the table's retention; shorter than the table's needs `force`. */
  retentionMs?: number;
  force?: boolean;
  /** List what would go, delete nothing, write no commit. */
  dryRun?: boolean;
  /** The clock (epoch ms); default Date.now(). */
  now?: number;
}

export interface VacuumPlan {
  version: number;
  retentionMs: number;
  /** Files modified / removed before this (epoch ms) may go. */
  cutoff: number;
  /** Keys (relative to the table root) that go, with their sizes. */
  files: { key: string; size: number }[];
  bytes: number;
}

export interface VacuumResult extends VacuumPlan {
  dryRun: boolean;
  deleted: number;
}

/** Delta's rule: a path segment starting with `_` or `.` is not data (the log, temp files). */
export function isHiddenKey(key: string): boolean {
  return key.split('/').some((seg) => seg.startsWith('_') || seg.startsWith('.'));
}

/** The effective retention: the caller's, checked against the table's, else the table's. */
export function vacuumRetention(snap: Pick<Snapshot, 'metadata' | 'root'>, opts: Pick<VacuumOptions, 'retentionMs' | 'force'>): number {
  const table = deletedFileRetentionMs(snap.metadata);
  if (opts.retentionMs === undefined) return table;
  if (!(opts.retentionMs >= 0)) throw new VacuumRetentionError(`${snap.root}: retention must be >= 0, got ${opts.retentionMs}`);
  if (opts.retentionMs < table && !opts.force) {
    throw new VacuumRetentionError(
      `${snap.root}: refusing to vacuum with a retention of ${hours(opts.retentionMs)} h, shorter than the table's delta.deletedFileRetentionDuration ` +
        `(${hours(table)} h): files still needed by time travel or by a running writer or reader could be deleted. Pass force to do it anyway.`,
    );
  }
  return opts.retentionMs;
}

const hours = (ms: number) => Math.round((ms / 3_600_000) * 100) / 100;

export async function planVacuum(table: DeltaTable, opts: VacuumOptions = {}): Promise<VacuumPlan> {
  const snap = await loadSnapshot(table.store);
  const retentionMs = vacuumRetention(snap, opts);
  const cutoff = (opts.now ?? Date.now()) - retentionMs;
  const keep = new Set<string>();
  for (const add of snap.files.values()) keep.add(dataFileKey(snap.root, add.path));
  for (const rm of snap.tombstones.values()) {
    if ((rm.deletionTimestamp ?? 0) >= cutoff) keep.add(dataFileKey(snap.root, rm.path));
  }
  const files = (await table.store.list(''))
    .filter((o) => !isHiddenKey(o.key) && !keep.has(o.key) && o.lastModified < cutoff)
    .map((o) => ({ key: o.key, size: o.size }));
  return { version: snap.version, retentionMs, cutoff, files, bytes: files.reduce((s, f) => s + f.size, 0) };
}

export async function vacuum(table: DeltaTable, opts: VacuumOptions = {}): Promise<VacuumResult> {
  const plan = await planVacuum(table, opts);
  if (opts.dryRun || plan.files.length === 0) return { ...plan, dryRun: !!opts.dryRun, deleted: 0 };
  const tableRetention = deletedFileRetentionMs((await loadSnapshot(table.store)).metadata);
  await commit(table, {
    plan: async () => ({
      actions: [],
      commitInfo: {
        operation: 'VACUUM START',
        operationParameters: { retentionCheckEnabled: !opts.force, specifiedRetentionMillis: plan.retentionMs, defaultRetentionMillis: tableRetention },
        operationMetrics: { numFilesToDelete: String(plan.files.length), sizeOfDataToDelete: String(plan.bytes) },
      },
    }),
  });
  let deleted = 0;
  for (const f of plan.files) {
    await table.store.delete(f.key);
    deleted += 1;
  }
  await commit(table, {
    plan: async () => ({
      actions: [],
      commitInfo: { operation: 'VACUUM END', operationParameters: { status: 'COMPLETED' }, operationMetrics: { numDeletedFiles: String(deleted), numVacuumedDirectories: '0' } },
    }),
  });
  return { ...plan, dryRun: false, deleted };
}
