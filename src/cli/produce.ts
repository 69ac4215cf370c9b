/**
 * `npm run produce -- [--topic sensor_readings] [--count 10000] [--rate 0] [--malformed 0.1]
 *   [--duplicates 0.05] [--out-of-order 0.05] [--seed 42] [--partitions 3]`
 * Sends sample sensor readings (see src/sample/sensor-data.ts) to Kafka with the worker's
 * connection settings; creates the topic if it is missing. Prints the truth it sent.
 */
import { Partitioners } from 'kafkajs';
import { z } from 'zod';
import { loadWorkerConfig } from '../config';
import { connectKafka } from '../kafka/connection';
import { emptyTruth, sampleMessages, tally, type SampleMessage, type SampleTruth } from '../sample/sensor-data';
import { parseArgs, share } from './args';

const ProduceArgs = z
  .object({
    topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/).default('sensor_readings'),
    count: z.coerce.number().int().min(1).default(10_000),
    rate: z.coerce.number().min(0).default(0),
    malformed: share.default(0.1),
    duplicates: share.default(0.05),
    outOfOrder: share.default(0.05),
    seed: z.coerce.number().int().default(42),
    partitions: z.coerce.number().int().min(1).max(1000).default(3),
  })
  .strict();
export type ProduceArgs = z.infer<typeof ProduceArgs>;

const USAGE = 'usage: npm run produce -- [--topic T] [--count N] [--rate MSG_PER_S (0 = max)] [--malformed 0.1] [--duplicates 0.05] [--out-of-order 0.05] [--seed 42] [--partitions 3]';

export async function produceSample(args: ProduceArgs, opts: { signal?: AbortSignal; log?: (s: string) => void } = {}): Promise<SampleTruth> {
  const log = opts.log ?? console.log;
  const kafka = connectKafka(loadWorkerConfig().kafka);
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(args.topic)) {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: args.topic, numPartitions: args.partitions }] });
      log(`created topic ${args.topic} with ${args.partitions} partitions`);
    }
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const truth = emptyTruth();
  const started = Date.now();
  const chunk: SampleMessage[] = [];
  const send = async () => {
    await producer.send({ topic: args.topic, acks: -1, messages: chunk.map((m) => ({ key: m.key, value: m.value })) });
    chunk.length = 0;
    if (args.rate > 0) {
      // Pace to the requested rate (this is rate limiting, not synchronisation).
      const due = started + (truth.total / args.rate) * 1000;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
  };
  try {
    const batch = args.rate > 0 ? Math.max(1, Math.min(1000, Math.ceil(args.rate / 10))) : 1000;
    for (const m of sampleMessages({ count: args.count, seed: args.seed, malformed: args.malformed, duplicates: args.duplicates, outOfOrder: args.outOfOrder })) {
      if (opts.signal?.aborted) break;
      chunk.push(m);
      tally(truth, m);
      if (chunk.length >= batch) await send();
    }
    if (chunk.length > 0) await send();
  } finally {
    await producer.disconnect();
  }
  return truth;
}

if (require.main === module) {
  const args = parseArgs(ProduceArgs, process.argv.slice(2), USAGE);
  produceSample(args)
    .then((truth) => console.log(JSON.stringify({ topic: args.topic, ...truth })))
    .catch((e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    });
}
