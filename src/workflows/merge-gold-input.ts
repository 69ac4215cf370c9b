/**
 * Input and result of mergeGoldWorkflow (stage 3). Deterministic (no I/O): the workflow bundle
 * imports it; activities import only its types.
 */
import { z } from 'zod';
import type { VersionCheckpoint } from '../stages';

const version = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const MergeGoldInput = z
  .object({
    /**
     * Upper bound of bronze rows per gold commit (whole bronze versions are taken; a single larger
     * version is merged alone). Like Spark's maxFilesPerTrigger, it bounds each step of a backlog.
     */
    maxRowsPerBatch: z.number().int().min(1).max(50_000_000).default(1_000_000),
    /** Upper bound of rows per gold file written (rewrites and new rows). */
    targetRowsPerFile: z.number().int().min(1_000).max(50_000_000).default(500_000),
    /** Overrides the bronze version carried from the previous run (the gold table's txn still wins). */
    checkpoint: version.optional(),
    /**
     * Re-merge bronze versions [fromVersion, toVersion] (default: all of bronze, up to its current
     * version) instead of the new ones. Harmless thanks to newer-arrival-wins: only missing keys
     * are inserted and only values older than the bronze rows are replaced. Never moves the
     * scheduled checkpoint.
     */
    backfill: z
      .object({ fromVersion: version.default(0), toVersion: version.optional() })
      .strict()
      .refine((b) => b.toVersion === undefined || b.toVersion >= b.fromVersion, { message: 'toVersion must be >= fromVersion' })
      .optional(),
  })
  .strict();
export type MergeGoldInput = z.infer<typeof MergeGoldInput>;

export interface MergeGoldResult {
  stage: 'gold';
  mode: 'incremental' | 'backfill';
  /** Bronze versions read: (bronzeAfterVersion, bronzeToVersion]. */
  bronzeAfterVersion: number;
  bronzeToVersion: number;
  /**
   * The scheduled checkpoint: the bronze version merged through, where the next run starts. A
   * backfill passes the current one through unchanged (NO_CHECKPOINT, null, when there is none yet).
   */
  checkpoint: VersionCheckpoint;
  /** The workflow's checkpoint differed from the gold table's txn; the table's was used. */
  checkpointDisagreement: { table: number; workflow: number } | null;
  /** Bronze rows read. */
  rowsIn: number;
  inserted: number;
  updated: number;
  /** Rows not applied because gold already held a newer (or the same) arrival for the key. */
  skippedOlder: number;
  /** Rows whose arrived_at moved back to an earlier first arrival found in bronze. */
  arrivalBackdated: number;
  filesRewritten: number;
  filesAdded: number;
  /** Gold commits this run made. */
  commits: number;
  batches: number;
  /** Gold table version after the run. */
  goldVersion: number;
  /** Set when a near-real-time follow-up yielded to another gold run it collided with; counts are 0, goldVersion -1. */
  yielded?: string;
}
