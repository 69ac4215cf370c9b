/**
 * Graceful shutdown of the real worker (src/worker.ts) in the middle of a long raw ingest: the
 * activity is cancelled between commits, the table holds exactly what its checkpoint says, and a
 * new worker finishes the run with every record exactly once.
 */
import { NativeConnection } from '@temporalio/worker';
import { createWorker } from '../../src/worker';
import { ingestRawWorkflow } from '../../src/workflows';
import { readRawCheckpoint } from '../../src/lake/raw-table';
import { RAW, tableDir } from '../../src/lake/tables';
import { closeConnections, createTopic, deltaScan, env, produce, queryLake, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';

afterAll(closeConnections);

it('a worker shut down mid-run leaves only whole commits, and the next worker completes the run exactly once', async () => {
  const topic = uniqueName('shutdown');
  await createTopic(topic, 2);
  await produce(topic, Array.from({ length: 60_000 }, (_, i) => ({ value: `{"i":${i}}` })));
  const lakeRoot = tempLakeRoot();
  const config = testConfig(lakeRoot);
  const dir = tableDir(lakeRoot, RAW);
  const { client } = await testWorker(config); // for its client only
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  try {
    let commitsSeen = 0;
    let reachedThird!: () => void;
    const thirdCommit = new Promise<void>((r) => (reachedThird = r));
    const first = await createWorker({ config, faults: { afterCommit: () => ++commitsSeen === 3 && reachedThird() } }, connection, { shutdownGraceTime: '10ms' });
    const firstRun = first.run();
    const handle = await client.workflow.start(ingestRawWorkflow, {
      taskQueue: config.temporal.taskQueue,
      workflowId: uniqueName('shutdown-run'),
      args: [{ topics: [topic], startingOffsets: 'earliest', maxRecordsPerCommit: 500 }],
    });
    await thirdCommit;
    first.shutdown();
    await firstRun;

    // Between workers: every committed record is there once, and nothing past the checkpoint.
    const { checkpoint } = await readRawCheckpoint(dir);
    const committed = Object.values(checkpoint[topic] ?? {}).reduce((a, b) => a + b, 0);
    const [mid] = await queryLake<{ n: number; keys: number }>(`SELECT count(*)::INT AS n, count(DISTINCT (topic, "partition", "offset"))::INT AS keys FROM ${deltaScan(dir)}`);
    expect(mid).toEqual({ n: committed, keys: committed });
    expect(committed).toBeLessThan(60_000); // it really was stopped mid-run

    const second = await createWorker({ config }, connection);
    const result = await second.runUntil(handle.result());
    expect(result.recordsIn).toBe(60_000 - committed);
    const [end] = await queryLake<{ n: number; keys: number }>(`SELECT count(*)::INT AS n, count(DISTINCT raw_payload)::INT AS keys FROM ${deltaScan(dir)}`);
    expect(end).toEqual({ n: 60_000, keys: 60_000 });
  } finally {
    await connection.close();
  }
});
