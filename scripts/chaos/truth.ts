/**
 * The known truth the chaos driver sends: sample sensor readings (src/sample) with malformed
 * records of every kind, corrections (a key sent again with a new value) and exact re-sends, each
 * to a partition chosen here, so every record's (partition, offset) is known from the broker's
 * acks. What the lake must hold afterwards is computed from this alone, never from the lake.
 */
import { Kafka, logLevel } from 'kafkajs';
import { sampleMessages, seededRandom, type MalformedKind } from '../../src/sample/sensor-data';

export interface SentRecord {
  partition: number;
  /** Set from the broker's ack. */
  offset: number;
  value: Buffer | null;
  /** null = a good reading (must reach bronze), else the dead-letter error stage 2 must give. */
  error: MalformedKind | null;
  /** Good readings: the parsed fields (JSON.parse, not the pipeline's parser). */
  reading: { sensor_id: string; value: number; unit: string; ts_ms: number } | null;
  kind: 'good' | 'correction' | 'resend' | 'malformed';
}

export interface TruthOptions {
  messages: number;
  seed: number;
  partitions: number;
}

/** The records in send order (offsets unknown until sent). Sensor ids map to partitions, as Kafka keys would. */
export function generateTruth(opts: TruthOptions): SentRecord[] {
  const rnd = seededRandom(opts.seed ^ 0x5eed);
  const out: SentRecord[] = [];
  // Few sensors and many corrections: keys are hit several times, across raw/bronze/gold batches.
  const sample = sampleMessages({ count: opts.messages, seed: opts.seed, malformed: 0.15, duplicates: 0.25, outOfOrder: 0.1, sensors: 60 });
  const partitionOf = (sensor: string) => hash(sensor) % opts.partitions;
  for (const m of sample) {
    if (out.length >= opts.messages) break;
    const reading = m.malformed ? null : (JSON.parse(m.value!.toString('utf8')) as SentRecord['reading']);
    out.push({ partition: partitionOf(m.key), offset: -1, value: m.value, error: m.malformed, reading, kind: m.malformed ? 'malformed' : m.duplicate ? 'correction' : 'good' });
    // Now and then the very same record again (a producer retry upstream of us): same key, same value.
    if (reading && out.length < opts.messages && rnd() < 0.05) out.push({ ...out[out.length - 1], kind: 'resend' });
  }
  return out;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/**
 * Sends records[from, to) and fills in their offsets from the acks. One partition's records go
 * in order in one request each, so offsets are baseOffset + position. Throws if the broker does
 * not ack: the truth would be unknown then, which is a driver failure, not a pipeline one.
 */
export async function sendRecords(brokers: string[], topic: string, records: SentRecord[], from: number, to: number): Promise<void> {
  const kafka = new Kafka({ clientId: 'tributary-chaos', brokers, logLevel: logLevel.NOTHING });
  // Idempotent: a retried request is never written twice, so the acked offsets are the truth.
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let start = from; start < to; start += 500) {
      const chunk = records.slice(start, Math.min(to, start + 500));
      for (const p of [...new Set(chunk.map((r) => r.partition))]) {
        const mine = chunk.filter((r) => r.partition === p);
        const [ack] = await producer.send({ topic, acks: -1, messages: mine.map((r) => ({ partition: p, value: r.value })) });
        if (!ack || ack.partition !== p || ack.errorCode !== 0) throw new Error(`unexpected ack for partition ${p}: ${JSON.stringify(ack)}`);
        mine.forEach((r, i) => (r.offset = Number(ack.baseOffset) + i));
      }
    }
  } finally {
    await producer.disconnect();
  }
}

export interface GoldTruth {
  /** `sensor_id \u0000 ts_ms` → the value and unit of the last good record of that key. */
  latest: Map<string, { value: number; unit: string }>;
  counts: { records: number; good: number; malformed: number; corrections: number; resends: number; keys: number };
}

export const goldKey = (sensorId: string, tsMs: string | number): string => `${sensorId}\u0000${tsMs}`;

/**
 * The latest value per key. Kafka orders only within a partition, and one sensor's records all go
 * to one partition, so send order is the order of the source positions, whatever ordering rule
 * (arrival or Kafka position) gold applies.
 */
export function goldTruth(records: SentRecord[]): GoldTruth {
  const latest = new Map<string, { value: number; unit: string }>();
  for (const r of records) if (r.reading) latest.set(goldKey(r.reading.sensor_id, r.reading.ts_ms), { value: r.reading.value, unit: r.reading.unit });
  const count = (k: SentRecord['kind']) => records.filter((r) => r.kind === k).length;
  return {
    latest,
    counts: { records: records.length, good: records.length - count('malformed'), malformed: count('malformed'), corrections: count('correction'), resends: count('resend'), keys: latest.size },
  };
}
