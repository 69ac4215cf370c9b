/**
 * Stage 1's read and write paths side by side, on one existing topic, back to back in one process
 * (so both see the same box — on a shared machine compare the rounds' ratios, not absolute rates):
 *
 *   npx tsx bench/stage1-designs.ts --topic <topic> [--rounds 2] [--librdkafka <dir with node_modules/@confluentinc/kafka-javascript>]
 *
 *   reader alone     src/kafka/range-reader.ts reading the whole topic (own Fetch decoding:
 *                    src/kafka/raw-fetch.ts + record-batch.ts), flushes only counted
 *   reader + raw     the same plus src/lake/raw-table.ts writing each flush (Parquet + Delta commit
 *                    with txn offsets) into a scratch raw table: stage 1 without Temporal
 *   librdkafka alone (with --librdkafka) @confluentinc/kafka-javascript's consume(n) API, read_committed,
 *                    same fetch sizes; counts only. Not a project dependency: build it in a scratch
 *                    directory with `CKJS_LINKING=dynamic npm_config_build_from_source=true npm install
 *                    @confluentinc/kafka-javascript@1.10.1` (about 2 min on a quiet box).
 *
 * The script uses only what both the current and the previous stage-1 code export (readRanges,
 * RawTableWriter.append), so it can be run at an older commit for a before/after ratio.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadWorkerConfig } from '../src/config';
import { connectKafka } from '../src/kafka/connection';
import { readRanges } from '../src/kafka/range-reader';
import { fetchWatermarks } from '../src/kafka/watermarks';
import { openDuckDB } from '../src/lake/duckdb';
import { RawTableWriter } from '../src/lake/raw-table';
import { ensureTables, RAW, tableDir } from '../src/lake/tables';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const LIMITS = { maxRecordsPerFlush: 250_000, maxBytesPerFlush: 128 * 1024 ** 2, idleTimeoutMs: 120_000 }; // IngestRawInput defaults

/** The writer's prepare, where this commit's writer has one. */
function prepareOf(writer: RawTableWriter | undefined): ((records: unknown) => Promise<unknown>) | undefined {
  const w = writer as unknown as { prepare?(records: unknown, arrivedAt: Date): Promise<unknown> } | undefined;
  return w?.prepare ? (records) => w.prepare!(records, new Date()) : undefined;
}

async function readerRound(topic: string, write: boolean): Promise<{ messages: number; seconds: number }> {
  const kafka = connectKafka(loadWorkerConfig().kafka);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-stage1-designs-'));
  const lake = write ? await openDuckDB() : undefined;
  try {
    const t0 = performance.now();
    const marks = await fetchWatermarks(kafka, [topic]);
    let writer: RawTableWriter | undefined;
    if (lake) {
      await ensureTables(root, [RAW]);
      writer = await RawTableWriter.open(lake, tableDir(root, RAW));
    }
    let messages = 0;
    const committed: Record<string, Record<string, number>> = {};
    await readRanges(
      kafka,
      marks.map((m) => ({ topic, partition: m.partition, from: m.low, to: m.high, origin: 'startingOffsets' as const })),
      {
        ...LIMITS,
        // As stage 1 does since the writer has prepare (a flush's file written while the previous one's is); older commits ignore it.
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- either generation of the writer
        prepare: prepareOf(writer) as any,
        flush: async (records, positions, prepared?: unknown) => {
          messages += records.length;
          if (writer) {
            // eslint-disable-next-line @typescript-eslint/no-explicit-any -- either generation of the record type
            await (writer.append as any)(records as any, positions, structuredClone(committed), new Date(), [], prepared);
            for (const [t, parts] of Object.entries(positions)) for (const [p, next] of Object.entries(parts)) (committed[t] ??= {})[p] = next;
          }
        },
      },
    );
    (writer as { close?(): void } | undefined)?.close?.();
    return { messages, seconds: (performance.now() - t0) / 1000 };
  } finally {
    lake?.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

async function librdkafkaRound(dir: string, topic: string, expect: number): Promise<{ messages: number; seconds: number }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ck = require(path.join(path.resolve(dir), 'node_modules', '@confluentinc', 'kafka-javascript')) as {
    KafkaConsumer: new (conf: object, topicConf: object) => {
      connect(): void;
      on(ev: 'ready', cb: () => void): void;
      subscribe(t: string[]): void;
      consume(n: number, cb: (err: unknown, msgs: { value: Buffer | null }[]) => void): void;
      disconnect(cb: () => void): void;
    };
  };
  const brokers = loadWorkerConfig().kafka.brokers.join(',');
  const t0 = performance.now();
  const c = new ck.KafkaConsumer(
    { 'bootstrap.servers': brokers, 'group.id': `stage1-designs-${Date.now()}`, 'enable.auto.commit': false, 'isolation.level': 'read_committed', 'fetch.max.bytes': 16 * 1024 ** 2, 'max.partition.fetch.bytes': 4 * 1024 ** 2 },
    { 'auto.offset.reset': 'earliest' },
  );
  let messages = 0;
  await new Promise<void>((resolve, reject) => {
    c.on('ready', () => {
      c.subscribe([topic]);
      const loop = () =>
        c.consume(10_000, (err, msgs) => {
          if (err) return reject(err instanceof Error ? err : new Error(String(err)));
          messages += msgs.length;
          if (messages >= expect) resolve();
          else setImmediate(loop);
        });
      loop();
    });
    c.connect();
  });
  const seconds = (performance.now() - t0) / 1000;
  await new Promise<void>((r) => c.disconnect(() => r()));
  return { messages, seconds };
}

async function main(): Promise<void> {
  const topic = arg('topic');
  if (!topic) throw new Error('usage: npx tsx bench/stage1-designs.ts --topic <topic> [--rounds 2] [--librdkafka <dir>]');
  const rounds = Number(arg('rounds') ?? 2);
  const ckDir = arg('librdkafka');
  const rows: string[] = [];
  for (let r = 1; r <= rounds; r++) {
    // CPU time (this process, all threads) is far less sensitive to other load than wall time.
    const timed = async <T extends { messages: number; seconds: number }>(f: () => Promise<T>) => {
      const c0 = process.cpuUsage();
      const e0 = performance.eventLoopUtilization();
      const x = await f();
      const c = process.cpuUsage(c0);
      // The JS thread's busy share of the wall: the rest it waited (Kafka, DuckDB's threads, disk).
      const busy = performance.eventLoopUtilization(e0).utilization;
      return { ...x, cpu: (c.user + c.system) / 1e6, busy };
    };
    const alone = await timed(() => readerRound(topic, false));
    const full = await timed(() => readerRound(topic, true));
    const line = (what: string, x: { messages: number; seconds: number; cpu: number; busy?: number }) =>
      `round ${r} | ${what.padEnd(16)} | ${x.messages.toLocaleString('en-US').padStart(11)} msgs | ${x.seconds.toFixed(2).padStart(7)} s | ${Math.round(x.messages / x.seconds).toLocaleString('en-US').padStart(10)} msg/s | ` +
      `CPU ${x.cpu.toFixed(2).padStart(6)} s = ${((x.cpu * 1e6) / x.messages).toFixed(2)} µs/msg` +
      (x.busy !== undefined ? ` | JS thread busy ${(x.busy * 100).toFixed(0)} %` : '');
    rows.push(line('reader alone', alone), line('reader + raw', full));
    console.log(rows[rows.length - 2]);
    console.log(rows[rows.length - 1]);
    if (ckDir) {
      const ck = await timed(() => librdkafkaRound(ckDir, topic, alone.messages));
      rows.push(line('librdkafka alone', ck));
      console.log(rows[rows.length - 1]);
    }
  }
  console.log(`\nload average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n${rows.join('\n')}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
