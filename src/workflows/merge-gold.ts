/**
 * Stage 3 — the seed's `03_merge_gold`: bronze/sensor_readings → gold/sensor_readings, MERGE on
 * (sensor_id, ts_ms), newest arrival wins (see src/lake/gold-merge.ts for the semantics).
 *
 * Like stage 1, the workflow only decides: it validates the input, passes the bronze version it
 * carries from the previous run (`workflowInfo().lastResult`, set by Schedules and cron runs) as
 * a fallback checkpoint — the gold table's txn wins — and returns the new one. Rows never pass
 * through here; the activity merges them and records the checkpoint in the same Delta commit.
 */
import { proxyActivities, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { STAGE_RETRY, validated } from './common';
import { parseInput } from './inputs';
import { MergeGoldInput, type MergeGoldResult } from './merge-gold-input';
import { PipelineStage, RecordsIn, RecordsOut, TableVersion } from './search-attributes';

const { mergeGold } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  // The activity heartbeats on a timer while DuckDB works, and after each batch.
  heartbeatTimeout: '2 minutes',
  retry: STAGE_RETRY,
});

export async function mergeGoldWorkflow(rawInput?: unknown): Promise<MergeGoldResult> {
  const input = validated(() => parseInput(MergeGoldInput, rawInput, 'mergeGoldWorkflow'));
  const previous = workflowInfo().lastResult as MergeGoldResult | undefined;
  const workflowCheckpoint = input.checkpoint ?? previous?.checkpoint ?? undefined;
  upsertSearchAttributes([{ key: PipelineStage, value: 'gold' }]);
  setCurrentDetails(
    input.backfill
      ? `Backfill: re-merging bronze versions ${input.backfill.fromVersion}..${input.backfill.toVersion ?? 'latest'} into gold (checkpoint untouched)`
      : `Merging bronze versions after ${workflowCheckpoint ?? 'the gold checkpoint'} into gold`,
  );

  const result = await mergeGold({ ...input, workflowCheckpoint });

  upsertSearchAttributes([
    { key: RecordsIn, value: result.rowsIn },
    { key: RecordsOut, value: result.inserted + result.updated },
    { key: TableVersion, value: result.goldVersion },
  ]);
  setCurrentDetails(describeGold(result));
  return result;
}

function describeGold(r: MergeGoldResult): string {
  const lines = [
    `**gold** (${r.mode}) — bronze versions (${r.bronzeAfterVersion}, ${r.bronzeToVersion}]: ${r.rowsIn} rows in, ` +
      `${r.inserted} inserted, ${r.updated} updated, ${r.skippedOlder} skipped as older` +
      (r.arrivalBackdated ? `, ${r.arrivalBackdated} first arrivals moved back` : ''),
    `${r.commits} commit(s) in ${r.batches} batch(es); files rewritten ${r.filesRewritten}, added ${r.filesAdded}; gold table version ${r.goldVersion}`,
    `checkpoint: bronze version ${r.checkpoint ?? 'none'}`,
  ];
  if (r.checkpointDisagreement) lines.push(`table checkpoint won over workflow's: ${JSON.stringify(r.checkpointDisagreement)}`);
  return lines.join('\n\n');
}
