/**
 * How well a table is kept: what compaction, checkpoints, vacuum and log cleanup would find to do.
 * Read from the log and one listing of the table (no data is read).
 */
import { dataFileKey } from './data-files';
import { readLastCheckpoint } from './checkpoint';
import { LOG_PREFIX, parseLogKey } from './log-path';
import { planCompaction } from './optimize';
import type { Snapshot } from './snapshot';
import { isHiddenKey } from './vacuum';

export interface TableHealth {
  version: number;
  liveFiles: number;
  /** Live files below compaction's minimum size. */
  smallFiles: number;
  bytes: number;
  meanFileBytes: number;
  /** Versions since the newest checkpoint (all of them when there is none). */
  commitsSinceCheckpoint: number;
  lastCheckpoint: number | null;
  /** The oldest version whose commit file is still in the log. */
  oldestRetainedVersion: number | null;
  /** Data files the current version does not reference (tombstoned or orphaned), waiting for vacuum. */
  bytesWaitingForVacuum: number;
  filesWaitingForVacuum: number;
}

export async function tableHealth(snap: Snapshot): Promise<TableHealth> {
  const store = snap.store;
  const files = [...snap.files.values()];
  const bytes = files.reduce((s, f) => s + f.size, 0);
  const { minFileSize } = planCompaction(snap);
  const live = new Set(files.map((f) => dataFileKey(snap.root, f.path)));
  let oldest: number | null = null;
  let waitingBytes = 0;
  let waitingFiles = 0;
  for (const o of await store.list('')) {
    if (o.key.startsWith(LOG_PREFIX)) {
      const f = parseLogKey(o.key);
      if (f?.kind === 'commit' && (oldest === null || f.version < oldest)) oldest = f.version;
    } else if (!isHiddenKey(o.key) && !live.has(o.key)) {
      waitingBytes += o.size;
      waitingFiles += 1;
    }
  }
  const last = await readLastCheckpoint(store);
  const lastCheckpoint = last && last.version <= snap.version ? last.version : null;
  return {
    version: snap.version,
    liveFiles: files.length,
    smallFiles: files.filter((f) => f.size < minFileSize).length,
    bytes,
    meanFileBytes: files.length ? Math.round(bytes / files.length) : 0,
    commitsSinceCheckpoint: snap.version - (lastCheckpoint ?? -1),
    lastCheckpoint,
    oldestRetainedVersion: oldest,
    bytesWaitingForVacuum: waitingBytes,
    filesWaitingForVacuum: waitingFiles,
  };
}
