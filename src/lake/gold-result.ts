/**
 * Stage 3's one result type (src/lake/gold.ts and src/lake/gold-cdc.ts run the stage) and a
 * batch's detail. Types only: the workflow imports them with `import type`.
 */
import type { VersionCheckpoint } from '../stages';

/**
 * Stage 3's result: what mergeBronzeIntoGold returns (less `perBatch`), and as it is the mergeGold
 * activity's and mergeGoldWorkflow's (user-visible JSON, the next scheduled run's lastResult).
 */
export interface GoldResult {
  stage: 'gold';
  mode: 'incremental' | 'backfill';
  /** Bronze versions read: (bronzeAfterVersion, bronzeToVersion]. */
  bronzeAfterVersion: number;
  bronzeToVersion: number;
  /** Scheduled checkpoint (bronze version merged through; next run starts after it). A backfill passes the current one through. */
  checkpoint: VersionCheckpoint;
  /** The gold table's txn before the run and the workflow's copy, when they differed (the table's was used). */
  checkpointDisagreement: { table: number; workflow: number } | null;
  /** Bronze rows read. */
  rowsIn: number;
  inserted: number;
  updated: number;
  /** Gold rows removed (the generic gold stage's deleteWhen, gold-cdc.ts); the sensor pipeline's MERGE deletes none. */
  deleted?: number;
  /** Rows not applied because gold already held a newer (or the same) arrival for the key. */
  skippedOlder: number;
  /** Rows whose arrived_at moved back to an earlier first arrival found in bronze. */
  arrivalBackdated: number;
  filesRewritten: number;
  filesAdded: number;
  /** Gold commits this run made, in how many batches. */
  commits: number;
  batches: number;
  /** Gold table version after the run. */
  goldVersion: number;
  /** Set when a near-real-time follow-up yielded to another gold run it collided with; counts are 0, goldVersion -1. */
  yielded?: string;
}

/** A run's result and each batch's detail (tests, bench); the activity returns only the GoldResult. */
export interface GoldRun extends GoldResult {
  perBatch: BatchMergeResult[];
}

/** One batch of a run (one gold commit, or none). */
export interface BatchMergeResult {
  afterVersion: number;
  toVersion: number;
  /** Bronze rows read. */
  rowsIn: number;
  /** Distinct (sensor_id, ts_ms) among them (rowsIn - keys duplicates were dropped in the batch). */
  keys: number;
  inserted: number;
  /** Keys whose value/unit/updated_at were replaced by a version later in source order. */
  updated: number;
  /** Keys already in gold with a version at least as late in source order: value kept. */
  skippedOlder: number;
  /** Rows whose arrived_at moved back to an earlier first arrival (replays of older data). */
  arrivalBackdated: number;
  /** Gold files whose stats could hold a batch key (read). */
  candidateFiles: number;
  /** Paths removed (rewritten) / added by the commit. */
  removedFiles: string[];
  addedFiles: string[];
  /** Version this batch committed, or null when it committed nothing. */
  goldVersion: number | null;
  /** The txn showed this range merged already (a retry, or a concurrent run): nothing done. */
  alreadyMerged: boolean;
  /** Builds of the commit (> 1 after losing a version race). */
  attempts: number;
}
