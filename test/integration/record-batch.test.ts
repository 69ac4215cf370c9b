/**
 * The record-batch decoder on batches as the broker stores and returns them: written by kafkajs
 * (plain, gzip, idempotent, transactions aborted and committed) and by Kafka's own Java producer
 * (kafka-clients 3.9, idempotent by default, gzip, keys, headers, a tombstone), fetched raw
 * (src/kafka/raw-fetch.ts) and decoded (src/kafka/record-batch.ts) — checked against what the
 * producers sent and against kafkajs' own read_committed consumer on the same topic.
 */
import { spawn } from 'node:child_process';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { readStackEnv } from '../../src/config';
import { connectKafka } from '../../src/kafka/connection';
import { RawFetcher } from '../../src/kafka/raw-fetch';
import { decodeRecordSet } from '../../src/kafka/record-batch';
import { fetchWatermarks } from '../../src/kafka/watermarks';
import { createTopic, env, plaintextKafka, produce, uniqueName } from '../helpers/pipeline';

interface Row {
  offset: number;
  ts: number;
  value: string | null; // hex
}
const hex = (v: Uint8Array | null) => (v === null ? null : Buffer.from(v).toString('hex'));
const text = (rows: Row[]) => rows.map((r) => (r.value === null ? null : Buffer.from(r.value, 'hex').toString('latin1')));

/** Every record below the log end, fetched raw (small fetches: many responses, cut-off tails) and decoded. */
async function readRaw(topic: string): Promise<{ rows: Row[]; next: number; high: number }> {
  const handle = connectKafka(plaintextKafka());
  const [{ high }] = await fetchWatermarks(handle, [topic]);
  const fetcher = await RawFetcher.connect(handle.kafka, [topic]);
  const rows: Row[] = [];
  let next = 0;
  try {
    const [leader] = [...fetcher.leaders(topic, [0]).keys()];
    for (let i = 0; next < high && i < 1000; i++) {
      // 200 bytes per partition: most responses end inside a batch.
      const [p] = await fetcher.fetch(leader, [{ topic, partition: 0, fetchOffset: next, maxBytes: 200 }], { maxWaitMs: 100, maxBytes: 200 });
      expect(p.error).toBeNull();
      next = decodeRecordSet(p.records, p.abortedTransactions, next, high, {
        push: (offset, ts, bytes, start, length) => {
          rows.push({ offset, ts, value: length < 0 ? null : hex(bytes.subarray(start, start + length)) });
          return false;
        },
      }).next;
    }
  } finally {
    await fetcher.disconnect();
  }
  return { rows, next, high };
}

/** kafkajs' own consumer (read_committed) on the same topic: the reference. */
async function readWithKafkajs(topic: string, expected: number): Promise<Row[]> {
  const kafka = new Kafka({ clientId: 'record-batch-ref', brokers: env.KAFKA_BROKERS, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: uniqueName('record-batch-ref'), readUncommitted: false });
  const rows: Row[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
      void consumer.run({
        eachMessage: async ({ message }) => {
          rows.push({ offset: Number(message.offset), ts: Number(message.timestamp), value: hex(message.value) });
          if (rows.length === expected) resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return rows;
}

/** Lines through Kafka's console producer (the Java client): "headers<TAB>key<TAB>value", NULL = tombstone. */
async function javaProduce(topic: string, lines: string[]): Promise<void> {
  const libDir = process.env.KAFKA_LIB_DIR ?? readStackEnv().KAFKA_LIB_DIR;
  if (!libDir) throw new Error('KAFKA_LIB_DIR is not set (npm run stack -- up writes it to .stack/stack.env)');
  const argv = [
    '-Xmx256m',
    '-Dlog4j.configuration=file:/dev/null',
    '-cp',
    `${libDir}/*`,
    'kafka.tools.ConsoleProducer',
    '--bootstrap-server',
    env.KAFKA_BROKERS.join(','),
    '--topic',
    topic,
    '--compression-codec',
    'gzip',
    '--request-required-acks',
    'all',
    '--property',
    'parse.key=true',
    '--property',
    'parse.headers=true',
    '--property',
    'null.marker=NULL',
  ];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('java', argv, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ConsoleProducer exited ${code}: ${stderr.slice(-2000)}`))));
    child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  });
}

describe('record-batch decoder on the broker\'s batches', () => {
  it('kafkajs and Java producers: plain, gzip, idempotent, transactions aborted and committed, tombstones, headers, non-UTF-8 — as sent, and as kafkajs reads them', async () => {
    const topic = uniqueName('record-batch');
    await createTopic(topic, 1);
    const kafka = new Kafka({ clientId: 'record-batch-test', brokers: env.KAFKA_BROKERS, logLevel: logLevel.NOTHING });

    const tx = kafka.producer({ transactionalId: uniqueName('tx'), idempotent: true, maxInFlightRequests: 1 });
    await tx.connect();
    const aborted = await tx.transaction();
    await aborted.send({ topic, messages: [{ value: 'aborted-1' }, { value: 'aborted-2' }] });
    await aborted.abort();
    await produce(topic, [{ value: null, key: 'k' }, { value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }, { value: 'plain-1', headers: { trace: 'x', multi: ['a', 'b'] } }]);
    const gzip = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await gzip.connect();
    await gzip.send({ topic, compression: CompressionTypes.GZIP, messages: Array.from({ length: 20 }, (_, i) => ({ key: `g${i}`, value: `gzip-${i}-${'z'.repeat(i * 10)}` })) });
    await gzip.disconnect();
    const committed = await tx.transaction();
    await committed.send({ topic, messages: [{ value: 'tx-1' }, { value: 'tx-2' }] });
    await committed.commit();
    const abortedGzip = await tx.transaction();
    await abortedGzip.send({ topic, compression: CompressionTypes.GZIP, messages: [{ value: 'aborted-gzip-1' }, { value: 'aborted-gzip-2' }] });
    await abortedGzip.abort();
    await tx.disconnect();
    await javaProduce(topic, ['h1:v1,h2:v2\tjk1\tjava-1', 'h1:v1\tjk2\tNULL', 'h3:\tjk3\tjava-é']);

    const sent = [null, '{\xff\xfe}', 'plain-1', ...Array.from({ length: 20 }, (_, i) => `gzip-${i}-${'z'.repeat(i * 10)}`), 'tx-1', 'tx-2', 'java-1', null, 'java-\xc3\xa9'];
    const raw = await readRaw(topic);
    expect(text(raw.rows)).toEqual(sent);
    // The log holds the 28 records sent plus 7 offsets never returned: 4 aborted records and 3
    // transaction markers (2 aborts, 1 commit). Where a marker lands is up to the coordinator — it
    // writes markers after EndTxn has returned, so the next produce may come first (seen in CI: the
    // plain records at 2..4, the first abort's marker at 5) — hence no fixed offsets here; the exact
    // offsets are checked against kafkajs' own read_committed consumer below.
    const offsets = raw.rows.map((r) => r.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(new Set(offsets).size).toBe(sent.length);
    const gzipOffsets = offsets.slice(3, 23); // one batch: consecutive offsets
    expect(gzipOffsets).toEqual(Array.from({ length: 20 }, (_, i) => gzipOffsets[0]! + i));
    expect(raw.next).toBe(raw.high);
    expect(raw.high).toBe(sent.length + 7);
    expect(raw.rows).toEqual(await readWithKafkajs(topic, sent.length));
  });
});
