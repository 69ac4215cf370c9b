/**
 * Compaction (Delta's OPTIMIZE): bin-packs data files below a target size into files near the
 * target, in one commit that removes the inputs and adds the outputs with `dataChange: false` —
 * the rows are the same, so change feeds (change-feed.ts) skip the commit and no reader treats
 * compacted rows as new. txn versions are untouched.
 *
 *   plan: live files → eligible (caller's filter) → small (< minFileSize) → groups (caller's
 *         layout key, e.g. a time window) → bins in file order, each ≤ targetFileSize, ≥ 2 files
 *   write: one DuckDB COPY per bin (rows in the caller's sort order), row count checked
 *   commit: removes + adds, operation OPTIMIZE; after a lost version race the bins whose inputs
 *           are all still live are committed as they are (appends never conflict); bins that lost
 *           an input to a racer are dropped (their outputs deleted) and planned again next round.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { addAction, recordCountOf, removeAction, type Action, type AddAction } from './actions';
import { dataFileKey, dataFileLocation, writeParquetDataFile } from './data-files';
import { loadSnapshot, type Snapshot } from './snapshot';
import { duckTypeOf } from './schema';
import { sqlIdent, sqlString } from './sql';
import { targetFileSizeOf } from './table-properties';
import { commit, type DeltaTable } from './transaction';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/**
 * Output size when neither the caller nor `delta.targetFileSize` sets one, by table size — the
 * same idea as Databricks' autotuning (bigger tables, bigger files): 128 MiB below 100 GiB,
 * 256 MiB below 2.5 TiB, 1 GiB above. A table smaller than the target ends up as one file.
 */
export function defaultTargetFileSize(tableBytes: number): number {
  if (tableBytes < 100 * GiB) return 128 * MiB;
  if (tableBytes < 2.5 * 1024 * GiB) return 256 * MiB;
  return GiB;
}

export interface CompactionOptions {
  /** Bytes per output file; default `delta.targetFileSize`, else defaultTargetFileSize(table bytes). */
  targetFileSize?: number;
  /** Files at or above this size are left alone; default 3/4 of the target. */
  minFileSize?: number;
  /** Files with different keys are never merged (keeps a layout, e.g. gold's ts_ms windows). */
  groupOf?: (add: AddAction) => string;
  /** Row order inside an output file (column names); default the inputs' order. */
  orderBy?: readonly string[];
  /** Only these files may be rewritten (e.g. those every incremental reader has consumed). */
  eligible?: (add: AddAction) => boolean;
  /** Rounds of plan → commit when racers removed inputs (default 3). */
  maxRounds?: number;
}

export interface CompactionBin {
  group: string;
  inputs: AddAction[];
  bytes: number;
}

export interface CompactionPlan {
  targetFileSize: number;
  minFileSize: number;
  bins: CompactionBin[];
}

/** Pure planning over a snapshot's live files (no I/O). */
export function planCompaction(snap: Pick<Snapshot, 'files' | 'metadata'>, opts: CompactionOptions = {}): CompactionPlan {
  const files = [...snap.files.values()];
  const tableBytes = files.reduce((s, f) => s + f.size, 0);
  const targetFileSize = opts.targetFileSize ?? targetFileSizeOf(snap.metadata) ?? defaultTargetFileSize(tableBytes);
  const minFileSize = opts.minFileSize ?? Math.floor(targetFileSize * 0.75);
  const groups = new Map<string, AddAction[]>();
  for (const f of files) {
    if (f.size >= minFileSize || (opts.eligible && !opts.eligible(f))) continue;
    const g = opts.groupOf?.(f) ?? '';
    const list = groups.get(g) ?? [];
    list.push(f);
    groups.set(g, list);
  }
  const bins: CompactionBin[] = [];
  for (const [group, list] of [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    // Write order (modificationTime, then path) keeps neighbouring appends together.
    list.sort((a, b) => a.modificationTime - b.modificationTime || (a.path < b.path ? -1 : 1));
    let cur: CompactionBin = { group, inputs: [], bytes: 0 };
    for (const f of list) {
      if (cur.inputs.length > 0 && cur.bytes + f.size > targetFileSize) {
        bins.push(cur);
        cur = { group, inputs: [], bytes: 0 };
      }
      cur.inputs.push(f);
      cur.bytes += f.size;
    }
    bins.push(cur);
  }
  // A bin of one file would rewrite it unchanged.
  return { targetFileSize, minFileSize, bins: bins.filter((b) => b.inputs.length >= 2) };
}

export interface CompactionResult {
  /** Versions committed (one per round that compacted something). */
  versions: number[];
  filesRemoved: number;
  filesAdded: number;
  bytesRemoved: number;
  bytesAdded: number;
  /** Bins dropped because a concurrent writer removed one of their inputs. */
  binsLostToRacers: number;
}

/** What compaction would do, without writing anything. */
export async function planTableCompaction(table: DeltaTable, opts: CompactionOptions = {}): Promise<CompactionPlan & { version: number }> {
  const snap = await loadSnapshot(table.store);
  return { ...planCompaction(snap, opts), version: snap.version };
}

/** Compacts the table's small files; conn needs no extension (data files are plain Parquet). */
export async function compact(table: DeltaTable, conn: DuckDBConnection, opts: CompactionOptions = {}): Promise<CompactionResult> {
  const out: CompactionResult = { versions: [], filesRemoved: 0, filesAdded: 0, bytesRemoved: 0, bytesAdded: 0, binsLostToRacers: 0 };
  for (let round = 0; round < (opts.maxRounds ?? 3); round++) {
    const snap = await loadSnapshot(table.store);
    const plan = planCompaction(snap, opts);
    if (plan.bins.length === 0) break;
    let written: { bin: CompactionBin; output: AddAction }[] = [];
    let lost = 0;
    // The bins still valid on `s`: a bin that lost an input to a racer is dropped, its output deleted.
    const planOn = async (s: Snapshot) => {
      const keep = written.filter((w) => w.bin.inputs.every((f) => s.files.has(f.path)));
      await deleteOutputs(table, written.filter((w) => !keep.includes(w)).map((w) => w.output));
      lost += written.length - keep.length;
      written = keep;
      if (keep.length === 0) return null;
      const actions = keep.flatMap((w) => [...w.bin.inputs.map((f) => removeAction(f, { dataChange: false })), addAction(w.output, { dataChange: false })]);
      return { actions, commitInfo: optimizeCommitInfo(actions) };
    };
    const committed = await commit(table, {
      plan: async (s) => {
        try {
          for (const bin of plan.bins) written.push({ bin, output: await writeBin(conn, table, s, bin, opts.orderBy) });
        } catch (e) {
          await deleteOutputs(table, written.map((w) => w.output));
          throw e;
        }
        return planOn(s);
      },
      // After a lost race: appends leave every bin valid (the same actions again); a racer that
      // removed an input (gold's MERGE rewrote it) invalidates that bin only.
      rebuild: planOn,
    });
    out.binsLostToRacers += lost;
    if (!committed) continue;
    out.versions.push(committed.version);
    for (const a of committed.actions) {
      if ('remove' in a) {
        out.filesRemoved += 1;
        out.bytesRemoved += a.remove.size ?? 0;
      } else if ('add' in a) {
        out.filesAdded += 1;
        out.bytesAdded += a.add.size;
      }
    }
    if (lost === 0) break;
  }
  return out;
}

async function writeBin(conn: DuckDBConnection, table: DeltaTable, snap: Snapshot, bin: CompactionBin, orderBy?: readonly string[]): Promise<AddAction> {
  const files = bin.inputs.map((f) => sqlString(dataFileLocation(table.store, f.path))).join(', ');
  const order = orderBy && orderBy.length > 0 ? ` ORDER BY ${orderBy.map((c) => sqlIdent(c)).join(', ')}` : '';
  // Files written before a column was added lack it (it reads NULL, PROTOCOL.md), and files may
  // differ in column order: read by name, and fill a column no input file has with NULL.
  const src = `read_parquet([${files}], union_by_name = true)`;
  const present = new Set((await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`)).getRowObjects().map((r) => String(r.column_name)));
  const cols = snap.metadata.fields.map((f) => (present.has(f.name) ? sqlIdent(f.name) : `NULL::${duckTypeOf(f)} AS ${sqlIdent(f.name)}`)).join(', ');
  const add = await writeParquetDataFile(conn, table.store, `SELECT ${cols} FROM ${src}${order}`, snap.metadata.fields);
  const expected = bin.inputs.reduce((s, f) => s + (recordCountOf(f) ?? NaN), 0);
  const got = add ? recordCountOf(add) : 0;
  // Inputs without stats can't be checked this way; with stats, a mismatch means a broken read.
  if (!Number.isNaN(expected) && got !== expected) {
    if (add) await deleteOutputs(table, [add]);
    throw new Error(`${table.store.root}: compaction read ${got} rows from files whose stats say ${expected}; nothing committed`);
  }
  if (!add) throw new Error(`${table.store.root}: compaction of ${bin.inputs.length} files produced no rows`);
  return add;
}

async function deleteOutputs(table: DeltaTable, outputs: AddAction[]): Promise<void> {
  for (const o of outputs) await table.store.delete(dataFileKey(table.store.root, o.path));
}

/** commitInfo as Delta's OPTIMIZE writes it (metric values are strings there). */
function optimizeCommitInfo(actions: Action[]) {
  let removed = 0;
  let added = 0;
  let removedBytes = 0;
  let addedBytes = 0;
  for (const a of actions) {
    if ('remove' in a) {
      removed += 1;
      removedBytes += a.remove.size ?? 0;
    } else if ('add' in a) {
      added += 1;
      addedBytes += a.add.size;
    }
  }
  return {
    operation: 'OPTIMIZE',
    operationParameters: { predicate: '[]', zOrderBy: '[]' },
    operationMetrics: { numRemovedFiles: String(removed), numAddedFiles: String(added), numRemovedBytes: String(removedBytes), numAddedBytes: String(addedBytes) },
    isBlindAppend: false,
  };
}
