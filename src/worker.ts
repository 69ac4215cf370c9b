/**
 * The worker: every workflow and activity of the pipeline on task queue `sensor-pipeline`.
 * Sized for a 2-core box: stage activities are CPU-heavy (DuckDB uses every core), so few run
 * at once (WORKER_MAX_CONCURRENT_ACTIVITIES), and they share one DuckDB memory budget
 * (WORKER_MEMORY_BUDGET, split by memoryShares in src/config.ts). SIGINT/SIGTERM drain it:
 * in-flight activities get `shutdownGraceTime` to finish, then are cancelled; a cancelled stage stops between two Delta commits (each commit is all or nothing),
 * so nothing is half-written and the retry on the next worker resumes from the tables.
 */
import { isObjectStoreUrl, openTableStore } from './delta/open-store';
import { probeStore } from './delta/store-probe';
import type { Duration } from '@temporalio/common';
import { NativeConnection, Runtime, Worker, type ActivityInterceptorsFactory, type WorkerInterceptors } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import { stageOfActivity } from './stages';
import { loadEnv, loadWorkerConfig, type WorkerConfig } from './config';
import { setCheckpointReaderMemoryLimit } from './lake/duckdb';
import { maintainedTables } from './lake/maintenance';
import { PipelineMetrics } from './metrics/pipeline';
import { statusPipelinesOf } from './status';
import { bindProblems } from './pipelines/check';
import { loadPipelineFile, PipelineDefinitionError, pipelinesFilePath, type PipelineFile } from './pipelines/definition';
import { PipelineNotRunnableError, stagePipeline } from './pipelines/stage-pipeline';
import { metricsEndpoint, metricsInterceptor, sdkTelemetry, serveMetrics } from './metrics/server';

/** Every log line of an activity (its own and kafkajs') carries `stage` besides the SDK's workflowId etc. */
const stageLogAttributes: ActivityInterceptorsFactory = (ctx) => ({
  outbound: {
    getLogAttributes: (input, next) => next({ ...input, stage: stageOfActivity(ctx.info.activityType) }),
  },
});

/** Workflow interceptor modules (a prebuilt workflow bundle must be built with them: bundleWorkflowCode). */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('./workflows/log-attributes')];

/**
 * Activity interceptors of every pipeline worker (also the tests' workers, which run a prebuilt bundle made
 * with WORKFLOW_INTERCEPTOR_MODULES); with `metrics`, results are counted.
 */
export function workerInterceptors(metrics?: PipelineMetrics): WorkerInterceptors {
  return { activity: [stageLogAttributes, ...(metrics ? [metricsInterceptor(metrics)] : [])] };
}

export async function createWorker(
  deps: ActivityDeps,
  connection: NativeConnection,
  opts: { shutdownGraceTime?: Duration; metrics?: PipelineMetrics } = {},
): Promise<Worker> {
  setCheckpointReaderMemoryLimit(deps.config.memory.checkpointReader);
  const activities = createActivities(deps); // loads the definition file into deps.pipelines
  return Worker.create({
    connection,
    namespace: deps.config.temporal.namespace,
    taskQueue: deps.config.temporal.taskQueue,
    workflowsPath: require.resolve('./workflows'),
    activities,
    interceptors: { ...workerInterceptors(opts.metrics), workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
    maxConcurrentActivityTaskExecutions: deps.config.memory.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: 10,
    shutdownGraceTime: opts.shutdownGraceTime ?? '1 minute',
  });
}

/**
 * The definition file (PIPELINES_FILE or the repo's pipelines.yaml), checked as `npm run pipelines --
 * validate` checks it, and the tables DELTA_TABLE_PROPERTIES names against it: a worker with a bad
 * file refuses to start, every problem listed.
 */
export async function loadWorkerPipelines(tableProperties?: WorkerConfig['tableProperties']): Promise<PipelineFile> {
  const file = loadPipelineFile(pipelinesFilePath());
  const problems: string[] = [];
  for (const p of file.pipelines) {
    problems.push(...(await bindProblems(p)));
    try {
      stagePipeline(p);
    } catch (e) {
      if (!(e instanceof PipelineNotRunnableError)) throw e;
      problems.push(e.message);
    }
  }
  if (problems.length === 0) problems.push(...tablePropertiesProblems(tableProperties, file));
  if (problems.length) throw new PipelineDefinitionError(file.file, problems);
  return file;
}

/** DELTA_TABLE_PROPERTIES entries for tables no pipeline of the file has (a typo would otherwise never apply). */
export function tablePropertiesProblems(tableProperties: WorkerConfig['tableProperties'], file: PipelineFile): string[] {
  const known = file.pipelines.flatMap((p) => maintainedTables(stagePipeline(p)).map((t) => t.name));
  return Object.keys(tableProperties ?? {})
    .filter((t) => !known.includes(t))
    .map((t) => `DELTA_TABLE_PROPERTIES: no pipeline of ${file.file} has a table ${JSON.stringify(t)} (tables: ${known.join(', ')})`);
}

async function main(): Promise<void> {
  const env = loadEnv();
  const config = loadWorkerConfig(env);
  const pipelines = await loadWorkerPipelines(config.tableProperties);
  // A lake on an object store must accept our credentials and honour put-if-absent, or no commit is safe.
  if (isObjectStoreUrl(config.lakeRoot)) {
    await probeStore(openTableStore(config.lakeRoot));
    console.log(`lake ${config.lakeRoot}: credentials work, conditional writes honoured`);
  }
  const endpoint = metricsEndpoint(env);
  // The SDK's metrics exporter is part of the runtime, which must be installed before the first connection.
  if (endpoint) Runtime.install({ telemetryOptions: sdkTelemetry(endpoint) });
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  try {
    const metrics = endpoint ? new PipelineMetrics(config, endpoint.topics, Runtime.instance().logger, statusPipelinesOf(pipelines.pipelines)) : undefined;
    const worker = await createWorker({ config, pipelines }, connection, { metrics });
    const server = endpoint && metrics ? await serveMetrics(metrics, endpoint) : undefined;
    console.log(
      `worker on ${config.temporal.address} task queue ${config.temporal.taskQueue}, lake ${config.lakeRoot}, ` +
        `pipelines ${pipelines.pipelines.map((p) => p.name).join(', ')} (${pipelines.file})` +
        (server ? `, metrics at ${server.url}` : ''),
    );
    try {
      await worker.run();
    } finally {
      await server?.close();
    }
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
