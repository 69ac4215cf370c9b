/**
 * The three stages on each kind of lake: one backlog, then Kafka → raw → bronze + dead letter → gold on local
 * disk, on Azurite (az://) and on versitygw (s3://), each on a fresh lake, through a real Temporal worker in this
 * process (as bench/run.ts does per stage).
 *
 *   npx tsx bench/lake-stores.ts [--n 1000000] [--lakes local,az://tributary/bench,s3://tributary/bench]
 *     [--topic <existing topic holding exactly n records>] [--no-traffic] [--seed 42]
 *
 * Object-store lakes take their credentials from the environment, as a worker does (AZURE_STORAGE_* / AWS_*);
 * where those are unset, from the local stack's object stores (`npm run stack -- up --object-stores`).
 *
 * Per lake and stage: wall seconds, records/s, CPU seconds of this process (the worker: its DuckDB, Kafka and
 * Temporal threads), CPU seconds of the store's server process (Azurite's node, versitygw; read from /proc by the
 * stack's pid files), and — unless --no-traffic — the HTTP requests by kind and bytes each way, counted by a
 * pass-through in a child process (bench/store-traffic.ts; its own CPU is not in the worker's). On a shared box
 * trust the CPU seconds more than the wall seconds.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { loadWorkerConfig, stackDir } from '../src/config';
import { createActivities } from '../src/activities';
import { connectKafka } from '../src/kafka/connection';
import { openTableStore } from '../src/delta/open-store';
import { parseStoreUrl } from '../src/delta/store-config';
import { ALL_TABLES, tableDir } from '../src/lake/tables';
import { objectStoreTargets } from '../test/helpers/object-stores';
import { createTopic, deleteTopic, produceBacklog } from './dataset';
import { deltaWrites, lakeState } from './lake-writes';
import { diffTraffic, startStoreTraffic, totalRequests, type StoreTraffic, type Traffic } from './store-traffic';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const STAGES = [
  { n: 1, workflow: 'ingestRawWorkflow', what: 'Kafka → raw', input: (topic: string) => ({ topics: [topic], startingOffsets: 'earliest' }) },
  { n: 2, workflow: 'deserializeWorkflow', what: 'raw → bronze + dead letter', input: () => ({}) },
  { n: 3, workflow: 'mergeGoldWorkflow', what: 'bronze → gold', input: () => ({}) },
] as const;

interface StageRun {
  lake: string;
  stage: number;
  records: number;
  seconds: number;
  workerCpu: number;
  storeCpu: number | null;
  versions: number;
  files: number;
  bytesAdded: number;
  traffic?: Traffic;
}

/** CPU seconds (user + system) of the stack's server for this store: Azurite or versitygw; null for local disk. */
function storeServerCpu(kind: 'local' | 'az' | 's3'): number | null {
  if (kind === 'local') return null;
  try {
    const pid = fs.readFileSync(path.join(stackDir(), kind === 'az' ? 'azurite' : 'versitygw', 'pid'), 'utf8').trim();
    // /proc/PID/stat: fields 14 and 15 are utime and stime in clock ticks (after the parenthesised command).
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return (Number(fields[11]) + Number(fields[12])) / ticks;
  } catch {
    return null; // not the local stack's store: its CPU is not ours to see
  }
}

/** Fills unset object-store credentials from the local stack, as a deployment's worker env would have them. */
function useStackCredentials(): void {
  for (const t of objectStoreTargets()) for (const [k, v] of Object.entries(t.workerEnv)) process.env[k] ??= v;
  for (const t of objectStoreTargets()) for (const [k, v] of Object.entries(t.env)) process.env[k] ??= v;
}

/** Points this process's clients for `kind` at a counting pass-through (restored by the returned function). */
function routeThrough(kind: 'az' | 's3', traffic: StoreTraffic): () => void {
  const saved = { ...process.env };
  if (kind === 'az') {
    const account = process.env.AZURE_STORAGE_ACCOUNT_NAME ?? 'devstoreaccount1';
    process.env.AZURE_STORAGE_ENDPOINT = `${traffic.url}/${account}`;
    process.env.AZURITE_BLOB_STORAGE_URL = traffic.url; // the delta extension's emulator URL (src/delta/duckdb-secrets.ts)
  } else {
    process.env.AWS_ENDPOINT_URL_S3 = traffic.url;
  }
  return () => {
    for (const k of ['AZURE_STORAGE_ENDPOINT', 'AZURITE_BLOB_STORAGE_URL', 'AWS_ENDPOINT_URL_S3']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  };
}

async function removeLake(lakeRoot: string): Promise<void> {
  if (parseStoreUrl(lakeRoot).kind === 'local') return fs.rmSync(lakeRoot, { recursive: true, force: true });
  for (const t of ALL_TABLES) {
    const store = openTableStore(tableDir(lakeRoot, t));
    const keys = (await store.list('')).map((o) => o.key);
    for (let i = 0; i < keys.length; i += 32) await Promise.all(keys.slice(i, i + 32).map((k) => store.delete(k)));
  }
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const mb = (b: number) => (b / 1024 ** 2).toFixed(1);

async function main(): Promise<void> {
  const n = Number(arg('n', '1000000'));
  const lakes = arg('lakes', 'local,az://tributary/bench,s3://tributary/bench').split(',');
  const countTraffic = !process.argv.includes('--no-traffic');
  useStackCredentials();
  const base = loadWorkerConfig();
  const kafka = connectKafka(base.kafka);
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  console.log(`lake-stores bench — ${new Date().toISOString()}, commit ${commit}, ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

  let topic = arg('topic', '');
  const ownTopic = !topic;
  if (ownTopic) {
    topic = `bench-lakes-${randomUUID().slice(0, 8)}`;
    await createTopic(kafka, topic);
    const p = await produceBacklog(kafka, topic, { count: n, seed: Number(arg('seed', '42')), malformed: 0.1, duplicates: 0.05, outOfOrder: 0.05 });
    console.log(`produced ${fmt(n)} messages to ${topic} in ${p.seconds.toFixed(1)} s (setup, not a stage figure)`);
  }

  Runtime.install({ logger: new DefaultLogger('WARN') });
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../src/workflows'), logger: new DefaultLogger('WARN') });
  const nativeConnection = await NativeConnection.connect({ address: base.temporal.address });
  const clientConnection = await Connection.connect({ address: base.temporal.address });
  const client = new Client({ connection: clientConnection, namespace: base.temporal.namespace });
  const runs: StageRun[] = [];
  try {
    for (const lake of lakes) {
      const kind = lake === 'local' ? 'local' : (parseStoreUrl(lake).kind as 'az' | 's3');
      const lakeRoot = kind === 'local' ? fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-lake-')) : `${lake}/${randomUUID().slice(0, 8)}`;
      let traffic: StoreTraffic | undefined;
      let restore = () => undefined as void;
      if (countTraffic && kind !== 'local') {
        const upstream = kind === 'az' ? new URL(process.env.AZURE_STORAGE_ENDPOINT!).origin : process.env.AWS_ENDPOINT_URL_S3!;
        traffic = await startStoreTraffic(upstream);
        restore = routeThrough(kind, traffic);
      }
      const config = { ...base, lakeRoot, temporal: { ...base.temporal, taskQueue: `bench-lakes-${randomUUID().slice(0, 8)}` } };
      const worker = await Worker.create({
        connection: nativeConnection,
        namespace: base.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        workflowBundle: bundle,
        activities: createActivities({ config }),
        maxConcurrentActivityTaskExecutions: 2, // as src/worker.ts
      });
      console.log(`\n== lake ${lakeRoot}`);
      try {
        await worker.runUntil(async () => {
          for (const s of STAGES) {
            const before = await lakeState(lakeRoot);
            const t0 = performance.now();
            const cpu0 = process.cpuUsage();
            const store0 = storeServerCpu(kind);
            const traffic0 = await traffic?.snapshot();
            const result = (await client.workflow.execute(s.workflow, {
              taskQueue: config.temporal.taskQueue,
              workflowId: `bench-lakes-${s.n}-${randomUUID().slice(0, 8)}`,
              args: [s.input(topic)],
            })) as { recordsIn?: number; rowsIn?: number };
            const seconds = (performance.now() - t0) / 1000;
            const cpu = process.cpuUsage(cpu0);
            const store1 = storeServerCpu(kind);
            const used = traffic && traffic0 ? diffTraffic(await traffic.snapshot(), traffic0) : undefined;
            const w = await deltaWrites(lakeRoot, before);
            const r: StageRun = {
              lake: kind === 'local' ? 'local disk' : kind === 'az' ? 'Azurite (az://)' : 'versitygw (s3://)',
              stage: s.n,
              records: result.recordsIn ?? result.rowsIn ?? 0,
              seconds,
              workerCpu: (cpu.user + cpu.system) / 1e6,
              storeCpu: store0 !== null && store1 !== null ? store1 - store0 : null,
              versions: w.versions,
              files: w.filesAdded,
              bytesAdded: w.bytesAdded,
              traffic: used,
            };
            runs.push(r);
            const req = used ? `; ${totalRequests(used)} requests ${JSON.stringify(used.requests)}, ${mb(used.bytesUp)} MiB up, ${mb(used.bytesDown)} MiB down` : '';
            console.log(
              `stage ${s.n} ${s.what}: ${fmt(r.records)} records in ${seconds.toFixed(2)} s = ${fmt(r.records / seconds)} rec/s; ` +
                `worker CPU ${r.workerCpu.toFixed(2)} s${r.storeCpu !== null ? `, store CPU ${r.storeCpu.toFixed(2)} s` : ''}; ` +
                `${w.versions} versions, ${w.filesAdded} files, ${mb(w.bytesAdded)} MiB${req}`,
            );
          }
        });
      } finally {
        // Still through the pass-through: the cached store of this root was opened with its address.
        await removeLake(lakeRoot).catch((e: unknown) => console.log(`could not remove ${lakeRoot}: ${String(e)}`));
        restore();
        traffic?.close();
      }
    }
  } finally {
    await clientConnection.close();
    await nativeConnection.close();
    if (ownTopic) await deleteTopic(kafka, topic).catch(() => undefined);
  }

  console.log(`\n${fmt(n)} messages; ${os.cpus().length} cores, load at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
  console.log('| stage | lake | seconds | records/s | worker CPU s | store CPU s | versions | files | MiB written | requests | MiB up / down |');
  console.log('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const s of STAGES) {
    for (const r of runs.filter((x) => x.stage === s.n)) {
      const t = r.traffic;
      console.log(
        `| ${s.n} ${s.what} | ${r.lake} | ${r.seconds.toFixed(2)} | ${fmt(r.records / r.seconds)} | ${r.workerCpu.toFixed(2)} | ${r.storeCpu?.toFixed(2) ?? '—'} | ` +
          `${r.versions} | ${r.files} | ${mb(r.bytesAdded)} | ${t ? `${totalRequests(t)} (${Object.entries(t.requests).map(([k, v]) => `${k} ${v}`).join(', ')})` : '—'} | ` +
          `${t ? `${mb(t.bytesUp)} / ${mb(t.bytesDown)}` : '—'} |`,
      );
    }
  }
  await Runtime.instance().shutdown();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
