/**
 * What both gold stages share — src/lake/gold.ts (the sensor pipeline's MERGE) and
 * src/lake/gold-cdc.ts (the generic SCD1/SCD2 gold for the other pipelines): the bronze range a
 * run reads and its batches (from the change feed, never the data), typed Parquet reads of data
 * files, writing a batch's files, the MERGE's commitInfo and the run's summary.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  addedFilesSince,
  dataFileLocation,
  DeltaLogCorruptError,
  duckTypeOf,
  recordCountOf,
  UnsupportedDeltaFeatureError,
  writeParquetDataFile,
  type AddAction,
  type CommitInfo,
  type DeltaField,
  type Snapshot,
  type TableStore,
} from '../delta';
import { openTableStore } from '../delta/open-store';
import { safeDuckPath, sqlIdent, sqlString } from '../delta/sql';
import { checkpointOf, NO_CHECKPOINT, readsAfter, type VersionCheckpoint } from '../stages';
import type { BatchMergeResult, GoldResult, GoldRun } from './gold-result';

// ───────────────────────────────────────── the range ────────────────────────────────────────────

export type GoldMergeMode =
  /** From the checkpoint (table txn, else the workflow's, else the start of bronze) to bronze's version at start. */
  | { kind: 'incremental' }
  /** Re-merge bronze versions (afterVersion, toVersion ?? latest]; the checkpoint is neither read nor moved. */
  | { kind: 'backfill'; afterVersion: number; toVersion?: number };

export class GoldCheckpointError extends Error {
  override name = 'GoldCheckpointError';
}

/** The bronze versions (after, to] a run merges (both gold stages), and a workflow/table checkpoint disagreement. */
export function goldRange(
  mode: GoldMergeMode,
  bronzeVersion: number,
  tableCheckpoint: VersionCheckpoint,
  workflowCheckpoint: VersionCheckpoint | undefined,
  bronzeDir: string,
): { after: number; to: number; disagreement: GoldResult['checkpointDisagreement'] } {
  let to = bronzeVersion;
  if (mode.kind === 'incremental') {
    const wf = workflowCheckpoint;
    const disagreement = tableCheckpoint !== null && wf != null && wf !== tableCheckpoint ? { table: tableCheckpoint, workflow: wf } : null;
    const after = readsAfter(tableCheckpoint ?? wf ?? NO_CHECKPOINT);
    if (after > to) {
      throw new GoldCheckpointError(`gold checkpoint says bronze version ${after} was merged, but ${bronzeDir} is at version ${to} (bronze recreated?); run a backfill or reset the checkpoint`);
    }
    return { after, to, disagreement };
  }
  if (mode.toVersion !== undefined) {
    if (mode.toVersion > to) throw new GoldCheckpointError(`backfill to bronze version ${mode.toVersion}, but ${bronzeDir} is at version ${to}`);
    to = mode.toVersion;
  }
  if (mode.afterVersion < -1 || mode.afterVersion > to) throw new GoldCheckpointError(`invalid backfill range: bronze versions (${mode.afterVersion}, ${to}]`);
  return { after: mode.afterVersion, to, disagreement: null };
}

export interface BronzeBatch {
  /** Bronze versions (afterVersion, toVersion]. */
  afterVersion: number;
  toVersion: number;
  /** Data files those versions appended. */
  files: AddAction[];
  rows: number;
}

/**
 * Splits bronze versions (afterVersion, toVersion] into batches of whole versions holding at most
 * maxRowsPerBatch rows (a single bigger version is its own batch). Reads only the commit JSONs
 * (the change feed), never the data. Always returns at least one batch, possibly without files.
 */
export async function planBronzeBatches(
  conn: DuckDBConnection,
  bronzeDir: string,
  afterVersion: number,
  toVersion: number,
  maxRowsPerBatch: number,
): Promise<BronzeBatch[]> {
  if (!(maxRowsPerBatch >= 1)) throw new Error(`maxRowsPerBatch must be >= 1, got ${maxRowsPerBatch}`);
  const feed = await addedFilesSince(openTableStore(bronzeDir), afterVersion, toVersion);
  const batches: BronzeBatch[] = [];
  let cur: BronzeBatch = { afterVersion, toVersion: afterVersion, files: [], rows: 0 };
  for (const { version, adds } of feed) {
    let rows = 0;
    for (const a of adds) rows += recordCountOf(a) ?? (await countParquetRows(conn, dataFileLocation(openTableStore(bronzeDir), a.path)));
    if (cur.rows > 0 && rows > 0 && cur.rows + rows > maxRowsPerBatch) {
      batches.push(cur);
      cur = { afterVersion: cur.toVersion, toVersion: cur.toVersion, files: [], rows: 0 };
    }
    cur.toVersion = version;
    cur.files.push(...adds);
    cur.rows += rows;
  }
  batches.push(cur);
  return batches;
}

async function countParquetRows(conn: DuckDBConnection, file: string): Promise<number> {
  const r = await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM read_parquet(${sqlString(safeDuckPath(file))})`);
  return Number(r.getRowObjects()[0].n);
}

// ─────────────────────────────────────── typed reads ────────────────────────────────────────────

export function parquetList(locations: string[]): string {
  return `[${locations.map((p) => sqlString(safeDuckPath(p))).join(', ')}]`;
}

/** A read of data files: `read_parquet([...])` over their locations, and the column types DuckDB sees in them. */
export interface ParquetRead {
  from: string;
  types: Map<string, string>;
}

export async function parquetFrom(conn: DuckDBConnection, locations: string[], filename = false): Promise<ParquetRead> {
  const from = `read_parquet(${parquetList(locations)}, union_by_name = true${filename ? ', filename = true' : ''})`;
  const described = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${from}`)).getRowObjects();
  return { from, types: new Map(described.map((x) => [String(x.column_name), String(x.column_type)])) };
}

/** Throws when the files lack a NOT NULL column of `fields`: "<what> lack column(s) ...". */
export function assertColumns(read: ParquetRead, fields: DeltaField[], what: string): void {
  const missing = fields.filter((f) => !f.nullable && !read.types.has(f.name)).map((f) => f.name);
  if (missing.length > 0) throw new DeltaLogCorruptError(`${what} lack column(s) ${missing.join(', ')}`);
}

/** Column expression that yields a TIMESTAMPTZ, reading naive parquet timestamps (e.g. Spark INT96) as UTC. */
export function utcTimestamp(col: string, type: string): string {
  const t = type.toUpperCase();
  if (t === 'TIMESTAMP WITH TIME ZONE') return col;
  if (t.startsWith('TIMESTAMP')) return `timezone('UTC', CAST(${col} AS TIMESTAMP))`;
  throw new UnsupportedDeltaFeatureError(`column ${col} is ${type} in a data file, expected a timestamp`);
}

/**
 * SELECT of `fields` typed as the table declares them: a column no file has reads NULL (Delta's
 * rule for an added nullable column), naive timestamps (e.g. Spark's INT96) are UTC.
 */
export function typedRead(src: ParquetRead, fields: DeltaField[], root: string, extra: string[] = []): string {
  assertColumns(src, fields, `${root}: data files`);
  const cols = fields.map((f) => {
    const c = sqlIdent(f.name);
    const t = src.types.get(f.name)?.toUpperCase();
    if (t === undefined) return `NULL::${duckTypeOf(f)} AS ${c}`;
    if (f.type === 'timestamp' && t !== 'TIMESTAMP WITH TIME ZONE' && t.startsWith('TIMESTAMP')) return `${utcTimestamp(c, t)} AS ${c}`;
    return `CAST(${c} AS ${duckTypeOf(f)}) AS ${c}`;
  });
  return `SELECT ${[...extra, ...cols].join(', ')} FROM ${src.from}`;
}

/** A temp table (path, stats) of the snapshot's live files, for pruning by their stats in SQL. */
export async function loadFileStats(conn: DuckDBConnection, table: string, snap: Snapshot): Promise<void> {
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${table} (path VARCHAR, stats VARCHAR)`);
  const app = await conn.createAppender(table);
  for (const a of snap.files.values()) {
    app.appendVarchar(a.path);
    if (a.stats == null) app.appendNull();
    else app.appendVarchar(a.stats);
    app.endRow();
  }
  app.closeSync();
}

// ───────────────────────────────────────── writing ──────────────────────────────────────────────

/** Writes one data file per SELECT (an empty result writes none); on a failure deletes the ones written. */
export async function writeDataFiles(conn: DuckDBConnection, store: TableStore, selects: string[], fields: DeltaField[]): Promise<AddAction[]> {
  const adds: AddAction[] = [];
  try {
    for (const sql of selects) {
      const add = await writeParquetDataFile(conn, store, sql, fields);
      if (add) adds.push(add);
    }
  } catch (e) {
    for (const a of adds) await store.delete(a.path);
    throw e;
  }
  return adds;
}

/** A batch's result before its merge: the bronze rows it reads, nothing done yet. */
export function batchResult(batch: BronzeBatch): BatchMergeResult {
  return {
    afterVersion: batch.afterVersion,
    toVersion: batch.toVersion,
    rowsIn: batch.rows,
    keys: 0,
    inserted: 0,
    updated: 0,
    skippedOlder: 0,
    arrivalBackdated: 0,
    candidateFiles: 0,
    removedFiles: [],
    addedFiles: [],
    goldVersion: null,
    alreadyMerged: false,
    attempts: 0,
  };
}

/** The commitInfo of a batch's MERGE (both stages); `deleted` only where the stage deletes rows. */
export function mergeCommitInfo(
  readVersion: number,
  batch: BronzeBatch,
  scheduled: boolean,
  r: BatchMergeResult & { deleted?: number },
  how: { predicate: string; matched: string; engineInfo: string },
): CommitInfo {
  return {
    operation: 'MERGE',
    operationParameters: {
      predicate: how.predicate,
      matchedPredicates: JSON.stringify([{ actionType: 'update', predicate: how.matched }]),
      notMatchedPredicates: JSON.stringify([{ actionType: 'insert' }]),
      source: `bronze versions (${batch.afterVersion}, ${batch.toVersion}]`,
      mode: scheduled ? 'incremental' : 'backfill',
    },
    readVersion,
    isBlindAppend: false,
    operationMetrics: {
      numSourceRows: String(r.rowsIn),
      numTargetRowsInserted: String(r.inserted),
      numTargetRowsUpdated: String(r.updated),
      ...(r.deleted === undefined ? {} : { numTargetRowsDeleted: String(r.deleted) }),
      numTargetFilesRemoved: String(r.removedFiles.length),
      numTargetFilesAdded: String(r.addedFiles.length),
    },
    engineInfo: how.engineInfo,
  };
}

// ───────────────────────────────────────── the run ──────────────────────────────────────────────

/** A run's result from its batches' (both stages). */
export function summarizeGoldRun<B extends BatchMergeResult>(
  run: {
    mode: GoldMergeMode;
    after: number;
    to: number;
    disagreement: GoldResult['checkpointDisagreement'];
    /** The gold table's checkpoint txn and version after the run. */
    endCheckpoint: VersionCheckpoint;
    goldVersion: number;
    workflowCheckpoint?: VersionCheckpoint;
  },
  results: B[],
): Omit<GoldRun, 'perBatch'> & { perBatch: B[] } {
  const scheduled = run.mode.kind === 'incremental';
  const sum = (f: (r: B) => number) => results.reduce((n, r) => n + f(r), 0);
  return {
    stage: 'gold',
    mode: run.mode.kind,
    bronzeAfterVersion: run.after,
    bronzeToVersion: run.to,
    // Versions without rows get no commit: the run's result carries the checkpoint past them. A
    // backfill leaves the scheduled checkpoint where it was: the table's, else the workflow's.
    checkpoint: scheduled ? checkpointOf(Math.max(run.to, readsAfter(run.endCheckpoint))) : (run.endCheckpoint ?? run.workflowCheckpoint ?? NO_CHECKPOINT),
    checkpointDisagreement: run.disagreement,
    batches: results.length,
    perBatch: results,
    rowsIn: sum((r) => (r.alreadyMerged ? 0 : r.rowsIn)),
    inserted: sum((r) => r.inserted),
    updated: sum((r) => r.updated),
    skippedOlder: sum((r) => r.skippedOlder),
    arrivalBackdated: sum((r) => r.arrivalBackdated),
    filesRewritten: sum((r) => r.removedFiles.length),
    filesAdded: sum((r) => r.addedFiles.length),
    commits: sum((r) => (r.goldVersion === null ? 0 : 1)),
    goldVersion: run.goldVersion,
  };
}
