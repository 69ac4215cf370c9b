/**
 * Stage 2 (deserializeWorkflow) input and result. Deterministic (no I/O): the workflow bundle
 * imports it; the activity imports only its types. See src/lake/bronze.ts for the design.
 */
import { z } from 'zod';
import type { VersionCheckpoint } from '../stages';

const rawVersion = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** DuckDB memory_limit syntax, e.g. '1GB', '512MiB'. */
export const memoryLimit = z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, "a size like '1GB' or '512MiB'");

export const DeserializeInput = z
  .object({
    /** Upper bound on raw rows per batch (sum of the raw files' numRecords); a raw version is never split. */
    maxRowsPerBatch: z.number().int().min(1).max(50_000_000).default(1_000_000),
    /**
     * Backfill: re-derive raw versions fromRawVersion..toRawVersion (inclusive; either may be left
     * out: from = 0, to = the scheduled checkpoint). Writes only rows that are in neither bronze nor
     * the dead letter, never moves the scheduled checkpoint, and stops at that checkpoint.
     */
    fromRawVersion: rawVersion.optional(),
    toRawVersion: rawVersion.optional(),
    /** DuckDB memory_limit for the run (it spills to a temp dir above it); default and cap: the worker's per-activity share of WORKER_MEMORY_BUDGET. */
    duckdbMemoryLimit: memoryLimit.optional(),
    /** Start stage 3 as soon as this run has written new bronze rows (near-real-time mode). */
    nearRealTime: z.boolean().default(false),
  })
  .strict()
  .refine((i) => i.fromRawVersion === undefined || i.toRawVersion === undefined || i.fromRawVersion <= i.toRawVersion, {
    message: 'fromRawVersion must be <= toRawVersion',
    path: ['fromRawVersion'],
  });
export type DeserializeInput = z.infer<typeof DeserializeInput>;

export const isBackfill = (i: DeserializeInput): boolean => i.fromRawVersion !== undefined || i.toRawVersion !== undefined;

export interface DeserializeResult {
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
  /** Backfill: the raw versions actually re-derived, (fromExclusive, toInclusive]. */
  backfillRange: { fromExclusive: number; toInclusive: number } | null;
  batches: number;
  /** Batches that completed a batch an earlier attempt had committed to one table only. */
  repairBatches: number;
  repaired: 'bronze' | 'dead-letter' | null;
  /** Raw rows parsed by this run (this attempt). */
  recordsIn: number;
  /** Rows appended to bronze. */
  recordsOut: number;
  /** Rows appended to the dead letter, and by error reason. */
  deadLetters: number;
  deadLettersByError: Record<string, number>;
  /** Backfill: rows found already in bronze or the dead letter, not written again. */
  alreadyPresent: number;
  bronzeTableVersion: number;
  deadLetterTableVersion: number;
  /** Raw versions / rows after the checkpoint when the run ended. */
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
