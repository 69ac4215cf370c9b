/**
 * Integration-test plumbing against the real local stack (`npm run stack -- up`): a fresh topic
 * and lake directory per test, a worker on its own task queue, and a Temporal client.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker, DefaultLogger, type LogEntry, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { loadEnv, loadWorkerConfig, type KafkaConnectionConfig, type WorkerConfig } from '../../src/config';
import { createActivities, type FaultHooks } from '../../src/activities';
import { WORKFLOW_INTERCEPTOR_MODULES, workerInterceptors } from '../../src/worker';
import { openDuckDB } from '../../src/lake/duckdb';
import { LocalStore, LOG_PREFIX, parseLogKey } from '../../src/delta';
import { sqlString } from '../../src/delta/sql';
import { testTempRoot } from './temp-root';
import type { PipelineFile } from '../../src/pipelines/definition';

export const env = loadEnv();

// Worker logs below WARN are noise in test output. They are printed, and handed to the listeners
// of captureWorkerLogs() with their attributes (workflowId, stage, …).
let runtimeInstalled = false;
const logListeners = new Set<(entry: LogEntry) => void>();
function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const printer = new DefaultLogger('WARN');
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => {
      for (const listener of logListeners) listener(entry);
      printer.log(entry.level, entry.message, entry.meta);
    }),
  });
}

/** Collects the worker log entries (WARN and above) from now until stop(). */
export function captureWorkerLogs(): { entries: LogEntry[]; stop(): void } {
  const entries: LogEntry[] = [];
  const listener = (e: LogEntry) => void entries.push(e);
  logListeners.add(listener);
  return { entries, stop: () => void logListeners.delete(listener) };
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function tempLakeRoot(): string {
  const dir = path.join(testTempRoot(), uniqueName('lake'));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export function plaintextKafka(): KafkaConnectionConfig {
  return { brokers: env.KAFKA_BROKERS, clientId: 'tributary-test', securityProtocol: 'PLAINTEXT' };
}

export function testConfig(lakeRoot: string, kafka: KafkaConnectionConfig = plaintextKafka()): WorkerConfig {
  const base = loadWorkerConfig(env);
  return { ...base, lakeRoot, kafka, temporal: { ...base.temporal, taskQueue: uniqueName('tq') } };
}

export function adminKafka(): Kafka {
  return new Kafka({ clientId: 'tributary-test-admin', brokers: env.KAFKA_BROKERS, logLevel: logLevel.NOTHING });
}

export async function createTopic(topic: string, partitions: number, configEntries: { name: string; value: string }[] = []): Promise<void> {
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries }] });
  } finally {
    await admin.disconnect();
  }
}

/** Sends messages (in chunks) and waits for the acks. */
export async function produce(topic: string, messages: Message[]): Promise<void> {
  const producer = adminKafka().producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    // Chunks under the broker's 1 MB request limit.
    let chunk: Message[] = [];
    let bytes = 0;
    for (const m of messages) {
      chunk.push(m);
      bytes += (m.value?.length ?? 0) + 64;
      if (chunk.length >= 2000 || bytes >= 512 * 1024) {
        await producer.send({ topic, acks: -1, messages: chunk });
        [chunk, bytes] = [[], 0];
      }
    }
    if (chunk.length > 0) await producer.send({ topic, acks: -1, messages: chunk });
  } finally {
    await producer.disconnect();
  }
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES, logger: new DefaultLogger('WARN') });
  return bundle;
}

export interface TestWorker {
  config: WorkerConfig;
  client: Client;
  taskQueue: string;
  /** Runs fn while the worker polls; the worker shuts down afterwards. */
  run<T>(fn: () => Promise<T>): Promise<T>;
}

let clientConnection: Connection | undefined;
let workerConnection: NativeConnection | undefined;

/** A worker on its own task queue; `pipelines`: the definition file it loaded (default: the repo's pipelines.yaml). */
export async function testWorker(config: WorkerConfig, faults?: FaultHooks, pipelines?: PipelineFile): Promise<TestWorker> {
  installRuntime();
  workerConnection ??= await NativeConnection.connect({ address: config.temporal.address });
  clientConnection ??= await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
  const workflowBundleCode = await workflowBundle();
  return {
    config,
    client,
    taskQueue: config.temporal.taskQueue,
    async run<T>(fn: () => Promise<T>): Promise<T> {
      const worker = await Worker.create({
        connection: workerConnection!,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        workflowBundle: workflowBundleCode,
        activities: createActivities({ config, faults, pipelines }),
        interceptors: workerInterceptors(),
        maxConcurrentActivityTaskExecutions: 2,
      });
      return worker.runUntil(fn());
    },
  };
}

/**
 * Scale-out tests: runs fn while several workers poll the same task queue, each with its own activities (e.g.
 * createActivities(...) wrapped to record which worker ran what). All shut down when fn settles.
 */
export async function runWorkers<T>(config: WorkerConfig, activities: object[], fn: (client: Client) => Promise<T>): Promise<T> {
  installRuntime();
  clientConnection ??= await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
  const workflowBundleCode = await workflowBundle();
  // One connection per worker: the SDK refuses two workers of one queue on one connection (as separate hosts would be).
  const connections: NativeConnection[] = [];
  try {
    const workers: Worker[] = [];
    for (const a of activities) {
      const connection = await NativeConnection.connect({ address: config.temporal.address });
      connections.push(connection);
      workers.push(
        await Worker.create({
          connection,
          namespace: config.temporal.namespace,
          taskQueue: config.temporal.taskQueue,
          workflowBundle: workflowBundleCode,
          activities: a,
          interceptors: workerInterceptors(),
          maxConcurrentActivityTaskExecutions: 2,
        }),
      );
    }
    const done = fn(client);
    const [result] = await Promise.all([done, ...workers.map((w) => w.runUntil(done.catch(() => undefined)))]);
    return result;
  } finally {
    for (const c of connections) await c.close().catch(() => undefined);
  }
}

export async function closeConnections(): Promise<void> {
  await clientConnection?.close();
  await workerConnection?.close();
  clientConnection = undefined;
  workerConnection = undefined;
  if (runtimeInstalled) await Runtime.instance().shutdown();
  runtimeInstalled = false;
}

/** Runs a read-only query on the lake with the delta extension (e.g. over delta_scan). */
export async function queryLake<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const lake = await openDuckDB();
  try {
    return (await lake.connection.runAndReadAll(sql)).getRowObjectsJson() as T[];
  } finally {
    lake.close();
  }
}

export const deltaScan = (dir: string) => `delta_scan(${sqlString(dir)})`;

/** Commit versions in a table's log (sync, for expectations; names parsed by src/delta). */
export function deltaVersions(dir: string): number[] {
  const store = new LocalStore(dir);
  return fs
    .readdirSync(store.locate(LOG_PREFIX.slice(0, -1)))
    .map((name) => parseLogKey(LOG_PREFIX + name))
    .flatMap((f) => (f?.kind === 'commit' ? [f.version] : []))
    .sort((a, b) => a - b);
}

/** Runs a pipeline workflow (they all take one input object) on the test worker's queue; resolves to its result. */
export function execute<R>(w: TestWorker, workflow: (input?: unknown) => Promise<R>, input: object = {}, workflowId = uniqueName(workflow.name)): Promise<R> {
  return w.client.workflow.execute(workflow, { taskQueue: w.taskQueue, workflowId, args: [input] });
}

/** The failure at the bottom of a failed workflow (workflow → activity → application). */
export function rootFailure(e: unknown): ApplicationFailure {
  expect(e).toBeInstanceOf(WorkflowFailedError);
  let cause = (e as WorkflowFailedError).cause;
  if (cause instanceof ActivityFailure) cause = cause.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}
