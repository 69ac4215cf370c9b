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
import { addedFilesSince, DeltaTableNotFoundError, loadSnapshot, recordCountOf } from '../../src/delta';
import { isObjectStoreUrl, joinRoot, openTableStore } from '../../src/delta/open-store';
import { processedThrough, readBronzeCheckpoint } from '../../src/lake/bronze';
import { readGoldCheckpoint } from '../../src/lake/gold';
import { readRawCheckpoint } from '../../src/lake/raw-table';
import { BRONZE, GOLD, RAW, tableDir } from '../../src/lake/tables';
import { seededRandom } from '../../src/sample/sensor-data';
import { ensureSchedules, SCHEDULES } from '../../src/schedules';
import { deserializeWorkflow, ingestRawWorkflow } from '../../src/workflows';
import { ManagedProcess, PrivateKafka, PrivateTemporal, type StackPaths } from './processes';
import { generateTruth, sendRecords, type SentRecord } from './truth';
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
    /**
     * Worker processes on the task queue. With more than one, a worker fault waits (up to 20 s) for a
     * stage activity to run and kill -9s the worker running it; the others carry on meanwhile.
     */
    workers: z.coerce.number().int().min(1).max(8).default(1),
    /**
     * An object-store lake root (`az://container/prefix` or `s3://bucket/prefix`, credentials from the
     * environment as the worker reads them): the run's lake goes under it at `<root>/<runId>` and is
     * deleted afterwards. Unset: a local lake in the run's directory.
     */
    lakeRoot: z
      .string()
      .refine((r) => isObjectStoreUrl(r), { message: 'must be an az:// or s3:// URL' })
      .optional(),
    /**
     * With the first fault, also start a raw backfill (ingestRawWorkflow `backfill.offsets` over the
     * first chunk) and a bronze backfill (deserializeWorkflow `fromRawVersion: 0`) beside the schedules.
     */
    backfills: z.enum(['on', 'off']).default('off'),
  })
  .strict()
  .refine((o) => o.minGap <= o.maxGap, { message: 'must be <= --max-gap', path: ['minGap'] });
export type ChaosOptions = z.infer<typeof ChaosOptions>;

/** Several workers: how often one fault may re-try a kill that hit no stage activity. */
const MISSED_KILL_TRIES = 5;

export interface ChaosReport {
  runId: string;
  options: ChaosOptions;
  kills: number;
  /** Faults that hit at least one stage activity while it ran, and which activities. */
  faultsMidActivity: number;
  activitiesHit: Record<string, number>;
  workerStarts: number;
  /** Several workers: kills that hit no activity (it ended between the poll and the kill), retried as the same fault. */
  missedKills: number;
  /** What the backfills wrote and found already there (raw records; bronze + dead-letter rows); null when not run. */
  backfills: Backfills | null;
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
  /**
   * Data loss stage 1 reported (retention, reset, vanished partition) in the worker logs. The truth's
   * topic loses nothing, so every one is false — a false alarm fails a run with failOnDataLoss=true.
   */
  dataLossReports: number;
  ok: boolean;
}

/** What stage 1 logs for each lost range it reports (src/lake/raw.ts). */
const STAGE1_DATA_LOSS = /data loss \((retention|reset|gone);/;
const countLines = (file: string, pattern: RegExp) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => pattern.test(l)).length : 0);

const log = (t0: number, msg: string) => console.log(`[chaos ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const t0 = Date.now();
  const runId = `chaos-${randomUUID().slice(0, 8)}`;
  const rnd = seededRandom(opts.seed);
  const work = path.join(os.tmpdir(), 'tributary-chaos', runId);
  const lakeRoot = opts.lakeRoot ? joinRoot(opts.lakeRoot, runId) : path.join(work, 'lake');
  for (const d of [path.join(work, 'cwd'), path.join(work, 'tmp')]) fs.mkdirSync(d, { recursive: true });
  if (!opts.lakeRoot) fs.mkdirSync(lakeRoot, { recursive: true });
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
    missedKills: 0,
    backfills: null,
    workerCrashes: [],
    drained: false,
    terminatedAfterDrain: [],
    seconds: { faults: 0, drain: 0, total: 0 },
    verification: null,
    lost: 0,
    duplicated: 0,
    wrongGold: 0,
    wrongOther: 0,
    dataLossReports: 0,
    ok: false,
  };
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanUp = async (removeWorkDir: boolean) => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((e) => log(t0, `cleanup: ${(e as Error).message}`));
    if (!removeWorkDir) return log(t0, `kept ${work}${opts.lakeRoot ? ` and ${lakeRoot}` : ''} for inspection`);
    if (opts.lakeRoot) await deletePrefix(lakeRoot).catch((e) => log(t0, `cleanup of ${lakeRoot}: ${(e as Error).message}`));
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
  log(t0, `run ${runId}: variant ${opts.variant}, ${opts.kills} faults, ${opts.messages} messages, seed ${opts.seed}, ${opts.workers} worker(s); work dir ${work}, lake ${lakeRoot}`);
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

    // The workers: src/worker.ts in Node processes of their own, each restarted whenever it exits unasked.
    const workers = Array.from(
      { length: opts.workers },
      (_, i) =>
        new ManagedProcess(opts.workers === 1 ? 'worker' : `worker ${i + 1}`, [process.execPath, '--import', require.resolve('tsx'), path.join(REPO, 'src', 'worker.ts')], {
          cwd: path.join(work, 'cwd'), // DuckDB spill files of a killed worker land under the work dir
          logFile: path.join(work, opts.workers === 1 ? 'worker.log' : `worker-${i + 1}.log`),
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
        }),
    );
    let stopping = false;
    const starting = new Map<ManagedProcess, Promise<void>>();
    const startWorker = (worker: ManagedProcess): Promise<void> => {
      let p = starting.get(worker);
      if (!p) {
        p = (async () => {
          report.workerStarts += 1;
          worker.start();
          await worker.waitForLine(/^worker on /, 180_000);
        })().finally(() => starting.delete(worker));
        starting.set(worker, p);
      }
      return p;
    };
    for (const worker of workers) {
      worker.onExit = (expected) => {
        if (expected || stopping) return;
        log(t0, `${worker.name} exited on its own (${worker.unexpectedExits.at(-1)}); restarting it`);
        void sleep(1000).then(async () => {
          if (!stopping && worker.pid === undefined) await startWorker(worker).catch((e) => log(t0, `${worker.name} restart failed: ${(e as Error).message}`));
        });
      };
    }
    const stopWorkers = () => Promise.all(workers.map((w) => w.stop(15_000)));
    cleanups.push(() => ((stopping = true), stopWorkers()));
    await Promise.all(workers.map(startWorker));
    log(t0, `worker pid(s) ${workers.map((w) => w.pid).join(', ')} on task queue ${taskQueue}; schedules ${idPrefix}sensor-*`);

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
    const backfillRuns: Promise<Backfills>[] = [];
    if (opts.backfills === 'on') {
      // The backfills re-read what the schedules have landed: once the first chunk is in bronze, so
      // that both have rows to find already there and race the scheduled runs for the same tables.
      const first = records.slice(...chunk(0));
      const ends0 = new Map<number, number>();
      for (const r of first) ends0.set(r.partition, Math.max(ends0.get(r.partition) ?? 0, r.offset + 1));
      const deadline = Date.now() + 120_000;
      for (let l = await lag(lakeRoot, topic, ends0); Date.now() < deadline && !(l && l.raw + l.bronze === 0); l = await lag(lakeRoot, topic, ends0)) await sleep(1000); // polling the tables' checkpoints
      backfillRuns.push(startBackfills(client, taskQueue, runId, topic, first));
      log(t0, `started a raw backfill and a bronze backfill beside the schedules`);
    }
    for (let k = 1; k <= opts.kills; k++) {
      await sleep(1000 * (opts.minGap + rnd() * (opts.maxGap - opts.minGap))); // a random moment, not synchronisation
      let hit: InFlight[];
      if (opts.variant === 'worker') {
        let worker: ManagedProcess;
        let pid: number | undefined;
        // Several workers: kill the one running a stage activity (mid-stage), whichever that is. Its
        // activity may end between the poll and the kill (short runs on a quiet box): such a kill hit
        // nothing, so it is not this fault — the worker is restarted and the next try waits again
        // (missedKills; at most MISSED_KILL_TRIES, then the last kill counts whatever it hit).
        for (let attempt = 1; ; attempt++) {
          worker = workers[Math.floor(rnd() * workers.length)]!;
          if (workers.length > 1) {
            const deadline = Date.now() + 20_000;
            let running: ManagedProcess | undefined;
            while (Date.now() < deadline && !running) {
              const ids = new Set((await inFlight(client, taskQueue)).map((a) => a.identity));
              running = workers.find((w) => w.pid !== undefined && ids.has(`${w.pid}@${os.hostname()}`));
              if (!running) await sleep(250); // polling the runs' pending activities
            }
            worker = running ?? worker;
          }
          pid = worker.pid;
          await worker.kill9();
          // The dead worker's attempts are frozen now: whatever is STARTED on our queue by its identity was its.
          hit = (await inFlight(client, taskQueue)).filter((a) => workers.length === 1 || a.identity === `${pid}@${os.hostname()}`);
          if (hit.length > 0 || workers.length === 1 || attempt >= MISSED_KILL_TRIES) break;
          report.missedKills += 1;
          log(t0, `fault ${k}/${opts.kills}: kill -9 ${worker.name} pid ${pid} hit no activity (it ended first); restarting it and trying again`);
          await startWorker(worker);
        }
        if (opts.recovery === 'fail-attempts') {
          for (const a of hit) await client.activity.fail(a, new Error('the worker running this attempt was killed (chaos driver)')).catch(() => undefined);
        }
        log(t0, `fault ${k}/${opts.kills}: kill -9 ${worker.name} pid ${pid}; in flight: ${describe(hit)}`);
        await startWorker(worker);
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
    // The backfills ran beside the schedules and the faults; they must have finished, not failed.
    if (backfillRuns.length) report.backfills = (await Promise.all(backfillRuns))[0]!;
    stopping = true;
    await stopWorkers();
    report.workerCrashes = workers.flatMap((w) => w.unexpectedExits.map((e) => (workers.length === 1 ? e : `${w.name}: ${e}`)));

    report.verification = await verifyLake(lakeRoot, topic, records);
    const v = report.verification;
    report.lost = v.raw.lost + v.bronze.lost + v.gold.lost;
    report.duplicated = v.raw.duplicated + v.bronze.duplicated + v.gold.duplicated;
    report.wrongGold = v.gold.wrong;
    report.wrongOther = v.raw.wrong + v.bronze.wrong;
    report.dataLossReports = workers.reduce((n, w) => n + countLines(w.logFile, STAGE1_DATA_LOSS), 0);
    report.ok = report.drained && report.lost + report.duplicated + report.wrongGold + report.wrongOther + report.dataLossReports === 0;
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    await cleanUp(!opts.keep && (report.ok || !report.verification));
    report.seconds.total = (Date.now() - t0) / 1000;
  }
  return report;
}

type InFlight = { workflowId: string; runId: string; activityId: string; type: string; identity: string };

const PENDING_ACTIVITY_STATE_STARTED = 2; // temporal.api.enums.v1.PendingActivityState

/** Stage activities of our task queue's running workflows that a worker has started. */
async function inFlight(client: Client, taskQueue: string): Promise<InFlight[]> {
  const out: InFlight[] = [];
  for await (const wf of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) {
    const d = await client.workflow.getHandle(wf.workflowId, wf.runId).describe();
    for (const a of d.raw.pendingActivities ?? []) {
      if (a.state === PENDING_ACTIVITY_STATE_STARTED) out.push({ workflowId: wf.workflowId, runId: wf.runId, activityId: a.activityId!, type: a.activityType?.name ?? '?', identity: a.lastWorkerIdentity ?? '' });
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
      (await addedFilesSince(openTableStore(dir), after, to)).reduce((n, c) => n + c.adds.reduce((m, a) => m + (recordCountOf(a) ?? 0), 0), 0);
    const bronze = await rowsAfter(rawDir, processedThrough(await readBronzeCheckpoint(lakeRoot)), rawVersion);
    const bronzeVersion = (await loadSnapshot(openTableStore(bronzeDir))).version;
    const gold = await rowsAfter(bronzeDir, (await readGoldCheckpoint(tableDir(lakeRoot, GOLD))).bronzeVersion ?? -1, bronzeVersion);
    return { raw, bronze, gold };
  } catch (e) {
    if (e instanceof DeltaTableNotFoundError) return null;
    throw e;
  }
}


/**
 * A raw backfill over the records of the first chunk (explicit offset ranges per partition) and a bronze
 * backfill from raw version 0, started on the run's queue while the schedules run; resolves with what
 * they wrote once both have completed (a failed backfill fails the run).
 */
type Backfills = { raw: { written: number; alreadyPresent: number }; bronze: { written: number; alreadyPresent: number } };

async function startBackfills(client: Client, taskQueue: string, runId: string, topic: string, sent: SentRecord[]): Promise<Backfills> {
  const ranges: Record<string, [number, number]> = {};
  for (const r of sent) {
    const [from, to] = ranges[String(r.partition)] ?? [r.offset, r.offset + 1];
    ranges[String(r.partition)] = [Math.min(from, r.offset), Math.max(to, r.offset + 1)];
  }
  const raw = await client.workflow.start(ingestRawWorkflow, { taskQueue, workflowId: `${runId}-raw-backfill`, args: [{ topics: [topic], backfill: { offsets: { [topic]: ranges } } }] });
  const bronze = await client.workflow.start(deserializeWorkflow, { taskQueue, workflowId: `${runId}-bronze-backfill`, args: [{ fromRawVersion: 0 }] });
  const [r, b] = await Promise.all([raw.result(), bronze.result()]);
  return { raw: { written: r.recordsIn, alreadyPresent: r.alreadyPresent ?? 0 }, bronze: { written: b.recordsOut + b.deadLetters, alreadyPresent: b.alreadyPresent } };
}

/** Deletes every object under an object-store lake root (the run's lake). */
async function deletePrefix(root: string): Promise<void> {
  const store = openTableStore(root);
  for (const o of await store.list('')) await store.delete(o.key);
}
