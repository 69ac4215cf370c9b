/**
 * Log cleanup: deletes commit and checkpoint files older than `delta.logRetentionDuration`
 * (default 30 days) that precede a checkpoint, as Delta's metadata cleanup does, so `_delta_log`
 * stops growing without bound.
 *
 *   keep from K = the newest classic checkpoint c such that
 *                   c ≤ keepFromVersion (an incremental reader still needs commit c onwards), and
 *                   the files before c are all older than the retention;
 *   delete      = `<version>.*` log files with version < K (commits, checkpoints, crc).
 *
 * The table stays readable from checkpoint K (time travel to versions ≥ K keeps working), and a
 * reader that reads commit by commit (a change feed) after version keepFromVersion − 1 finds every
 * commit it needs. `delta.enableExpiredLogCleanup=false` turns it off.
 */
import { checkpointKey, LOG_PREFIX, parseLogKey } from './log-path';
import { commitVersions, loadSnapshot } from './snapshot';
import type { StoredObject, TableStore } from './storage';
import { expiredLogCleanupEnabled, logRetentionMs } from './table-properties';

export interface LogCleanupOptions {
  /** Commits from this version on are never deleted (default: no such reader). */
  keepFromVersion?: number;
  retentionMs?: number;
  now?: number;
  dryRun?: boolean;
}

export interface LogCleanupPlan {
  retentionMs: number;
  /** Log files with a version below this go; null when nothing can. */
  deleteBelow: number | null;
  keys: string[];
  /** The oldest version whose commit stays (the oldest version a change feed can start after − 1). */
  oldestRetainedVersion: number | null;
  /** Why nothing goes, when nothing does. */
  reason?: string;
}

const VERSIONED = /^(\d{20})\./;

function versionOf(o: StoredObject): number | null {
  const m = VERSIONED.exec(o.key.slice(LOG_PREFIX.length));
  return o.key.startsWith(LOG_PREFIX) && m ? Number(m[1]) : null;
}

function oldestCommit(listing: StoredObject[]): number | null {
  let oldest: number | null = null;
  for (const o of listing) {
    const f = parseLogKey(o.key);
    if (f?.kind === 'commit' && (oldest === null || f.version < oldest)) oldest = f.version;
  }
  return oldest;
}

/** The oldest commit version in the log (the log is listed: for maintenance and errors, not hot paths). */
export async function oldestCommitVersion(store: TableStore): Promise<number | null> {
  return (await commitVersions(store))[0] ?? null;
}

export async function planLogCleanup(store: TableStore, opts: LogCleanupOptions = {}): Promise<LogCleanupPlan> {
  const snap = await loadSnapshot(store);
  const retentionMs = opts.retentionMs ?? logRetentionMs(snap.metadata);
  const listing = await store.list(LOG_PREFIX);
  const oldest = oldestCommit(listing);
  const none = (reason: string): LogCleanupPlan => ({ retentionMs, deleteBelow: null, keys: [], oldestRetainedVersion: oldest, reason });
  if (!expiredLogCleanupEnabled(snap.metadata)) return none('delta.enableExpiredLogCleanup is false');
  const cutoff = (opts.now ?? Date.now()) - retentionMs;
  const limit = Math.min(snap.version, opts.keepFromVersion ?? Number.MAX_SAFE_INTEGER);

  // Newest modification time of any versioned log file below each version, to test "all older".
  const versioned = listing.map((o) => ({ o, v: versionOf(o) })).filter((x): x is { o: StoredObject; v: number } => x.v !== null);
  versioned.sort((a, b) => a.v - b.v);
  const present = new Set(listing.map((o) => o.key));
  const checkpoints = versioned.filter((x) => parseLogKey(x.o.key)?.kind === 'checkpoint').map((x) => x.v);
  let newestBefore = -Infinity;
  let i = 0;
  let keepFrom: number | null = null;
  for (const c of checkpoints) {
    while (i < versioned.length && versioned[i].v < c) newestBefore = Math.max(newestBefore, versioned[i++].o.lastModified);
    if (c > limit) break;
    if (newestBefore === -Infinity) continue; // nothing before it
    if (newestBefore < cutoff && present.has(checkpointKey(c))) keepFrom = c;
  }
  if (keepFrom === null) {
    return none(
      checkpoints.length === 0
        ? 'no checkpoint yet'
        : `no checkpoint at or before version ${limit} has only log files older than ${Math.round(retentionMs / 86_400_000)} days before it`,
    );
  }
  const keys = versioned.filter((x) => x.v < keepFrom!).map((x) => x.o.key);
  return { retentionMs, deleteBelow: keepFrom, keys, oldestRetainedVersion: keepFrom };
}

export interface LogCleanupResult extends LogCleanupPlan {
  dryRun: boolean;
  deleted: number;
}

export async function cleanupLog(store: TableStore, opts: LogCleanupOptions = {}): Promise<LogCleanupResult> {
  const plan = await planLogCleanup(store, opts);
  if (opts.dryRun) return { ...plan, dryRun: true, deleted: 0 };
  // Oldest first: a crash midway leaves a contiguous log that still starts at a readable point.
  for (const k of plan.keys) await store.delete(k);
  return { ...plan, dryRun: false, deleted: plan.keys.length };
}
