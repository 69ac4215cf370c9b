/**
 * The bench's backlog: a 3-partition topic per N filled with the seeded sample stream
 * (src/sample/sensor-data.ts), and the same payloads as a TSV file for the DuckDB ceiling.
 */
import * as fs from 'node:fs';
import { Partitioners, type Message } from 'kafkajs';
import type { KafkaHandle } from '../src/kafka/connection';
import { emptyTruth, sampleMessages, tally, type SampleOptions, type SampleTruth } from '../src/sample/sensor-data';

export async function createTopic(kafka: KafkaHandle, topic: string): Promise<void> {
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopic(kafka: KafkaHandle, topic: string): Promise<void> {
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
}

/** Sends the sample stream with several batches in flight (one connection: order per partition holds). */
export async function produceBacklog(kafka: KafkaHandle, topic: string, opts: SampleOptions): Promise<{ seconds: number; bytes: number; truth: SampleTruth }> {
  const producer = kafka.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const truth = emptyTruth();
  let bytes = 0;
  const BATCH = 5000;
  const IN_FLIGHT = 4;
  const inFlight = new Set<Promise<unknown>>();
  let failed: unknown;
  const t0 = performance.now();
  try {
    let batch: Message[] = [];
    const send = async () => {
      const messages = batch;
      batch = [];
      const p = producer.send({ topic, acks: -1, messages }).catch((e) => (failed ??= e));
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      if (failed) throw failed;
    };
    for (const m of sampleMessages(opts)) {
      tally(truth, m);
      bytes += m.value?.length ?? 0;
      batch.push({ key: m.key, value: m.value });
      if (batch.length >= BATCH) await send();
    }
    if (batch.length > 0) await send();
    await Promise.all(inFlight);
    if (failed) throw failed;
  } finally {
    await producer.disconnect();
  }
  return { seconds: (performance.now() - t0) / 1000, bytes, truth };
}

/**
 * The same payloads as a TSV for DuckDB: offset, payload text (\N = none), payload bytes as hex
 * (only when not UTF-8). JSON.stringify output holds no tab or newline, so no quoting is needed.
 */
export function writePayloadFile(file: string, opts: SampleOptions): void {
  const fd = fs.openSync(file, 'w');
  try {
    let chunk: string[] = [];
    let i = 0;
    for (const m of sampleMessages(opts)) {
      let text = '\\N';
      let hex = '\\N';
      if (m.value !== null) {
        if (m.malformed === 'not UTF-8') hex = m.value.toString('hex');
        else text = m.value.toString('utf8');
      }
      chunk.push(`${i++}\t${text}\t${hex}\n`);
      if (chunk.length >= 10_000) {
        fs.writeSync(fd, chunk.join(''));
        chunk = [];
      }
    }
    if (chunk.length) fs.writeSync(fd, chunk.join(''));
  } finally {
    fs.closeSync(fd);
  }
}
