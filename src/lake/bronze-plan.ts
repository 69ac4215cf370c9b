/**
 * Stage 2's planning (src/lake/bronze.ts runs it): its checkpoints (the raw version processed
 * through, per output table), the raw change feed since them, batches of whole raw versions, and
 * the types and errors a run and its repair share.
 */
import {
  addedFilesSince,
  dataFileLocation,
  DeltaTableNotFoundError,
  loadSnapshot,
  recordCountOf,
  type AddAction,
  type Snapshot,
} from '../delta';
import { openTableStore } from '../delta/open-store';
import { safeDuckPath, sqlString } from '../delta/sql';
import { NO_CHECKPOINT, readsAfter, type VersionCheckpoint } from '../stages';
import type { Lake } from './duckdb';
import { SENSOR_PIPELINE, type StagePipeline } from './pipeline';
import { tableDir } from './tables';

/**
 * A txn's value when it was never set: the exclusive lower bound before raw's first version (0),
 * i.e. `readsAfter(NO_CHECKPOINT)`. Results report it as NO_CHECKPOINT (null), never as -1.
 */
export const NOTHING_PROCESSED = readsAfter(NO_CHECKPOINT);
export const DEFAULT_MAX_ROWS_PER_BATCH = 1_000_000;

export type OutputTable = 'bronze' | 'dead-letter';

export interface BronzeRunTotals {
  batches: number;
  /** Batches that completed a batch an earlier attempt had committed to one table only. */
  repairBatches: number;
  /** Raw rows parsed by this run (this attempt). */
  recordsIn: number;
  /** Rows appended to bronze. */
  recordsOut: number;
  /** Rows appended to the dead letter, and by error reason. */
  deadLetters: number;
  /** Backfill: rows found already in bronze or the dead letter, not written again. */
  alreadyPresent: number;
  deadLettersByError: Record<string, number>;
  /** Per `warn` expectation of the pipeline: rows written to bronze that broke it (none: {}). */
  expectationWarnings: Record<string, number>;
}

/**
 * Stage 2's result: what runBronze returns, and as it is the deserialize activity's and
 * deserializeWorkflow's (user-visible JSON, handed to the next scheduled run as its lastResult).
 */
export interface BronzeResult extends BronzeRunTotals {
  stage: 'bronze';
  mode: 'scheduled' | 'backfill';
  /**
   * The scheduled checkpoint after the run: raw Delta version that bronze AND the dead letter hold
   * everything through (NO_CHECKPOINT, null = nothing yet; results of older versions said -1).
   * The next scheduled run starts after it. A backfill reports it unchanged.
   */
  checkpoint: VersionCheckpoint;
  checkpointBefore: VersionCheckpoint;
  /** Latest raw version when the run started (the run stops there); null = no raw table yet. */
  rawTargetVersion: number | null;
  /** Backfill: the raw versions actually re-derived, (fromExclusive, toInclusive]; null when clamped away. */
  backfillRange: { fromExclusive: number; toInclusive: number } | null;
  /** The table that had to catch up on a batch the other already had (crash between commits). */
  repaired: OutputTable | null;
  bronzeTableVersion: number;
  deadLetterTableVersion: number;
  /** Raw versions / rows committed after the checkpoint (arrived while running, or left by a backfill). */
  lagVersions: number;
  lagRecords: number;
  /** The workflow's carried checkpoint differed from the tables' (the tables won). */
  checkpointDisagreement: { workflow: number; table: VersionCheckpoint } | null;
  /**
   * Set when a near-real-time follow-up yielded to another stage-2 run it collided with (the
   * collision's message); it then did nothing, the counts are 0 and the table versions -1.
   */
  yielded?: string;
}

/** Test hooks around each table commit (the activity passes its FaultHooks). */
export interface CommitHooks {
  beforeCommit?(stage: string, commitNumber: number): void;
  afterCommit?(stage: string, commitNumber: number): void;
}

/**
 * A batch committed to one table only is to be finished under other parse rules than the ones it
 * was derived with (a deploy between the crash and the retry): re-deriving would land rows in
 * neither table or in both. Not retryable.
 */
export class RulesChangedError extends Error {
  override name = 'RulesChangedError';
}

/** What a batch's first commit (bronze) records about the batch, in its commitInfo.tributary. */
export interface FirstCommitInfo {
  /** Fingerprint of the parse rules the batch was derived with (absent in older tables). */
  rules?: string;
  /** The dead-letter half, written before this commit (absent in older tables). */
  deadLetter?: PendingDeadLetter;
}
export interface PendingDeadLetter {
  /** The add action of the dead-letter data file; null when the batch had no bad rows. */
  add: AddAction | null;
  batchId: number;
  rows: number;
  byError: Record<string, number>;
}

/** The raw table's version is below our checkpoint: it was recreated, or this is the wrong lake. */
export class CheckpointAheadOfRawError extends Error {
  override name = 'CheckpointAheadOfRawError';
}

// ───────────────────────────────────────────── planning ─────────────────────────────────────────────

export interface RawVersionChange {
  version: number;
  files: AddAction[];
  /** Rows in those files (add stats numRecords; parquet metadata when a file has no stats). */
  rows: number;
}

export interface RawBatch {
  /** Exclusive lower bound (raw version already processed). */
  from: number;
  /** Inclusive upper bound; also the dead letter's batch_id. */
  to: number;
  files: AddAction[];
  rows: number;
  /** Which tables this batch writes (a repair batch writes only the lagging one). */
  tables: OutputTable[];
  /** The dead letter's batch_id; default `to` (a repair piece keeps the batch's). */
  batchId?: number;
}

/**
 * Groups consecutive raw versions into batches of at most maxRows rows. A version is never split
 * (its rows share one txn version); one bigger than maxRows forms a batch of its own.
 */
export function planBatches(changes: RawVersionChange[], after: number, maxRows: number, tables: OutputTable[] = ['bronze', 'dead-letter']): RawBatch[] {
  if (!Number.isSafeInteger(maxRows) || maxRows < 1) throw new Error(`maxRows must be a positive integer, got ${maxRows}`);
  const out: RawBatch[] = [];
  let cur: RawBatch | null = null;
  let prev = after;
  for (const c of changes) {
    if (c.version !== prev + 1) throw new Error(`raw change feed has a gap: version ${c.version} after ${prev}`);
    prev = c.version;
    if (cur && cur.rows > 0 && cur.rows + c.rows > maxRows) {
      out.push(cur);
      cur = null;
    }
    cur ??= { from: c.version - 1, to: c.version, files: [], rows: 0, tables: [...tables] };
    cur.to = c.version;
    cur.files.push(...c.files);
    cur.rows += c.rows;
  }
  if (cur) out.push(cur);
  return out;
}

export interface BronzeCheckpoint {
  /** Raw version processed through, per table (NOTHING_PROCESSED when never set). */
  bronze: number;
  deadLetter: number;
  bronzeTableVersion: number;
  deadLetterTableVersion: number;
}

export function txnOf(snap: Snapshot, appId: string): number {
  return snap.appTransactions.get(appId) ?? NOTHING_PROCESSED;
}

export async function readBronzeCheckpoint(lakeRoot: string, p: StagePipeline = SENSOR_PIPELINE): Promise<BronzeCheckpoint> {
  const b = await loadSnapshot(openTableStore(tableDir(lakeRoot, p.tables.bronze)));
  const d = await loadSnapshot(openTableStore(tableDir(lakeRoot, p.tables.deadLetter)));
  return { bronze: txnOf(b, p.appIds.bronze), deadLetter: txnOf(d, p.appIds.bronze), bronzeTableVersion: b.version, deadLetterTableVersion: d.version };
}

/** The scheduled checkpoint: the raw version BOTH tables hold everything through. */
export const processedThrough = (c: BronzeCheckpoint): number => Math.min(c.bronze, c.deadLetter);

/** The raw table now, or null when stage 1 has not created it yet. */
export async function rawSnapshot(lakeRoot: string, p: StagePipeline = SENSOR_PIPELINE): Promise<Snapshot | null> {
  try {
    return await loadSnapshot(openTableStore(tableDir(lakeRoot, p.tables.raw)));
  } catch (e) {
    if (e instanceof DeltaTableNotFoundError) return null;
    throw e;
  }
}

/** Latest raw version, or null when stage 1 has not created the raw table yet. */
export async function rawLatestVersion(lakeRoot: string, p: StagePipeline = SENSOR_PIPELINE): Promise<number | null> {
  return (await rawSnapshot(lakeRoot, p))?.version ?? null;
}

export const rawChangedRecovery = (p: StagePipeline): string =>
  'To keep bronze as it is, put the original raw table back. To derive bronze anew from this raw table, move ' +
  `${p.tables.bronze.name} and ${p.tables.deadLetter.name} aside and run deserializeWorkflow (then rebuild gold the same way).`;

/** What the raw commits in (after, to] appended, with row counts. */
export async function rawChanges(lake: Lake, lakeRoot: string, after: number, to: number, p: StagePipeline = SENSOR_PIPELINE): Promise<RawVersionChange[]> {
  const dir = tableDir(lakeRoot, p.tables.raw);
  const feed = await addedFilesSince(openTableStore(dir), after, to);
  const out: RawVersionChange[] = [];
  for (const f of feed) {
    let rows = 0;
    for (const a of f.adds) rows += recordCountOf(a) ?? (await parquetRowCount(lake, dataFileLocation(openTableStore(dir), a.path)));
    out.push({ version: f.version, files: f.adds, rows });
  }
  return out;
}

async function parquetRowCount(lake: Lake, file: string): Promise<number> {
  const r = await lake.connection.runAndReadAll(`SELECT num_rows::BIGINT AS n FROM parquet_file_metadata(${sqlString(safeDuckPath(file))})`);
  return Number(r.getRowObjects()[0]?.n ?? 0);
}

