import { PermanentKafkaError, type KafkaHandle } from './connection';
import type { PartitionWatermarks } from './offsets';

/**
 * Low and high (last stable, read_committed) offsets of every partition of the topics, captured
 * once: the "availableNow" end of a run. A topic that does not exist is a permanent error.
 */
export async function fetchWatermarks(handle: KafkaHandle, topics: string[]): Promise<PartitionWatermarks[]> {
  const admin = handle.kafka.admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) throw new PermanentKafkaError(`Kafka topic(s) not found: ${missing.join(', ')}`);
    const out: PartitionWatermarks[] = [];
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        out.push({ topic, partition: p.partition, low: Number(p.low), high: Number(p.high) });
      }
    }
    return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  } catch (e) {
    throw e instanceof PermanentKafkaError ? e : handle.explain(e, 'reading topic offsets');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Per partition, the first offset whose timestamp is ≥ `timestampMs` (the log end when none is). */
export async function offsetsForTimestamp(handle: KafkaHandle, topic: string, timestampMs: number): Promise<Map<number, number>> {
  const admin = handle.kafka.admin();
  try {
    await admin.connect();
    const found = await admin.fetchTopicOffsetsByTimestamp(topic, timestampMs);
    const high = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
    return new Map(found.map((p) => [p.partition, Number(p.offset) < 0 ? high.get(p.partition)! : Number(p.offset)]));
  } catch (e) {
    throw handle.explain(e, `looking up offsets by timestamp in ${topic}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * The topics whose whole name matches `pattern` (Spark's subscribePattern), sorted; Kafka's internal
 * topics (`__…`) never match. Read when a run starts: a topic created later joins the next run.
 */
export async function topicsMatching(handle: KafkaHandle, pattern: string): Promise<string[]> {
  const re = new RegExp(`^(?:${pattern})$`);
  const admin = handle.kafka.admin();
  try {
    await admin.connect();
    return (await admin.listTopics()).filter((t) => !t.startsWith('__') && re.test(t)).sort();
  } catch (e) {
    throw handle.explain(e, 'listing topics');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
