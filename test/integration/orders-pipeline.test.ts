/**
 * Issue 13's acceptance, end to end: the orders example of pipelines.yaml (exactly the shipped
 * text, uncommented, on this test's topic) as the worker's PIPELINES_FILE next to the sensor
 * pipeline, ONE worker, real Kafka → raw → bronze (+ dead letter) → gold through the stage
 * workflows. The orders stream has nested JSON, ISO-8601 timestamps with offsets, decimal amounts
 * as numbers and strings, status changes kept as SCD2 history, deletes, orders re-created after a
 * delete, duplicates, bad records, and updates that arrive out of order across runs. Gold must
 * equal a reference computed here in plain TypeScript from the produced events (both readers);
 * running any stage again changes nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDuckDB } from '../../src/lake/duckdb';
import { tableDir } from '../../src/lake/tables';
import { loadPipelineFile, type PipelineFile } from '../../src/pipelines/definition';
import { stagePipeline } from '../../src/pipelines/stage-pipeline';
import { sampleMessages } from '../../src/sample/sensor-data';
import { deserializeWorkflow, ingestRawWorkflow, mergeGoldWorkflow } from '../../src/workflows';
import { readWithDeltaScan, readWithDeltalake, sortRows, type NormalizedRow } from '../helpers/deltalake-reader';
import { closeConnections, createTopic, deltaScan, deltaVersions, execute, produce, queryLake, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';
import { pipelinesWithExample } from '../helpers/pipelines';
import { rng } from '../helpers/rng';

afterAll(closeConnections);

// ───────────────────────────────────── the orders stream ─────────────────────────────────────

interface OrderEvent {
  order_id: string;
  op?: 'd';
  status?: string;
  customer?: { id: number; address: { country: string } };
  amount?: number | string;
  updated_at: string;
  order_date?: string;
  lines?: unknown;
}

/** A produced event with the instant it carries (the reference needs no parsing of our own). */
interface Sent {
  key: string;
  value: string;
  /** null: a record the pipeline must dead-letter (it never reaches gold). */
  good: OrderEvent | null;
  at: number;
}

const BASE = Date.UTC(2024, 2, 1, 12);
const OFFSETS = ['Z', '+02:00', '-05:30', '+01:00'];

/** `ms` as ISO-8601 text written in a given UTC offset (the same instant). */
function iso(ms: number, offset: string): string {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  const shift = m ? (m[1] === '+' ? 1 : -1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000 : 0;
  return new Date(ms + shift).toISOString().replace('Z', offset);
}

/**
 * Orders with 1–4 status changes each (60 s apart, so no two events of an order share an instant),
 * ~20 % deleted, some re-created after the delete, ~20 % of events delivered twice, a few records
 * the expectations dead-letter, a few with a status the pipeline only warns about.
 */
function ordersStream(seed: number, count: number): Sent[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const out: Sent[] = [];
  const send = (e: OrderEvent | string, good: boolean, at: number) => {
    const value = typeof e === 'string' ? e : JSON.stringify(e);
    const id = typeof e === 'string' ? 'bad' : e.order_id;
    out.push({ key: id, value, good: good && typeof e !== 'string' ? e : null, at });
  };
  for (let i = 0; i < count; i++) {
    const id = `ord-${seed}-${i}`;
    const customer = { id: 100 + (i % 9), address: { country: pick(['DE', 'FR', 'PL', 'NL']) } };
    let t = BASE + i * 3_600_000;
    const lifecycle = (n: number) => {
      for (let s = 0; s < n; s++) {
        const cents = Math.floor(r() * 10_000_000);
        const amount = `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
        const e: OrderEvent = {
          order_id: id,
          status: r() < 0.05 ? 'refunded' : pick(['placed', 'paid', 'shipped', 'cancelled']),
          customer,
          amount: r() < 0.5 ? amount : Number(amount),
          updated_at: iso(t, pick(OFFSETS)),
          order_date: '2024-03-01',
          lines: [{ sku: `sku-${i}`, qty: s + 1 }],
        };
        send(e, true, t);
        if (r() < 0.2) send(e, true, t); // delivered twice
        t += 60_000;
      }
    };
    lifecycle(1 + Math.floor(r() * 4));
    if (r() < 0.2) {
      send({ order_id: id, op: 'd', updated_at: iso(t, pick(OFFSETS)) }, true, t);
      t += 60_000;
      if (r() < 0.5) lifecycle(1 + Math.floor(r() * 2)); // re-created
    }
    if (r() < 0.1) send({ order_id: id, status: 'paid', amount: -1, customer, updated_at: iso(t + 5, 'Z') }, false, t); // negative amount
    if (r() < 0.1) send({ order_id: id, updated_at: iso(t + 7, 'Z') }, false, t); // status missing
    if (r() < 0.05) send(`{"order_id":"${id}",`, false, t); // not JSON
  }
  return out;
}

const ts = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

/** SCD2 on updated_at, per order: a non-delete opens a version unless it repeats the open one; the next start or a delete closes it. */
function referenceGold(sent: Sent[]): NormalizedRow[] {
  const byOrder = new Map<string, { e: OrderEvent; at: number }[]>();
  for (const s of sent) if (s.good) byOrder.set(s.good.order_id, [...(byOrder.get(s.good.order_id) ?? []), { e: s.good, at: s.at }]);
  const rows: NormalizedRow[] = [];
  for (const events of byOrder.values()) {
    events.sort((a, b) => a.at - b.at);
    let open: { values: NormalizedRow; start: number } | null = null;
    const close = (end: number | null) => {
      if (open) rows.push({ ...open.values, __START_AT: ts(open.start), __END_AT: end === null ? null : ts(end), __IS_CURRENT: end === null });
      open = null;
    };
    for (const { e, at } of events) {
      if (e.op === 'd') {
        close(at);
        continue;
      }
      const values: NormalizedRow = {
        order_id: e.order_id,
        status: e.status ?? null,
        customer_id: e.customer ? String(e.customer.id) : null,
        country: e.customer?.address.country ?? null,
        amount: e.amount === undefined ? null : Number(e.amount).toFixed(2),
        updated_at: ts(at),
      };
      if (open && JSON.stringify((open as { values: NormalizedRow }).values) === JSON.stringify(values)) continue;
      close(at);
      open = { values, start: at };
    }
    close(null);
  }
  return sortRows(rows, ['order_id', 'status', 'customer_id', 'country', 'amount', 'updated_at', '__START_AT', '__END_AT', '__IS_CURRENT']);
}

/** Deterministic shuffle, then cut into `n` rounds: later rounds carry updates older than what gold already has. */
function rounds<T>(xs: T[], n: number, seed: number): T[][] {
  const r = rng(seed);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return Array.from({ length: n }, (_, i) => out.slice(Math.floor((i * out.length) / n), Math.floor(((i + 1) * out.length) / n)));
}

// ───────────────────────────────────────────── test ─────────────────────────────────────────────

describe('orders example pipeline next to sensor on one worker', () => {
  it('Kafka → raw → bronze → gold through the workflows: gold = the independent SCD2 reference after every round; re-running any stage changes nothing', async () => {
    const ordersTopic = uniqueName('orders');
    const sensorTopic = uniqueName('sensor');
    await createTopic(ordersTopic, 3);
    await createTopic(sensorTopic, 2);
    const lakeRoot = tempLakeRoot();

    // The shipped example, uncommented, reading this test's topic: the worker's definition file.
    const file = path.join(lakeRoot, 'pipelines.yaml');
    const text = pipelinesWithExample().replace(/(- name: orders[\s\S]*?topics: )\[orders\]/, `$1[${ordersTopic}]`);
    expect(text).toContain(`topics: [${ordersTopic}]`);
    fs.writeFileSync(file, text);
    const pipelines: PipelineFile = loadPipelineFile(file);
    const orders = stagePipeline(pipelines.pipelines.find((p) => p.name === 'orders')!);
    const dir = (t: keyof typeof orders.tables) => tableDir(lakeRoot, orders.tables[t]);

    const w = await testWorker(testConfig(lakeRoot), undefined, pipelines);
    const stream = ordersStream(3, 80);
    const sensor = [...sampleMessages({ count: 500, seed: 5, malformed: 0.1, duplicates: 0.1, outOfOrder: 0.05, startMs: Date.UTC(2026, 0, 1) })];
    const sensorKeys = new Set(sensor.filter((m) => !m.malformed).map((m) => JSON.parse(m.value!.toString()) as { sensor_id: string; ts_ms: number }).map((r) => `${r.sensor_id}|${r.ts_ms}`));
    await produce(sensorTopic, sensor.map((m) => ({ key: m.key, value: m.value })));

    const runOrders = async () => ({
      raw: await execute<{ recordsIn: number }>(w, ingestRawWorkflow, { pipeline: 'orders' }),
      bronze: await execute<{ recordsOut?: number }>(w, deserializeWorkflow, { pipeline: 'orders' }),
      gold: await execute<{ commits: number; goldVersion: number }>(w, mergeGoldWorkflow, { pipeline: 'orders' }),
    });
    const lake = await openDuckDB();
    const goldRows = async () => (await readWithDeltaScan(lake.connection, dir('gold'), orders.tables.gold.fields)).rows;
    try {
      await w.run(async () => {
        const sent: Sent[] = [];
        let lateUpdates = 0;
        for (const [i, round] of rounds(stream, 3, 4).entries()) {
          // updates older than a version of the same order already merged: out of order across runs
          const latest = new Map<string, number>();
          for (const s of sent) if (s.good) latest.set(s.good.order_id, Math.max(latest.get(s.good.order_id) ?? -Infinity, s.at));
          lateUpdates += round.filter((s) => s.good && s.at < (latest.get(s.good.order_id) ?? -Infinity)).length;
          await produce(ordersTopic, round.map((s) => ({ key: s.key, value: s.value })));
          sent.push(...round);
          const r = await runOrders();
          expect(r.raw.recordsIn).toBe(round.length);
          expect(await goldRows()).toEqual(referenceGold(sent));
          if (i === 0) {
            // the sensor pipeline on the same worker, in between
            await execute(w, ingestRawWorkflow, { topics: [sensorTopic], startingOffsets: 'earliest' });
            await execute(w, deserializeWorkflow, {});
            await execute(w, mergeGoldWorkflow, {});
          }
        }
        const want = referenceGold(sent);
        // the stream exercises what it should: late updates, duplicates, history, deletes
        expect(lateUpdates).toBeGreaterThan(10);
        expect(new Set(sent.map((s) => s.value)).size).toBeLessThan(sent.length);
        const current = new Set(want.filter((x) => x.__IS_CURRENT).map((x) => x.order_id));
        const orderIds = new Set(want.map((x) => x.order_id));
        expect(want.length).toBeGreaterThan(orderIds.size);
        expect(orderIds.size - current.size).toBeGreaterThan(3); // deleted orders: history only
        const deadLetters = sent.filter((s) => !s.good).length;
        const [counts] = await queryLake<{ raw: number; bronze: number; dl: number }>(
          `SELECT (SELECT count(*) FROM ${deltaScan(dir('raw'))})::INT AS raw, (SELECT count(*) FROM ${deltaScan(dir('bronze'))})::INT AS bronze,
                  (SELECT count(*) FROM ${deltaScan(dir('deadLetter'))})::INT AS dl`,
        );
        expect(counts).toEqual({ raw: sent.length, bronze: sent.length - deadLetters, dl: deadLetters });

        // delta-rs reads the same gold
        expect((await readWithDeltalake(dir('gold'))).rows).toEqual(want);
        // the sensor pipeline is untouched by the orders pipeline and vice versa
        const [sensorGold] = await queryLake<{ n: number }>(`SELECT count(*)::INT AS n FROM ${deltaScan(path.join(lakeRoot, 'gold', 'sensor_readings'))}`);
        expect(sensorGold.n).toBe(sensorKeys.size);

        // Re-running every stage changes nothing: the same table versions, the same rows.
        const versions = () => (['raw', 'bronze', 'deadLetter', 'gold'] as const).map((t) => deltaVersions(dir(t)).at(-1));
        const before = versions();
        const again = await runOrders();
        expect(again.raw.recordsIn).toBe(0);
        expect(again.gold.commits).toBe(0);
        // a gold backfill of all of bronze re-derives the same rows: nothing to commit either
        const backfill = await execute<{ commits: number }>(w, mergeGoldWorkflow, { pipeline: 'orders', backfill: {} });
        expect(backfill.commits).toBe(0);
        expect(versions()).toEqual(before);
        expect(await goldRows()).toEqual(want);
      });
    } finally {
      lake.close();
    }
  });
});
