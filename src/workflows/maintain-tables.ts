/**
 * Table maintenance — what Databricks does for the seed's tables (OPTIMIZE, VACUUM, checkpoints,
 * log cleanup), as a scheduled workflow per pipeline (`sensor-maintain-tables`,
 * `<pipeline>-maintain-tables`, daily by default); `pipeline` in the input says whose tables.
 *
 * The workflow only decides: it validates the input and runs one activity per table, in order, so
 * a table that fails (reported in the result, and the run then fails) never keeps the others
 * from being kept. The activity does the Delta work (src/lake/maintenance.ts).
 */
import { ApplicationFailure, proxyActivities, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { STAGE_RETRY, validated } from './common';
import { parseInput } from './inputs';
import { MaintainTablesInput, type MaintainTablesResult } from './maintain-tables-input';
import { DEFAULT_PIPELINE } from '../pipelines/name';
import { PipelineStage } from './search-attributes';

const { maintainTable } = proxyActivities<Activities>({
  startToCloseTimeout: '4 hours',
  heartbeatTimeout: '2 minutes',
  retry: STAGE_RETRY,
});

export async function maintainTablesWorkflow(rawInput?: unknown): Promise<MaintainTablesResult> {
  const input = validated(() => parseInput(MaintainTablesInput, rawInput, 'maintainTablesWorkflow'));
  upsertSearchAttributes([{ key: PipelineStage, value: 'maintenance' }]);
  const result: MaintainTablesResult = { stage: 'maintenance', dryRun: input.dryRun, operations: input.operations, tables: [], failed: [] };
  for (const table of input.tables) {
    setCurrentDetails(`${input.dryRun ? 'Dry run: ' : ''}${input.operations.join(', ')} on ${table}`);
    try {
      result.tables.push(
        await maintainTable({
          // the sensor pipeline's activity input stays what it always was (the activity defaults to it)
          ...(input.pipeline === DEFAULT_PIPELINE ? {} : { pipeline: input.pipeline }),
          table,
          operations: input.operations,
          dryRun: input.dryRun,
          force: input.force,
          vacuumRetentionMs: input.vacuumRetentionHours === undefined ? undefined : Math.round(input.vacuumRetentionHours * 3_600_000),
          targetFileSize: input.targetFileSizeBytes,
        }),
      );
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause;
      result.failed.push({ table, error: cause?.message ?? (e as Error).message });
    }
  }
  setCurrentDetails(describe(input.pipeline, result));
  if (result.failed.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `maintenance failed on ${result.failed.map((f) => `${f.table}: ${f.error}`).join('; ')}`,
      'TableMaintenanceFailed',
      result,
    );
  }
  return result;
}

function describe(pipeline: string, r: MaintainTablesResult): string {
  const lines = r.tables.map((t) => {
    const parts = [`**${t.table}** v${t.version}`];
    if (t.propertiesSet.length) parts.push(`properties set: ${t.propertiesSet.join(', ')}`);
    if (t.compaction) parts.push(t.compaction.skipped ? `compaction skipped (${t.compaction.skipped})` : `compaction ${t.compaction.filesRemoved} → ${t.compaction.filesAdded} files`);
    if (t.checkpoint !== null) parts.push(`checkpoint at v${t.checkpoint}`);
    if (t.vacuum) parts.push(`vacuum ${r.dryRun ? 'would delete' : 'deleted'} ${r.dryRun ? t.vacuum.files : t.vacuum.deleted} files (${t.vacuum.bytes} bytes)`);
    if (t.logCleanup) parts.push(`log cleanup ${r.dryRun ? 'would delete' : 'deleted'} ${r.dryRun ? t.logCleanup.files : t.logCleanup.deleted} log files${t.logCleanup.reason ? ` (${t.logCleanup.reason})` : ''}`);
    return parts.join('; ');
  });
  const failed = r.failed.map((f) => `**${f.table}** FAILED: ${f.error}`);
  const whose = pipeline === DEFAULT_PIPELINE ? '' : `pipeline ${pipeline}: `;
  return [`${r.dryRun ? 'Dry run — nothing changed. ' : ''}${whose}operations: ${r.operations.join(', ')}`, ...lines, ...failed].join('\n\n');
}
