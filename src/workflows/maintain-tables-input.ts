/**
 * Input and result of maintainTablesWorkflow (table maintenance). Deterministic (no I/O): the
 * workflow bundle imports it; activities import only its types.
 */
import { z } from 'zod';
import type { MaintainTableResult } from '../lake/maintenance';

/** The pipeline's tables (src/lake/maintenance.ts MAINTAINED_TABLES; a unit test keeps them equal). */
export const MAINTAINED_TABLE_NAMES = [
  'raw/sensor_readings',
  'bronze/sensor_readings',
  'bronze/sensor_readings_dead_letter',
  'bronze/sensor_readings_replay_log',
  'gold/sensor_readings',
] as const;

/** In the order they run on each table. */
export const OPERATIONS = ['compact', 'checkpoint', 'vacuum', 'cleanupLog'] as const;

export const MaintainTablesInput = z
  .object({
    /** Default: every table of the pipeline. */
    tables: z
      .array(z.enum(MAINTAINED_TABLE_NAMES))
      .min(1)
      .default([...MAINTAINED_TABLE_NAMES])
      .transform((t) => [...new Set(t)]),
    /** Default: all four (compact, checkpoint, vacuum, cleanupLog). */
    operations: z
      .array(z.enum(OPERATIONS))
      .min(1)
      .default([...OPERATIONS])
      .transform((o) => [...new Set(o)]),
    /** List what would be compacted / deleted; change nothing. */
    dryRun: z.boolean().default(false),
    /**
     * Vacuum: keep removed files this many hours (Spark's `VACUUM … RETAIN n HOURS`) instead of the
     * table's `delta.deletedFileRetentionDuration` (default 7 days). Shorter than the table's needs `force`.
     */
    vacuumRetentionHours: z.number().min(0).max(24 * 3650).optional(),
    /** Allow a vacuum retention shorter than the table's (files a slow reader or writer still uses may go). */
    force: z.boolean().default(false),
    /** Compaction output size in bytes (default: `delta.targetFileSize`, else by table size, 128 MiB for small tables). */
    targetFileSizeBytes: z.number().int().min(1024 * 1024).max(4 * 1024 ** 3).optional(),
  })
  .strict();
export type MaintainTablesInput = z.infer<typeof MaintainTablesInput>;

export type MaintenanceOperationName = (typeof OPERATIONS)[number];

/** What one table's maintenance did (or would do, in a dry run). */
export type TableMaintenanceResult = MaintainTableResult;

export interface MaintainTablesResult {
  stage: 'maintenance';
  dryRun: boolean;
  operations: MaintenanceOperationName[];
  tables: TableMaintenanceResult[];
  /** Tables whose maintenance failed (the others still ran), with the error. */
  failed: { table: string; error: string }[];
}
