/**
 * The box's ceilings for the bench (bench/run.ts), each measured on the same topic and payloads as
 * the stages, and the stage-3 reference run:
 *   - Kafka: the Java consumer benchmark, org.apache.kafka.tools.ConsumerPerformance from
 *     $KAFKA_LIB_DIR. Its fetch rate (group join excluded) is the stage-1 ceiling.
 *   - (reference) the project's range reader alone (its own record-batch decoder over kafkajs
 *     connections, src/kafka/range-reader.ts), no writes, in a child process: stage 1's read cost.
 *   - DuckDB alone: the payloads written to a TSV file beforehand (not timed), then
 *     read_csv → parsedSensorSql (src/lake/sensor-rules.ts) → COPY TO parquet, in a child
 *     process (so its memory does not count as the worker's). The stage-2 ceiling.
 *   - bench/merge-gold.ts (MERGE 100k rows into a 10M-row gold table), run as is in a child.
 *
 * The children are this file again: `tsx bench/ceilings.ts --duckdb-ceiling <tsv> --parquet-out <file>`
 * or `--kafkajs-alone <topic>`; each prints one JSON line.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseArgs } from '../src/cli/args';
import { loadWorkerConfig } from '../src/config';
import { connectKafka } from '../src/kafka/connection';
import { readRanges } from '../src/kafka/range-reader';
import { fetchWatermarks } from '../src/kafka/watermarks';
import { parsedSensorSql } from '../src/lake/sensor-rules';

export function procStatusKb(field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}


export interface JavaCeiling {
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

export function run(cmd: string, argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
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
export async function javaConsumerCeiling(libDir: string, brokers: string, topic: string, messages: number, workDir: string): Promise<JavaCeiling> {
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

export interface DuckDBCeiling {
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

export async function duckdbCeiling(file: string, parquet: string): Promise<DuckDBCeiling> {
  // This script again, in a child.
  const r = await run(process.execPath, [...childExecArgv(), __filename, '--duckdb-ceiling', file, '--parquet-out', parquet]);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`DuckDB ceiling failed (exit ${r.code}): ${(r.stdout + r.stderr).slice(-2000)}`);
  return JSON.parse(line) as DuckDBCeiling;
}

/**
 * Not a ceiling but the bound of stage 1's reading: the project's range reader (its own record-batch
 * decoder over kafkajs connections) reading the whole topic with the stage's default batch limits
 * and a flush that only counts — no DuckDB, no Delta. Stage 1 minus this = the cost of writing.
 * (The option and type keep their old `kafkajs` names so older bench/out JSON still reads.)
 */
export interface KafkajsAlone {
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

export async function kafkajsAlone(topic: string): Promise<KafkajsAlone> {
  const r = await run(process.execPath, [...childExecArgv(), __filename, '--kafkajs-alone', topic]);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`kafkajs-alone reference failed (exit ${r.code}): ${(r.stdout + r.stderr).slice(-2000)}`);
  return JSON.parse(line) as KafkajsAlone;
}

// ---------------------------------------------------------------------------------------------
// Stage-3 target: bench/merge-gold.ts (owned by the stage-3 work) measures "merge 100k rows into a
// 10M-row gold table"; it is run as is, in a child process, and its figures are parsed, not redone.
// ---------------------------------------------------------------------------------------------

export interface MergeGoldRound {
  goldRows: number;
  round: number;
  goldFiles: number;
  mergedRows: number;
  seconds: number;
  line: string;
}

export interface MergeGoldReference {
  script: string;
  present: boolean;
  ran: boolean;
  command?: string;
  rounds: MergeGoldRound[];
  /** The slowest round at 10M (the target is checked against it). */
  worstSecondsAt10M?: number;
  error?: string;
}

export function childExecArgv(): string[] {
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

export async function runMergeGold(enabled: boolean): Promise<MergeGoldReference> {
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

const ChildArgs = z
  .object({ duckdbCeiling: z.string().optional(), parquetOut: z.string().optional(), kafkajsAlone: z.string().optional() })
  .strict();

if (require.main === module) {
  const args = parseArgs(ChildArgs, process.argv.slice(2), 'usage (internal, run by bench/run.ts): tsx bench/ceilings.ts --duckdb-ceiling <tsv> [--parquet-out <file>] | --kafkajs-alone <topic>');
  const job = args.duckdbCeiling
    ? duckdbCeilingChild(args.duckdbCeiling, args.parquetOut ?? `${args.duckdbCeiling}.parquet`)
    : args.kafkajsAlone
      ? kafkajsAloneChild(args.kafkajsAlone)
      : Promise.reject(new Error('nothing to do: --duckdb-ceiling or --kafkajs-alone'));
  job.then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    },
  );
}
