/**
 * Many pipelines on one worker (issue 13): every stage workflow takes `pipeline` (default sensor);
 * the worker's definition file says what each name is. A second pipeline, from a temporary
 * definition file next to the shipped sensor pipeline, runs the three stages with its own topics,
 * tables, parse rules, expectation actions, gold merge and dead-letter replay; the sensor pipeline beside it is unaffected, and
 * one pipeline failing never blocks the other.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSnapshot, LocalStore } from '../../src/delta';
import { BRONZE, BRONZE_TXN_APP_ID, DEAD_LETTER, RAW, tableDir } from '../../src/lake/tables';
import { DEFAULT_PIPELINES_FILE, loadPipelineFile, type PipelineFile } from '../../src/pipelines/definition';
import { sampleMessages } from '../../src/sample/sensor-data';
import { deserializeWorkflow, ingestRawWorkflow, maintainTablesWorkflow, mergeGoldWorkflow, replayDeadLettersWorkflow } from '../../src/workflows';
import type { BronzeResult } from '../../src/lake/bronze';
import { readWithDeltalake } from '../helpers/deltalake-reader';
import { closeConnections, createTopic, deltaScan, execute, produce, queryLake, rootFailure, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';

afterAll(closeConnections);

/** The shipped file (sensor pipeline) plus pipeline `orders` reading `topic`; `extraField` = a field added later (schema evolution). */
function definitionFile(dir: string, topic: string, extraField = '', amountRule = 'amount >= 0'): PipelineFile {
  const orders = `
  - name: orders
    source: { topics: [${topic}], startingOffsets: earliest }
    tables: { raw: raw/orders, bronze: bronze/orders, dead_letter: bronze/orders_dead_letter, gold: gold/orders }
    schema:
      - { name: order_id, type: string, required: true }
      - { name: status, type: string }
      - { name: customer_id, path: $.customer.id, type: long }
      - { name: amount, type: 'decimal(12,2)' }
      - { name: updated_at, type: timestamp, format: iso8601, required: true }
      - { name: order_date, type: date }${extraField}
    expectations:
      - { name: negative amount, expect: ${amountRule}, action: dead_letter }
      - { name: unknown status, expect: "status IN ('placed', 'paid')", action: warn }
      - { name: customer id not positive, expect: customer_id > 0, action: fail }
    gold: { keys: [order_id], sequence_by: [updated_at], scd_type: 2 }
`;
  const file = path.join(dir, 'pipelines.yaml');
  fs.writeFileSync(file, fs.readFileSync(DEFAULT_PIPELINES_FILE, 'utf8') + orders);
  return loadPipelineFile(file);
}

const order = (o: Record<string, unknown>) => ({ key: String(o.order_id ?? 'x'), value: JSON.stringify(o) });
const count = async (dir: string) => (await queryLake<{ n: number }>(`SELECT count(*)::INT AS n FROM ${deltaScan(dir)}`))[0].n;
const txns = async (dir: string) => Object.fromEntries((await loadSnapshot(new LocalStore(dir))).appTransactions);

describe('pipelines on one worker', () => {
  it('a pipeline name the worker\'s file does not have fails the run at once, listing the names it has', async () => {
    const w = await testWorker(testConfig(tempLakeRoot()));
    await w.run(async () => {
      for (const wf of [ingestRawWorkflow, deserializeWorkflow, mergeGoldWorkflow, replayDeadLettersWorkflow] as ((i?: unknown) => Promise<unknown>)[]) {
        const f = rootFailure(await execute(w, wf, { pipeline: 'nope' }).catch((e: unknown) => e));
        expect(f.type).toBe('UnknownPipelineError');
        expect(f.nonRetryable).toBe(true);
        expect(f.message).toMatch(/no pipeline "nope" in .*pipelines\.yaml \(it has: sensor\)/);
      }
    });
  });

  it('a second pipeline lands, parses and merges its own topic into its own tables (expectations: dead_letter, warn, fail) next to an unaffected sensor pipeline', async () => {
    const lakeRoot = tempLakeRoot();
    const ordersTopic = uniqueName('orders');
    const sensorTopic = uniqueName('sensor');
    await createTopic(ordersTopic, 2);
    await createTopic(sensorTopic, 1);
    const file = definitionFile(lakeRoot, ordersTopic);
    const w = await testWorker(testConfig(lakeRoot), undefined, file);
    const ordersTables = { raw: path.join(lakeRoot, 'raw', 'orders'), bronze: path.join(lakeRoot, 'bronze', 'orders'), deadLetter: path.join(lakeRoot, 'bronze', 'orders_dead_letter') };

    await produce(ordersTopic, [
      order({ order_id: 'o1', status: 'placed', customer: { id: 7 }, amount: '10.50', updated_at: '2026-01-01T10:00:00+02:00', order_date: '2026-01-01' }),
      order({ order_id: 'o2', status: 'lost', customer: { id: 8 }, amount: 3, updated_at: '2026-01-01T09:00:00Z' }), // warn: kept
      order({ order_id: 'o3', status: 'paid', customer: { id: 9 }, amount: -1, updated_at: '2026-01-01T09:00:00Z' }), // dead letter: negative amount
      order({ status: 'paid', customer: { id: 9 }, amount: 1, updated_at: '2026-01-01T09:00:00Z' }), // dead letter: missing order_id
      { key: 'bad', value: '{not json' },
    ]);
    await produce(sensorTopic, [...sampleMessages({ count: 200, seed: 13, malformed: 0.1, duplicates: 0, outOfOrder: 0, startMs: Date.UTC(2026, 0, 1) })].map((m) => ({ key: m.key, value: m.value })));

    await w.run(async () => {
      // stage 1: orders reads its topic from the definition (no `topics` in the input), from earliest
      const raw = await execute(w, ingestRawWorkflow, { pipeline: 'orders' });
      expect(raw.recordsIn).toBe(5);
      expect(await count(ordersTables.raw)).toBe(5);
      expect(Object.keys(await txns(ordersTables.raw)).filter((k) => k.startsWith('tributary.')).sort()).toEqual([`tributary.orders.raw/${ordersTopic}/0`, `tributary.orders.raw/${ordersTopic}/1`]);
      await execute(w, ingestRawWorkflow, { topics: [sensorTopic], startingOffsets: 'earliest' });
      expect(await count(tableDir(lakeRoot, RAW))).toBe(200);

      // stage 2: its rules and expectation actions
      const bronze = (await execute(w, deserializeWorkflow, { pipeline: 'orders' })) as BronzeResult;
      expect(bronze).toMatchObject({ recordsIn: 5, recordsOut: 2, deadLetters: 3, expectationWarnings: { 'unknown status': 1 } });
      expect(bronze.deadLettersByError).toEqual({ 'negative amount': 1, 'missing order_id': 1, 'invalid JSON': 1 });
      const rows = await queryLake(
        `SELECT order_id, status, customer_id::INT AS customer_id, amount::VARCHAR AS amount, strftime(updated_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') AS updated_at,
                order_date::VARCHAR AS order_date FROM ${deltaScan(ordersTables.bronze)} ORDER BY order_id`,
      );
      expect(rows).toEqual([
        { order_id: 'o1', status: 'placed', customer_id: 7, amount: '10.50', updated_at: '2026-01-01 08:00', order_date: '2026-01-01' },
        { order_id: 'o2', status: 'lost', customer_id: 8, amount: '3.00', updated_at: '2026-01-01 09:00', order_date: null },
      ]);
      // bronze = the schema's fields, then the Kafka metadata bronze carries
      expect((await loadSnapshot(new LocalStore(ordersTables.bronze))).metadata.fields.map((f) => `${f.name}:${f.type}:${f.nullable}`)).toEqual([
        'order_id:string:false', 'status:string:true', 'customer_id:long:true', 'amount:decimal(12,2):true', 'updated_at:timestamp:false', 'order_date:date:true',
        'arrived_at:timestamp:false', 'topic:string:false', 'partition:integer:false', 'offset:long:false', 'kafka_ts:timestamp:true',
      ]);
      expect(await count(ordersTables.deadLetter)).toBe(3);
      expect((await txns(ordersTables.bronze))['tributary.orders.bronze/raw-version']).toBe(bronze.checkpoint);
      expect(await txns(ordersTables.bronze)).not.toHaveProperty(BRONZE_TXN_APP_ID);

      // stage 3: the pipeline's gold (SCD2 on order_id, generic gold stage) under its own app id
      const gold = await execute(w, mergeGoldWorkflow, { pipeline: 'orders' });
      expect(gold).toMatchObject({ rowsIn: 2, inserted: 2 });
      expect(
        await queryLake(`SELECT order_id, status, __IS_CURRENT AS current FROM ${deltaScan(path.join(lakeRoot, 'gold', 'orders'))} ORDER BY order_id`),
      ).toEqual([
        { order_id: 'o1', status: 'placed', current: true },
        { order_id: 'o2', status: 'lost', current: true },
      ]);
      expect((await txns(path.join(lakeRoot, 'gold', 'orders')))['tributary.orders.gold/bronze-version']).toBe(gold.checkpoint);

      // a `fail` expectation: the run fails non-retryably, naming it and an example offset; nothing is committed
      await produce(ordersTopic, [order({ order_id: 'o4', status: 'paid', customer: { id: 0 }, amount: 1, updated_at: '2026-01-02T00:00:00Z' })]);
      await execute(w, ingestRawWorkflow, { pipeline: 'orders' });
      const before = await count(ordersTables.bronze);
      const f = rootFailure(await execute(w, deserializeWorkflow, { pipeline: 'orders' }).catch((e: unknown) => e));
      expect(f.type).toBe('ExpectationFailedError');
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toMatch(new RegExp(`expectation "customer id not positive" failed .* first at ${ordersTopic}/[01]@\\d+`));
      expect(await count(ordersTables.bronze)).toBe(before);

      // the sensor pipeline is not blocked by it, and keeps its own tables and app ids
      const sensor = (await execute(w, deserializeWorkflow, {})) as BronzeResult;
      expect(sensor.recordsIn).toBe(200);
      expect(sensor.recordsOut + sensor.deadLetters).toBe(200);
      expect(await count(tableDir(lakeRoot, BRONZE))).toBe(sensor.recordsOut);
      expect(await count(tableDir(lakeRoot, DEAD_LETTER))).toBe(sensor.deadLetters);
      expect((await txns(tableDir(lakeRoot, BRONZE)))[BRONZE_TXN_APP_ID]).toBe(sensor.checkpoint);
      expect(Object.keys(await txns(tableDir(lakeRoot, RAW))).filter((k) => k.startsWith('tributary.'))).toEqual([`tributary.raw/${sensorTopic}/0`]);
    });

    // dead-letter replay after a rule fix: the pipeline's dead letters, re-parsed with its new rules, into its bronze once
    fs.mkdirSync(path.join(lakeRoot, 'fixed'));
    const w2 = await testWorker(testConfig(lakeRoot), undefined, definitionFile(path.join(lakeRoot, 'fixed'), ordersTopic, '', 'amount >= -5'));
    await w2.run(async () => {
      const bronzeBefore = await count(ordersTables.bronze);
      const r = await execute(w2, replayDeadLettersWorkflow, { pipeline: 'orders', errors: ['negative amount'] }, 'replay-orders-1');
      expect(r).toMatchObject({ examined: 1, moved: 1, stillFailing: {} });
      expect(await count(ordersTables.bronze)).toBe(bronzeBefore + 1);
      expect(await queryLake(`SELECT order_id, amount::VARCHAR AS amount FROM ${deltaScan(path.join(lakeRoot, 'bronze', 'orders_replay_log'))}`)).toEqual([{ order_id: 'o3', amount: '-1.00' }]);
      expect((await txns(ordersTables.bronze))['tributary.orders.replay/replay-orders-1']).toBe(1);
      // the sensor pipeline's replay log was never made
      expect(fs.existsSync(path.join(lakeRoot, 'bronze', 'sensor_readings_replay_log'))).toBe(false);
    });
  });

  it('schema evolution: a field added to the definition becomes a nullable column of bronze and gold at the next run (metaData commit); old rows read NULL, new rows filled, in both readers', async () => {
    const lakeRoot = tempLakeRoot();
    const topic = uniqueName('orders');
    await createTopic(topic, 1);
    const v1 = definitionFile(lakeRoot, topic);
    fs.mkdirSync(path.join(lakeRoot, 'v2'));
    const v2 = definitionFile(path.join(lakeRoot, 'v2'), topic, '\n      - { name: channel, type: string, required: true }');
    const bronzeDir = path.join(lakeRoot, 'bronze', 'orders');
    const goldDir = path.join(lakeRoot, 'gold', 'orders');
    const runAll = async (file: PipelineFile) => {
      const w = await testWorker(testConfig(lakeRoot), undefined, file);
      await w.run(async () => {
        for (const wf of [ingestRawWorkflow, deserializeWorkflow, mergeGoldWorkflow] as ((i?: unknown) => Promise<unknown>)[]) await execute(w, wf, { pipeline: 'orders' });
      });
    };

    await produce(topic, [order({ order_id: 'a', status: 'placed', customer: { id: 1 }, amount: 1, updated_at: '2026-01-01T00:00:00Z', channel: 'web' })]);
    await runAll(v1);
    const before = await loadSnapshot(new LocalStore(bronzeDir));
    expect(before.metadata.fields.map((f) => f.name)).not.toContain('channel');

    await produce(topic, [order({ order_id: 'b', status: 'paid', customer: { id: 2 }, amount: 2, updated_at: '2026-01-02T00:00:00Z', channel: 'shop' })]);
    await runAll(v2);
    const after = await loadSnapshot(new LocalStore(bronzeDir));
    expect(after.metadata.id).toBe(before.metadata.id); // the same table, evolved
    expect(after.metadata.fields.find((f) => f.name === 'channel')).toEqual({ name: 'channel', type: 'string', nullable: true });
    // in the definition's order: after the schema's other fields, before the Kafka metadata (gold: before the SCD2 columns)
    expect(after.metadata.fields.map((f) => f.name).slice(5, 8)).toEqual(['order_date', 'channel', 'arrived_at']);
    expect((await loadSnapshot(new LocalStore(goldDir))).metadata.fields.map((f) => f.name).slice(-4)).toEqual(['channel', '__START_AT', '__END_AT', '__IS_CURRENT']);

    for (const dir of [bronzeDir, goldDir]) {
      const duck = await queryLake(`SELECT order_id, channel FROM ${deltaScan(dir)} ORDER BY order_id`);
      expect(duck).toEqual([{ order_id: 'a', channel: null }, { order_id: 'b', channel: 'shop' }]);
      const rs = await readWithDeltalake(dir);
      expect(rs.rows.map((r) => ({ order_id: r.order_id, channel: r.channel })).sort((x, y) => String(x.order_id).localeCompare(String(y.order_id)))).toEqual(duck);
    }

    // removing the field again is refused: the run fails non-retryably and changes nothing
    const w = await testWorker(testConfig(lakeRoot), undefined, v1);
    await w.run(async () => {
      const f = rootFailure(await execute(w, deserializeWorkflow, { pipeline: 'orders' }).catch((e: unknown) => e));
      expect(f.type).toBe('PipelineTablesRefusedError');
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toMatch(/column channel \(string\) is in the table but not in the definition — removing a column is refused/);
    });
    expect((await loadSnapshot(new LocalStore(bronzeDir))).version).toBe(after.version);

    // table maintenance of the pipeline's evolved tables: compaction reads files written before the column was added
    const wm = await testWorker(testConfig(lakeRoot), undefined, v2);
    await wm.run(async () => {
      const m = await execute(wm, maintainTablesWorkflow, { pipeline: 'orders', operations: ['compact', 'checkpoint'] });
      expect(m.failed).toEqual([]);
      expect(m.tables.map((t) => t.table)).toEqual(['raw/orders', 'bronze/orders', 'bronze/orders_dead_letter', 'bronze/orders_replay_log', 'gold/orders']);
      const bad = rootFailure(await execute(wm, maintainTablesWorkflow, { pipeline: 'orders', tables: ['gold/sensor_readings'] }).catch((e: unknown) => e));
      expect(bad.message).toMatch(/pipeline orders has no table "gold\/sensor_readings"/);
    });
    for (const dir of [bronzeDir, goldDir]) expect(await queryLake(`SELECT order_id, channel FROM ${deltaScan(dir)} ORDER BY order_id`)).toEqual([{ order_id: 'a', channel: null }, { order_id: 'b', channel: 'shop' }]);
  });

  it('a pipeline with a topic_pattern reads every topic the pattern matches when the run starts, also fanned out over partition groups', async () => {
    const lakeRoot = tempLakeRoot();
    const prefix = uniqueName('clicks');
    const [a, b, other] = [`${prefix}-a`, `${prefix}-b`, `${prefix}x-c`];
    for (const t of [a, b, other]) await createTopic(t, 2);
    const file = path.join(lakeRoot, 'pipelines.yaml');
    fs.writeFileSync(
      file,
      `pipelines:
  - name: clicks
    source: { topic_pattern: '${prefix}-.*', startingOffsets: earliest }
    tables: { raw: raw/clicks, bronze: bronze/clicks, dead_letter: bronze/clicks_dead_letter, gold: gold/clicks }
    schema: [{ name: id, type: long, required: true }]
    gold: { keys: [id] }
`,
    );
    for (const t of [a, b, other]) await produce(t, [0, 1, 2].map((i) => ({ key: String(i), value: JSON.stringify({ id: i }) })));
    const w = await testWorker(testConfig(lakeRoot), undefined, loadPipelineFile(file));
    await w.run(async () => {
      const r = await execute(w, ingestRawWorkflow, { pipeline: 'clicks', parallelism: 2 });
      expect(r.groups).toBe(2);
      expect(Object.keys(r.checkpoint).sort()).toEqual([a, b]);
      const landed = await queryLake<{ topic: string; n: number }>(`SELECT topic, count(*)::INT AS n FROM ${deltaScan(path.join(lakeRoot, 'raw', 'clicks'))} GROUP BY topic ORDER BY topic`);
      expect(landed).toEqual([{ topic: a, n: 3 }, { topic: b, n: 3 }]);
    });
  });
});
