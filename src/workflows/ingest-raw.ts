/**
 * Stage 1 — the seed's `01_raw_ingest`: Kafka → raw/sensor_readings, "availableNow" style.
 *
 * The workflow only decides: it validates the input, hands the activity the checkpoint it
 * carries from the previous run (`workflowInfo().lastResult`, set by Schedules and cron runs), and
 * returns the new checkpoint. Rows never pass through here; the activity moves them and commits
 * the offsets inside the same Delta commit, which is what makes retries exactly-once.
 */
import { ApplicationFailure, proxyActivities, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { IngestRawInput, parseInput, type IngestRawResult } from './inputs';
import { PipelineStage, RecordsIn, RecordsOut, TableVersion } from './search-attributes';
import { STAGE_RETRY, startNextStage, validated } from './common';

const { ingestRaw } = proxyActivities<Activities>({
  // A backlog is read in bounded commits; the run may be long, the heartbeat says it is alive.
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: STAGE_RETRY,
});

export async function ingestRawWorkflow(rawInput?: unknown): Promise<IngestRawResult> {
  const input = validated(() => parseInput(IngestRawInput, rawInput, 'ingestRawWorkflow'));
  const previous = workflowInfo().lastResult as IngestRawResult | undefined;
  const workflowCheckpoint = input.checkpoint ?? previous?.checkpoint;
  upsertSearchAttributes([{ key: PipelineStage, value: 'raw' }]);
  setCurrentDetails(`Reading ${input.topics.join(', ')} up to the end offsets captured at start`);

  const result = await ingestRaw({ ...input, workflowCheckpoint });

  upsertSearchAttributes([
    { key: RecordsIn, value: result.recordsIn },
    { key: RecordsOut, value: result.recordsIn },
    { key: TableVersion, value: result.tableVersion },
  ]);
  setCurrentDetails(describeRaw(result));
  if (input.nearRealTime && result.recordsIn > 0) {
    await startNextStage('deserializeWorkflow', { nearRealTime: true });
  }
  if (result.lost.length > 0 && input.failOnDataLoss) {
    // Defensive: the activity already refuses this case.
    throw ApplicationFailure.nonRetryable('data loss detected', 'DataLossError', result.lost);
  }
  return result;
}

function describeRaw(r: IngestRawResult): string {
  const lines = [
    `**raw** — ${r.recordsIn} records in ${r.commits} commit(s); raw table version ${r.tableVersion}`,
    `checkpoint: ${JSON.stringify(r.checkpoint)}`,
  ];
  if (r.lost.length) lines.push(`lost (deleted by Kafka before read): ${JSON.stringify(r.lost)}`);
  if (r.checkpointDisagreements.length) lines.push(`table checkpoint won over workflow's: ${JSON.stringify(r.checkpointDisagreements)}`);
  return lines.join('\n\n');
}
