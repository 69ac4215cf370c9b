/**
 * Stage 2 (deserializeWorkflow) input (its result is BronzeResult, src/lake/bronze-plan.ts). Deterministic (no I/O): the workflow bundle
 * imports it; the activity imports only its types. See src/lake/bronze.ts for the design.
 */
import { z } from 'zod';
import { pipelineField } from './inputs';

const rawVersion = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** DuckDB memory_limit syntax, e.g. '1GB', '512MiB'. */
export const memoryLimit = z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, "a size like '1GB' or '512MiB'");

export const DeserializeInput = z
  .object({
    pipeline: pipelineField,
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
