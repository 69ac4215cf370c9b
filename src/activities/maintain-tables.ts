import { Context } from '@temporalio/activity';
import { activityMemoryLimit } from '../config';
import { lakeStores, openDuckDB } from '../lake/duckdb';
import { maintainTable as maintain, MAINTAINED_TABLES, type MaintainTableResult } from '../lake/maintenance';
import { ensureTables } from '../lake/tables';
import type { MaintenanceOperationName } from '../workflows/maintain-tables-input';
import type { ActivityDeps } from './deps';

export interface MaintainTableActivityInput {
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
    const table = MAINTAINED_TABLES.find((t) => t.name === input.table);
    if (!table) throw Object.assign(new Error(`unknown table ${input.table}`), { name: 'InvalidInputError' });
    await ensureTables(deps.config.lakeRoot, [table]);
    const beat = setInterval(() => ctx.heartbeat({ table: input.table }), HEARTBEAT_EVERY_MS);
    const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: activityMemoryLimit(deps.config.memory) });
    try {
      const result = await maintain(lake.connection, {
        lakeRoot: deps.config.lakeRoot,
        table,
        operations: input.operations,
        dryRun: input.dryRun,
        force: input.force,
        vacuumRetentionMs: input.vacuumRetentionMs,
        targetFileSize: input.targetFileSize,
        properties: deps.config.tableProperties?.[table.name],
      });
      ctx.log.info('table maintained', { table: table.name, version: result.version, dryRun: result.dryRun });
      return result;
    } finally {
      clearInterval(beat);
      lake.close();
    }
  };
}
