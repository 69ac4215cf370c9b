/**
 * `npm start`: the pipelines end to end on one machine — local stack up, worker up (the definition file
 * checked as `npm run worker` checks it), every pipeline's schedules created as `npm run schedules` creates them,
 * a sample producer sending sensor data, each stage triggered once in order so
 * gold has rows within a minute, and the status table every few seconds. Ctrl-C stops what this
 * command started (producer, worker, and the stack if it was not already running).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Client, Connection, ScheduleOverlapPolicy } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { z } from 'zod';
import { loadEnv, loadWorkerConfig } from '../config';
import { DEFAULT_PIPELINE } from '../pipelines/name';
import { STAGE_SCHEDULES, describeOrphans, syncSchedules } from '../schedules';
import { collectStatus, formatStatus, statusPipelinesOf } from '../status';
import { PipelineMetrics } from '../metrics/pipeline';
import { metricsEndpoint, sdkTelemetry, serveMetrics } from '../metrics/server';
import { createWorker, loadWorkerPipelines } from '../worker';
import { parseArgs, share } from './args';
import { produceSample } from './produce';

const Args = z
  .object({
    topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/).default('sensor_readings'),
    rate: z.coerce.number().min(1).default(200),
    initial: z.coerce.number().int().min(0).default(5000),
    malformed: share.default(0.05),
    duplicates: share.default(0.05),
    statusEvery: z.coerce.number().min(1).default(15),
  })
  .strict();

const USAGE = 'usage: npm start -- [--topic sensor_readings] [--rate 200 msg/s] [--initial 5000] [--malformed 0.05] [--duplicates 0.05] [--status-every 15 s]';
const stackScript = path.resolve(__dirname, '../../scripts/stack.sh');

function stack(cmd: 'up' | 'down' | 'status', quiet = false): number {
  return spawnSync('bash', [stackScript, cmd], { stdio: quiet ? 'ignore' : 'inherit' }).status ?? 1;
}

async function main(): Promise<void> {
  const args = parseArgs(Args, process.argv.slice(2), USAGE);
  const stackWasUp = stack('status', true) === 0;
  if (!stackWasUp && stack('up') !== 0) throw new Error('the local stack did not start (see above)');

  const env = loadEnv();
  const config = loadWorkerConfig(env);
  // The definition file, checked as `npm run worker` checks it (bind and runnability): a bad file stops here.
  const pipelines = await loadWorkerPipelines(config.tableProperties);
  const endpoint = metricsEndpoint(env);
  // The status table is the output here; worker lifecycle chatter would bury it.
  Runtime.install({ logger: new DefaultLogger('WARN'), telemetryOptions: endpoint ? sdkTelemetry(endpoint) : undefined });
  const workerConnection = await NativeConnection.connect({ address: config.temporal.address });
  const clientConnection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
  const metrics = endpoint ? new PipelineMetrics(config, [args.topic], Runtime.instance().logger, statusPipelinesOf(pipelines.pipelines)) : undefined;
  const worker = await createWorker({ config, pipelines }, workerConnection, { metrics });
  const metricsServer = endpoint && metrics ? await serveMetrics(metrics, endpoint) : undefined;
  const workerDone = worker.run();
  console.log(`worker running on task queue ${config.temporal.taskQueue}; lake at ${config.lakeRoot}${metricsServer ? `; metrics at ${metricsServer.url}` : ''}`);

  const abort = new AbortController();
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping: producer, worker' + (stackWasUp ? '' : ', stack'));
    abort.abort();
    clearInterval(ticker);
    worker.shutdown();
    await workerDone.catch(() => undefined);
    await metricsServer?.close();
    await clientConnection.close();
    await workerConnection.close();
    if (!stackWasUp) stack('down');
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  // Every pipeline's schedules, as `npm run schedules` creates them (orphans reported, never pruned here);
  // only the sensor pipeline reads the sample topic, from its start so the initial sample is landed.
  if (!pipelines.pipelines.some((p) => p.name === DEFAULT_PIPELINE)) console.log(`${pipelines.file} has no ${DEFAULT_PIPELINE} pipeline: nothing reads the sample sent to ${args.topic}`);
  const synced = await syncSchedules(client, {
    taskQueue: config.temporal.taskQueue,
    pipelines: pipelines.pipelines,
    nearRealTime: env.PIPELINE_NEAR_REAL_TIME,
    pipelineInputs: { [DEFAULT_PIPELINE]: { raw: { topics: [args.topic], startingOffsets: 'earliest' } } },
  });
  for (const s of synced.schedules) console.log(`${s.created ? 'created' : 'updated'} schedule ${s.id} (${s.cron})`);
  for (const line of describeOrphans(synced)) console.log(line);

  const sample = { topic: args.topic, malformed: args.malformed, duplicates: args.duplicates, outOfOrder: 0.05, partitions: 3 };
  const truth = await produceSample({ ...sample, count: args.initial, rate: 0, seed: 1 }, { signal: abort.signal });
  console.log(`produced an initial ${truth.total} readings (${truth.total - truth.good} malformed) to ${args.topic}`);
  // Then a steady stream in the background, until Ctrl-C.
  void produceSample({ ...sample, count: Number.MAX_SAFE_INTEGER, rate: args.rate, seed: Date.now() % 2 ** 31 }, { signal: abort.signal }).catch(
    (e) => !stopping && console.error(`producer stopped: ${e instanceof Error ? e.message : e}`),
  );

  // Each stage of each pipeline once, in order, so the first gold rows appear right away instead of in 30 minutes.
  for (const id of pipelines.pipelines.flatMap((p) => STAGE_SCHEDULES.map((def) => p.scheduleIds[def.stage]))) {
    const handle = client.schedule.getHandle(id);
    const triggeredAt = Date.now() - 1000;
    await handle.trigger(ScheduleOverlapPolicy.SKIP); // SKIP: the run joins the schedule's checkpoint chain
    const run = await waitFor(async () => {
      const actions = (await handle.describe()).info.recentActions;
      return actions.find((a) => a.takenAt.getTime() >= triggeredAt)?.action.workflow;
    });
    await client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result().then(
      () => console.log(`${id}: first run done`),
      (e) => console.log(`${id}: first run failed — ${e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : e}`),
    );
  }

  const statusPipelines = statusPipelinesOf(pipelines.pipelines);
  const show = async () => console.log('\n' + formatStatus(await collectStatus(client, config, [args.topic], { pipelines: statusPipelines, allPipelines: statusPipelines })));
  await show();
  const ticker = setInterval(() => void show().catch((e) => console.error(`status: ${e instanceof Error ? e.message : e}`)), args.statusEvery * 1000);
  console.log(`\nTemporal UI: ${env.TEMPORAL_UI_URL} — Ctrl-C to stop`);
}

/** Polls until fn yields a value (bounded: 30 s). */
async function waitFor<T>(fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for the schedule to start its run');
    await new Promise((r) => setTimeout(r, 250));
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
