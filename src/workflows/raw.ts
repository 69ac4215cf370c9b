/**
 * Stage 1 — the seed's `01_raw_ingest`: Kafka → raw/sensor_readings, "availableNow" style.
 *
 * The workflow only decides: it validates the input, hands the activity the checkpoint it
 * carries from the previous run (`workflowInfo().lastResult`, set by Schedules and cron runs), and
 * returns the new checkpoint. Rows never pass through here; the activity moves them and commits
 * the offsets inside the same Delta commit, which is what makes retries exactly-once.
 */
import { proxyActivities, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RawResult } from '../lake/raw-result';
import { IngestRawInput, parseInput, partitionGroups } from './inputs';
import { PipelineStage, RecordsIn, RecordsOut, TableVersion } from './search-attributes';
import { STAGE_RETRY, startNextStage, validated } from './common';

const { ingestRaw } = proxyActivities<Activities>({
  // A backlog is read in bounded commits; the run may be long, the heartbeat says it is alive.
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: STAGE_RETRY,
});

const { listRawPartitions } = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', retry: STAGE_RETRY });

export async function ingestRawWorkflow(rawInput?: unknown): Promise<RawResult> {
  const input = validated(() => parseInput(IngestRawInput, rawInput, 'ingestRawWorkflow'));
  const previous = workflowInfo().lastResult as RawResult | undefined;
  const workflowCheckpoint = input.checkpoint ?? previous?.checkpoint;
  upsertSearchAttributes([{ key: PipelineStage, value: 'raw' }]);
  setCurrentDetails(`Pipeline ${input.pipeline}: reading ${topicsOf(input)} up to the end offsets captured at start`);

  const result =
    input.parallelism > 1 && !input.backfill
      ? await fanOut(input, workflowCheckpoint)
      : await ingestRaw({ ...input, workflowCheckpoint });

  upsertSearchAttributes([
    { key: RecordsIn, value: result.recordsIn },
    { key: RecordsOut, value: result.recordsIn },
    { key: TableVersion, value: result.tableVersion },
  ]);
  setCurrentDetails(describeRaw(result));
  if (input.nearRealTime && result.recordsIn > 0) {
    await startNextStage('deserializeWorkflow', { nearRealTime: true, pipeline: input.pipeline });
  }
  // No data-loss check here: failOnDataLoss is decided in ONE place, the activity's planRead
  // (src/kafka/offsets.ts), with the effective flag (the input's, else the pipeline definition's, which
  // this workflow never sees). It throws DataLossError (non-retryable, common.ts) before anything is committed, and every fan-out
  // group plans over all partitions, so a result with `lost` entries always means failOnDataLoss=false.
  return result;
}

/**
 * Scale-out: one activity per partition group, all at once, on whichever workers poll the queue. Each commits
 * only its own partitions' rows and txns (the txn compare-and-swap is per partition, so the groups never
 * invalidate each other; a lost version race just retries the commit), and each retries alone.
 */
async function fanOut(input: IngestRawInput, workflowCheckpoint: RawResult['checkpoint'] | undefined): Promise<RawResult> {
  const groups = partitionGroups(await listRawPartitions({ pipeline: input.pipeline, topics: input.topics }), input.parallelism);
  if (groups.length <= 1) return ingestRaw({ ...input, workflowCheckpoint });
  setCurrentDetails(`Pipeline ${input.pipeline}: reading ${topicsOf(input)} in ${groups.length} partition group(s)`);
  const results = await Promise.all(
    groups.map((partitions, i) => ingestRaw({ ...input, workflowCheckpoint, group: { partitions, reportsGone: i === 0 } })),
  );
  const checkpoint: RawResult['checkpoint'] = {};
  for (const r of results) {
    for (const [topic, parts] of Object.entries(r.checkpoint)) Object.assign((checkpoint[topic] ??= {}), parts);
  }
  return {
    stage: 'raw',
    mode: 'scheduled',
    checkpoint,
    recordsIn: results.reduce((n, r) => n + r.recordsIn, 0),
    commits: results.reduce((n, r) => n + r.commits, 0),
    tableVersion: Math.max(...results.map((r) => r.tableVersion)),
    lost: results.flatMap((r) => r.lost),
    checkpointDisagreements: results.flatMap((r) => r.checkpointDisagreements),
    groups: groups.length,
  };
}

const topicsOf = (input: IngestRawInput): string => (input.topics ? input.topics.join(', ') : 'its topics');

function describeRaw(r: RawResult): string {
  const lines = [
    `**raw** — ${r.recordsIn} records in ${r.commits} commit(s)${r.groups ? ` by ${r.groups} partition groups` : ''}; raw table version ${r.tableVersion}`,
    `checkpoint: ${JSON.stringify(r.checkpoint)}`,
  ];
  if (r.lost.length) lines.push(`lost (retention, reset or partition gone): ${JSON.stringify(r.lost)}`);
  if (r.checkpointDisagreements.length) lines.push(`table checkpoint won over workflow's: ${JSON.stringify(r.checkpointDisagreements)}`);
  return lines.join('\n\n');
}
