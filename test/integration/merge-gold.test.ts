/**
 * Stage 3 against the real stack.
 *  1. Kafka → ingestRawWorkflow → deserializeWorkflow → mergeGoldWorkflow on Temporal, in two
 *     rounds with duplicates inside a batch, across batches and older replays: gold holds one row
 *     per key with the newest value, and re-running any stage changes nothing.
 *  2. bronze filled directly → mergeGoldWorkflow: the activity dying around a gold commit neither
 *     loses nor duplicates anything; unsupported tables and bad inputs fail at once.
 * After each run gold reads back identically through delta_scan and delta-rs.
 */
import * as fs from 'node:fs';
import { ScheduleOverlapPolicy, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { addAction, commitActions, commitWithRetry, writeParquetDataFile } from '../helpers/delta-dir';
import { openDuckDB, type Lake } from '../../src/lake/duckdb';
import { sqlString } from '../../src/delta/sql';
import { BRONZE, ensureTables, GOLD, GOLD_CHECKPOINT_APP_ID, RAW, tableDir } from '../../src/lake/tables';
import { deserializeWorkflow, ingestRawWorkflow, mergeGoldWorkflow } from '../../src/workflows';
import type { GoldResult } from '../../src/lake/gold-result';
import type { MergeGoldInput } from '../../src/workflows/gold-input';
import { PipelineStage, RecordsIn, RecordsOut, TableVersion } from '../../src/workflows/search-attributes';
import { expectReadersAgree, type NormalizedRow } from '../helpers/deltalake-reader';
import { closeConnections, createTopic, deltaVersions, execute, produce, tempLakeRoot, testConfig, testWorker, uniqueName, type TestWorker } from '../helpers/pipeline';
import { rootFailure } from '../helpers/pipeline';

let lake: Lake;
beforeAll(async () => {
  lake = await openDuckDB();
});
afterAll(async () => {
  lake?.close();
  await closeConnections();
});

const BASE_TS = Date.UTC(2026, 0, 1);
const SENSORS = 30;

const merge = (w: TestWorker, input: Partial<MergeGoldInput> = {}, workflowId?: string) => execute(w, mergeGoldWorkflow, input, workflowId);

/** Gold through both readers: same version, same rows; one row per key. Returns rows by key. */
async function readGold(dir: string): Promise<{ version: number; rows: Map<string, NormalizedRow> }> {
  const { snap, rows: all } = await expectReadersAgree(lake.connection, dir, GOLD.fields, GOLD_CHECKPOINT_APP_ID);
  const rows = new Map(all.map((r) => [`${r.sensor_id}|${r.ts_ms}`, r]));
  expect(rows.size).toBe(all.length);
  return { version: snap.version, rows };
}

function expectValues(rows: Map<string, NormalizedRow>, truth: Map<string, number>): void {
  expect(rows.size).toBe(truth.size);
  const wrong = [...truth].filter(([k, v]) => rows.get(k)?.value !== v).slice(0, 5);
  expect(wrong).toEqual([]);
}

describe('Kafka → raw → bronze → gold', () => {
  it('dups in a batch, across batches and older replays → one row per key with the newest value; re-running any stage changes nothing', async () => {
    const topic = uniqueName('gold');
    await createTopic(topic, 3);
    const lakeRoot = tempLakeRoot();
    const dirs = { raw: tableDir(lakeRoot, RAW), bronze: tableDir(lakeRoot, BRONZE), gold: tableDir(lakeRoot, GOLD) };
    const w = await testWorker(testConfig(lakeRoot));
    const truth = new Map<string, number>();
    const msg = (s: number, t: number, value: number) => {
      truth.set(`s-${s}|${BASE_TS + t}`, value);
      // Key = sensor: one sensor's readings stay in order in one partition.
      return { key: `s-${s}`, value: JSON.stringify({ sensor_id: `s-${s}`, value, unit: 'C', ts_ms: BASE_TS + t }) };
    };
    const runAll = async () => {
      const raw = await ingest();
      const bronze = await w.client.workflow.execute(deserializeWorkflow, { taskQueue: w.taskQueue, workflowId: uniqueName('deserialize'), args: [{}] });
      const gold = await merge(w);
      return { raw, bronze, gold };
    };
    const ingest = () =>
      w.client.workflow.execute(ingestRawWorkflow, { taskQueue: w.taskQueue, workflowId: uniqueName('ingest'), args: [{ topics: [topic], startingOffsets: 'earliest' }] });

    // Round 1: 30 sensors × 100 readings; then 300 of those keys again with another value (a
    // duplicate inside the batch: same arrival, the later offset must win); 30 malformed.
    const round1 = [];
    for (let t = 0; t < 100; t++) for (let s = 0; s < SENSORS; s++) round1.push(msg(s, t, s + t / 100));
    for (let t = 0; t < 10; t++) for (let s = 0; s < SENSORS; s++) round1.push(msg(s, t, 1000 + s + t));
    for (let s = 0; s < SENSORS; s++) round1.push({ key: `s-${s}`, value: `{"sensor_id":"s-${s}","value":` });
    await produce(topic, round1);

    const r1 = await w.run(runAll);
    expect(r1.raw.recordsIn).toBe(3330);
    expect(r1.bronze.recordsOut).toBe(3300);
    expect(r1.gold).toMatchObject({ stage: 'gold', mode: 'incremental', rowsIn: 3300, inserted: 3000, updated: 0, commits: 1, checkpoint: r1.bronze.bronzeTableVersion });
    const g1 = await readGold(dirs.gold);
    expectValues(g1.rows, truth);
    const firstArrival = new Map([...g1.rows].map(([k, r]) => [k, r.arrived_at]));
    for (const r of g1.rows.values()) expect(String(r.updated_at) >= String(r.arrived_at)).toBe(true);

    // Round 2: corrections of 600 round-1 keys (across batches; 300 of them corrected twice inside
    // this batch) and 20 new readings per sensor.
    const round2 = [];
    for (let t = 50; t < 70; t++) for (let s = 0; s < SENSORS; s++) round2.push(msg(s, t, 2000 + s + t));
    for (let t = 50; t < 60; t++) for (let s = 0; s < SENSORS; s++) round2.push(msg(s, t, 3000 + s + t));
    for (let t = 100; t < 120; t++) for (let s = 0; s < SENSORS; s++) round2.push(msg(s, t, s + t / 100));
    await produce(topic, round2);

    const r2 = await w.run(runAll);
    expect(r2.gold).toMatchObject({ rowsIn: 1500, inserted: 600, updated: 600, skippedOlder: 0, commits: 1 });
    const g2 = await readGold(dirs.gold);
    expectValues(g2.rows, truth);
    for (const [k, r] of g2.rows) {
      const t = Number(k.split('|')[1]) - BASE_TS;
      if (t >= 50 && t < 70) {
        expect(r.arrived_at).toBe(firstArrival.get(k)); // first arrival kept
        expect(String(r.updated_at) > String(r.arrived_at)).toBe(true);
      } else if (t < 100) expect(r).toEqual(g1.rows.get(k));
    }

    // Older replays arriving after the newer values: (a) a gold backfill re-merging round 1's bronze
    // versions, (b) a round-1 record landed again now (as a raw backfill would: same Kafka position,
    // new arrival time) appended after round 2 was merged. Neither moves any value back.
    const round1Bronze = { fromVersion: 1, toVersion: r1.bronze.bronzeTableVersion };
    const backfill = await w.run(() => merge(w, { backfill: round1Bronze }));
    expect(backfill).toMatchObject({ mode: 'backfill', rowsIn: 3300, inserted: 0, updated: 0, skippedOlder: 3000, commits: 0, checkpoint: r2.gold.checkpoint });
    const stale = g1.rows.get(`s-7|${BASE_TS + 55}`)!;
    const add = await writeParquetDataFile(
      lake.connection,
      dirs.bronze,
      `SELECT 's-7' AS sensor_id, ${Number(stale.value)}::DOUBLE AS value, 'C' AS unit, ${BASE_TS + 55}::BIGINT AS ts_ms,
              now() AS arrived_at, ${sqlString(String(stale.source_topic))} AS topic, ${Number(stale.source_partition)} AS "partition",
              ${Number(stale.source_offset)}::BIGINT AS "offset", ${sqlString(String(stale.source_kafka_ts))}::TIMESTAMPTZ AS kafka_ts`,
      BRONZE.fields,
    );
    await commitWithRetry(dirs.bronze, async () => ({ actions: [addAction(add!)] }));
    const replay = await w.run(() => merge(w));
    expect(replay).toMatchObject({ rowsIn: 1, inserted: 0, updated: 0, skippedOlder: 1 });
    const g3 = await readGold(dirs.gold);
    expectValues(g3.rows, truth);
    expect(g3.rows.get(`s-7|${BASE_TS + 55}`)).toEqual(g2.rows.get(`s-7|${BASE_TS + 55}`));

    // Re-running every stage: nothing new anywhere, no new table version.
    const versions = { raw: deltaVersions(dirs.raw), bronze: deltaVersions(dirs.bronze), gold: deltaVersions(dirs.gold) };
    const again = await w.run(runAll);
    expect(again.raw.recordsIn).toBe(0);
    expect(again.bronze.recordsIn).toBe(0);
    expect(again.gold).toMatchObject({ rowsIn: 0, commits: 0, goldVersion: g3.version });
    expect({ raw: deltaVersions(dirs.raw), bronze: deltaVersions(dirs.bronze), gold: deltaVersions(dirs.gold) }).toEqual(versions);
    expect((await readGold(dirs.gold)).rows).toEqual(g3.rows);
  });
});

describe('mergeGoldWorkflow on bronze filled directly', () => {
  /** Appends `rows` readings per sensor for ts [from, from + n) as one bronze version, arrival `arrival` s after BASE_TS. */
  async function appendBronze(lakeRoot: string, from: number, n: number, value: string, arrival: number): Promise<number> {
    const dir = tableDir(lakeRoot, BRONZE);
    const add = await writeParquetDataFile(
      lake.connection,
      dir,
      `SELECT 's-' || (i % 10) AS sensor_id, (${value})::DOUBLE AS value, 'C' AS unit, (${BASE_TS} + ${from} + i // 10)::BIGINT AS ts_ms,
              make_timestamptz(${(BASE_TS + arrival * 1000) * 1000}::BIGINT) AS arrived_at, 'sensor_readings' AS topic, 0 AS "partition", i::BIGINT AS "offset",
              make_timestamptz(${(BASE_TS + arrival * 1000) * 1000}::BIGINT) AS kafka_ts
       FROM range(${n * 10}) r(i)`,
      BRONZE.fields,
    );
    return (await commitWithRetry(dir, async () => ({ actions: [addAction(add!)] })))!.version;
  }

  it.each([
    ['before', 'beforeCommit' as const],
    ['after', 'afterCommit' as const],
  ])('survives the activity dying %s a gold commit; search attributes, checkpoint chain', async (_when, hook) => {
    const lakeRoot = tempLakeRoot();
    await ensureTables(lakeRoot, [BRONZE, GOLD]);
    await appendBronze(lakeRoot, 0, 100, 'i', 1); // v1: 1000 new
    await appendBronze(lakeRoot, 50, 100, '-i', 2); // v2: 500 updates + 500 new
    await appendBronze(lakeRoot, 0, 50, '0', 0); // v3: 500 older → skipped (and first arrival moved back)
    let crashes = 0;
    const w = await testWorker(testConfig(lakeRoot), {
      [hook]: (stage: string, n: number) => {
        if (stage === 'gold' && n === 2 && crashes === 0) {
          crashes += 1;
          throw new Error(`injected crash ${hook} gold commit ${n}`);
        }
      },
    });
    const workflowId = uniqueName('merge-gold-crash');
    const result = await w.run(() => merge(w, { maxRowsPerBatch: 1000 }, workflowId));
    expect(crashes).toBe(1);
    const goldDir = tableDir(lakeRoot, GOLD);
    // Exactly one commit per bronze version, whatever the attempt that made it.
    expect(deltaVersions(goldDir)).toEqual([0, 1, 2, 3]);
    expect(result).toMatchObject({ checkpoint: 3, goldVersion: 3, bronzeToVersion: 3 });
    const g = await readGold(goldDir);
    expect(g.rows.size).toBe(1500);
    const truth = new Map<string, number>();
    for (let i = 0; i < 1000; i++) truth.set(`s-${i % 10}|${BASE_TS + Math.floor(i / 10)}`, i);
    for (let i = 0; i < 1000; i++) truth.set(`s-${i % 10}|${BASE_TS + 50 + Math.floor(i / 10)}`, -i);
    expectValues(g.rows, truth);

    const desc = await w.client.workflow.getHandle(workflowId).describe();
    expect(desc.typedSearchAttributes.get(PipelineStage)).toBe('gold');
    expect(desc.typedSearchAttributes.get(RecordsIn)).toBe(result.rowsIn);
    expect(desc.typedSearchAttributes.get(RecordsOut)).toBe(result.inserted + result.updated);
    expect(desc.typedSearchAttributes.get(TableVersion)).toBe(3);

    // A workflow checkpoint fills in only for a table that has none (e.g. a recreated gold).
    await appendBronze(lakeRoot, 200, 10, 'i', 3); // v4
    fs.rmSync(goldDir, { recursive: true });
    const fresh = await w.run(() => merge(w, { checkpoint: 3 }));
    expect(fresh).toMatchObject({ bronzeAfterVersion: 3, bronzeToVersion: 4, inserted: 100, checkpoint: 4, checkpointDisagreement: null });
  });

  it('a Schedule chains the checkpoint through lastResult (used when the gold table has none)', async () => {
    const lakeRoot = tempLakeRoot();
    await ensureTables(lakeRoot, [BRONZE, GOLD]);
    await appendBronze(lakeRoot, 0, 10, 'i', 1); // v1
    const w = await testWorker(testConfig(lakeRoot));
    const scheduleId = uniqueName('gold-schedule');
    const handle = await w.client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1 day' }] },
      action: { type: 'startWorkflow', workflowType: 'mergeGoldWorkflow', taskQueue: w.taskQueue, workflowId: scheduleId, args: [{}] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { paused: true },
    });
    try {
      const runOnce = async (n: number): Promise<GoldResult> => {
        await handle.trigger(ScheduleOverlapPolicy.SKIP);
        for (;;) {
          const actions = (await handle.describe()).info.recentActions;
          if (actions.length >= n) return w.client.workflow.getHandle(actions[n - 1].action.workflow.workflowId).result();
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      const first = await w.run(() => runOnce(1));
      expect(first).toMatchObject({ bronzeAfterVersion: -1, inserted: 100, checkpoint: 1 });
      // Gold recreated empty (its txn is gone): the next scheduled run continues from lastResult.
      fs.rmSync(tableDir(lakeRoot, GOLD), { recursive: true });
      await appendBronze(lakeRoot, 100, 10, 'i', 2); // v2
      const second = await w.run(() => runOnce(2));
      expect(second).toMatchObject({ bronzeAfterVersion: 1, bronzeToVersion: 2, inserted: 100, checkpoint: 2 });
    } finally {
      await handle.delete();
    }
  });

  it('a gold table with an unsupported protocol, and a bad input, fail at once without retries', async () => {
    const lakeRoot = tempLakeRoot();
    await ensureTables(lakeRoot, [BRONZE, GOLD]);
    await appendBronze(lakeRoot, 0, 10, 'i', 1);
    await commitActions(tableDir(lakeRoot, GOLD), 1, [{ protocol: { minReaderVersion: 1, minWriterVersion: 4 } }]);
    const w = await testWorker(testConfig(lakeRoot));
    const workflowId = uniqueName('merge-gold-protocol');
    const failed = await w.run(() => merge(w, {}, workflowId).then(() => null, (e) => e));
    const failure = rootFailure(failed);
    expect(failure.type).toBe('UnsupportedDeltaFeatureError');
    expect(failure.message).toMatch(/minWriterVersion 4 requires CHECK constraints/);
    const events = (await w.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    expect(events.filter((ev) => ev.activityTaskStartedEventAttributes).map((ev) => ev.activityTaskStartedEventAttributes!.attempt)).toEqual([1]);

    const bad = await w.run(() => merge(w, { maxRowsPerBatch: 0, backfill: { fromVersion: 5, toVersion: 2 } } as never).then(() => null, (e) => e));
    expect(bad).toBeInstanceOf(WorkflowFailedError);
    const cause = (bad as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('InvalidInputError');
    expect(cause.message).toMatch(/maxRowsPerBatch/);
    expect(cause.message).toMatch(/toVersion must be >= fromVersion/);
  });
});
