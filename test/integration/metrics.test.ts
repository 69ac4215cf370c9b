/**
 * The worker's /metrics endpoint during a real pipeline run: the worker process (`src/worker.ts`,
 * as `npm run worker` starts it) with METRICS_PORT set, the three stages run on its task queue,
 * and after each stage the scraped values are checked against the Delta tables and Kafka.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { parseExposition, type Labels } from '../../src/metrics/exposition';
import { BRONZE, DEAD_LETTER, GOLD, RAW, tableDir } from '../../src/lake/tables';
import { deserializeWorkflow, ingestRawWorkflow, mergeGoldWorkflow } from '../../src/workflows';
import { PipelineMetrics } from '../../src/metrics/pipeline';
import { DEFAULT_PIPELINES_FILE } from '../../src/pipelines/definition';
import { createTopic, deltaScan, deltaVersions, env, produce, queryLake, tempLakeRoot, testConfig, uniqueName } from '../helpers/pipeline';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

type Sample = { name: string; labels: Labels; value: number };

/** The one sample of `name` whose labels include `labels` (undefined when absent). */
function value(samples: Sample[], name: string, labels: Labels = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

async function count(dir: string, where = 'true'): Promise<number> {
  const [r] = await queryLake<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM ${deltaScan(dir)} WHERE ${where}`);
  return r!.n;
}

const latestVersion = (dir: string) => Math.max(...deltaVersions(dir));

interface StartedWorker {
  process: ChildProcess;
  exit: Promise<number | null>;
  output: () => string;
  port: number;
  scrape: () => Promise<Sample[]>;
}

/** Starts the worker exactly as `npm run worker` does, with `extraEnv`, and waits for its /metrics. */
async function startWorker(extraEnv: Record<string, string>): Promise<StartedWorker> {
  const port = await freePort();
  const sdkPort = await freePort();
  let output = '';
  const [command, ...commandArgs] = (JSON.parse(fs.readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.worker!.split(' ');
  const child = spawn(command === 'node' ? process.execPath : command!, commandArgs, {
    env: { ...process.env, ...extraEnv, METRICS_PORT: String(port), METRICS_SDK_PORT: String(sdkPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}/metrics`;
  // The endpoint comes up once the worker is created (workflow bundling takes a few seconds).
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`worker exited (${child.exitCode}):\n${output}`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`no /metrics within 90 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const scrape = async (): Promise<Sample[]> => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseExposition(await res.text());
  };
  return { process: child, exit, output: () => output, port, scrape };
}

describe('worker /metrics', () => {
  let worker: ChildProcess | undefined;
  let workerExit: Promise<number | null> | undefined;
  let lakeRoot: string | undefined;
  let connection: Connection | undefined;
  /** The second test's worker, lake and definition file. */
  const others: { worker?: StartedWorker; dirs: string[] } = { dirs: [] };

  afterAll(async () => {
    for (const [w, exit] of [[worker, workerExit], [others.worker?.process, others.worker?.exit]] as const) {
      if (w && w.exitCode === null) {
        w.kill('SIGTERM');
        await exit;
      }
    }
    await connection?.close();
    for (const dir of [lakeRoot, ...others.dirs]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the pipeline metrics (matching the tables and Kafka) and the Temporal SDK worker metrics', async () => {
    const topic = uniqueName('metrics');
    await createTopic(topic, 2);
    const good = Array.from({ length: 270 }, (_, i) => JSON.stringify({ sensor_id: `s${i}`, value: i, unit: 'C', ts_ms: 1_700_000_000_000 + i }));
    const bad = [
      ...Array.from({ length: 10 }, () => '{"sensor_id":"x"'), // invalid JSON
      ...Array.from({ length: 12 }, (_, i) => JSON.stringify({ sensor_id: `m${i}`, unit: 'C', ts_ms: 1 })), // missing value
      ...Array.from({ length: 8 }, (_, i) => JSON.stringify({ sensor_id: `r${i}`, value: 20000, unit: 'C', ts_ms: 1 })), // out of range
    ];
    await produce(topic, [...good, ...bad].map((value, i) => ({ value, partition: i % 2 })));

    lakeRoot = tempLakeRoot();
    const taskQueue = uniqueName('tq-metrics');
    const t0 = Date.now() / 1000;
    const started = await startWorker({ LAKE_ROOT: lakeRoot, TEMPORAL_TASK_QUEUE: taskQueue, METRICS_TOPICS: topic });
    worker = started.process;
    workerExit = started.exit;
    const { scrape, port } = started;
    expect(started.output()).toContain(`metrics at http://127.0.0.1:${port}/metrics`);

    connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
    const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
    const run = (wf: (input?: unknown) => Promise<unknown>, input: object = {}) =>
      client.workflow.execute(wf, { taskQueue, workflowId: uniqueName(wf.name), args: [input] });

    // Before any run: everything in Kafka is lag; no table exists yet.
    let m = await scrape();
    expect(value(m, 'tributary_kafka_lag_records', { stage: 'raw', topic })).toBe(300);
    expect(value(m, 'tributary_collect_success', { source: 'kafka' })).toBe(1);
    expect(value(m, 'tributary_table_version', { table: RAW.name })).toBeUndefined();

    const rawDir = tableDir(lakeRoot, RAW);
    await run(ingestRawWorkflow, { topics: [topic], startingOffsets: 'earliest' });
    m = await scrape();
    expect(await count(rawDir)).toBe(300);
    expect(value(m, 'tributary_records_in_total', { stage: 'raw', source: 'kafka' })).toBe(300);
    expect(value(m, 'tributary_records_out_total', { stage: 'raw', table: RAW.name })).toBe(300);
    expect(value(m, 'tributary_kafka_lag_records', { stage: 'raw', topic })).toBe(0);
    expect(value(m, 'tributary_lag_records', { stage: 'bronze', table: RAW.name })).toBe(300);
    expect(value(m, 'tributary_table_version', { table: RAW.name })).toBe(latestVersion(rawDir));
    expect(value(m, 'tributary_table_rows', { table: RAW.name })).toBe(300);
    expect(value(m, 'tributary_table_files', { table: RAW.name })).toBeGreaterThan(0);
    expect(value(m, 'tributary_table_bytes', { table: RAW.name })).toBeGreaterThan(0);
    expect(value(m, 'tributary_stage_runs_total', { stage: 'raw', outcome: 'success' })).toBe(1);
    expect(value(m, 'tributary_stage_runs_total', { pipeline: 'sensor', stage: 'raw', outcome: 'success' })).toBe(1);
    expect(value(m, 'tributary_table_rows', { pipeline: 'sensor', table: RAW.name })).toBe(300);

    const bronzeDir = tableDir(lakeRoot, BRONZE);
    const deadDir = tableDir(lakeRoot, DEAD_LETTER);
    await run(deserializeWorkflow);
    m = await scrape();
    expect(await count(bronzeDir)).toBe(270);
    expect(value(m, 'tributary_records_in_total', { stage: 'bronze', source: RAW.name })).toBe(300);
    expect(value(m, 'tributary_records_out_total', { stage: 'bronze', table: BRONZE.name })).toBe(270);
    expect(value(m, 'tributary_records_out_total', { stage: 'bronze', table: DEAD_LETTER.name })).toBe(await count(deadDir));
    const byError = await queryLake<{ error: string; n: number }>(`SELECT error, count(*)::INTEGER AS n FROM ${deltaScan(deadDir)} GROUP BY error`);
    expect(byError).toHaveLength(3);
    for (const { error, n } of byError) expect(value(m, 'tributary_dead_letters_total', { stage: 'bronze', error })).toBe(n);
    expect(value(m, 'tributary_lag_records', { stage: 'bronze', table: RAW.name })).toBe(0);
    expect(value(m, 'tributary_lag_records', { stage: 'gold', table: BRONZE.name })).toBe(270);
    expect(value(m, 'tributary_table_version', { table: BRONZE.name })).toBe(latestVersion(bronzeDir));
    expect(value(m, 'tributary_table_version', { table: DEAD_LETTER.name })).toBe(latestVersion(deadDir));

    const goldDir = tableDir(lakeRoot, GOLD);
    await run(mergeGoldWorkflow);
    // More records arrive after the raw run: Kafka lag again.
    await produce(topic, good.slice(0, 25).map((v) => ({ value: v, partition: 0 })));
    m = await scrape();
    expect(await count(goldDir)).toBe(270);
    expect(value(m, 'tributary_records_in_total', { stage: 'gold', source: BRONZE.name })).toBe(270);
    expect(value(m, 'tributary_records_out_total', { stage: 'gold', table: GOLD.name })).toBe(270);
    expect(value(m, 'tributary_gold_merge_rows_total', { action: 'inserted' })).toBe(270);
    expect(value(m, 'tributary_lag_records', { stage: 'gold', table: BRONZE.name })).toBe(0);
    expect(value(m, 'tributary_kafka_lag_records', { stage: 'raw', topic })).toBe(25);
    for (const [table, dir] of [[RAW.name, rawDir], [BRONZE.name, bronzeDir], [DEAD_LETTER.name, deadDir], [GOLD.name, goldDir]] as const) {
      expect(value(m, 'tributary_table_version', { table })).toBe(latestVersion(dir));
      expect(value(m, 'tributary_table_rows', { table })).toBe(await count(dir));
    }
    const now = Date.now() / 1000;
    for (const stage of ['raw', 'bronze', 'gold']) {
      expect(value(m, 'tributary_stage_runs_total', { stage, outcome: 'success' })).toBe(1);
      expect(value(m, 'tributary_stage_last_success_timestamp_seconds', { stage })).toBeGreaterThanOrEqual(t0);
      expect(value(m, 'tributary_stage_last_success_timestamp_seconds', { stage })).toBeLessThanOrEqual(now);
      expect(value(m, 'tributary_stage_last_run_duration_seconds', { stage })).toBeGreaterThan(0);
    }

    // The Temporal SDK's worker metrics, through the same endpoint, for this task queue.
    const sdk = m.filter((s) => s.name.startsWith('temporal_') && s.labels.task_queue === taskQueue);
    expect(sdk.map((s) => s.name)).toEqual(expect.arrayContaining(['temporal_worker_start_total', 'temporal_activity_execution_latency_seconds_count']));
    expect(value(m, 'temporal_activity_execution_latency_seconds_count', { task_queue: taskQueue, activity_type: 'ingestRaw' })).toBe(1);

    // Nothing raw from kafkajs on the worker's console.
    expect(started.output()).not.toMatch(/^\[kafkajs\]/m);
    worker.kill('SIGTERM');
    expect(await workerExit).toBe(0);
  });

  it("tells two pipelines of the worker's definition file apart: runs, rows, deletes and the lake's gauges", async () => {
    const [sensorTopic, metersTopic] = [uniqueName('metrics-sensor'), uniqueName('metrics-meters')];
    await createTopic(sensorTopic, 1);
    await createTopic(metersTopic, 1);
    const root = tempLakeRoot();
    others.dirs.push(root);
    const file = path.join(root, 'pipelines.yaml');
    // The shipped file (sensor) plus an SCD1 pipeline whose gold deletes a key on op = 'd'.
    fs.writeFileSync(
      file,
      fs.readFileSync(DEFAULT_PIPELINES_FILE, 'utf8') +
        `
  - name: meters
    source: { topics: [${metersTopic}], startingOffsets: earliest }
    tables: { raw: raw/meters, bronze: bronze/meters, dead_letter: bronze/meters_dead_letter, gold: gold/meters }
    schema:
      - { name: meter_id, type: string, required: true }
      - { name: op, type: string }
      - { name: reading, type: double }
      - { name: ts_ms, type: long, required: true }
    gold: { keys: [meter_id], sequence_by: [ts_ms], scd_type: 1, delete_when: "op = 'd'" }
    schedules: { raw: '*/5 * * * *', bronze: '*/5 * * * *', gold: '*/10 * * * *' }
`,
    );
    await produce(sensorTopic, Array.from({ length: 5 }, (_, i) => ({ value: JSON.stringify({ sensor_id: `s${i}`, value: i, unit: 'C', ts_ms: 1_700_000_000_000 + i }) })));
    await produce(metersTopic, Array.from({ length: 6 }, (_, i) => ({ value: JSON.stringify({ meter_id: `m${i}`, reading: i, ts_ms: 1000 + i }) })));

    const taskQueue = uniqueName('tq-metrics2');
    const w = (others.worker = await startWorker({ LAKE_ROOT: root, TEMPORAL_TASK_QUEUE: taskQueue, METRICS_TOPICS: sensorTopic, PIPELINES_FILE: file }));
    connection ??= await Connection.connect({ address: env.TEMPORAL_ADDRESS });
    const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
    const run = (wf: (input?: unknown) => Promise<unknown>, input: object) =>
      client.workflow.execute(wf, { taskQueue, workflowId: uniqueName(wf.name), args: [input] }) as Promise<Record<string, unknown>>;
    const meters = async () => {
      await run(ingestRawWorkflow, { pipeline: 'meters' });
      await run(deserializeWorkflow, { pipeline: 'meters' });
      return run(mergeGoldWorkflow, { pipeline: 'meters' });
    };

    await run(ingestRawWorkflow, { topics: [sensorTopic], startingOffsets: 'earliest' });
    await meters();
    await produce(metersTopic, ['m0', 'm1'].map((id) => ({ value: JSON.stringify({ meter_id: id, op: 'd', ts_ms: 2000 }) })));
    const second = await meters();
    expect(second.deleted).toBe(2);
    const m = await w.scrape();

    // Runs: each pipeline its own series; the meters' gold runs give the sensor pipeline no gold success.
    expect(value(m, 'tributary_stage_runs_total', { pipeline: 'sensor', stage: 'raw', outcome: 'success' })).toBe(1);
    expect(value(m, 'tributary_stage_runs_total', { pipeline: 'meters', stage: 'raw', outcome: 'success' })).toBe(2);
    expect(value(m, 'tributary_stage_last_success_timestamp_seconds', { pipeline: 'meters', stage: 'gold' })).toBeGreaterThan(0);
    expect(value(m, 'tributary_stage_last_success_timestamp_seconds', { pipeline: 'sensor', stage: 'gold' })).toBeUndefined();
    expect(value(m, 'tributary_stage_last_success_timestamp_seconds', { pipeline: 'sensor', stage: 'raw' })).toBeGreaterThan(0);
    // Rows under each pipeline's tables; the generic gold stage's deletes counted.
    expect(value(m, 'tributary_records_out_total', { pipeline: 'sensor', stage: 'raw', table: RAW.name })).toBe(5);
    expect(value(m, 'tributary_records_out_total', { pipeline: 'meters', stage: 'raw', table: 'raw/meters' })).toBe(8);
    expect(value(m, 'tributary_gold_merge_rows_total', { pipeline: 'meters', action: 'inserted' })).toBe(6);
    expect(value(m, 'tributary_gold_merge_rows_total', { pipeline: 'meters', action: 'deleted' })).toBe(2);
    expect(m.filter((s) => s.name === 'tributary_gold_merge_rows_total' && s.labels.pipeline === 'sensor')).toEqual([]);
    // Scrape-time gauges for both pipelines of the file.
    const goldDir = path.join(root, 'gold/meters');
    expect(value(m, 'tributary_table_version', { pipeline: 'meters', table: 'gold/meters' })).toBe(latestVersion(goldDir));
    expect(value(m, 'tributary_table_rows', { pipeline: 'meters', table: 'gold/meters' })).toBe(await count(goldDir));
    expect(await count(goldDir)).toBe(4);
    expect(value(m, 'tributary_table_rows', { pipeline: 'sensor', table: RAW.name })).toBe(5);
    expect(value(m, 'tributary_table_version', { pipeline: 'sensor', table: GOLD.name })).toBeUndefined();
    expect(value(m, 'tributary_kafka_lag_records', { pipeline: 'meters', stage: 'raw', topic: metersTopic })).toBe(0);
    expect(value(m, 'tributary_kafka_lag_records', { pipeline: 'sensor', stage: 'raw', topic: sensorTopic })).toBe(0);
    expect(value(m, 'tributary_lag_records', { pipeline: 'meters', stage: 'gold', table: 'bronze/meters' })).toBe(0);
    expect(value(m, 'tributary_lag_records', { pipeline: 'sensor', stage: 'bronze', table: RAW.name })).toBe(5);
    for (const pipeline of ['sensor', 'meters']) expect(value(m, 'tributary_collect_success', { pipeline, source: 'lake' })).toBe(1);

    w.process.kill('SIGTERM');
    expect(await w.exit).toBe(0);
  });

  it('an unreachable Kafka is a 0 in tributary_collect_success, logged at debug, nothing on the console', async () => {
    const root = tempLakeRoot();
    const deadBroker = `127.0.0.1:${await freePort()}`;
    const config = testConfig(root, { brokers: [deadBroker], clientId: 'tributary-test', securityProtocol: 'PLAINTEXT' });
    const debug: string[] = [];
    const consoleCalls: unknown[][] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
      jest.spyOn(console, m).mockImplementation((...args: unknown[]) => void consoleCalls.push(args)),
    );
    try {
      const metrics = new PipelineMetrics(config, ['sensor_readings'], { debug: (m: string) => void debug.push(m) });
      await metrics.collect();
      const m = parseExposition(metrics.render());
      expect(value(m, 'tributary_collect_success', { source: 'kafka' })).toBe(0);
      expect(value(m, 'tributary_collect_success', { source: 'lake' })).toBe(1);
      expect(m.filter((s) => s.name === 'tributary_kafka_lag_records')).toEqual([]);
      expect(value(m, 'tributary_lag_records', { stage: 'bronze', table: RAW.name })).toBe(0);
    } finally {
      spies.forEach((s) => s.mockRestore());
      fs.rmSync(root, { recursive: true, force: true });
    }
    expect(consoleCalls).toEqual([]);
    expect(debug.some((line) => line.startsWith('kafkajs: ') && line.includes('ECONNREFUSED'))).toBe(true);
  });
});
