/**
 * Stage 1 against the real stack: Kafka (KRaft) → ingestRawWorkflow on Temporal → raw Delta table.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ingestRawWorkflow } from '../../src/workflows';
import type { IngestRawInput } from '../../src/workflows/inputs';
import { RAW, tableDir } from '../../src/lake/tables';
import {
  adminKafka,
  closeConnections,
  createTopic,
  deltaScan,
  deltaVersions,
  env,
  execute,
  produce,
  queryLake,
  tempLakeRoot,
  testConfig,
  testWorker,
  uniqueName,
  type TestWorker,
} from '../helpers/pipeline';
import { captureWorkerLogs, rootFailure } from '../helpers/pipeline';

afterAll(closeConnections);

// Message timestamps an hour back, ms-aligned: old enough to be ordered, young enough that the
// broker's 7-day retention never deletes them mid-test (timestamps months old were deleted in CI).
const BASE_TS = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
const payload = (i: number) => JSON.stringify({ sensor_id: `s-${i % 50}`, value: i / 10, unit: 'C', ts_ms: BASE_TS + i, i });

const ingest = (w: TestWorker, input: Partial<IngestRawInput>) => execute(w, ingestRawWorkflow, input);

async function rawStats(dir: string) {
  const [row] = await queryLake<{ n: number; keys: number; payloads: number; bad_ts: number }>(
    `SELECT count(*)::INT AS n,
            count(DISTINCT (topic, "partition", "offset"))::INT AS keys,
            count(DISTINCT raw_payload)::INT AS payloads,
            count(*) FILTER (WHERE kafka_ts <> make_timestamptz((${BASE_TS} + (raw_payload::JSON->>'i')::BIGINT) * 1000))::INT AS bad_ts
     FROM ${deltaScan(dir)}`,
  );
  return row;
}

describe('ingestRawWorkflow', () => {
  it('lands 10,000 messages from 3 partitions exactly once, in bounded commits, and a run with nothing new adds no version', async () => {
    const topic = uniqueName('raw-10k');
    await createTopic(topic, 3);
    await produce(topic, Array.from({ length: 10_000 }, (_, i) => ({ key: `k${i}`, value: payload(i), timestamp: String(BASE_TS + i) })));
    const lakeRoot = tempLakeRoot();
    const dir = tableDir(lakeRoot, RAW);
    const w = await testWorker(testConfig(lakeRoot));

    const first = await w.run(() => ingest(w, { topics: [topic], startingOffsets: 'earliest', maxRecordsPerCommit: 3000 }));
    expect(first.recordsIn).toBe(10_000);
    expect(first.commits).toBeGreaterThanOrEqual(4); // bounded: 10,000 / 3,000 per commit
    const perPartition = await queryLake<{ partition: number; n: number; max_offset: number }>(
      `SELECT "partition", count(*)::INT AS n, max("offset")::INT AS max_offset FROM ${deltaScan(dir)} GROUP BY ALL ORDER BY 1`,
    );
    expect(perPartition.map((p) => p.partition)).toEqual([0, 1, 2]);
    for (const p of perPartition) {
      expect(p.max_offset).toBe(p.n - 1); // contiguous offsets 0..n-1
      expect(first.checkpoint[topic][String(p.partition)]).toBe(p.n);
    }
    expect(await rawStats(dir)).toEqual({ n: 10_000, keys: 10_000, payloads: 10_000, bad_ts: 0 });

    const versionsBefore = deltaVersions(dir);
    const second = await w.run(() => ingest(w, { topics: [topic], checkpoint: first.checkpoint }));
    expect(second.recordsIn).toBe(0);
    expect(second.commits).toBe(0);
    expect(deltaVersions(dir)).toEqual(versionsBefore);
    expect(second.checkpoint).toEqual(first.checkpoint);
  });

  it.each([
    ['before', 'beforeCommit' as const],
    ['after', 'afterCommit' as const],
  ])('survives the activity dying %s a commit: no record lost or duplicated', async (_when, hook) => {
    const topic = uniqueName(`raw-crash`);
    await createTopic(topic, 3);
    await produce(topic, Array.from({ length: 10_000 }, (_, i) => ({ key: `k${i}`, value: payload(i), timestamp: String(BASE_TS + i) })));
    const lakeRoot = tempLakeRoot();
    let crashes = 0;
    const die = (stage: string, n: number) => {
      if (stage === 'raw' && n === 2 && crashes < 2) {
        crashes += 1;
        throw new Error(`injected crash ${hook} commit ${n}`);
      }
    };
    const w = await testWorker(testConfig(lakeRoot), { [hook]: die });
    const result = await w.run(() => ingest(w, { topics: [topic], startingOffsets: 'earliest', maxRecordsPerCommit: 2500 }));
    expect(crashes).toBe(2);
    expect(await rawStats(tableDir(lakeRoot, RAW))).toEqual({ n: 10_000, keys: 10_000, payloads: 10_000, bad_ts: 0 });
    // The result covers only the last attempt; the table holds everything exactly once.
    expect(Object.values(result.checkpoint[topic]).reduce((a, b) => a + b, 0)).toBe(10_000);
  });

  it('keeps tombstones, non-UTF-8 bytes, skips aborted transactions, and picks up new partitions from their start', async () => {
    const topic = uniqueName('raw-edge');
    await createTopic(topic, 1);
    const lakeRoot = tempLakeRoot();
    const dir = tableDir(lakeRoot, RAW);
    const w = await testWorker(testConfig(lakeRoot));

    const kafka = new Kafka({ clientId: 'tx-test', brokers: env.KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    const tx = kafka.producer({ transactionalId: uniqueName('tx'), idempotent: true, maxInFlightRequests: 1 });
    await tx.connect();
    const aborted = await tx.transaction();
    await aborted.send({ topic, messages: [{ value: 'aborted-1' }, { value: 'aborted-2' }] });
    await aborted.abort();
    await produce(topic, [{ value: null }, { value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }, { value: 'ok-1' }]);
    const committed = await tx.transaction();
    await committed.send({ topic, messages: [{ value: 'tx-1' }, { value: 'tx-2' }] });
    await committed.commit();
    await tx.disconnect();

    const first = await w.run(() => ingest(w, { topics: [topic], startingOffsets: 'earliest' }));
    const rows = await queryLake<{ offset: number; raw_payload: string | null; bytes_hex: string | null }>(
      `SELECT "offset"::INT AS "offset", raw_payload, hex(raw_payload_bytes) AS bytes_hex FROM ${deltaScan(dir)} ORDER BY "offset"`,
    );
    expect(rows.map((r) => r.raw_payload)).toEqual([null, null, 'ok-1', 'tx-1', 'tx-2']);
    expect(rows.map((r) => r.bytes_hex)).toEqual([null, '7BFFFE7D', null, null, null]);
    // Offsets: 2 aborted + abort marker = 0..2, then 3..5, tx 6..7, commit marker 8 → next is 9.
    expect(first.checkpoint[topic]['0']).toBe(9);

    const admin = adminKafka().admin();
    await admin.connect();
    await admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] });
    await admin.disconnect();
    await produce(topic, [{ partition: 1, value: 'new-partition-1' }, { partition: 0, value: 'p0-after' }]);
    // Right after createPartitions the broker's metadata may not list the new partition yet (seen
    // once in CI): then this run reads partition 0 only and the next one reads partition 1 from its
    // first offset. Either way nothing is skipped or read twice.
    let runs = [await w.run(() => ingest(w, { topics: [topic], checkpoint: first.checkpoint }))];
    if (runs[0].recordsIn < 2) runs = [...runs, await w.run(() => ingest(w, { topics: [topic], checkpoint: runs[0].checkpoint }))];
    expect(runs.reduce((n, r) => n + r.recordsIn, 0)).toBe(2);
    expect(runs.at(-1)!.checkpoint[topic]).toEqual({ '0': 10, '1': 1 });
    const late = await queryLake<{ raw_payload: string }>(`SELECT raw_payload FROM ${deltaScan(dir)} WHERE "offset" >= 9 OR "partition" = 1 ORDER BY raw_payload`);
    expect(late.map((r) => r.raw_payload)).toEqual(['new-partition-1', 'p0-after']);
  });

  it('failOnDataLoss: true fails naming the lost range; false continues from the earliest offset and reports it', async () => {
    const topic = uniqueName('raw-loss');
    await createTopic(topic, 1);
    const lakeRoot = tempLakeRoot();
    const w = await testWorker(testConfig(lakeRoot));
    await produce(topic, Array.from({ length: 100 }, (_, i) => ({ value: `m${i}` })));
    const first = await w.run(() => ingest(w, { topics: [topic], startingOffsets: 'earliest' }));
    expect(first.checkpoint[topic]['0']).toBe(100);

    await produce(topic, Array.from({ length: 100 }, (_, i) => ({ value: `m${100 + i}` })));
    const admin = adminKafka().admin();
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [topic] }); // kafkajs needs the metadata cached first
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '150' }] }); // retention, simulated
    await admin.disconnect();

    const failed = await w.run(() => ingest(w, { topics: [topic], failOnDataLoss: true }).then(() => null, (e) => e));
    const failure = rootFailure(failed);
    expect(failure.type).toBe('DataLossError');
    expect(failure.nonRetryable || failure.type === 'DataLossError').toBe(true);
    expect(failure.message).toContain(`${topic}[0] offsets 100..149`);

    const lenient = await w.run(() => ingest(w, { topics: [topic], failOnDataLoss: false }));
    expect(lenient.lost).toEqual([expect.objectContaining({ topic, partition: 0, from: 100, to: 150 })]);
    expect(lenient.recordsIn).toBe(50);
    const [range] = await queryLake<{ n: number; lo: number; hi: number }>(
      `SELECT count(*)::INT AS n, min("offset")::INT AS lo, max("offset")::INT AS hi FROM ${deltaScan(tableDir(lakeRoot, RAW))} WHERE "offset" >= 100`,
    );
    expect(range).toEqual({ n: 50, lo: 150, hi: 199 });
  });

  it('SASL_SSL end to end; a wrong password fails at once, non-retryable, and the password is nowhere in history or logs', async () => {
    expect(env.KAFKA_SASL_SSL_BROKERS).toBeDefined();
    const topic = uniqueName('raw-sasl');
    await createTopic(topic, 2);
    await produce(topic, Array.from({ length: 500 }, (_, i) => ({ value: payload(i) })));
    const secure = {
      brokers: env.KAFKA_SASL_SSL_BROKERS!,
      clientId: 'tributary-test',
      securityProtocol: 'SASL_SSL' as const,
      caFile: env.KAFKA_SSL_CA_FILE,
      sasl: { mechanism: 'PLAIN' as const, username: env.KAFKA_SASL_USERNAME!, passwordSource: { file: env.KAFKA_SASL_PASSWORD_FILE! } },
    };
    const realPassword = fs.readFileSync(env.KAFKA_SASL_PASSWORD_FILE!, 'utf8').trim();
    const lakeRoot = tempLakeRoot();
    const ok = await testWorker(testConfig(lakeRoot, secure));
    const good = await ok.run(() => ingest(ok, { topics: [topic], startingOffsets: 'earliest' }));
    expect(good.recordsIn).toBe(500);

    const wrongPassword = `wrong-${uniqueName('pw')}`;
    const wrongFile = path.join(lakeRoot, 'wrong-password');
    fs.writeFileSync(wrongFile, wrongPassword, { mode: 0o600 });
    const bad = await testWorker(testConfig(lakeRoot, { ...secure, sasl: { ...secure.sasl, passwordSource: { file: wrongFile } } }));

    const captured: string[] = [];
    const spies = (['log', 'warn', 'error', 'info'] as const).map((m) =>
      jest.spyOn(console, m).mockImplementation((...args: unknown[]) => void captured.push(args.map(String).join(' '))),
    );
    const workflowId = uniqueName('ingest-raw-badpw');
    const workerLogs = captureWorkerLogs();
    let failed: unknown;
    try {
      failed = await bad.run(() =>
        bad.client.workflow
          .execute(ingestRawWorkflow, { taskQueue: bad.taskQueue, workflowId, args: [{ topics: [topic] }] })
          .then(() => null, (e) => e),
      );
    } finally {
      spies.forEach((s) => s.mockRestore());
      workerLogs.stop();
    }
    const failure = rootFailure(failed);
    // kafkajs' own lines about the failure went through the worker's logger, tagged with the run and stage.
    const kafkajsLines = workerLogs.entries.filter((e) => e.message.startsWith('kafkajs: '));
    expect(kafkajsLines.map((e) => e.message)).toContainEqual(expect.stringMatching(/authentication failed/i));
    for (const e of kafkajsLines) expect(e.meta).toMatchObject({ workflowId, stage: 'raw', activityType: 'ingestRaw' });
    // The SDK's own lines of the run too: the activity's and the workflow's failure.
    expect(workerLogs.entries.find((e) => e.message === 'Activity failed')?.meta).toMatchObject({ workflowId, stage: 'raw' });
    expect(workerLogs.entries.find((e) => e.message === 'Workflow failed')?.meta).toMatchObject({ workflowId, stage: 'raw' });
    expect(captured.filter((line) => line.startsWith('[kafkajs]'))).toEqual([]);
    for (const secret of [wrongPassword, realPassword]) expect(JSON.stringify(workerLogs.entries, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(secret);
    expect(failure.type).toBe('PermanentKafkaError');
    expect(failure.message).toMatch(/authentication failed/i);
    const events = (await bad.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const history = JSON.stringify(events);
    for (const secret of [wrongPassword, realPassword]) {
      expect(history).not.toContain(secret);
      expect(captured.join('\n')).not.toContain(secret);
    }
    // Failed at the first attempt: permanent errors are not retried.
    const started = events.filter((ev) => ev.activityTaskStartedEventAttributes);
    expect(started.map((ev) => ev.activityTaskStartedEventAttributes!.attempt)).toEqual([1]);
  });

  it('backfills an offset range or a time range: only missing records, never past the scheduled checkpoint, checkpoint unchanged, safe beside a scheduled run', async () => {
    const topic = uniqueName('raw-backfill');
    await createTopic(topic, 1);
    const lakeRoot = tempLakeRoot();
    const dir = tableDir(lakeRoot, RAW);
    const w = await testWorker(testConfig(lakeRoot));
    await produce(topic, Array.from({ length: 100 }, (_, i) => ({ value: payload(i), timestamp: String(BASE_TS + i) })));
    const first = await w.run(() => ingest(w, { topics: [topic], startingOffsets: 'latest' })); // the seed's default: history skipped
    expect(first.checkpoint[topic]).toEqual({ '0': 100 });
    await produce(topic, Array.from({ length: 50 }, (_, i) => ({ value: payload(100 + i), timestamp: String(BASE_TS + 100 + i) })));
    await w.run(() => ingest(w, { topics: [topic] }));

    const byOffsets = await w.run(() => ingest(w, { topics: [topic], backfill: { offsets: { [topic]: { '0': [0, 120] } } } }));
    expect(byOffsets).toMatchObject({ mode: 'backfill', recordsIn: 100, alreadyPresent: 20, checkpoint: { [topic]: { '0': 150 } } });
    expect(await rawStats(dir)).toEqual({ n: 150, keys: 150, payloads: 150, bad_ts: 0 });

    // A time-range backfill overlapping everything, concurrently with a scheduled run reading new records.
    await produce(topic, Array.from({ length: 2000 }, (_, i) => ({ value: payload(150 + i), timestamp: String(BASE_TS + 150 + i) })));
    const byTime = await w.run(async () => {
      const [, backfill] = await Promise.all([
        ingest(w, { topics: [topic], maxRecordsPerCommit: 200 }),
        ingest(w, { topics: [topic], maxRecordsPerCommit: 200, backfill: { fromTimestamp: new Date(BASE_TS).toISOString() } }),
      ]);
      // A scheduled run reads to the end offsets it saw at its start (and a retried one reports only
      // its last attempt): one more scheduled run drains whatever is left.
      await ingest(w, { topics: [topic] });
      return backfill;
    });
    expect(byTime).toMatchObject({ mode: 'backfill', recordsIn: 0 }); // everything it read was there already
    expect(await rawStats(dir)).toEqual({ n: 2150, keys: 2150, payloads: 2150, bad_ts: 0 });
    const versions = deltaVersions(dir).length;
    const again = await w.run(() => ingest(w, { topics: [topic], backfill: { offsets: { [topic]: { '0': [0, 2150] } } } }));
    expect(again).toMatchObject({ recordsIn: 0, alreadyPresent: 2150 });
    expect(deltaVersions(dir).length).toBe(versions);
  }, 240_000); // room for one reader-idle retry (30 s) if a concurrent read stalls

  it('reads a partition much larger than one fetch to its end (many fetches, pipelined commits)', async () => {
    const topic = uniqueName('raw-big');
    await createTopic(topic, 1);
    const pad = 'x'.repeat(500);
    // ~11 MB in one partition: several 4 MiB fetches, several commits.
    await produce(topic, Array.from({ length: 20_000 }, (_, i) => ({ value: JSON.stringify({ i, pad }) })));
    const lakeRoot = tempLakeRoot();
    const w = await testWorker(testConfig(lakeRoot));
    const result = await w.run(() => ingest(w, { topics: [topic], startingOffsets: 'earliest', maxRecordsPerCommit: 3000 }));
    expect(result.recordsIn).toBe(20_000);
    expect(result.checkpoint[topic]).toEqual({ '0': 20_000 });
    const [row] = await queryLake<{ n: number; ids: number; lo: number; hi: number }>(
      `SELECT count(*)::INT AS n, count(DISTINCT (raw_payload::JSON->>'i'))::INT AS ids, min("offset")::INT AS lo, max("offset")::INT AS hi FROM ${deltaScan(tableDir(lakeRoot, RAW))}`,
    );
    expect(row).toEqual({ n: 20_000, ids: 20_000, lo: 0, hi: 19_999 });
  });
});
