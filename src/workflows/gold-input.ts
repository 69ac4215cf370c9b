/**
 * Input of mergeGoldWorkflow (stage 3; its result is GoldResult, src/lake/gold-result.ts). Deterministic (no I/O): the workflow bundle
 * imports it; activities import only its types.
 */
import { z } from 'zod';
import { pipelineField } from './inputs';

const version = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const MergeGoldInput = z
  .object({
    pipeline: pipelineField,
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
