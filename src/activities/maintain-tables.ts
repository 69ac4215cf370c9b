import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { activityMemoryLimit } from '../config';
import { lakeStores, openDuckDB } from '../lake/duckdb';
import { maintainedTables, maintainTable as maintain, type MaintainTableResult } from '../lake/maintenance';
import type { StagePipeline } from '../lake/pipeline';
import { ensureTables, type TableDef } from '../lake/tables';
import { DEFAULT_PIPELINE } from '../pipelines/name';
import { TABLE_ROLES, type MaintenanceOperationName, type TableRole } from '../workflows/maintain-tables-input';
import type { ActivityDeps } from './deps';
import { ensureStageTables, resolvePipeline } from './pipeline';

export interface MaintainTableActivityInput {
  /** Whose table; default the sensor pipeline. */
  pipeline?: string;
  /** A table path of the pipeline, or its role (TABLE_ROLES). */
  table: string;
  operations: MaintenanceOperationName[];
  dryRun: boolean;
  force: boolean;
  vacuumRetentionMs?: number;
  targetFileSize?: number;
}

const HEARTBEAT_EVERY_MS = 10_000;

export function makeMaintainTable(deps: ActivityDeps) {
  return async function maintainTable(input: MaintainTableActivityInput): Promise<MaintainTableResult> {
    const ctx = Context.current();
    const pipeline = resolvePipeline(deps, input.pipeline ?? DEFAULT_PIPELINE);
    const table = tableOf(pipeline, input.table);
    // the pipeline's four tables as its stages ensure them (created, or evolved as the definition
    // says — a required field added later is a nullable column); the replay log as replays do
    const role = (['raw', 'bronze', 'dead_letter', 'gold'] as const).find((r) => (r === 'dead_letter' ? pipeline.tables.deadLetter : pipeline.tables[r]) === table);
    if (role) await ensureStageTables(deps, pipeline, [role]);
    else await ensureTables(deps.config.lakeRoot, [table]);
    const beat = setInterval(() => ctx.heartbeat({ table: input.table }), HEARTBEAT_EVERY_MS);
    const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: activityMemoryLimit(deps.config.memory) });
    try {
      const result = await maintain(lake.connection, {
        lakeRoot: deps.config.lakeRoot,
        pipeline,
        table,
        operations: input.operations,
        dryRun: input.dryRun,
        force: input.force,
        vacuumRetentionMs: input.vacuumRetentionMs,
        targetFileSize: input.targetFileSize,
        properties: deps.config.tableProperties?.[table.name],
      });
      ctx.log.info('table maintained', { pipeline: pipeline.name, table: table.name, version: result.version, dryRun: result.dryRun });
      return result;
    } finally {
      clearInterval(beat);
      lake.close();
    }
  };
}

const ROLE_OF: Record<TableRole, keyof StagePipeline['tables']> = { raw: 'raw', bronze: 'bronze', dead_letter: 'deadLetter', replay_log: 'replayLog', gold: 'gold' };

/** A table of the pipeline by path, else by role; anything else fails non-retryably (no retry makes it appear). */
function tableOf(p: StagePipeline, ref: string): TableDef {
  const byName = maintainedTables(p).find((t) => t.name === ref);
  if (byName) return byName;
  if ((TABLE_ROLES as readonly string[]).includes(ref)) return p.tables[ROLE_OF[ref as TableRole]];
  throw ApplicationFailure.nonRetryable(
    `pipeline ${p.name} has no table ${JSON.stringify(ref)} (its tables: ${maintainedTables(p).map((t) => t.name).join(', ')}; or a role: ${TABLE_ROLES.join(', ')})`,
    'InvalidInputError',
  );
}
