/**
 * Stage 2 — the seed's `02_deserialize`: raw/sensor_readings → bronze/sensor_readings +
 * bronze/sensor_readings_dead_letter, "availableNow" style (up to the raw version that exists when
 * the run starts, in bounded batches).
 *
 * The workflow only decides: it validates the input, hands the activity the checkpoint carried
 * from the previous run (`workflowInfo().lastResult`; the tables' txn wins, a difference is
 * reported), and returns counts. Rows never pass through here. Exactly-once lives in the tables:
 * every batch commit carries the raw version it processed through as a Delta txn (see
 * src/lake/bronze.ts). With `fromRawVersion`/`toRawVersion` the run is a backfill instead.
 */
import { proxyActivities, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { collision, FOLLOW_UP_RETRY, isFollowUp, STAGE_RETRY, startNextStage, validated } from './common';
import type { BronzeResult } from '../lake/bronze-plan';
import { DeserializeInput, isBackfill } from './bronze-input';
import { carriedCheckpoint, type VersionCheckpoint } from '../stages';
import { parseInput } from './inputs';
import { DeadLetters, PipelineStage, RecordsIn, RecordsOut, TableVersion } from './search-attributes';

const options = {
  // A backlog is worked off in bounded batches; the heartbeat after each batch says it is alive and
  // delivers a cancellation, honoured before the next batch.
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
} as const;
const { deserialize } = proxyActivities<Activities>({ ...options, retry: STAGE_RETRY });
const followUp = proxyActivities<Activities>({ ...options, retry: FOLLOW_UP_RETRY });

export async function deserializeWorkflow(rawInput?: unknown): Promise<BronzeResult> {
  const input = validated(() => parseInput(DeserializeInput, rawInput, 'deserializeWorkflow'));
  // A previous run's result may be from an older version (-1 for "nothing yet"): carriedCheckpoint reads both.
  const workflowCheckpoint = carriedCheckpoint((workflowInfo().lastResult as Partial<BronzeResult> | undefined)?.checkpoint);
  upsertSearchAttributes([{ key: PipelineStage, value: 'bronze' }]);
  setCurrentDetails(
    isBackfill(input)
      ? `Backfill: re-deriving raw versions ${input.fromRawVersion ?? 0}..${input.toRawVersion ?? 'checkpoint'} (rows already in bronze or the dead letter are skipped)`
      : `Parsing raw versions after ${workflowCheckpoint ?? 'the tables’ checkpoint'} up to the latest at start, ≤ ${input.maxRowsPerBatch} rows per batch`,
  );

  let result: BronzeResult;
  try {
    result = await (isFollowUp(input.pipeline) ? followUp.deserialize : deserialize)({ ...input, workflowCheckpoint });
  } catch (e) {
    // A near-real-time follow-up that collides with another stage-2 run yields to it.
    const reason = isFollowUp(input.pipeline) ? collision(e) : null;
    if (reason === null) throw e;
    setCurrentDetails(`**bronze** — yielded to another stage-2 run that was writing: ${reason}`);
    return yieldedBronze(reason, workflowCheckpoint);
  }

  upsertSearchAttributes([
    { key: RecordsIn, value: result.recordsIn },
    { key: RecordsOut, value: result.recordsOut },
    { key: DeadLetters, value: result.deadLetters },
    { key: TableVersion, value: result.bronzeTableVersion },
  ]);
  setCurrentDetails(describeBronze(result));
  if (input.nearRealTime && result.recordsOut > 0) {
    await startNextStage('mergeGoldWorkflow', { pipeline: input.pipeline });
  }
  return result;
}

function yieldedBronze(reason: string, c: VersionCheckpoint): BronzeResult {
  return {
    stage: 'bronze',
    mode: 'scheduled',
    yielded: reason,
    checkpoint: c,
    checkpointBefore: c,
    rawTargetVersion: null,
    backfillRange: null,
    batches: 0,
    repairBatches: 0,
    repaired: null,
    recordsIn: 0,
    recordsOut: 0,
    deadLetters: 0,
    deadLettersByError: {},
    expectationWarnings: {},
    alreadyPresent: 0,
    bronzeTableVersion: -1,
    deadLetterTableVersion: -1,
    lagVersions: 0,
    lagRecords: 0,
    checkpointDisagreement: null,
  };
}

function describeBronze(r: BronzeResult): string {
  const errors = Object.entries(r.deadLettersByError)
    .sort((a, b) => b[1] - a[1])
    .map(([e, n]) => `${e}: ${n}`)
    .join(', ');
  const lines = [
    `**bronze** (${r.mode}) — ${r.recordsIn} raw rows in ${r.batches} batch(es) → ${r.recordsOut} bronze, ${r.deadLetters} dead letters${errors ? ` (${errors})` : ''}`,
    `raw processed through version ${r.checkpoint ?? 'none'} (was ${r.checkpointBefore ?? 'none'}); bronze v${r.bronzeTableVersion}, dead letter v${r.deadLetterTableVersion}; lag ${r.lagVersions} raw version(s) / ${r.lagRecords} rows`,
  ];
  if (r.backfillRange) lines.push(`backfill re-derived raw versions ${r.backfillRange.fromExclusive + 1}..${r.backfillRange.toInclusive}; ${r.alreadyPresent} rows were already there`);
  const warned = Object.entries(r.expectationWarnings ?? {}).filter(([, n]) => n > 0);
  if (warned.length) lines.push(`kept, but broke a warn expectation: ${warned.map(([e, n]) => `${e}: ${n}`).join(', ')}`);
  if (r.repaired) lines.push(`completed a half-committed batch: ${r.repaired} caught up`);
  if (r.checkpointDisagreement) lines.push(`table checkpoint won over workflow's: ${JSON.stringify(r.checkpointDisagreement)}`);
  return lines.join('\n\n');
}
