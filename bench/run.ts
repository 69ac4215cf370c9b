/**
 * Pipeline benchmark on the local stack (`npm run stack -- up`): per stage, end to end, memory,
 * and the box's ceilings measured in the same run.
 *
 *   npm run bench -- [--sizes 100000,1000000] [--with-10m] [--malformed 0.1] [--duplicates 0.05]
 *     [--out-of-order 0.05] [--seed 42] [--out bench/out/<timestamp>.json]
 *     [--stages 1,2,3] [--skip-ceilings] [--no-merge-gold] [--keep]
 *
 * For each N: a fresh 3-partition topic and lake directory; N seeded sample messages
 * (src/sample/sensor-data.ts) produced as fast as kafkajs goes (timed, not a stage figure); then
 * each stage runs on that backlog through a real Temporal worker in THIS process (own task queue,
 * the workflow bundle, the project's activities), one workflow execution per stage, timed from
 * start to result:
 *   1 ingestRawWorkflow (startingOffsets earliest)   Kafka  → raw
 *   2 deserializeWorkflow                            raw    → bronze + dead letter
 *   3 mergeGoldWorkflow                              bronze → gold
 * A stage whose workflow src/workflows does not export is reported as "not available".
 *
 * Per stage: records/s, seconds, Delta versions and files written (read from the new commits in
 * each table's `_delta_log`), peak RSS of this process (the worker): sampled every 100 ms from a
 * worker thread (so a busy main thread cannot hide a peak) and cross-checked with VmHWM, which is
 * reset per stage by writing 5 to /proc/self/clear_refs where the kernel allows it.
 *
 * Ceilings (same topic, same payloads):
 *   - Kafka: the Java consumer benchmark, org.apache.kafka.tools.ConsumerPerformance from
 *     $KAFKA_LIB_DIR. Its fetch rate (group join excluded) is the stage-1 ceiling.
 *   - (reference) the project's kafkajs range reader alone, no writes, in a child process: the
 *     bound of stage 1's client library.
 *   - DuckDB alone: the payloads written to a TSV file beforehand (not timed), then
 *     read_csv → parsedSensorSql (src/lake/sensor-rules.ts) → COPY TO parquet, in a child
 *     process (so its memory does not count as the worker's). The stage-2 ceiling.
 *
 * Prints a table and writes the JSON (machine, commit, every figure).
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { randomUUID } from 'node:crypto';
import { Worker as ThreadWorker } from 'node:worker_threads';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Partitioners, type Message } from 'kafkajs';
import { z } from 'zod';
import { parseArgs, share } from '../src/cli/args';
import { loadEnv, loadWorkerConfig, type WorkerConfig } from '../src/config';
import { createActivities } from '../src/activities';
import { connectKafka, type KafkaHandle } from '../src/kafka/connection';
import { readRanges } from '../src/kafka/range-reader';
import { fetchWatermarks } from '../src/kafka/watermarks';
import { parsedSensorSql } from '../src/lake/sensor-rules';
import { ALL_TABLES, tableDir } from '../src/lake/tables';
import { emptyTruth, sampleMessages, tally, type SampleOptions, type SampleTruth } from '../src/sample/sensor-data';

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

const flag = z
  .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
  .default(false);
const intList = (what: string, min: number, max: number) =>
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean).map(Number))
    .pipe(z.array(z.number().int().min(min, `${what} ≥ ${min}`).max(max, `${what} ≤ ${max}`)).min(1));

const BenchArgs = z
  .object({
    sizes: z.union([z.number().transform(String), z.string()]).default('100000,1000000').pipe(intList('size', 1, 100_000_000)),
    with10m: flag,
    malformed: share.default(0.1),
    duplicates: share.default(0.05),
    outOfOrder: share.default(0.05),
    seed: z.coerce.number().int().default(42),
    out: z.string().min(1).optional(),
    stages: z.union([z.number().transform(String), z.string()]).default('1,2,3').pipe(intList('stage', 1, 3)),
    skipCeilings: flag,
    /** Do not run bench/merge-gold.ts for the stage-3 target (it builds a 10M-row gold table: minutes). */
    noMergeGold: flag,
    keep: flag,
    // internal: the ceilings that run in a child process
    duckdbCeiling: z.string().optional(),
    kafkajsAlone: z.string().optional(),
    parquetOut: z.string().optional(),
  })
  .strict();
type BenchArgs = z.infer<typeof BenchArgs>;

const USAGE =
  'usage: npm run bench -- [--sizes 100000,1000000] [--with-10m] [--malformed 0.1] [--duplicates 0.05] [--out-of-order 0.05] ' +
  '[--seed 42] [--out bench/out/<timestamp>.json] [--stages 1,2,3] [--skip-ceilings] [--no-merge-gold] [--keep]';

// ---------------------------------------------------------------------------------------------
// Stages
// ---------------------------------------------------------------------------------------------

interface StageDef {
  n: 1 | 2 | 3;
  name: 'raw' | 'bronze' | 'gold';
  workflow: string;
  what: string;
  input(topic: string): Record<string, unknown>;
}

const STAGES: StageDef[] = [
  { n: 1, name: 'raw', workflow: 'ingestRawWorkflow', what: 'Kafka → raw', input: (topic) => ({ topics: [topic], startingOffsets: 'earliest' }) },
  { n: 2, name: 'bronze', workflow: 'deserializeWorkflow', what: 'raw → bronze + dead letter', input: () => ({}) },
  { n: 3, name: 'gold', workflow: 'mergeGoldWorkflow', what: 'bronze → gold', input: () => ({}) },
];

const TARGETS = {
  stage1MsgPerSec: 100_000,
  stage1VsJava: 0.5,
  stage2RowsPerSec: 500_000,
  stage3MergeSeconds: 5,
  rssBytesAt10M: 1.5 * 1024 ** 3,
};

// ---------------------------------------------------------------------------------------------
// Memory: peak RSS of this process per stage
// ---------------------------------------------------------------------------------------------

/** Samples process RSS every 100 ms on its own thread: [0] = max since reset, [1] = latest. */
class RssSampler {
  private readonly shared = new Float64Array(new SharedArrayBuffer(16));
  private readonly thread: ThreadWorker;
  private hwmResettable = false;

  constructor() {
    this.thread = new ThreadWorker(
      `const { workerData } = require('node:worker_threads');
       const a = new Float64Array(workerData);
       setInterval(() => { const r = process.memoryUsage.rss(); a[1] = r; if (r > a[0]) a[0] = r; }, 100);`,
      { eval: true, workerData: this.shared.buffer },
    );
    this.thread.unref();
  }

  reset(): void {
    this.shared[0] = process.memoryUsage.rss();
    try {
      fs.writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS (Linux ≥ 4.0)
      this.hwmResettable = true;
    } catch {
      this.hwmResettable = false;
    }
  }

  /** Peak since reset(): the larger of the 100 ms samples and VmHWM (when it could be reset). */
  peak(): { bytes: number; sampled: number; hwm: number | null } {
    const sampled = Math.max(this.shared[0], process.memoryUsage.rss());
    const hwm = this.hwmResettable ? procStatusKb('VmHWM') * 1024 : null;
    return { bytes: Math.max(sampled, hwm ?? 0), sampled, hwm };
  }

  async close(): Promise<void> {
    await this.thread.terminate();
  }
}

function procStatusKb(field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** A full GC before each stage, so the baseline a stage starts from is not the previous one's garbage. */
const collectGarbage: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (() => void) | undefined;
  return () => gc?.();
})();

// ---------------------------------------------------------------------------------------------
// Delta: versions and files written, read from the new commits
// ---------------------------------------------------------------------------------------------

interface DeltaWrites {
  versions: number;
  filesAdded: number;
  filesRemoved: number;
  rowsAdded: number;
  bytesAdded: number;
  byTable: Record<string, { versions: number; filesAdded: number; filesRemoved: number; rowsAdded: number }>;
}

function logVersions(dir: string): number[] {
  const log = path.join(dir, '_delta_log');
  if (!fs.existsSync(log)) return [];
  return fs
    .readdirSync(log)
    .filter((f) => /^\d{20}\.json$/.test(f))
    .map((f) => Number(f.slice(0, 20)))
    .sort((a, b) => a - b);
}

type LakeState = Map<string, Set<number>>;

function lakeState(lakeRoot: string): LakeState {
  return new Map(ALL_TABLES.map((t) => [t.name, new Set(logVersions(tableDir(lakeRoot, t)))]));
}

function deltaWrites(lakeRoot: string, before: LakeState): DeltaWrites {
  const out: DeltaWrites = { versions: 0, filesAdded: 0, filesRemoved: 0, rowsAdded: 0, bytesAdded: 0, byTable: {} };
  for (const t of ALL_TABLES) {
    const dir = tableDir(lakeRoot, t);
    const seen = before.get(t.name) ?? new Set<number>();
    const fresh = logVersions(dir).filter((v) => !seen.has(v));
    if (fresh.length === 0) continue;
    const tb = { versions: fresh.length, filesAdded: 0, filesRemoved: 0, rowsAdded: 0 };
    for (const v of fresh) {
      const text = fs.readFileSync(path.join(dir, '_delta_log', `${String(v).padStart(20, '0')}.json`), 'utf8');
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        const action = JSON.parse(line) as { add?: { size?: number; stats?: string }; remove?: unknown };
        if (action.add) {
          tb.filesAdded += 1;
          out.bytesAdded += action.add.size ?? 0;
          try {
            tb.rowsAdded += Number((JSON.parse(action.add.stats ?? '{}') as { numRecords?: number }).numRecords ?? 0);
          } catch {
            // stats are optional in Delta
          }
        }
        if (action.remove) tb.filesRemoved += 1;
      }
    }
    out.byTable[t.name] = tb;
    out.versions += tb.versions;
    out.filesAdded += tb.filesAdded;
    out.filesRemoved += tb.filesRemoved;
    out.rowsAdded += tb.rowsAdded;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Dataset: produce into Kafka, write the same payloads to a file
// ---------------------------------------------------------------------------------------------

function sampleOptions(args: BenchArgs, count: number): SampleOptions {
  return { count, seed: args.seed, malformed: args.malformed, duplicates: args.duplicates, outOfOrder: args.outOfOrder };
}

async function createTopic(kafka: KafkaHandle, topic: string): Promise<void> {
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
  } finally {
    await admin.disconnect();
  }
}

async function deleteTopic(kafka: KafkaHandle, topic: string): Promise<void> {
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
}

/** Sends the sample stream with several batches in flight (one connection: order per partition holds). */
async function produceBacklog(kafka: KafkaHandle, topic: string, opts: SampleOptions): Promise<{ seconds: number; bytes: number; truth: SampleTruth }> {
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
function writePayloadFile(file: string, opts: SampleOptions): void {
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

// ---------------------------------------------------------------------------------------------
// Ceilings
// ---------------------------------------------------------------------------------------------

interface JavaCeiling {
  msgPerSec: number;
  fetchMsgPerSec: number;
  mbPerSec: number;
  fetchMbPerSec: number;
  messages: number;
  rebalanceMs: number;
  fetchMs: number;
  wallSeconds: number;
  command: string;
}

function run(cmd: string, argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * The Java consumer with fetches large enough not to limit it (16 MiB per partition, 64 MiB per
 * request; 4/16 MiB, what the range reader asks kafkajs for, measured the same within noise): with
 * its 1 MiB default it was ~10-20× slower here and would be no ceiling.
 */
async function javaConsumerCeiling(libDir: string, brokers: string, topic: string, messages: number, workDir: string): Promise<JavaCeiling> {
  const consumerConfig = path.join(workDir, 'consumer-perf.properties');
  fs.writeFileSync(consumerConfig, 'fetch.max.bytes=67108864\n');
  const argv = [
    '-Xmx512m',
    '-Dlog4j.configuration=file:/dev/null',
    '-cp',
    `${libDir}/*`,
    'org.apache.kafka.tools.ConsumerPerformance',
    '--bootstrap-server',
    brokers,
    '--topic',
    topic,
    '--messages',
    String(messages),
    '--group',
    `bench-ceiling-${randomUUID().slice(0, 8)}`,
    '--timeout',
    '60000',
    '--fetch-size',
    String(16 * 1024 * 1024),
    '--consumer.config',
    consumerConfig,
  ];
  const t0 = performance.now();
  const r = await run('java', argv);
  const wallSeconds = (performance.now() - t0) / 1000;
  // header: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
  //         rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const lines = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  const headerAt = lines.findIndex((l) => l.startsWith('start.time'));
  if (r.code !== 0 || headerAt < 0 || headerAt + 1 >= lines.length) {
    throw new Error(`ConsumerPerformance failed (exit ${r.code}): ${(r.stdout + r.stderr).slice(-2000)}`);
  }
  const header = lines[headerAt].split(',').map((s) => s.trim());
  const values = lines[headerAt + 1].split(',').map((s) => s.trim());
  const get = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`ConsumerPerformance output has no ${name}: ${lines[headerAt]}`);
    return Number(values[i]);
  };
  const result = {
    msgPerSec: get('nMsg.sec'),
    fetchMsgPerSec: get('fetch.nMsg.sec'),
    mbPerSec: get('MB.sec'),
    fetchMbPerSec: get('fetch.MB.sec'),
    messages: get('data.consumed.in.nMsg'),
    rebalanceMs: get('rebalance.time.ms'),
    fetchMs: get('fetch.time.ms'),
    wallSeconds,
    command: `java ${argv.slice(2).join(' ')}`,
  };
  if (result.messages < messages) throw new Error(`ConsumerPerformance read ${result.messages} of ${messages} messages`);
  return result;
}

interface DuckDBCeiling {
  rows: number;
  seconds: number;
  rowsPerSec: number;
  inputBytes: number;
  parquetBytes: number;
  peakRssBytes: number;
  threads: string;
  sql: string;
}

const duckCeilingSource = (file: string) =>
  `SELECT 'bench' AS topic, CAST(0 AS INTEGER) AS "partition", "offset", now() AS kafka_ts, raw_payload,
          from_hex(raw_payload_hex) AS raw_payload_bytes, now() AS arrived_at
   FROM read_csv(${sqlLiteral(file)}, delim = '\\t', quote = '', escape = '', header = false, auto_detect = false, nullstr = '\\N',
                 columns = {'offset': 'BIGINT', 'raw_payload': 'VARCHAR', 'raw_payload_hex': 'VARCHAR'})`;

const duckCeilingCopy = (parquet: string) =>
  `COPY (SELECT sensor_id, value, unit, ts_ms, arrived_at, topic, "partition", "offset", error,
                CASE WHEN error IS NOT NULL THEN raw_payload END AS raw_payload
         FROM (${parsedSensorSql('bench_src')}))
   TO ${sqlLiteral(parquet)} (FORMAT parquet, COMPRESSION zstd)`;

function sqlLiteral(s: string): string {
  if (s.includes('\0')) throw new Error('NUL in SQL literal');
  return `'${s.replace(/'/g, "''")}'`;
}

/** Child-process side of the DuckDB ceiling: prints one JSON line. */
async function duckdbCeilingChild(file: string, parquet: string): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false' });
  const con = await db.connect();
  const threads = String((await con.runAndReadAll(`SELECT current_setting('threads') AS t`)).getRowObjectsJson()[0]?.t);
  await con.run(`CREATE TEMP VIEW bench_src AS ${duckCeilingSource(file)}`);
  const t0 = performance.now();
  const copied = (await con.runAndReadAll(duckCeilingCopy(parquet))).getRowObjectsJson();
  const seconds = (performance.now() - t0) / 1000;
  const rows = Number(copied[0]?.Count ?? 0);
  const result: DuckDBCeiling = {
    rows,
    seconds,
    rowsPerSec: rows / seconds,
    inputBytes: fs.statSync(file).size,
    parquetBytes: fs.statSync(parquet).size,
    peakRssBytes: procStatusKb('VmHWM') * 1024,
    threads,
    sql: 'read_csv(payload TSV) → parsedSensorSql → COPY TO parquet (zstd)',
  };
  con.closeSync();
  db.closeSync();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function duckdbCeiling(file: string, parquet: string): Promise<DuckDBCeiling> {
  // This script again, in a child.
  const r = await run(process.execPath, [...childExecArgv(), __filename, '--duckdb-ceiling', file, '--parquet-out', parquet]);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`DuckDB ceiling failed (exit ${r.code}): ${(r.stdout + r.stderr).slice(-2000)}`);
  return JSON.parse(line) as DuckDBCeiling;
}

/**
 * Not a ceiling but the bound of stage 1's client: the project's range reader (kafkajs) reading
 * the whole topic with the stage's default batch limits and a flush that only counts — no DuckDB,
 * no Delta. Stage 1 minus this = the cost of writing; this vs the Java consumer = the cost of
 * kafkajs decoding in JavaScript.
 */
interface KafkajsAlone {
  messages: number;
  seconds: number;
  msgPerSec: number;
  flushes: number;
  peakRssBytes: number;
}

async function kafkajsAloneChild(topic: string): Promise<void> {
  const kafka = connectKafka(loadWorkerConfig().kafka);
  const t0 = performance.now();
  const marks = await fetchWatermarks(kafka, [topic]);
  let messages = 0;
  let flushes = 0;
  await readRanges(
    kafka,
    marks.map((m) => ({ topic, partition: m.partition, from: m.low, to: m.high, origin: 'startingOffsets' as const })),
    {
      maxRecordsPerFlush: 250_000, // IngestRawInput defaults
      maxBytesPerFlush: 128 * 1024 ** 2,
      idleTimeoutMs: 60_000,
      flush: async (records) => {
        messages += records.length;
        flushes += 1;
      },
    },
  );
  const seconds = (performance.now() - t0) / 1000;
  const result: KafkajsAlone = { messages, seconds, msgPerSec: messages / seconds, flushes, peakRssBytes: procStatusKb('VmHWM') * 1024 };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function kafkajsAlone(topic: string): Promise<KafkajsAlone> {
  const r = await run(process.execPath, [...childExecArgv(), __filename, '--kafkajs-alone', topic]);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`kafkajs-alone reference failed (exit ${r.code}): ${(r.stdout + r.stderr).slice(-2000)}`);
  return JSON.parse(line) as KafkajsAlone;
}

// ---------------------------------------------------------------------------------------------
// Stage-3 target: bench/merge-gold.ts (owned by the stage-3 work) measures "merge 100k rows into a
// 10M-row gold table"; it is run as is, in a child process, and its figures are parsed, not redone.
// ---------------------------------------------------------------------------------------------

interface MergeGoldRound {
  goldRows: number;
  round: number;
  goldFiles: number;
  mergedRows: number;
  seconds: number;
  line: string;
}

interface MergeGoldReference {
  script: string;
  present: boolean;
  ran: boolean;
  command?: string;
  rounds: MergeGoldRound[];
  /** The slowest round at 10M (the target is checked against it). */
  worstSecondsAt10M?: number;
  error?: string;
}

function childExecArgv(): string[] {
  // The same loader (tsx) as this process; profiler flags (and their values) are not passed on.
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (/^--(cpu|heap)-prof/.test(a)) {
      if (/^--(cpu|heap)-prof-(dir|name|interval)$/.test(a)) i++; // value in the next argument
      continue;
    }
    out.push(a);
  }
  return out;
}

async function runMergeGold(enabled: boolean): Promise<MergeGoldReference> {
  const script = path.join(__dirname, 'merge-gold.ts');
  const ref: MergeGoldReference = { script: 'bench/merge-gold.ts', present: fs.existsSync(script), ran: false, rounds: [] };
  if (!ref.present || !enabled) return ref;
  const argv = [script, '--sizes', '10000000'];
  ref.command = `npx tsx bench/merge-gold.ts ${argv.slice(1).join(' ')}`;
  console.log(`\nstage-3 target: ${ref.command}`);
  const r = await run(process.execPath, [...childExecArgv(), ...argv]);
  ref.ran = true;
  const re = /^gold\s+([\d,]+) rows, round (\d+) \(\s*(\d+) files\): merge (\d+) rows in ([\d.]+) s/;
  const seen = new Set<string>();
  for (const raw of r.stdout.split('\n')) {
    const line = raw.trim();
    const m = re.exec(line);
    if (!m || seen.has(line)) continue; // each round is printed twice (progress, then summary)
    seen.add(line);
    ref.rounds.push({ goldRows: Number(m[1].replace(/,/g, '')), round: Number(m[2]), goldFiles: Number(m[3]), mergedRows: Number(m[4]), seconds: Number(m[5]), line });
  }
  const at10M = ref.rounds.filter((x) => x.goldRows === 10_000_000);
  if (at10M.length > 0) ref.worstSecondsAt10M = Math.max(...at10M.map((x) => x.seconds));
  if (r.code !== 0 || at10M.length === 0) ref.error = `exit ${r.code}: ${(r.stdout + r.stderr).slice(-1500)}`;
  for (const x of at10M) console.log(`  ${x.line}`);
  return ref;
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

interface StageResult {
  stage: number;
  name: string;
  workflow: string;
  what: string;
  available: boolean;
  records?: number;
  seconds?: number;
  recordsPerSec?: number;
  delta?: DeltaWrites;
  peakRssBytes?: number;
  rssSampledBytes?: number;
  rssHwmBytes?: number | null;
  rssBeforeBytes?: number;
  /** process.hrtime (CLOCK_MONOTONIC, µs) at start and end: the clock of `node --cpu-prof` profiles. */
  monotonicUs?: [number, number];
  result?: unknown;
  error?: string;
}

interface SizeResult {
  n: number;
  topic: string;
  lakeRoot: string;
  produce: { seconds: number; msgPerSec: number; payloadBytes: number; truth: SampleTruth };
  ceilings: { javaConsumer?: JavaCeiling; kafkajsAlone?: KafkajsAlone; duckdb?: DuckDBCeiling; errors: string[] };
  stages: StageResult[];
  endToEnd?: { from: string; to: string; records: number; seconds: number; recordsPerSec: number; peakRssBytes: number; deltaVersions: number; deltaFiles: number };
  ratios: { stage1VsJava?: number; stage1VsJavaTotal?: number; stage1VsKafkajsAlone?: number; kafkajsAloneVsJava?: number; stage2VsDuckDB?: number };
}

interface Check {
  target: string;
  n?: number;
  value: string;
  pass: boolean | null;
}

const fmtInt = (x: number) => Math.round(x).toLocaleString('en-US');
const mib = (b: number) => `${(b / 1024 ** 2).toFixed(0)} MiB`;
const shortN = (n: number) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n));

function machineInfo() {
  const git = (...a: string[]) => {
    try {
      return execFileSync('git', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return 'unknown';
    }
  };
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    commit: git('rev-parse', '--short', 'HEAD'),
    dirty: git('status', '--porcelain', '--untracked-files=no') !== '',
    loadAvgAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
}

async function main(args: BenchArgs): Promise<void> {
  const sizes = [...new Set([...args.sizes, ...(args.with10m ? [10_000_000] : [])])].sort((a, b) => a - b);
  const env = loadEnv();
  const base = loadWorkerConfig(env);
  const kafkaLibDir = process.env.KAFKA_LIB_DIR ?? readStackVar('KAFKA_LIB_DIR');
  const startedAt = new Date();
  const machine = machineInfo();
  const outFile = path.resolve(args.out ?? path.join('bench', 'out', `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`));
  const workDir = path.join(os.tmpdir(), 'tributary-bench', `run-${randomUUID().slice(0, 8)}`);
  fs.mkdirSync(workDir, { recursive: true });

  console.log(
    `tributary bench — ${startedAt.toISOString()} commit ${machine.commit}${machine.dirty ? ' (dirty)' : ''}; ` +
      `${machine.cores} cores (${machine.cpuModel}), ${(machine.memoryBytes / 1024 ** 3).toFixed(1)} GiB, node ${machine.node}; ` +
      `load ${machine.loadAvgAtStart.join(' ')}`,
  );
  if (machine.loadAvgAtStart[0] > 1) console.log(`warning: 1-min load ${machine.loadAvgAtStart[0]} on ${machine.cores} cores — figures will be low`);
  console.log(`sizes ${sizes.map(fmtInt).join(', ')}; malformed ${args.malformed}, duplicates ${args.duplicates}, out-of-order ${args.outOfOrder}, seed ${args.seed}`);

  Runtime.install({ logger: new DefaultLogger('WARN') });
  const workflows = (await import('../src/workflows')) as Record<string, unknown>;
  const stages = STAGES.filter((s) => args.stages.includes(s.n));
  for (const s of stages) if (typeof workflows[s.workflow] !== 'function') console.log(`stage ${s.n} (${s.workflow}): not available`);
  const bundle: WorkflowBundleWithSourceMap = await bundleWorkflowCode({
    workflowsPath: require.resolve('../src/workflows'),
    logger: new DefaultLogger('WARN'),
  });
  const nativeConnection = await NativeConnection.connect({ address: base.temporal.address });
  const clientConnection = await Connection.connect({ address: base.temporal.address });
  const client = new Client({ connection: clientConnection, namespace: base.temporal.namespace });
  const kafka = connectKafka(base.kafka);
  const sampler = new RssSampler();

  const results: SizeResult[] = [];
  try {
    for (const n of sizes) {
      const topic = `bench-${n}-${randomUUID().slice(0, 8)}`;
      const lakeRoot = path.join(workDir, `lake-${n}`);
      fs.mkdirSync(lakeRoot, { recursive: true });
      const payloadFile = path.join(workDir, `payloads-${n}.tsv`);
      const opts = sampleOptions(args, n);
      console.log(`\n== N = ${fmtInt(n)}: topic ${topic}, lake ${lakeRoot}`);

      await createTopic(kafka, topic);
      const produced = await produceBacklog(kafka, topic, opts);
      console.log(`produced ${fmtInt(n)} messages (${mib(produced.bytes)} payload) in ${produced.seconds.toFixed(1)} s = ${fmtInt(n / produced.seconds)} msg/s (setup, not a stage figure)`);

      const size: SizeResult = {
        n,
        topic,
        lakeRoot,
        produce: { seconds: produced.seconds, msgPerSec: n / produced.seconds, payloadBytes: produced.bytes, truth: produced.truth },
        ceilings: { errors: [] },
        stages: [],
        ratios: {},
      };
      results.push(size);

      if (!args.skipCeilings) {
        if (!kafkaLibDir) size.ceilings.errors.push('KAFKA_LIB_DIR not set: no Java consumer ceiling');
        else {
          try {
            size.ceilings.javaConsumer = await javaConsumerCeiling(kafkaLibDir, base.kafka.brokers.join(','), topic, n, workDir);
            const j = size.ceilings.javaConsumer;
            console.log(`ceiling, Java consumer: ${fmtInt(j.fetchMsgPerSec)} msg/s fetching (${j.fetchMbPerSec.toFixed(1)} MB/s), ${fmtInt(j.msgPerSec)} msg/s incl. group join`);
          } catch (e) {
            size.ceilings.errors.push(String(e instanceof Error ? e.message : e));
            console.log(`ceiling, Java consumer: failed: ${String(e)}`);
          }
        }
        if (args.stages.includes(1)) {
          try {
            size.ceilings.kafkajsAlone = await kafkajsAlone(topic);
            const k = size.ceilings.kafkajsAlone;
            console.log(`reference, kafkajs range reader alone (no writes): ${fmtInt(k.msgPerSec)} msg/s (${k.seconds.toFixed(2)} s incl. connect and group join)`);
          } catch (e) {
            size.ceilings.errors.push(String(e instanceof Error ? e.message : e));
            console.log(`reference, kafkajs alone: failed: ${String(e)}`);
          }
        }
      }

      const config: WorkerConfig = { ...base, lakeRoot, temporal: { ...base.temporal, taskQueue: `bench-${randomUUID().slice(0, 8)}` } };
      const worker = await Worker.create({
        connection: nativeConnection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        workflowBundle: bundle,
        activities: createActivities({ config }),
        // as src/worker.ts createWorker
        maxConcurrentActivityTaskExecutions: 2,
        maxConcurrentWorkflowTaskExecutions: 10,
      });
      await worker.runUntil(async () => {
        for (const s of stages) {
          const r: StageResult = { stage: s.n, name: s.name, workflow: s.workflow, what: s.what, available: typeof workflows[s.workflow] === 'function' };
          size.stages.push(r);
          if (!r.available) continue;
          collectGarbage();
          const before = lakeState(lakeRoot);
          r.rssBeforeBytes = process.memoryUsage.rss();
          sampler.reset();
          const t0 = performance.now();
          const mono0 = Number(process.hrtime.bigint() / 1000n);
          try {
            r.result = await client.workflow.execute(s.workflow, {
              taskQueue: config.temporal.taskQueue,
              workflowId: `bench-${s.name}-${randomUUID().slice(0, 8)}`,
              args: [s.input(topic)],
            });
          } catch (e) {
            r.error = String(e instanceof Error ? `${e.message}${e.cause ? `: ${String((e.cause as Error).cause ?? e.cause)}` : ''}` : e);
          }
          r.seconds = (performance.now() - t0) / 1000;
          r.monotonicUs = [mono0, Number(process.hrtime.bigint() / 1000n)];
          const peak = sampler.peak();
          r.peakRssBytes = peak.bytes;
          r.rssSampledBytes = peak.sampled;
          r.rssHwmBytes = peak.hwm;
          r.delta = deltaWrites(lakeRoot, before);
          r.records = recordsIn(s, r, size);
          r.recordsPerSec = r.records / r.seconds;
          console.log(
            `stage ${s.n} ${s.workflow}: ${r.error ? `FAILED (${r.error}) after ` : ''}${fmtInt(r.records)} records in ${r.seconds.toFixed(2)} s = ` +
              `${fmtInt(r.recordsPerSec)} rec/s; ${r.delta.versions} Delta versions, ${r.delta.filesAdded} files; peak RSS ${mib(r.peakRssBytes)}`,
          );
          if (r.error) break; // later stages would measure nothing meaningful
        }
      });

      const ran = size.stages.filter((s) => s.available && s.seconds !== undefined && !s.error);
      if (ran.length > 0 && ran[0].stage === 1) {
        const last = ran[ran.length - 1];
        const seconds = ran.reduce((a, s) => a + (s.seconds ?? 0), 0);
        size.endToEnd = {
          from: 'Kafka',
          to: last.name,
          records: n,
          seconds,
          recordsPerSec: n / seconds,
          peakRssBytes: Math.max(...ran.map((s) => s.peakRssBytes ?? 0)),
          deltaVersions: ran.reduce((a, s) => a + (s.delta?.versions ?? 0), 0),
          deltaFiles: ran.reduce((a, s) => a + (s.delta?.filesAdded ?? 0), 0),
        };
      }

      if (!args.skipCeilings && args.stages.includes(2)) {
        writePayloadFile(payloadFile, opts);
        try {
          size.ceilings.duckdb = await duckdbCeiling(payloadFile, path.join(workDir, `ceiling-${n}.parquet`));
          const d = size.ceilings.duckdb;
          console.log(`ceiling, DuckDB alone (TSV → parsedSensorSql → parquet): ${fmtInt(d.rowsPerSec)} rows/s (${d.seconds.toFixed(2)} s, ${d.threads} threads)`);
        } catch (e) {
          size.ceilings.errors.push(String(e instanceof Error ? e.message : e));
          console.log(`ceiling, DuckDB alone: failed: ${String(e)}`);
        }
      }

      const s1 = size.stages.find((s) => s.stage === 1 && s.recordsPerSec !== undefined && !s.error);
      const s2 = size.stages.find((s) => s.stage === 2 && s.recordsPerSec !== undefined && !s.error);
      if (s1 && size.ceilings.javaConsumer) {
        size.ratios.stage1VsJava = s1.recordsPerSec! / size.ceilings.javaConsumer.fetchMsgPerSec;
        size.ratios.stage1VsJavaTotal = s1.recordsPerSec! / size.ceilings.javaConsumer.msgPerSec;
      }
      if (s1 && size.ceilings.kafkajsAlone) size.ratios.stage1VsKafkajsAlone = s1.recordsPerSec! / size.ceilings.kafkajsAlone.msgPerSec;
      if (size.ceilings.kafkajsAlone && size.ceilings.javaConsumer) {
        size.ratios.kafkajsAloneVsJava = size.ceilings.kafkajsAlone.msgPerSec / size.ceilings.javaConsumer.fetchMsgPerSec;
      }
      if (s2 && size.ceilings.duckdb) size.ratios.stage2VsDuckDB = s2.recordsPerSec! / size.ceilings.duckdb.rowsPerSec;

      if (!args.keep) {
        await deleteTopic(kafka, topic).catch((e) => console.log(`could not delete topic ${topic}: ${String(e)}`));
        fs.rmSync(lakeRoot, { recursive: true, force: true });
        fs.rmSync(payloadFile, { force: true });
        fs.rmSync(path.join(workDir, `ceiling-${n}.parquet`), { force: true });
      }
    }
  } finally {
    await sampler.close();
    await clientConnection.close();
    await nativeConnection.close();
    if (!args.keep) fs.rmSync(workDir, { recursive: true, force: true });
  }

  const mergeGold = await runMergeGold(args.stages.includes(3) && !args.noMergeGold);
  const checks = evaluate(results, args, mergeGold);
  const scales = scaling(results);
  printReport(results, checks, mergeGold, scales);

  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    args: { sizes, malformed: args.malformed, duplicates: args.duplicates, outOfOrder: args.outOfOrder, seed: args.seed, stages: args.stages },
    targets: TARGETS,
    results,
    scaling: scales,
    mergeGold,
    checks,
  };
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), outFile)}`);
  await Runtime.instance().shutdown();
}

function readStackVar(name: string): string | undefined {
  try {
    const text = fs.readFileSync(path.resolve(process.env.STACK_DIR ?? '.stack', 'stack.env'), 'utf8');
    return new RegExp(`^${name}=(.*)$`, 'm').exec(text)?.[1];
  } catch {
    return undefined;
  }
}

/** Records a stage consumed: the workflow's own count when it reports one, else what reached its input. */
function recordsIn(s: StageDef, r: StageResult, size: SizeResult): number {
  const res = r.result as { recordsIn?: unknown; rowsIn?: unknown } | undefined;
  const reported = res?.recordsIn ?? res?.rowsIn;
  if (typeof reported === 'number' && (reported > 0 || s.n === 1)) return reported;
  if (s.n === 1) return 0;
  if (s.n === 2) return size.stages.find((x) => x.stage === 1)?.delta?.byTable['raw/sensor_readings']?.rowsAdded ?? size.n;
  return size.stages.find((x) => x.stage === 2)?.delta?.byTable['bronze/sensor_readings']?.rowsAdded ?? 0;
}

function evaluate(results: SizeResult[], args: BenchArgs, mergeGold: MergeGoldReference): Check[] {
  const checks: Check[] = [];
  for (const r of results) {
    const s1 = r.stages.find((s) => s.stage === 1);
    const s2 = r.stages.find((s) => s.stage === 2);
    if (s1?.recordsPerSec !== undefined && !s1.error) {
      checks.push({ target: `stage 1 ≥ ${fmtInt(TARGETS.stage1MsgPerSec)} msg/s`, n: r.n, value: `${fmtInt(s1.recordsPerSec)} msg/s`, pass: s1.recordsPerSec >= TARGETS.stage1MsgPerSec });
      if (r.ratios.stage1VsJava !== undefined) {
        checks.push({ target: `stage 1 ≥ ${TARGETS.stage1VsJava} × Java consumer`, n: r.n, value: `${r.ratios.stage1VsJava.toFixed(3)} ×`, pass: r.ratios.stage1VsJava >= TARGETS.stage1VsJava });
      }
    }
    if (args.stages.includes(2)) {
      if (s2?.available && s2.recordsPerSec !== undefined && !s2.error) {
        checks.push({ target: `stage 2 ≥ ${fmtInt(TARGETS.stage2RowsPerSec)} rows/s`, n: r.n, value: `${fmtInt(s2.recordsPerSec)} rows/s`, pass: s2.recordsPerSec >= TARGETS.stage2RowsPerSec });
      } else {
        checks.push({ target: `stage 2 ≥ ${fmtInt(TARGETS.stage2RowsPerSec)} rows/s`, n: r.n, value: s2?.error ? 'failed' : 'not available', pass: null });
      }
    }
    if (r.n === 10_000_000) {
      const peak = Math.max(0, ...r.stages.map((s) => s.peakRssBytes ?? 0));
      checks.push({ target: 'worker RSS ≤ 1.5 GiB at a 10M backlog', n: r.n, value: mib(peak), pass: peak > 0 ? peak <= TARGETS.rssBytesAt10M : null });
    }
  }
  if (args.stages.includes(3)) {
    const worst = mergeGold.worstSecondsAt10M;
    checks.push({
      target: `stage 3 merge 100k into 10M ≤ ${TARGETS.stage3MergeSeconds} s`,
      value:
        worst !== undefined
          ? `slowest of ${mergeGold.rounds.filter((x) => x.goldRows === 10_000_000).length} rounds ${worst.toFixed(2)} s (${mergeGold.script})`
          : !mergeGold.present
            ? `not measured (${mergeGold.script} absent)`
            : mergeGold.ran
              ? `${mergeGold.script} failed: ${mergeGold.error?.slice(0, 200)}`
              : `not measured (--no-merge-gold)`,
      pass: worst !== undefined ? worst <= TARGETS.stage3MergeSeconds : null,
    });
  }
  if (!args.with10m) checks.push({ target: 'worker RSS ≤ 1.5 GiB at a 10M backlog', value: 'not measured (needs --with-10m)', pass: null });
  return checks;
}

/** A markdown table; columns whose cells are all numbers/sizes are right-aligned. */
/**
 * Per stage across the sizes: µs per record at each N, and between consecutive sizes the marginal
 * rate (ΔN / Δseconds) and the fixed cost it implies (workflow + activity start, connections,
 * group join, table snapshots) — the run time at N is ≈ fixed + N / marginal rate.
 */
interface Scaling {
  stage: string;
  points: { n: number; usPerRecord: number; peakRssBytes: number }[];
  marginal: { fromN: number; toN: number; recordsPerSec: number; fixedSeconds: number }[];
}

function scaling(results: SizeResult[]): Scaling[] {
  const out: Scaling[] = [];
  const keys = [...new Set(results.flatMap((r) => r.stages.filter((s) => s.records && !s.error).map((s) => `${s.stage} ${s.workflow}`)))];
  const series = (pick: (r: SizeResult) => { records: number; seconds: number; peak: number } | undefined) =>
    results.map((r) => ({ n: r.n, v: pick(r) })).filter((x): x is { n: number; v: { records: number; seconds: number; peak: number } } => !!x.v);
  const build = (stage: string, pts: { n: number; v: { records: number; seconds: number; peak: number } }[]) => {
    if (pts.length === 0) return;
    const sc: Scaling = { stage, points: pts.map((p) => ({ n: p.n, usPerRecord: (p.v.seconds * 1e6) / p.v.records, peakRssBytes: p.v.peak })), marginal: [] };
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1].v;
      const b = pts[i].v;
      const rate = (b.records - a.records) / (b.seconds - a.seconds);
      sc.marginal.push({ fromN: pts[i - 1].n, toN: pts[i].n, recordsPerSec: rate, fixedSeconds: a.seconds - a.records / rate });
    }
    out.push(sc);
  };
  for (const key of keys) {
    build(
      key,
      series((r) => {
        const s = r.stages.find((x) => `${x.stage} ${x.workflow}` === key && x.records && !x.error);
        return s ? { records: s.records!, seconds: s.seconds!, peak: s.peakRssBytes ?? 0 } : undefined;
      }),
    );
  }
  build(
    'end to end',
    series((r) => (r.endToEnd ? { records: r.endToEnd.records, seconds: r.endToEnd.seconds, peak: r.endToEnd.peakRssBytes } : undefined)),
  );
  return out;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const numeric = rows[0].map((_, i) => rows.slice(1).every((r) => /^(|[\d,.]+( MiB|\/s| s| ×)?)$/.test(r[i] ?? '')));
  const line = (r: string[]) => `| ${r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join('\n');
}

function printReport(results: SizeResult[], checks: Check[], mergeGold: MergeGoldReference, scales: Scaling[]): void {
  const rows: string[][] = [['N', 'stage', 'records', 'seconds', 'records/s', 'Delta versions', 'Delta files', 'RSS at start', 'peak RSS', 'ceiling', 'ratio']];
  for (const r of results) {
    for (const s of r.stages) {
      const label = `${s.stage} ${s.workflow}`;
      if (!s.available) {
        rows.push([fmtInt(r.n), `${label}: not available`, '', '', '', '', '', '', '', '', '']);
        continue;
      }
      const ceiling =
        s.stage === 1 && r.ceilings.javaConsumer
          ? `Java ${fmtInt(r.ceilings.javaConsumer.fetchMsgPerSec)}/s`
          : s.stage === 2 && r.ceilings.duckdb
            ? `DuckDB ${fmtInt(r.ceilings.duckdb.rowsPerSec)}/s`
            : '';
      const ratio = s.stage === 1 ? r.ratios.stage1VsJava : s.stage === 2 ? r.ratios.stage2VsDuckDB : undefined;
      rows.push([
        fmtInt(r.n),
        s.error ? `${label} (FAILED)` : label,
        fmtInt(s.records ?? 0),
        (s.seconds ?? 0).toFixed(2),
        fmtInt(s.recordsPerSec ?? 0),
        String(s.delta?.versions ?? ''),
        String(s.delta?.filesAdded ?? ''),
        mib(s.rssBeforeBytes ?? 0),
        mib(s.peakRssBytes ?? 0),
        ceiling,
        ratio !== undefined ? ratio.toFixed(3) : '',
      ]);
    }
    if (r.endToEnd) {
      const e = r.endToEnd;
      rows.push([fmtInt(r.n), `end to end (${e.from} → ${e.to})`, fmtInt(e.records), e.seconds.toFixed(2), fmtInt(e.recordsPerSec), String(e.deltaVersions), String(e.deltaFiles), '', mib(e.peakRssBytes), '', '']);
    }
  }
  console.log(`\n${table(rows)}`);

  const crows: string[][] = [['N', 'ceiling', 'rate', 'seconds', 'detail']];
  for (const r of results) {
    const j = r.ceilings.javaConsumer;
    if (j) {
      crows.push([fmtInt(r.n), 'Java ConsumerPerformance', `${fmtInt(j.fetchMsgPerSec)} msg/s`, (j.fetchMs / 1000).toFixed(2), `${j.fetchMbPerSec.toFixed(1)} MB/s fetching; ${fmtInt(j.msgPerSec)} msg/s incl. ${j.rebalanceMs} ms group join`]);
    }
    const k = r.ceilings.kafkajsAlone;
    if (k) {
      crows.push([
        fmtInt(r.n),
        'kafkajs range reader alone',
        `${fmtInt(k.msgPerSec)} msg/s`,
        k.seconds.toFixed(2),
        `reference, not a ceiling: src/kafka/range-reader.ts, no writes; ${(r.ratios.kafkajsAloneVsJava ?? 0).toFixed(3)} × Java; stage 1 = ${(r.ratios.stage1VsKafkajsAlone ?? 0).toFixed(3)} × this`,
      ]);
    }
    const d = r.ceilings.duckdb;
    if (d) crows.push([fmtInt(r.n), 'DuckDB alone', `${fmtInt(d.rowsPerSec)} rows/s`, d.seconds.toFixed(2), `${d.sql}; ${d.threads} threads; child peak RSS ${mib(d.peakRssBytes)}`]);
    for (const e of r.ceilings.errors) crows.push([fmtInt(r.n), 'error', '', '', e.slice(0, 200)]);
  }
  if (crows.length > 1) console.log(`\n${table(crows)}`);
  if (results.length > 1) {
    const srows: string[][] = [['stage', ...results.map((r) => `µs/record @ ${fmtInt(r.n)}`), ...results.slice(1).map((r, i) => `marginal rate ${shortN(results[i].n)}→${shortN(r.n)}`), 'fixed cost']];
    for (const sc of scales) {
      const us = results.map((r) => sc.points.find((p) => p.n === r.n)?.usPerRecord);
      const marg = results.slice(1).map((r) => sc.marginal.find((m) => m.toN === r.n)?.recordsPerSec);
      const last = sc.marginal[sc.marginal.length - 1];
      srows.push([sc.stage, ...us.map((u) => (u === undefined ? '' : u.toFixed(2))), ...marg.map((m) => (m === undefined ? '' : `${fmtInt(m)}/s`)), last ? `${last.fixedSeconds.toFixed(2)} s` : '']);
    }
    console.log(`\nscaling (per-record cost and marginal rate between sizes):\n${table(srows)}`);
  }
  if (mergeGold.rounds.length > 0) {
    const mrows: string[][] = [['gold rows', 'round', 'gold files', 'merged rows', 'seconds']];
    for (const x of mergeGold.rounds) mrows.push([fmtInt(x.goldRows), String(x.round), String(x.goldFiles), fmtInt(x.mergedRows), x.seconds.toFixed(2)]);
    console.log(`\nstage 3 MERGE into a large gold table (${mergeGold.command}):\n${table(mrows)}`);
  }

  console.log('\ntargets:');
  for (const c of checks) {
    const verdict = c.pass === null ? 'n/a ' : c.pass ? 'PASS' : 'MISS';
    console.log(`  ${verdict}  ${c.target}${c.n !== undefined ? ` (N = ${fmtInt(c.n)})` : ''}: ${c.value}`);
  }
}

if (require.main === module) {
  const args = parseArgs(BenchArgs, process.argv.slice(2), USAGE);
  const job = args.duckdbCeiling
    ? duckdbCeilingChild(args.duckdbCeiling, args.parquetOut ?? `${args.duckdbCeiling}.parquet`)
    : args.kafkajsAlone
      ? kafkajsAloneChild(args.kafkajsAlone)
      : main(args);
  job.then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    },
  );
}
