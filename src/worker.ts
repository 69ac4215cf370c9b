/**
 * The worker: every workflow and activity of the pipeline on task queue `sensor-pipeline`.
 * Sized for a 2-core box: stage activities are CPU-heavy (DuckDB uses every core), so few run
 * at once. SIGINT/SIGTERM drain it: in-flight activities get `shutdownGraceTime` to finish, then
 * are cancelled; a cancelled stage stops between two Delta commits (each commit is all or nothing),
 * so nothing is half-written and the retry on the next worker resumes from the tables.
 */
import type { Duration } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import { loadWorkerConfig } from './config';

export async function createWorker(
  deps: ActivityDeps,
  connection: NativeConnection,
  opts: { shutdownGraceTime?: Duration } = {},
): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: deps.config.temporal.namespace,
    taskQueue: deps.config.temporal.taskQueue,
    workflowsPath: require.resolve('./workflows'),
    activities: createActivities(deps),
    maxConcurrentActivityTaskExecutions: 2,
    maxConcurrentWorkflowTaskExecutions: 10,
    shutdownGraceTime: opts.shutdownGraceTime ?? '1 minute',
  });
}

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  try {
    const worker = await createWorker({ config }, connection);
    console.log(`worker on ${config.temporal.address} task queue ${config.temporal.taskQueue}, lake ${config.lakeRoot}`);
    await worker.run();
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
