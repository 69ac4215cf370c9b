/**
 * Issue 16 finding 4: Kafka resets against the real broker. A topic deleted and recreated (its
 * offsets restart below our checkpoint) is reported as a reset range and never re-lands offsets
 * raw already holds; failOnDataLoss=true fails non-retryably. A checkpoint ahead of log ends that
 * were captured before a concurrent raw run committed is normal concurrency, not a reset.
 */
import * as fs from 'node:fs';
import { connectKafka } from '../../src/kafka/connection';
import { readRanges } from '../../src/kafka/range-reader';
import { ingestRawWorkflow } from '../../src/workflows';
import type { RawResult } from '../../src/lake/raw-result';
import type { IngestRawInput } from '../../src/workflows/inputs';
import { RAW, tableDir } from '../../src/lake/tables';
import {
  adminKafka,
  closeConnections,
  createTopic,
  deltaScan,
  execute,
  plaintextKafka,
  produce,
  queryLake,
  rootFailure,
  tempLakeRoot,
  testConfig,
  testWorker,
  uniqueName,
  type TestWorker,
} from '../helpers/pipeline';

const lakeRoots: string[] = [];
afterAll(async () => {
  await closeConnections();
  for (const r of lakeRoots) fs.rmSync(r, { recursive: true, force: true });
});

const ingest = (w: TestWorker, input: Partial<IngestRawInput>) => execute(w, ingestRawWorkflow, input) as Promise<RawResult>;
const messages = (from: number, n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ value: `${tag}-${from + i}` }));

async function rawStats(lakeRoot: string) {
  const [row] = await queryLake<{ n: number; keys: number; hi: number }>(
    `SELECT count(*)::INT AS n, count(DISTINCT (topic, "partition", "offset"))::INT AS keys, max("offset")::INT AS hi FROM ${deltaScan(tableDir(lakeRoot, RAW))}`,
  );
  return row;
}

async function deleteTopic(topic: string): Promise<void> {
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic], timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}

/** Deletion completes asynchronously on the broker: creating the same name is refused until it has. */
async function recreateTopic(topic: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await createTopic(topic, 1);
      return;
    } catch (e) {
      if (attempt >= 60) throw e;
      const admin = adminKafka().admin();
      await admin.connect();
      // Wait on the broker's own answer, not a timer: the topic list no longer has it.
      await admin.listTopics().finally(() => admin.disconnect());
    }
  }
}

/** Waits (polling, up to 2 minutes: the broker's log cleaner looks every 15 s) until the log holds no record at `offset`. */
async function untilCompacted(topic: string, offset: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const held: number[] = [];
    await readRanges(connectKafka(plaintextKafka()), [{ topic, partition: 0, from: offset, to: offset + 1, origin: 'table' }], {
      maxRecordsPerFlush: 1,
      maxBytesPerFlush: 1 << 20,
      idleTimeoutMs: 30_000,
      flush: async (records) => void held.push(...records.segments.flatMap((s) => s.offsets)),
    });
    if (held.length === 0) return;
    if (Date.now() > deadline) throw new Error(`offset ${offset} of ${topic} was not compacted away within 2 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // pacing between polls, not synchronisation
  }
}

/** Lands records 0..99 ('old') of a new one-partition topic, then deletes, recreates it and produces `newRecords` ('new'). */
async function landThenRecreate(prefix: string, newRecords: number) {
  const topic = uniqueName(prefix);
  await createTopic(topic, 1);
  const lakeRoot = tempLakeRoot();
  lakeRoots.push(lakeRoot);
  const w = await testWorker(testConfig(lakeRoot));
  await produce(topic, messages(0, 100, 'old'));
  const first = await w.run(() => ingest(w, { topics: [topic], startingOffsets: 'earliest' }));
  expect(first.checkpoint[topic]!['0']).toBe(100);

  await deleteTopic(topic);
  await recreateTopic(topic);
  await produce(topic, messages(0, newRecords, 'new'));
  return { topic, lakeRoot, w };
}

describe('stage 1 under Kafka resets', () => {
  it('a topic deleted and recreated: reported as a reset range, nothing re-landed, failOnDataLoss=true fails, reading resumes past the checkpoint', async () => {
    const { topic, lakeRoot, w } = await landThenRecreate('raw-recreated', 30);

    const failed = await w.run(() => ingest(w, { topics: [topic], failOnDataLoss: true }).then(() => null, (e) => e));
    const failure = rootFailure(failed);
    expect(failure.type).toBe('DataLossError');
    expect(failure.message).toContain(`${topic}[0] offsets 0..99 cannot be landed: the log end 30 is below the checkpoint 100`);

    const lenient = await w.run(() => ingest(w, { topics: [topic], failOnDataLoss: false }));
    expect(lenient.lost).toEqual([expect.objectContaining({ topic, partition: 0, from: 0, to: 100, kind: 'reset' })]);
    expect(lenient.recordsIn).toBe(0);
    expect(lenient.checkpoint[topic]!['0']).toBe(100);
    expect(await rawStats(lakeRoot)).toEqual({ n: 100, keys: 100, hi: 99 });

    // The new log passes the checkpoint: reading resumes there, exactly once.
    await produce(topic, messages(30, 80, 'new'));
    const resumed = await w.run(() => ingest(w, { topics: [topic], failOnDataLoss: true }));
    expect(resumed).toMatchObject({ lost: [], recordsIn: 10 });
    expect(resumed.checkpoint[topic]!['0']).toBe(110);
    expect(await rawStats(lakeRoot)).toEqual({ n: 110, keys: 110, hi: 109 });
    await deleteTopic(topic);
  });

  it('a topic recreated whose new log already passed the checkpoint: detected by the last landed record, reported once, nothing re-landed', async () => {
    // More records than were landed: the offsets alone no longer show the reset.
    const { topic, lakeRoot, w } = await landThenRecreate('raw-recreated-past', 150);

    const failed = await w.run(() => ingest(w, { topics: [topic], failOnDataLoss: true }).then(() => null, (e) => e));
    const failure = rootFailure(failed);
    expect(failure.type).toBe('DataLossError');
    expect(failure.message).toContain(`${topic}[0] offsets 0..99 cannot be landed: the record at offset 99 is not the one raw landed from there`);
    expect(await rawStats(lakeRoot)).toEqual({ n: 100, keys: 100, hi: 99 });

    const lenient = await w.run(() => ingest(w, { topics: [topic], failOnDataLoss: false }));
    expect(lenient.lost).toEqual([expect.objectContaining({ topic, partition: 0, from: 0, to: 100, kind: 'reset' })]);
    expect(lenient.recordsIn).toBe(50);
    expect(lenient.checkpoint[topic]!['0']).toBe(150);
    expect(await rawStats(lakeRoot)).toEqual({ n: 150, keys: 150, hi: 149 });
    const payloads = await queryLake<{ offset: number; raw_payload: string }>(
      `SELECT "offset"::INT AS "offset", raw_payload FROM ${deltaScan(tableDir(lakeRoot, RAW))} WHERE "offset" IN (99, 100) ORDER BY 1`,
    );
    expect(payloads).toEqual([{ offset: 99, raw_payload: 'old-99' }, { offset: 100, raw_payload: 'new-100' }]);

    // Reported once: the next run compares with the new log's records.
    await produce(topic, messages(150, 20, 'new'));
    const next = await w.run(() => ingest(w, { topics: [topic], failOnDataLoss: true }));
    expect(next).toMatchObject({ lost: [], recordsIn: 20 });
    expect(await rawStats(lakeRoot)).toEqual({ n: 170, keys: 170, hi: 169 });
    await deleteTopic(topic);
  });

  it('log compaction removing the last landed record is not taken for a recreated topic', async () => {
    const topic = uniqueName('raw-compacted');
    // Every produce call is one record batch, and every batch its own segment: all but the last are cleanable at once.
    await createTopic(topic, 1, [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'segment.bytes', value: '100' },
      { name: 'min.cleanable.dirty.ratio', value: '0.01' },
      { name: 'min.compaction.lag.ms', value: '0' },
    ]);
    const lakeRoot = tempLakeRoot();
    lakeRoots.push(lakeRoot);
    const w = await testWorker(testConfig(lakeRoot));
    for (const key of ['a', 'b', 'x']) await produce(topic, [{ key, value: `${key}-1` }]);
    const first = await w.run(() => ingest(w, { topics: [topic], startingOffsets: 'earliest' }));
    expect(first.checkpoint[topic]!['0']).toBe(3);
    // x again (so x-1 at offset 2, the last landed record, is compacted away), then one more so that it is not in the active segment.
    await produce(topic, [{ key: 'x', value: 'x-2' }]);
    await produce(topic, [{ key: 'y', value: 'y-1' }]);
    await untilCompacted(topic, 2);

    const run = await w.run(() => ingest(w, { topics: [topic], failOnDataLoss: true }));
    expect(run).toMatchObject({ lost: [], recordsIn: 2 });
    expect(run.checkpoint[topic]!['0']).toBe(5);
    expect(await rawStats(lakeRoot)).toEqual({ n: 5, keys: 5, hi: 4 });
    await deleteTopic(topic);
  });

  it('a concurrent raw run that commits past the log ends captured at start is not a reset: nothing re-read, nothing lost', async () => {
    const topic = uniqueName('raw-race');
    await createTopic(topic, 1);
    const lakeRoot = tempLakeRoot();
    lakeRoots.push(lakeRoot);
    let w: TestWorker;
    let raced = false;
    // Between the log-end capture and the checkpoint read of the second run below, a concurrent run
    // lands newer records (a backfill, a near-real-time follow-up or a second worker would).
    const faults = {
      afterWatermarks: async () => {
        if (!armed || raced) return;
        raced = true;
        await produce(topic, messages(150, 50, 'm'));
        const concurrent = await ingest(w, { topics: [topic] });
        expect(concurrent.checkpoint[topic]!['0']).toBe(200);
      },
    };
    let armed = false;
    w = await testWorker(testConfig(lakeRoot), faults);
    await produce(topic, messages(0, 100, 'm'));
    await w.run(() => ingest(w, { topics: [topic], startingOffsets: 'earliest' }));
    await produce(topic, messages(100, 50, 'm'));
    armed = true;
    const run = await w.run(() => ingest(w, { topics: [topic] }));
    expect(raced).toBe(true);
    expect(run.lost).toEqual([]);
    expect(run.recordsIn).toBe(0);
    expect(run.checkpoint[topic]!['0']).toBe(200);
    expect(await rawStats(lakeRoot)).toEqual({ n: 200, keys: 200, hi: 199 });
    await deleteTopic(topic);
  });
});
