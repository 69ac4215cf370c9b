/**
 * Table maintenance of a pipeline other than sensor (issue 13): maintainTablesWorkflow with
 * `pipeline: orders` (the shipped example, on this test's topic) compacts, checkpoints, vacuums and
 * log-cleans the orders tables — never a raw file bronze has not read yet nor a bronze file gold has
 * not merged yet, never a raw commit after bronze's checkpoint — and leaves the sensor pipeline's
 * tables, on the same lake and worker, exactly as they were. The orders stages then carry on from
 * their checkpoints: every record once, nothing lost.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addedFilesSince, LocalStore, loadSnapshot, readLastCheckpoint } from '../../src/delta';
import type { StagePipeline } from '../../src/lake/pipeline';
import { SENSOR_PIPELINE } from '../../src/lake/pipeline';
import { maintainedTables } from '../../src/lake/maintenance';
import { tableDir, type TableDef } from '../../src/lake/tables';
import { loadPipelineFile } from '../../src/pipelines/definition';
import { stagePipeline } from '../../src/pipelines/stage-pipeline';
import { sampleMessages } from '../../src/sample/sensor-data';
import { deserializeWorkflow, ingestRawWorkflow, maintainTablesWorkflow, mergeGoldWorkflow } from '../../src/workflows';
import { closeConnections, createTopic, deltaScan, execute, produce, queryLake, rootFailure, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';
import { pipelinesWithExample } from '../helpers/pipelines';
import { collectStatus, SENSOR_STATUS } from '../../src/status';

afterAll(closeConnections);

/** `count` new orders, one event each (valid for the example's expectations). */
function orders(from: number, count: number): { key: string; value: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    const e = { order_id: `o-${n}`, status: 'placed', customer: { id: 1 + (n % 7), address: { country: 'DE' } }, amount: `${n}.50`, updated_at: new Date(Date.UTC(2024, 0, 1) + n * 60_000).toISOString() };
    return { key: e.order_id, value: JSON.stringify(e) };
  });
}

const snapOf = (lakeRoot: string, t: TableDef) => loadSnapshot(new LocalStore(tableDir(lakeRoot, t)));
const txn = async (lakeRoot: string, t: TableDef, appId: string) => (await snapOf(lakeRoot, t)).appTransactions.get(appId) ?? -1;

/** Every file under a table's directory (data and log) with its size: "untouched" means this stays equal. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(`${path.relative(dir, p)}:${fs.statSync(p).size}`);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out.sort();
}

describe('maintainTablesWorkflow with another pipeline', () => {
  it('keeps the orders tables, never past what the next stage still needs; the sensor tables untouched', async () => {
    const ordersTopic = uniqueName('maint-orders');
    const sensorTopic = uniqueName('maint-sensor');
    await createTopic(ordersTopic, 2);
    await createTopic(sensorTopic, 1);
    const lakeRoot = tempLakeRoot();
    const file = path.join(lakeRoot, 'pipelines.yaml');
    fs.writeFileSync(file, pipelinesWithExample().replace(/(- name: orders[\s\S]*?topics: )\[orders\]/, `$1[${ordersTopic}]`));
    const pipelines = loadPipelineFile(file);
    const o: StagePipeline = stagePipeline(pipelines.pipelines.find((p) => p.name === 'orders')!);
    // Properties from config for the orders raw table: checkpoints every 2 commits, commits kept 0 h (log cleanup may go as far as the readers allow).
    const config = { ...testConfig(lakeRoot), tableProperties: { [o.tables.raw.name]: { 'delta.checkpointInterval': '2', 'delta.logRetentionDuration': 'interval 0 hours' } } };
    const w = await testWorker(config, undefined, pipelines);
    const ingest = { pipeline: 'orders', maxRecordsPerCommit: 20 };
    await w.run(async () => {
      // The sensor pipeline has tables on the same lake.
      await produce(sensorTopic, [...sampleMessages({ count: 300, seed: 7, malformed: 0.1, duplicates: 0.1, outOfOrder: 0, startMs: Date.UTC(2026, 0, 1) })].map((m) => ({ key: m.key, value: m.value })));
      await execute(w, ingestRawWorkflow, { topics: [sensorTopic], startingOffsets: 'earliest', maxRecordsPerCommit: 50 });
      await execute(w, deserializeWorkflow, {});
      await execute(w, mergeGoldWorkflow, {});

      // orders: raw in many small commits; a raw checkpoint early (log cleanup keeps from a checkpoint at or before what bronze needs)
      await produce(ordersTopic, orders(0, 100));
      await execute(w, ingestRawWorkflow, ingest);
      const early = await execute(w, maintainTablesWorkflow, { pipeline: 'orders', tables: ['raw'], operations: ['checkpoint'] });
      expect(early.tables[0]).toMatchObject({ table: o.tables.raw.name, propertiesSet: ['delta.checkpointInterval', 'delta.logRetentionDuration'] });
      // (the properties commit itself may be the one the writer checkpoints, interval 2)
      expect((await readLastCheckpoint(new LocalStore(tableDir(lakeRoot, o.tables.raw))))?.version).toBe(early.tables[0]!.version);
      await produce(ordersTopic, orders(100, 100));
      await execute(w, ingestRawWorkflow, ingest);
      await execute(w, deserializeWorkflow, { pipeline: 'orders', maxRowsPerBatch: 30 });
      await execute(w, mergeGoldWorkflow, { pipeline: 'orders' });
      // then more bronze that gold has not merged, and more raw that bronze has not read
      await produce(ordersTopic, orders(200, 100));
      await execute(w, ingestRawWorkflow, ingest);
      await execute(w, deserializeWorkflow, { pipeline: 'orders', maxRowsPerBatch: 30 });
      await produce(ordersTopic, orders(300, 100));
      await execute(w, ingestRawWorkflow, ingest);

      const bronzeAt = await txn(lakeRoot, o.tables.bronze, o.appIds.bronze);
      const goldAt = await txn(lakeRoot, o.tables.gold, o.appIds.gold);
      const rawSnap = await snapOf(lakeRoot, o.tables.raw);
      const bronzeSnap = await snapOf(lakeRoot, o.tables.bronze);
      expect(bronzeAt).toBeLessThan(rawSnap.version);
      expect(goldAt).toBeLessThan(bronzeSnap.version);
      const rawBefore = new Set(rawSnap.files.keys());
      const bronzeBefore = new Set(bronzeSnap.files.keys());
      const sensorBefore = maintainedTables(SENSOR_PIPELINE).map((t) => listing(tableDir(lakeRoot, t)));

      const run = await execute(w, maintainTablesWorkflow, { pipeline: 'orders', vacuumRetentionHours: 0, force: true });
      expect(run.failed).toEqual([]);
      expect(run.tables.map((t) => t.table)).toEqual(maintainedTables(o).map((t) => t.name));
      const raw = run.tables[0]!;
      const bronze = run.tables[1]!;
      expect(raw.compaction!.filesRemoved).toBeGreaterThan(1);
      expect(bronze.compaction!.filesRemoved).toBeGreaterThan(1);
      expect(raw.vacuum!.deleted).toBeGreaterThan(0);
      expect(raw.logCleanup!.deleted).toBeGreaterThan(0);
      // log cleanup kept every raw commit bronze still reads
      expect(raw.logCleanup!.oldestRetainedVersion).toBeLessThanOrEqual(bronzeAt + 1);

      // never past the next stage: every file added after its checkpoint is still live, as it was
      const rawAfter = await snapOf(lakeRoot, o.tables.raw);
      const bronzeAfter = await snapOf(lakeRoot, o.tables.bronze);
      expect(rawAfter.files.size).toBeLessThan(rawBefore.size);
      for (const [t, snap, at, before] of [
        [o.tables.raw, rawAfter, bronzeAt, rawBefore],
        [o.tables.bronze, bronzeAfter, goldAt, bronzeBefore],
      ] as const) {
        // the files the next stage had not read when the run started: added after its checkpoint
        const added = await addedFilesSince(new LocalStore(tableDir(lakeRoot, t)), at, snap.version);
        const needed = added.flatMap((c) => c.adds.map((a) => a.path)).filter((p) => before.has(p));
        expect(needed.length).toBeGreaterThan(0);
        for (const p of needed) expect(snap.files.has(p)).toBe(true);
      }
      // vacuumed: only live files left on disk
      const dir = tableDir(lakeRoot, o.tables.raw);
      expect(fs.readdirSync(dir).filter((n) => n.endsWith('.parquet')).sort()).toEqual([...rawAfter.files.keys()].sort());

      // the sensor pipeline's tables: not a byte changed
      expect(maintainedTables(SENSOR_PIPELINE).map((t) => listing(tableDir(lakeRoot, t)))).toEqual(sensorBefore);

      // the orders stages carry on from their checkpoints through the kept change feed: every record once
      await execute(w, deserializeWorkflow, { pipeline: 'orders' });
      await execute(w, mergeGoldWorkflow, { pipeline: 'orders' });
      const [n] = await queryLake<{ raw: number; bronze: number; offsets: number; gold: number }>(`
        SELECT (SELECT count(*) FROM ${deltaScan(tableDir(lakeRoot, o.tables.raw))})::INT AS raw,
               (SELECT count(*) FROM ${deltaScan(tableDir(lakeRoot, o.tables.bronze))})::INT AS bronze,
               (SELECT count(DISTINCT (topic, "partition", "offset")) FROM ${deltaScan(tableDir(lakeRoot, o.tables.bronze))})::INT AS offsets,
               (SELECT count(DISTINCT order_id) FROM ${deltaScan(tableDir(lakeRoot, o.tables.gold))})::INT AS gold`);
      expect(n).toEqual({ raw: 400, bronze: 400, offsets: 400, gold: 400 });

      // npm run status with both pipelines: the orders tables' health, the orders maintenance run under its pipeline
      const status = await collectStatus(w.client, w.config, [sensorTopic], { pipelines: [SENSOR_STATUS, { ...o, scheduleIds: pipelines.pipelines.find((p) => p.name === 'orders')!.scheduleIds }] });
      const rawHealth = status.maintenance.tables.find((t) => t.table === o.tables.raw.name)!;
      expect(rawHealth).toMatchObject({ filesWaitingForVacuum: 0 });
      expect(rawHealth.lastMaintained).not.toBeNull();
      expect(status.maintenance.schedules.map((x) => x.schedule)).toEqual(['sensor-maintain-tables', 'orders-maintain-tables']);

      // a table the pipeline does not have fails at once, non-retryably, naming its tables
      const bad = await execute(w, maintainTablesWorkflow, { pipeline: 'orders', tables: ['gold/sensor_readings'] }).catch((e: unknown) => e);
      expect(rootFailure(bad).message).toMatch(/gold\/sensor_readings: pipeline orders has no table "gold\/sensor_readings" \(its tables: raw\/orders, /);
    });
  }, 600_000);
});
