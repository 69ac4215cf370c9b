/**
 * Stage 3's full-backlog path: a big bronze batch is merged ts_ms window by ts_ms window, in ONE
 * gold commit. Keys (sensor_id, ts_ms) of different windows never interact, so each window is
 * deduplicated and merged on its own — memory bounded by the window, not the backlog — and every
 * gold file is written once (merging a backlog in batches of bronze versions rewrote the newest
 * files of each batch again in the next one, because late readings hit them: ~3M of 8.6M rows
 * written twice at 9M; bench/RESULTS.md).
 *
 * Windows come from a histogram of the batch's bronze ts_ms (one scan of that column only):
 * - they never span two layout clusters (`clusterMs`), and hold at most targetRowsPerFile bronze
 *   rows — an upper bound of their keys, so a window that gold does not overlap is exactly one
 *   new file;
 * - a window boundary never cuts the ts_ms range of a live gold file (its stats): two windows
 *   rewriting one file would each write a copy with half of the changes. A file without ts_ms
 *   stats allows no boundary at all.
 * Planning gives up (null: the caller merges the batch by bronze versions, as for small batches)
 * when a window would exceed the memory bound (maxRowsPerBatch), or ts_ms is negative / beyond 2^53.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { AddAction } from '../delta';

/** Bronze rows of one histogram bucket: bucket = [lo, lo + width) inside one cluster. */
export interface TsBucket {
  lo: number;
  rows: number;
}

/** A window [lo, hi) of ts_ms and its bronze rows. */
export interface TsWindow {
  lo: number;
  hi: number;
  rows: number;
}

/** Histogram buckets per cluster: boundaries fine enough to cut a cluster into balanced files. */
const BUCKETS_PER_CLUSTER = 64;
/** More buckets than this (a backlog spread thinly over a very long time) is not worth windowing. */
const MAX_BUCKETS = 1_000_000;

/** The bucket width for a cluster size: divides it, so no bucket spans two clusters. */
export function bucketWidth(clusterMs: number): number {
  for (let n = Math.min(BUCKETS_PER_CLUSTER, clusterMs); n > 1; n--) if (clusterMs % n === 0) return clusterMs / n;
  return clusterMs;
}

/**
 * Rows per ts_ms bucket of the bronze rows read by `from` (a read_parquet(...) expression), sorted;
 * null when ts_ms falls outside [0, 2^53) or there are too many buckets.
 */
export async function bronzeHistogram(conn: DuckDBConnection, from: string, clusterMs: number): Promise<TsBucket[] | null> {
  const w = bucketWidth(clusterMs);
  const range = (await conn.runAndReadAll(`SELECT min(ts_ms)::DOUBLE AS lo, max(ts_ms)::DOUBLE AS hi FROM ${from}`)).getRowObjects()[0];
  const lo = Number(range.lo);
  const hi = Number(range.hi);
  if (range.lo === null || !(lo >= 0) || !(hi < 2 ** 53)) return null;
  if ((hi - lo) / w > MAX_BUCKETS * 4) return null;
  const rows = (await conn.runAndReadAll(`SELECT (ts_ms // ${w})::DOUBLE AS b, count(*)::DOUBLE AS n FROM ${from} GROUP BY 1 ORDER BY 1`)).getRows();
  if (rows.length > MAX_BUCKETS) return null;
  return rows.map(([b, n]) => ({ lo: Number(b) * w, rows: Number(n) }));
}

/** [min, max] ts_ms of a data file from its stats; null = unknown (any value). */
function tsRange(add: AddAction): [number, number] | null {
  if (!add.stats) return null;
  try {
    const s = JSON.parse(add.stats) as { minValues?: Record<string, unknown>; maxValues?: Record<string, unknown> };
    const lo = s.minValues?.ts_ms;
    const hi = s.maxValues?.ts_ms;
    return typeof lo === 'number' && typeof hi === 'number' ? [lo, hi] : null;
  } catch {
    return null;
  }
}

/** The files whose ts_ms stats can hold a row of the window (files without stats always can). */
export function filesOverlapping(files: AddAction[], w: TsWindow): AddAction[] {
  return files.filter((a) => {
    const r = tsRange(a);
    return r === null || (r[0] < w.hi && r[1] >= w.lo);
  });
}

/**
 * Cuts the histogram into windows (see the module comment): within each cluster, balanced windows
 * of ≤ fileRows bronze rows (a window gold does not overlap becomes one file); where a live gold
 * file's ts_ms range forbids the cut, the window grows to the next allowed boundary (such windows
 * are merged copy-on-write, which cuts its own files) but never past maxRows, the memory bound:
 * null when that is not possible.
 */
export function planWindows(
  buckets: TsBucket[],
  clusterMs: number,
  fileRows: number,
  maxRows: number,
  goldFiles: Iterable<AddAction>,
): TsWindow[] | null {
  if (buckets.length === 0) return [];
  const w = bucketWidth(clusterMs);
  // Gold files' ranges as [lo, hi]: a boundary b may not satisfy lo < b <= hi.
  const blocked: [number, number][] = [];
  for (const f of goldFiles) {
    const r = tsRange(f);
    if (r === null) return null; // a file that may hold any ts_ms: no boundary is safe
    blocked.push(r);
  }
  blocked.sort((a, b) => a[0] - b[0]);
  // Merge overlapping ranges so a boundary check is one binary search.
  const merged: [number, number][] = [];
  for (const r of blocked) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  const cuts = (b: number): boolean => {
    let lo = 0;
    let hi = merged.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, z] = merged[mid];
      if (b <= a) hi = mid - 1;
      else if (b > z) lo = mid + 1;
      else return true;
    }
    return false;
  };

  // Rows per cluster, to balance the files within each.
  const clusterOf = (ts: number) => Math.floor(ts / clusterMs);
  const clusterRows = new Map<number, number>();
  for (const b of buckets) clusterRows.set(clusterOf(b.lo), (clusterRows.get(clusterOf(b.lo)) ?? 0) + b.rows);

  const windows: TsWindow[] = [];
  let cur: TsWindow | null = null;
  for (const b of buckets) {
    if (cur !== null) {
      const boundary = b.lo;
      const sameCluster = clusterOf(cur.lo) === clusterOf(b.lo);
      const total = clusterRows.get(clusterOf(cur.lo))!;
      const target = total / Math.ceil(total / fileRows);
      const wantCut = !sameCluster || cur.rows + b.rows > fileRows || cur.rows >= target;
      if (wantCut && !cuts(boundary)) {
        cur.hi = boundary;
        windows.push(cur);
        cur = null;
      }
    }
    if (cur === null) cur = { lo: b.lo, hi: b.lo + w, rows: 0 };
    cur.rows += b.rows;
    cur.hi = b.lo + w;
  }
  windows.push(cur!);
  return windows.some((x) => x.rows > maxRows) ? null : windows;
}
