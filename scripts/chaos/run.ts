/**
 * One chaos run: a fresh topic, task queue, schedules and lake; the real worker (src/worker.ts) in
 * its own process; the truth sent to Kafka in chunks while faults are injected at random moments;
 * then the pipeline drains and the lake is checked against the truth (./verify.ts).
 *
 * Variants: `worker` kill -9s the worker process and starts a new one (shared stack: own topic,
 * task queue, schedule ids, lake); `kafka` kill -9s a private broker and restarts it; `temporal`
 * kill -9s a private Temporal dev server and restarts it on the same SQLite file. The shared
 * broker and server other people use are never restarted.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import { z } from 'zod';
import { loadEnv, readStackEnv, stackDir } from '../../src/config';
import { addedFilesSince, DeltaTableNotFoundError, LocalStore, loadSnapshot, recordCountOf } from '../../src/delta';
import { processedThrough, readBronzeCheckpoint } from '../../src/lake/bronze';
import { readGoldCheckpoint } from '../../src/lake/gold-merge';
import { readRawCheckpoint } from '../../src/lake/raw-table';
import { BRONZE, GOLD, RAW, tableDir } from '../../src/lake/tables';
import { seededRandom } from '../../src/sample/sensor-data';
import { ensureSchedules, SCHEDULES } from '../../src/schedules';
import { ManagedProcess, PrivateKafka, PrivateTemporal, type StackPaths } from './processes';
import { generateTruth, sendRecords } from './truth';
import { verifyLake, type Verification } from './verify';

const REPO = path.resolve(__dirname, '..', '..');

export const ChaosOptions = z
  .object({
    variant: z.enum(['worker', 'kafka', 'temporal']).default('worker'),
    kills: z.coerce.number().int().min(0).max(10_000).default(10),
    messages: z.coerce.number().int().min(1).max(2_000_000).default(20_000),
    seed: z.coerce.number().int().min(0).default(1),
    partitions: z.coerce.number().int().min(1).max(64).default(3),
    /** Seconds between a fault (the worker ready again) and the next one: uniform in [minGap, maxGap]. */
    minGap: z.coerce.number().min(0).default(2),
    maxGap: z.coerce.number().min(0).default(12),
    /** Seconds a killed broker / server stays down: uniform in [0, maxDown]. */
    maxDown: z.coerce.number().min(0).default(3),
    /** Records per raw commit and rows per bronze / gold batch: small, so runs have many commits to die between. */
    commitSize: z.coerce.number().int().min(1).default(400),
    /** Stage 1 schedule interval in seconds (stage 2 +1 s, stage 3 +2 s). */
    every: z.coerce.number().int().min(1).max(3600).default(2),
    nearRealTime: z.enum(['on', 'off']).default('on'),
    /**
     * After a worker kill: `fail-attempts` fails the dead worker's in-flight activity attempts by id
     * at once (what the heartbeat timeout does 1–2 minutes later), `heartbeat-timeout` waits for it.
     */
    recovery: z.enum(['fail-attempts', 'heartbeat-timeout']).default('fail-attempts'),
    drainTimeout: z.coerce.number().int().min(10).default(900),
    /** Keep the run's directory (lake, logs) even when it passed. `--keep` or `--keep true|false`. */
    keep: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false),
  })
  .strict()
  .refine((o) => o.minGap <= o.maxGap, { message: 'must be <= --max-gap', path: ['minGap'] });
export type ChaosOptions = z.infer<typeof ChaosOptions>;

export interface ChaosReport {
  runId: string;
  options: ChaosOptions;
  kills: number;
  /** Faults that hit at least one stage activity while it ran, and which activities. */
  faultsMidActivity: number;
  activitiesHit: Record<string, number>;
  workerStarts: number;
  /** Worker exits nobody asked for (crashes), e.g. 'SIGSEGV'. */
  workerCrashes: string[];
  drained: boolean;
  /** Runs still going 30 s after the drain, terminated (stuck ones would show here). */
  terminatedAfterDrain: string[];
  seconds: { faults: number; drain: number; total: number };
  verification: Verification | null;
  lost: number;
  duplicated: number;
  wrongGold: number;
  /** Wrong raw payloads or bronze / dead-letter content. */
  wrongOther: number;
  ok: boolean;
}

const log = (t0: number, msg: string) => console.log(`[chaos ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const runId = `chaos-${randomUUID().slice(0, 8)}`;
  const rnd = seededRandom(opts.seed);
  const work = path.join(os.tmpdir(), 'tributary-chaos', runId);
  const lakeRoot = path.join(work, 'lake');
  for (const d of [lakeRoot, path.join(work, 'cwd'), path.join(work, 'tmp')]) fs.mkdirSync(d, { recursive: true });
  const env = loadEnv();
  const stackEnv = readStackEnv();
  const paths: StackPaths = {
    kafkaLib: stackEnv.KAFKA_LIB_DIR ?? path.join(stackDir(), 'kafka', 'lib'),
    temporalCli: env.TEMPORAL_CLI ?? path.join(stackDir(), 'bin', 'temporal'),
    log4j: path.join(REPO, 'scripts', 'stack', 'log4j.properties'),
  };
  const report: ChaosReport = {
    runId,
    options: opts,
    kills: 0,
    faultsMidActivity: 0,
    activitiesHit: {},
    workerStarts: 0,
    workerCrashes: [],
    drained: false,
    terminatedAfterDrain: [],
    seconds: { faults: 0, drain: 0, total: 0 },
    verification: null,
    lost: 0,
    duplicated: 0,
    wrongGold: 0,
    wrongOther: 0,
    ok: false,
  };
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanUp = async (removeWorkDir: boolean) => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((e) => log(t0, `cleanup: ${(e as Error).message}`));
    if (!removeWorkDir) return log(t0, `kept ${work} for inspection`);
    fs.rmSync(work, { recursive: true, force: true });
    try {
      fs.rmdirSync(path.dirname(work)); // only when empty: another run may be using it
    } catch {
      // not empty
    }
  };
  // Ctrl-C or a SIGTERM still removes the schedules, topic, processes and files of the run.
  const interrupted = (signal: NodeJS.Signals) => {
    log(t0, `${signal}: cleaning up`);
    void cleanUp(true).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  log(t0, `run ${runId}: variant ${opts.variant}, ${opts.kills} faults, ${opts.messages} messages, seed ${opts.seed}; work dir ${work}`);
  try {
    // The service this variant restarts is a private one; the other comes from the shared stack.
    let brokers = env.KAFKA_BROKERS;
    let temporalAddress = env.TEMPORAL_ADDRESS;
    let kafka: PrivateKafka | undefined;
    let temporal: PrivateTemporal | undefined;
    if (opts.variant === 'kafka') {
      kafka = await PrivateKafka.create(path.join(work, 'kafka'), paths);
      cleanups.push(() => kafka!.proc.stop());
      await kafka.start();
      brokers = kafka.brokers;
      log(t0, `private kafka on ${brokers.join(',')} (pid ${kafka.proc.pid})`);
    }
    if (opts.variant === 'temporal') {
      temporal = await PrivateTemporal.create(path.join(work, 'temporal'), paths);
      cleanups.push(() => temporal!.proc.stop());
      await temporal.start();
      temporalAddress = temporal.address;
      log(t0, `private temporal on ${temporalAddress} (pid ${temporal.proc.pid})`);
    }

    const topic = runId;
    const admin = new Kafka({ clientId: 'tributary-chaos-admin', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: opts.partitions, replicationFactor: 1 }] });
    await admin.disconnect();
    if (!kafka) cleanups.push(() => deleteTopic(brokers, topic));

    const connection = await Connection.connect({ address: temporalAddress });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
    const taskQueue = runId;
    const idPrefix = `${runId}-`;
    cleanups.push(() => stopWorkflows(client, taskQueue, 0));
    cleanups.push(() => Promise.all(SCHEDULES.map((s) => client.schedule.getHandle(idPrefix + s.id).delete().catch(() => undefined))));
    await ensureSchedules(client, {
      taskQueue,
      idPrefix,
      nearRealTime: opts.nearRealTime === 'on',
      intervals: { raw: `${opts.every}s`, bronze: `${opts.every + 1}s`, gold: `${opts.every + 2}s` },
      inputs: {
        raw: { topics: [topic], startingOffsets: 'earliest', maxRecordsPerCommit: opts.commitSize },
        bronze: { maxRowsPerBatch: opts.commitSize },
        gold: { maxRowsPerBatch: opts.commitSize },
      },
    });

    // The worker: src/worker.ts in a Node process of its own, restarted whenever it exits unasked.
    const worker = new ManagedProcess('worker', [process.execPath, '--import', require.resolve('tsx'), path.join(REPO, 'src', 'worker.ts')], {
      cwd: path.join(work, 'cwd'), // DuckDB spill files of a killed worker land under the work dir
      logFile: path.join(work, 'worker.log'),
      env: {
        ...process.env,
        STACK_DIR: stackDir(),
        TMPDIR: path.join(work, 'tmp'),
        TEMPORAL_ADDRESS: temporalAddress,
        TEMPORAL_TASK_QUEUE: taskQueue,
        LAKE_ROOT: lakeRoot,
        KAFKA_BROKERS: brokers.join(','),
        KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT',
      },
    });
    let stopping = false;
    let starting: Promise<void> | undefined;
    const startWorker = (): Promise<void> =>
      (starting ??= (async () => {
        report.workerStarts += 1;
        worker.start();
        await worker.waitForLine(/^worker on /, 180_000);
      })().finally(() => (starting = undefined)));
    worker.onExit = (expected) => {
      if (expected || stopping) return;
      log(t0, `worker exited on its own (${worker.unexpectedExits.at(-1)}); restarting it`);
      void sleep(1000).then(async () => {
        if (!stopping && worker.pid === undefined) await startWorker().catch((e) => log(t0, `worker restart failed: ${(e as Error).message}`));
      });
    };
    cleanups.push(() => ((stopping = true), worker.stop(15_000)));
    await startWorker();
    log(t0, `worker pid ${worker.pid} on task queue ${taskQueue}; schedules ${idPrefix}sensor-*`);

    // Faults, with the truth sent in kills + 1 chunks between them (after a worker kill; just
    // before a broker or server kill, so that a stage has work when it comes).
    const records = generateTruth({ messages: opts.messages, seed: opts.seed, partitions: opts.partitions });
    const chunk = (k: number) => [Math.floor((records.length * k) / (opts.kills + 1)), Math.floor((records.length * (k + 1)) / (opts.kills + 1))];
    const send = async (k: number) => {
      const [from, to] = chunk(k);
      await sendRecords(brokers, topic, records, from, to);
    };
    const tFaults = Date.now();
    await send(0);
    for (let k = 1; k <= opts.kills; k++) {
      await sleep(1000 * (opts.minGap + rnd() * (opts.maxGap - opts.minGap))); // a random moment, not synchronisation
      let hit: InFlight[];
      if (opts.variant === 'worker') {
        const pid = worker.pid;
        await worker.kill9();
        // The dead worker's attempts are frozen now: whatever is STARTED on our queue was its.
        hit = await inFlight(client, taskQueue);
        if (opts.recovery === 'fail-attempts') {
          for (const a of hit) await client.activity.fail(a, new Error('the worker running this attempt was killed (chaos driver)')).catch(() => undefined);
        }
        log(t0, `fault ${k}/${opts.kills}: kill -9 worker pid ${pid}; in flight: ${describe(hit)}`);
        await startWorker();
      } else {
        // Send the next chunk, then kill while a stage activity runs (or after 20 s, whatever runs
        // then): for the broker, a stage-1 run, the only one that talks to Kafka.
        await send(k);
        const wanted = (a: InFlight) => !kafka || a.type === 'ingestRaw';
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline && !(await inFlight(client, taskQueue)).some(wanted)) await sleep(250);
        hit = await inFlight(client, taskQueue);
        const svc = (kafka ?? temporal)!;
        const pid = svc.proc.pid;
        await svc.proc.kill9();
        const down = rnd() * opts.maxDown;
        log(t0, `fault ${k}/${opts.kills}: kill -9 ${svc.proc.name} pid ${pid}, down ${down.toFixed(1)}s; in flight: ${describe(hit)}`);
        await sleep(1000 * down);
        await svc.start();
      }
      report.kills += 1;
      if (hit.length > 0) report.faultsMidActivity += 1;
      for (const a of hit) report.activitiesHit[a.type] = (report.activitiesHit[a.type] ?? 0) + 1;
      if (opts.variant === 'worker') await send(k);
    }
    report.seconds.faults = (Date.now() - tFaults) / 1000;

    // Drain: until every stage has caught up with what was sent.
    const tDrain = Date.now();
    const ends = new Map<number, number>();
    for (const r of records) ends.set(r.partition, Math.max(ends.get(r.partition) ?? 0, r.offset + 1));
    let last = '';
    while (Date.now() - tDrain < opts.drainTimeout * 1000) {
      const l = await lag(lakeRoot, topic, ends);
      const shown = l ? `raw ${l.raw}, bronze ${l.bronze}, gold ${l.gold}` : 'tables not created yet';
      if (shown !== last) log(t0, `lag (records): ${shown}`);
      last = shown;
      if (l && l.raw + l.bronze + l.gold === 0) {
        report.drained = true;
        break;
      }
      await sleep(2000); // polling the tables' checkpoints
    }
    report.seconds.drain = (Date.now() - tDrain) / 1000;
    if (!report.drained) log(t0, `NOT drained after ${opts.drainTimeout}s; verifying what is there`);

    // Quiesce before reading: no schedule, no run, no worker.
    await Promise.all(SCHEDULES.map((s) => client.schedule.getHandle(idPrefix + s.id).delete().catch(() => undefined)));
    report.terminatedAfterDrain = await stopWorkflows(client, taskQueue);
    if (report.terminatedAfterDrain.length) log(t0, `terminated runs still going 30s after the drain: ${report.terminatedAfterDrain.join(', ')}`);
    stopping = true;
    await worker.stop(15_000);
    report.workerCrashes = [...worker.unexpectedExits];

    report.verification = await verifyLake(lakeRoot, topic, records);
    const v = report.verification;
    report.lost = v.raw.lost + v.bronze.lost + v.gold.lost;
    report.duplicated = v.raw.duplicated + v.bronze.duplicated + v.gold.duplicated;
    report.wrongGold = v.gold.wrong;
    report.wrongOther = v.raw.wrong + v.bronze.wrong;
    report.ok = report.drained && report.lost + report.duplicated + report.wrongGold + report.wrongOther === 0;
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    await cleanUp(!opts.keep && (report.ok || !report.verification));
    report.seconds.total = (Date.now() - t0) / 1000;
  }
  return report;
}

type InFlight = { workflowId: string; runId: string; activityId: string; type: string };

const PENDING_ACTIVITY_STATE_STARTED = 2; // temporal.api.enums.v1.PendingActivityState

/** Stage activities of our task queue's running workflows that a worker has started. */
async function inFlight(client: Client, taskQueue: string): Promise<InFlight[]> {
  const out: InFlight[] = [];
  for await (const wf of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) {
    const d = await client.workflow.getHandle(wf.workflowId, wf.runId).describe();
    for (const a of d.raw.pendingActivities ?? []) {
      if (a.state === PENDING_ACTIVITY_STATE_STARTED) out.push({ workflowId: wf.workflowId, runId: wf.runId, activityId: a.activityId!, type: a.activityType?.name ?? '?' });
    }
  }
  return out;
}

const describe = (hit: InFlight[]) => (hit.length ? hit.map((a) => a.type).join(', ') : 'nothing');

/** Lets running workflows of the queue finish (bounded), then terminates what is left. */
async function stopWorkflows(client: Client, taskQueue: string, waitMs = 30_000): Promise<string[]> {
  const running = async () => {
    const out: { workflowId: string; runId: string }[] = [];
    for await (const wf of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) out.push(wf);
    return out;
  };
  const deadline = Date.now() + waitMs;
  let left = await running();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(1000); // polling visibility
    left = await running();
  }
  for (const wf of left) await client.workflow.getHandle(wf.workflowId, wf.runId).terminate('chaos run ended').catch(() => undefined);
  return left.map((wf) => wf.workflowId);
}

async function deleteTopic(brokers: string[], topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'tributary-chaos-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
}

/** Records each stage still has to process: Kafka → raw, raw → bronze + dead letter, bronze → gold. Null before the tables exist. */
async function lag(lakeRoot: string, topic: string, ends: Map<number, number>): Promise<{ raw: number; bronze: number; gold: number } | null> {
  try {
    const rawDir = tableDir(lakeRoot, RAW);
    const bronzeDir = tableDir(lakeRoot, BRONZE);
    const { checkpoint, version: rawVersion } = await readRawCheckpoint(rawDir);
    let raw = 0;
    for (const [p, end] of ends) raw += end - (checkpoint[topic]?.[String(p)] ?? 0);
    const rowsAfter = async (dir: string, after: number, to: number) =>
      (await addedFilesSince(new LocalStore(dir), after, to)).reduce((n, c) => n + c.adds.reduce((m, a) => m + (recordCountOf(a) ?? 0), 0), 0);
    const bronze = await rowsAfter(rawDir, processedThrough(await readBronzeCheckpoint(lakeRoot)), rawVersion);
    const bronzeVersion = (await loadSnapshot(new LocalStore(bronzeDir))).version;
    const gold = await rowsAfter(bronzeDir, (await readGoldCheckpoint(tableDir(lakeRoot, GOLD))).bronzeVersion ?? -1, bronzeVersion);
    return { raw, bronze, gold };
  } catch (e) {
    if (e instanceof DeltaTableNotFoundError) return null;
    throw e;
  }
}

