/**
 * Dead-letter replay (after a rule fix): re-parse dead letters — all, or a selection by batch_id,
 * failed_at and/or error — and move the rows that now pass into bronze exactly once, recording
 * which rows and when in bronze/sensor_readings_replay_log. The replay id (default: this
 * workflow's id) is the idempotency key. See src/lake/replay.ts.
 *
 *   temporal workflow start --type replayDeadLettersWorkflow --task-queue sensor-pipeline \
 *     --workflow-id replay-2026-01-07 --input '{"errors":["wrong type for value"]}'
 */
import { proxyActivities, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { STAGE_RETRY, validated } from './common';
import { parseInput } from './inputs';
import { ReplayDeadLettersInput, type ReplayDeadLettersResult } from './replay-input';
import { DeadLetters, PipelineStage, RecordsIn, RecordsOut, TableVersion } from './search-attributes';

const { replayDeadLettersToBronze } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  // Heartbeats after each step (select, parse, replay-log commit, bronze commit); cancellation is
  // honoured between steps.
  heartbeatTimeout: '5 minutes',
  retry: STAGE_RETRY,
});

export async function replayDeadLettersWorkflow(rawInput?: unknown): Promise<ReplayDeadLettersResult> {
  const input = validated(() => parseInput(ReplayDeadLettersInput, rawInput, 'replayDeadLettersWorkflow'));
  const replayId = input.replayId ?? workflowInfo().workflowId;
  upsertSearchAttributes([{ key: PipelineStage, value: 'bronze-replay' }]);
  setCurrentDetails(`Replaying dead letters as replay ${replayId}`);

  const r = await replayDeadLettersToBronze({ ...input, replayId });

  const stillFailing = r.stillFailing ? Object.values(r.stillFailing).reduce((a, b) => a + b, 0) : 0;
  upsertSearchAttributes([
    { key: RecordsIn, value: r.examined ?? r.moved },
    { key: RecordsOut, value: r.moved },
    { key: DeadLetters, value: stillFailing },
    ...(r.bronzeVersion !== null ? [{ key: TableVersion, value: r.bronzeVersion }] : []),
  ]);
  setCurrentDetails(
    r.alreadyLogged
      ? `**replay ${replayId}** had already run: ${r.moved} row(s) were moved to bronze then; nothing re-examined`
      : `**replay ${replayId}** — examined ${r.examined} dead letter(s), ${r.alreadyReplayed} moved by earlier replays, ` +
          `moved ${r.moved} to bronze${r.bronzeVersion !== null ? ` (v${r.bronzeVersion})` : ''}; still failing: ${JSON.stringify(r.stillFailing)}`,
  );
  return r;
}
