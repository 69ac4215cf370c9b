/**
 * Pipeline benchmark on the local stack (`npm run stack -- up`): per stage, end to end, memory,
 * and the box's ceilings measured in the same run.
 *
 *   npm run bench -- [--sizes 100000,1000000] [--with-10m] [--malformed 0.1] [--duplicates 0.05]
 *     [--out-of-order 0.05] [--seed 42] [--out bench/out/<timestamp>.json]
 *     [--stages 1,2,3] [--skip-ceilings] [--no-merge-gold] [--keep] [--vs-spark] [--no-snapshot] [--maintenance]
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
 * --vs-spark: after the stages, the seed's three Spark jobs on the same topic (bench/spark.ts,
 * bench/spark-jobs.py; installed once by scripts/spark-install.sh), per stage with our ratio.
 *
 * --maintenance: afterwards, what compaction buys (bench/maintenance.ts): snapshot load and full
 * scan of a 2,000-commit raw table, and a gold MERGE after 100 merges, before vs after compaction.
 *
 * Ceilings (same topic, same payloads; bench/ceilings.ts): the Java consumer (stage 1), the
 * range reader alone (reference), DuckDB alone (stage 2), and bench/merge-gold.ts (stage 3's target).
 *
 * Delta snapshot + commit time at 1k/10k/100k table versions (bench/snapshot.ts) close the report.
 *
 * Modules: run.ts (arguments, the worker, timing and memory per stage), dataset.ts (the backlog),
 * lake-writes.ts (what each stage committed), ceilings.ts, report.ts (result types, targets, tables).
 *
 * Prints a table and writes the JSON (machine, commit, every figure).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { randomUUID } from 'node:crypto';
import { Worker as ThreadWorker } from 'node:worker_threads';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { z } from 'zod';
import { parseArgs, share } from '../src/cli/args';
import { loadEnv, loadWorkerConfig, type WorkerConfig } from '../src/config';
import { createActivities } from '../src/activities';
import { connectKafka } from '../src/kafka/connection';
import { emptyTruth, type SampleOptions } from '../src/sample/sensor-data';
import { duckdbCeiling, javaConsumerCeiling, kafkajsAlone, procStatusKb, runMergeGold } from './ceilings';
import { createTopic, deleteTopic, produceBacklog, writePayloadFile } from './dataset';
import { deltaWrites, lakeState } from './lake-writes';
import { printSnapshotBench, snapshotBench } from './snapshot';
import { maintenanceBench } from './maintenance';
import { ensureSpark, sparkBaseline } from './spark';
import { evaluate, fmtInt, mib, printReport, scaling, TARGETS, type SizeResult, type StageResult } from './report';

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
    /** Run the seed's Spark jobs on the same topic after the stages (installs pyspark once). */
    vsSpark: flag,
    /**
     * Use this existing topic (one size only; it must hold exactly that backlog, e.g. one a --keep run
     * left behind) instead of producing a new one: saves the production time on a busy box. Kept afterwards.
     */
    topic: z.string().min(1).optional(),
    /** Skip the Delta snapshot + commit vs table age lines (bench/snapshot.ts). */
    noSnapshot: flag,
    /** Also run bench/maintenance.ts (compaction before/after). */
    maintenance: flag,
  })
  .strict();
type BenchArgs = z.infer<typeof BenchArgs>;

const USAGE =
  'usage: npm run bench -- [--sizes 100000,1000000] [--with-10m] [--malformed 0.1] [--duplicates 0.05] [--out-of-order 0.05] ' +
  '[--seed 42] [--out bench/out/<timestamp>.json] [--stages 1,2,3] [--skip-ceilings] [--no-merge-gold] [--keep] [--vs-spark] [--topic <existing>] [--no-snapshot] [--maintenance]';

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

/** A full GC before each stage, so the baseline a stage starts from is not the previous one's garbage. */
const collectGarbage: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (() => void) | undefined;
  return () => gc?.();
})();

function sampleOptions(args: BenchArgs, count: number): SampleOptions {
  return { count, seed: args.seed, malformed: args.malformed, duplicates: args.duplicates, outOfOrder: args.outOfOrder };
}


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
  if (args.topic && sizes.length !== 1) throw new Error('--topic needs exactly one size (--sizes N, the backlog the topic holds)');
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
  const spark = args.vsSpark ? ensureSpark() : undefined;
  const sampler = new RssSampler();

  const results: SizeResult[] = [];
  try {
    for (const n of sizes) {
      const topic = args.topic ?? `bench-${n}-${randomUUID().slice(0, 8)}`;
      const lakeRoot = path.join(workDir, `lake-${n}`);
      fs.mkdirSync(lakeRoot, { recursive: true });
      const payloadFile = path.join(workDir, `payloads-${n}.tsv`);
      const opts = sampleOptions(args, n);
      console.log(`\n== N = ${fmtInt(n)}: topic ${topic}, lake ${lakeRoot}`);

      let produced: Awaited<ReturnType<typeof produceBacklog>>;
      if (args.topic) {
        produced = { seconds: 0, bytes: 0, truth: emptyTruth() };
        console.log(`using the existing topic ${topic} (nothing produced)`);
      } else {
        await createTopic(kafka, topic);
        produced = await produceBacklog(kafka, topic, opts);
        console.log(`produced ${fmtInt(n)} messages (${mib(produced.bytes)} payload) in ${produced.seconds.toFixed(1)} s = ${fmtInt(n / produced.seconds)} msg/s (setup, not a stage figure)`);
      }

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
            console.log(`reference, range reader alone (no writes): ${fmtInt(k.msgPerSec)} msg/s (${k.seconds.toFixed(2)} s incl. connect)`);
          } catch (e) {
            size.ceilings.errors.push(String(e instanceof Error ? e.message : e));
            console.log(`reference, range reader alone: failed: ${String(e)}`);
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
          const before = await lakeState(lakeRoot);
          r.rssBeforeBytes = process.memoryUsage.rss();
          sampler.reset();
          const t0 = performance.now();
          const cpu0 = process.cpuUsage();
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
          const cpu = process.cpuUsage(cpu0);
          r.cpuSeconds = (cpu.user + cpu.system) / 1e6;
          r.monotonicUs = [mono0, Number(process.hrtime.bigint() / 1000n)];
          const peak = sampler.peak();
          r.peakRssBytes = peak.bytes;
          r.rssSampledBytes = peak.sampled;
          r.rssHwmBytes = peak.hwm;
          r.delta = await deltaWrites(lakeRoot, before);
          r.records = recordsIn(s, r, size);
          r.recordsPerSec = r.records / r.seconds;
          console.log(
            `stage ${s.n} ${s.workflow}: ${r.error ? `FAILED (${r.error}) after ` : ''}${fmtInt(r.records)} records in ${r.seconds.toFixed(2)} s = ` +
              `${fmtInt(r.recordsPerSec)} rec/s, ${r.cpuSeconds.toFixed(2)} s CPU; ${r.delta.versions} Delta versions, ${r.delta.filesAdded} files; peak RSS ${mib(r.peakRssBytes)}`,
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

      if (spark) {
        console.log(`Spark baseline: the seed's three jobs, local[2], on ${topic} …`);
        try {
          size.spark = await sparkBaseline(spark, base.kafka.brokers.join(','), topic, workDir);
          const x = size.spark;
          console.log(
            `Spark: raw ${x.seconds.raw.toFixed(1)} s, bronze ${x.seconds.bronze.toFixed(1)} s, gold ${x.seconds.gold.toFixed(1)} s ` +
              `(session start ${x.startupSeconds.toFixed(1)} s, not counted); rows raw ${fmtInt(x.rows.raw)}, bronze ${fmtInt(x.rows.bronze)}, ` +
              `dead letter ${fmtInt(x.rows.deadLetter)}, gold ${fmtInt(x.rows.gold)}`,
          );
        } catch (e) {
          size.ceilings.errors.push(String(e instanceof Error ? e.message : e));
          console.log(`Spark baseline: failed: ${String(e)}`);
        }
      }

      if (!args.keep) {
        if (!args.topic) await deleteTopic(kafka, topic).catch((e) => console.log(`could not delete topic ${topic}: ${String(e)}`));
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
  const snapshot = args.noSnapshot ? null : await snapshotBench();
  if (snapshot) printSnapshotBench(snapshot);
  const maintenance = args.maintenance ? await maintenanceBench() : undefined;

  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    args: { sizes, malformed: args.malformed, duplicates: args.duplicates, outOfOrder: args.outOfOrder, seed: args.seed, stages: args.stages, vsSpark: args.vsSpark },
    targets: TARGETS,
    results,
    scaling: scales,
    mergeGold,
    snapshot,
    maintenance,
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

if (require.main === module) {
  main(parseArgs(BenchArgs, process.argv.slice(2), USAGE)).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    },
  );
}
