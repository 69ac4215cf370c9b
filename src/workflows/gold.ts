/**
 * Stage 3 — the seed's `03_merge_gold`: bronze/sensor_readings → gold/sensor_readings, MERGE on
 * (sensor_id, ts_ms), newest arrival wins (see src/lake/gold.ts for the semantics).
 *
 * Like stage 1, the workflow only decides: it validates the input, passes the bronze version it
 * carries from the previous run (`workflowInfo().lastResult`, set by Schedules and cron runs) as
 * a fallback checkpoint — the gold table's txn wins — and returns the new one. Rows never pass
 * through here; the activity merges them and records the checkpoint in the same Delta commit.
 */
import { proxyActivities, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { collision, FOLLOW_UP_RETRY, isFollowUp, STAGE_RETRY, validated } from './common';
import { carriedCheckpoint, readsAfter, type VersionCheckpoint } from '../stages';
import { parseInput } from './inputs';
import type { GoldResult } from '../lake/gold-result';
import { MergeGoldInput } from './gold-input';
import { PipelineStage, RecordsIn, RecordsOut, TableVersion } from './search-attributes';

const options = {
  startToCloseTimeout: '2 hours',
  // The activity heartbeats on progress (batch start, commit attempt, batch end), never on a timer,
  // so a hung query ends the attempt here; cancellation is honoured between batches.
  heartbeatTimeout: '2 minutes',
} as const;
const { mergeGold } = proxyActivities<Activities>({ ...options, retry: STAGE_RETRY });
const followUp = proxyActivities<Activities>({ ...options, retry: FOLLOW_UP_RETRY });

export async function mergeGoldWorkflow(rawInput?: unknown): Promise<GoldResult> {
  const input = validated(() => parseInput(MergeGoldInput, rawInput, 'mergeGoldWorkflow'));
  const previous = workflowInfo().lastResult as Partial<GoldResult> | undefined;
  const workflowCheckpoint = input.checkpoint ?? carriedCheckpoint(previous?.checkpoint);
  upsertSearchAttributes([{ key: PipelineStage, value: 'gold' }]);
  setCurrentDetails(
    input.backfill
      ? `Backfill: re-merging bronze versions ${input.backfill.fromVersion}..${input.backfill.toVersion ?? 'latest'} into gold (checkpoint untouched)`
      : `Merging bronze versions after ${workflowCheckpoint ?? 'the gold checkpoint'} into gold`,
  );

  let result: GoldResult;
  try {
    result = await (isFollowUp(input.pipeline) ? followUp.mergeGold : mergeGold)({ ...input, workflowCheckpoint });
  } catch (e) {
    // A near-real-time follow-up that collides with another gold run yields to it.
    const reason = isFollowUp(input.pipeline) ? collision(e) : null;
    if (reason === null) throw e;
    setCurrentDetails(`**gold** — yielded to another gold run that was writing: ${reason}`);
    return yieldedGold(reason, workflowCheckpoint);
  }

  upsertSearchAttributes([
    { key: RecordsIn, value: result.rowsIn },
    { key: RecordsOut, value: result.inserted + result.updated },
    { key: TableVersion, value: result.goldVersion },
  ]);
  setCurrentDetails(describeGold(result));
  return result;
}

function yieldedGold(reason: string, checkpoint: VersionCheckpoint): GoldResult {
  return {
    stage: 'gold',
    mode: 'incremental',
    yielded: reason,
    bronzeAfterVersion: readsAfter(checkpoint),
    bronzeToVersion: readsAfter(checkpoint),
    checkpoint,
    checkpointDisagreement: null,
    rowsIn: 0,
    inserted: 0,
    updated: 0,
    skippedOlder: 0,
    arrivalBackdated: 0,
    filesRewritten: 0,
    filesAdded: 0,
    commits: 0,
    batches: 0,
    goldVersion: -1,
  };
}

function describeGold(r: GoldResult): string {
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
