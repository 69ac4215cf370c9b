/**
 * Fetch requests whose responses are NOT decoded by kafkajs: each partition's record set comes
 * back as bytes (a view into the response) for src/kafka/record-batch.ts to decode into columns.
 *
 * Why: kafkajs decodes every record of a fetch into an object (offset and timestamp as strings
 * via Long, key, value and headers views, a batch context): ~2.2 µs of CPU per message, half of
 * stage 1 (bench/RESULTS.md). Everything else stays kafkajs: connections, TLS (verified), SASL
 * PLAIN/SCRAM, metadata and leader lookup, API version negotiation, request encoding, timeouts.
 *
 * kafkajs internals this relies on (kafkajs 2.2.4 is pinned; this is the one module that touches them):
 * - `Kafka`'s private cluster factory, the symbol described 'private:Kafka:createCluster' (src/index.js):
 *   a Cluster with the client's own brokers, ssl, sasl, retry and logger settings;
 * - Cluster#connect / addMultipleTargetTopics / refreshMetadata / findLeaderForPartitions /
 *   findBroker / disconnect (src/cluster/index.js);
 * - Broker#lookupRequest(apiKeys.Fetch, requests.Fetch) — the Fetch request of the version both
 *   sides support, v4..v11 (src/protocol/requests/fetch) — and Broker#connectionPool.send(
 *   {request, response, requestTimeout}) (src/network/connectionPool.js, connection.js), which
 *   calls our `response.decode(payload)` then `response.parse(...)` with the payload after the
 *   correlation id;
 * - createErrorFromCode (src/protocol/error.js) for the partitions' error codes.
 * The response layout parsed here is Kafka's Fetch response v4..v11 (fields by version below).
 */
import type { Kafka } from 'kafkajs';
import type { AbortedTransaction } from './record-batch';

/* eslint-disable @typescript-eslint/no-require-imports -- kafkajs internals, see above */
const apiKeys = require('kafkajs/src/protocol/requests/apiKeys') as { Fetch: number };
const { requests } = require('kafkajs/src/protocol/requests') as { requests: { Fetch: unknown } };
const { createErrorFromCode } = require('kafkajs/src/protocol/error') as { createErrorFromCode(code: number): Error & { type: string; retriable: boolean } };
/* eslint-enable @typescript-eslint/no-require-imports */

const READ_COMMITTED = 1;

interface KafkajsBroker {
  lookupRequest(apiKey: number, definition: unknown): (args: object) => { request: { apiVersion: number }; requestTimeout: number };
  connectionPool: { send(protocol: { request: unknown; response: unknown; requestTimeout?: number }): Promise<unknown> };
}
interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(args: { nodeId: string }): Promise<KafkajsBroker>;
}

function createCluster(kafka: Kafka): KafkajsCluster {
  const sym = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  const factory = sym && (kafka as unknown as Record<symbol, unknown>)[sym];
  if (typeof factory !== 'function') throw new Error('kafkajs internals changed: no private cluster factory (kafkajs 2.2.4 is required)');
  return (factory as (opts: object) => KafkajsCluster)({ allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED, metadataMaxAge: 300_000 });
}

export interface PartitionFetch {
  topic: string;
  partition: number;
  fetchOffset: number;
  maxBytes: number;
}

export interface FetchedPartition {
  topic: string;
  partition: number;
  /** A kafkajs protocol error for a non-zero error code (its `type` and `retriable` say what), else null. */
  error: (Error & { type: string; retriable: boolean }) | null;
  highWatermark: number;
  lastStableOffset: number;
  abortedTransactions: AbortedTransaction[];
  /** The record set: whole v2 record batches, the last one possibly cut short. Empty when none. */
  records: Uint8Array;
}

/** A minimal big-endian reader over one response. */
class Reader {
  at = 0;
  constructor(private readonly b: Buffer) {}
  int16(): number {
    const v = this.b.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    const v = this.b.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  int64(): number {
    const v = this.b.readInt32BE(this.at) * 4294967296 + this.b.readUInt32BE(this.at + 4);
    this.at += 8;
    return v;
  }
  string(): string {
    const n = this.int16();
    const s = this.b.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  bytes(): Uint8Array {
    const n = this.int32();
    if (n <= 0) return new Uint8Array(0);
    const v = this.b.subarray(this.at, Math.min(this.at + n, this.b.length));
    this.at += n;
    return v;
  }
}

/** Fetch response v4..v11 → partitions. */
function parseFetchResponse(version: number, payload: Buffer): FetchedPartition[] {
  const r = new Reader(payload);
  r.int32(); // throttle_time_ms
  if (version >= 7) {
    const code = r.int16();
    r.int32(); // session_id
    if (code !== 0) throw createErrorFromCode(code);
  }
  const out: FetchedPartition[] = [];
  for (let t = r.int32(); t > 0; t--) {
    const topic = r.string();
    for (let p = r.int32(); p > 0; p--) {
      const partition = r.int32();
      const code = r.int16();
      const highWatermark = r.int64();
      const lastStableOffset = r.int64();
      if (version >= 5) r.int64(); // log_start_offset
      const abortedTransactions: AbortedTransaction[] = [];
      for (let a = r.int32(); a > 0; a--) abortedTransactions.push({ producerId: r.int64(), firstOffset: r.int64() });
      if (version >= 11) r.int32(); // preferred_read_replica
      const records = r.bytes();
      out.push({ topic, partition, error: code === 0 ? null : createErrorFromCode(code), highWatermark, lastStableOffset, abortedTransactions, records });
    }
  }
  return out;
}

/** Fetches from the partitions' leaders through kafkajs connections; the caller decodes. */
export class RawFetcher {
  private constructor(private readonly cluster: KafkajsCluster) {}

  static async connect(kafka: Kafka, topics: string[]): Promise<RawFetcher> {
    const cluster = createCluster(kafka);
    await cluster.connect();
    try {
      await cluster.addMultipleTargetTopics(topics);
    } catch (e) {
      await cluster.disconnect().catch(() => undefined);
      throw e;
    }
    return new RawFetcher(cluster);
  }

  async refreshMetadata(): Promise<void> {
    await this.cluster.refreshMetadata();
  }

  /** Leader node id → the partitions it leads (partitions the metadata does not know are left out). */
  leaders(topic: string, partitions: number[]): Map<string, number[]> {
    return new Map(Object.entries(this.cluster.findLeaderForPartitions(topic, partitions)));
  }

  /** One read_committed Fetch to `nodeId`; the response's record sets are views into its bytes. */
  async fetch(nodeId: string, partitions: PartitionFetch[], opts: { maxWaitMs: number; maxBytes: number }): Promise<FetchedPartition[]> {
    const broker = await this.cluster.findBroker({ nodeId });
    const byTopic = new Map<string, { partition: number; fetchOffset: string; maxBytes: number }[]>();
    for (const p of partitions) {
      let list = byTopic.get(p.topic);
      if (!list) byTopic.set(p.topic, (list = []));
      list.push({ partition: p.partition, fetchOffset: String(p.fetchOffset), maxBytes: p.maxBytes });
    }
    const protocol = broker.lookupRequest(apiKeys.Fetch, requests.Fetch)({
      isolationLevel: READ_COMMITTED,
      maxWaitTime: opts.maxWaitMs,
      minBytes: 1,
      maxBytes: opts.maxBytes,
      topics: [...byTopic].map(([topic, parts]) => ({ topic, partitions: parts })),
    });
    const version = protocol.request.apiVersion;
    if (version < 4) throw new Error(`the Kafka broker supports Fetch up to v${version}; read_committed needs v4 (Kafka ≥ 0.11)`);
    const response = {
      // kafkajs throttles on `clientSideThrottleTime` of the decoded value: from v8 on the broker
      // asks the client to wait throttle_time_ms (KIP-219), before that it has waited itself.
      decode: async (payload: Buffer) => ({ payload, clientSideThrottleTime: version >= 8 ? payload.readInt32BE(0) : 0 }),
      parse: async ({ payload }: { payload: Buffer }) => parseFetchResponse(version, payload),
    };
    return (await broker.connectionPool.send({ request: protocol.request, response, requestTimeout: protocol.requestTimeout })) as FetchedPartition[];
  }

  async disconnect(): Promise<void> {
    await this.cluster.disconnect().catch(() => undefined);
  }
}
