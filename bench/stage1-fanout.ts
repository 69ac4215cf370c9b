/**
 * Stage 1 scale-out: one backlog on a 12-partition topic read by ingestRawWorkflow with 1, 2 and 4 partition
 * groups (`parallelism`), each on a fresh lake, through real Temporal workers in this process (one worker per
 * group slot: `--workers` workers with 2 activity slots each, like separate hosts on one box).
 *
 *   npx tsx bench/stage1-fanout.ts [--n 1000000] [--groups 1,2,4] [--workers 2] [--lake-root DIR]
 *     [--lakes local,az://tributary/bench,s3://tributary/bench]
 *
 * --lakes runs every group count on each lake root (object stores: credentials from the environment, as for a
 * worker — AZURE_STORAGE_* / AWS_* — and AZURITE_BLOB_STORAGE_URL for Azurite); each run gets a fresh prefix.
 *
 * Prints records/s per group count. On one small box the groups share its cores (and the broker), so the
 * figure shows the overhead and the headroom of the fan-out, not what N hosts would reach.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { loadWorkerConfig } from '../src/config';
import { createActivities } from '../src/activities';
import { connectKafka } from '../src/kafka/connection';
import { workerInterceptors } from '../src/worker';
import type { RawResult } from '../src/lake/raw-result';
import { deleteTopic, produceBacklog } from './dataset';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

async function main(): Promise<void> {
  const n = Number(arg('n', '1000000'));
  const groups = arg('groups', '1,2,4').split(',').map(Number);
  const workers = Number(arg('workers', '2'));
  const lakes = arg('lakes', 'local').split(',');
  const base = loadWorkerConfig();
  const kafka = connectKafka(base.kafka);
  const topic = `bench-fanout-${randomUUID().slice(0, 8)}`;
  const admin = kafka.kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 12, replicationFactor: 1 }] });
  await admin.disconnect();
  const produced = await produceBacklog(kafka, topic, { count: n, seed: 42 });
  console.log(`produced ${n} messages to ${topic} (12 partitions) in ${produced.seconds.toFixed(1)} s`);

  Runtime.install({ logger: new DefaultLogger('WARN') });
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../src/workflows'), logger: new DefaultLogger('WARN') });
  const clientConnection = await Connection.connect({ address: base.temporal.address });
  const client = new Client({ connection: clientConnection, namespace: base.temporal.namespace });
  const rows: string[] = [];
  try {
    for (const lake of lakes) for (const g of groups) {
      const lakeRoot =
        lake === 'local' ? fs.mkdtempSync(path.join(arg('lake-root', os.tmpdir()), 'tributary-fanout-')) : `${lake}/${randomUUID().slice(0, 8)}`;
      const config = { ...base, lakeRoot, temporal: { ...base.temporal, taskQueue: `bench-fanout-${randomUUID().slice(0, 8)}` } };
      const connections = await Promise.all(Array.from({ length: workers }, () => NativeConnection.connect({ address: base.temporal.address })));
      const ws = await Promise.all(
        connections.map((connection) =>
          Worker.create({
            connection,
            namespace: base.temporal.namespace,
            taskQueue: config.temporal.taskQueue,
            workflowBundle: bundle,
            activities: createActivities({ config }),
            interceptors: workerInterceptors(),
            maxConcurrentActivityTaskExecutions: 2,
          }),
        ),
      );
      const t0 = performance.now();
      const run = client.workflow.execute('ingestRawWorkflow', {
        taskQueue: config.temporal.taskQueue,
        workflowId: `bench-fanout-${g}-${randomUUID().slice(0, 8)}`,
        args: [{ topics: [topic], startingOffsets: 'earliest', parallelism: g }],
      }) as Promise<RawResult>;
      const [result] = await Promise.all([run, ...ws.map((w) => w.runUntil(run.catch(() => undefined)))]);
      const seconds = (performance.now() - t0) / 1000;
      for (const c of connections) await c.close();
      if (lake === 'local') fs.rmSync(lakeRoot, { recursive: true, force: true });
      if (result.recordsIn !== n) throw new Error(`parallelism ${g}: landed ${result.recordsIn} of ${n}`);
      const line = `stage 1, ${n} records, 12 partitions, lake ${lake}, ${g} group(s) on ${workers} worker(s): ${seconds.toFixed(1)} s, ${Math.round(n / seconds)} records/s, ${result.commits} commits`;
      rows.push(line);
      console.log(line);
    }
  } finally {
    await clientConnection.close();
    await deleteTopic(kafka, topic).catch(() => undefined);
  }
  console.log(`\n${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB\n${rows.join('\n')}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
