/**
 * Input and result of maintainTablesWorkflow (table maintenance). Deterministic (no I/O): the
 * workflow bundle imports it; activities import only its types.
 */
import { z } from 'zod';
import type { MaintainTableResult } from '../lake/maintenance';
import { DEFAULT_PIPELINE } from '../pipelines/name';
import { pipelineField } from './inputs';

/** The sensor pipeline's tables (src/lake/maintenance.ts MAINTAINED_TABLES; a unit test keeps them equal). */
export const MAINTAINED_TABLE_NAMES = [
  'raw/sensor_readings',
  'bronze/sensor_readings',
  'bronze/sensor_readings_dead_letter',
  'bronze/sensor_readings_replay_log',
  'gold/sensor_readings',
] as const;

/**
 * Any pipeline's tables by role, in the order maintenance keeps them (maintainedTables). The
 * workflow cannot read the definition file (no I/O), so another pipeline's default is its roles;
 * the activity resolves a role, or a table path, against the pipeline's tables.
 */
export const TABLE_ROLES = ['raw', 'bronze', 'dead_letter', 'replay_log', 'gold'] as const;
export type TableRole = (typeof TABLE_ROLES)[number];

/** A table path under the lake root (as pipelines.yaml spells them) or a role. */
const tableRef = z.string().regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, 'a table path like bronze/orders, or a role (raw, bronze, dead_letter, replay_log, gold)');

/** In the order they run on each table. */
export const OPERATIONS = ['compact', 'checkpoint', 'vacuum', 'cleanupLog'] as const;

export const MaintainTablesInput = z
  .object({
    /** Whose tables (pipelines.yaml); default the sensor pipeline. */
    pipeline: pipelineField,
    /**
     * Default: every table of the pipeline. The sensor pipeline's by path (MAINTAINED_TABLE_NAMES);
     * another pipeline's by path or role (TABLE_ROLES), resolved by the activity.
     */
    tables: z.array(tableRef).min(1).optional(),
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
  .strict()
  .superRefine((v, ctx) => {
    // the sensor pipeline's tables are known here: refuse a wrong one before any activity runs
    if (v.pipeline !== DEFAULT_PIPELINE) return;
    const known = new Set<string>(MAINTAINED_TABLE_NAMES);
    (v.tables ?? []).forEach((t, i) => {
      if (!known.has(t)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['tables', i], message: `not a table of the sensor pipeline (${MAINTAINED_TABLE_NAMES.join(', ')})` });
    });
  })
  .transform(({ tables, ...rest }) => ({
    ...rest,
    tables: [...new Set<string>(tables ?? (rest.pipeline === DEFAULT_PIPELINE ? MAINTAINED_TABLE_NAMES : TABLE_ROLES))],
  }));
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
