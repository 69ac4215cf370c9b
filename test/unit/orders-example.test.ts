/**
 * The shipped orders example (pipelines.yaml, commented out) through the pieces the stages use:
 * its definition's rules parse a shuffled stream with duplicates, bad records and deletes
 * (parsedSql), the batch outcome is read (expectationOutcome), and gold is derived from the bronze
 * rows (goldRowsSql, SCD2). Gold is compared with the history the generator knows it produced —
 * a reference computed independently of the SQL.
 */
import { ExpectationFailedError, expectationOutcome } from '../../src/lake/expectation-outcome';
import { expressionSql } from '../../src/lake/expression';
import { goldRowsSql } from '../../src/lake/gold-scd';
import { parsedSql } from '../../src/lake/parse-rules';
import { parsePipelineFile, pipelineNamed, type PipelineDefinition } from '../../src/pipelines/definition';
import { memoryDuckDB, pipelinesWithExample } from '../helpers/pipelines';

const orders: PipelineDefinition = pipelineNamed(parsePipelineFile(pipelinesWithExample()), 'orders');

const STATUSES = ['placed', 'paid', 'shipped'];
const OFFSETS = ['Z', '+02:00', '-0530', '+01'];
const BASE = Date.UTC(2024, 2, 1, 12);

/** ISO-8601 text for `ms` written in a given offset (the same instant). */
function iso(ms: number, offset: string): string {
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(offset);
  const shift = m ? (m[1] === '+' ? 1 : -1) * (Number(m[2]) * 60 + Number(m[3] ?? 0)) * 60_000 : 0;
  return new Date(ms + shift).toISOString().replace('Z', '').replace(/\.000$/, '') + offset;
}

interface Version {
  order: string;
  status: string;
  amount: string;
  customer: number;
  country: string;
  start: number;
  end: number | null;
}

/** A stream of order events and the SCD2 history it must produce. */
function generate(orderCount: number): { payloads: string[]; history: Version[]; deadLetters: Map<string, number> } {
  const payloads: string[] = [];
  const history: Version[] = [];
  const deadLetters = new Map<string, number>();
  const bad = (reason: string, p: string) => {
    payloads.push(p);
    deadLetters.set(reason, (deadLetters.get(reason) ?? 0) + 1);
  };
  for (let i = 0; i < orderCount; i++) {
    const id = `o${i}`;
    const customer = 1000 + (i % 7);
    const country = ['DE', 'FR', 'PL'][i % 3] as string;
    const amount = `${10 + i}.${String(i % 100).padStart(2, '0')}`;
    const steps = 1 + (i % 3);
    let t = BASE + i * 1000;
    const versions: Version[] = [];
    for (let s = 0; s < steps; s++) {
      const status = STATUSES[s] as string;
      const event = {
        order_id: id,
        status,
        // decimals as a JSON number or a numeric string, both exact at 2 digits
        amount: i % 2 ? Number(amount) : amount,
        customer: { id: customer, address: { country } },
        updated_at: iso(t, OFFSETS[(i + s) % OFFSETS.length] as string),
        order_date: '2024-03-01',
        lines: [{ sku: `sku-${i}`, qty: s + 1 }],
      };
      payloads.push(JSON.stringify(event));
      if ((i + s) % 4 === 0) payloads.push(JSON.stringify(event)); // a duplicate delivery
      versions.push({ order: id, status, amount: Number(amount).toFixed(2), customer, country, start: t, end: null });
      t += 60_000;
    }
    versions.forEach((v, k) => (v.end = versions[k + 1]?.start ?? null));
    if (i % 5 === 0) {
      // deleted: closes the last version
      payloads.push(JSON.stringify({ order_id: id, op: 'd', updated_at: iso(t, 'Z') }));
      (versions.at(-1) as Version).end = t;
    }
    history.push(...versions);
    if (i % 6 === 0) bad('negative amount', JSON.stringify({ order_id: id, status: 'paid', amount: -1, customer: { id: customer }, updated_at: iso(t + 5, 'Z') }));
    if (i % 7 === 0) bad('status missing', JSON.stringify({ order_id: id, updated_at: iso(t + 7, 'Z') }));
    if (i % 8 === 0) bad('invalid JSON', `{"order_id":"${id}",`);
    if (i % 9 === 0) bad('missing updated_at', JSON.stringify({ order_id: id, status: 'paid' }));
  }
  return { payloads, history, deadLetters };
}

/** Deterministic shuffle (arrival order must not matter). */
function shuffle<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let a = seed;
  for (let i = out.length - 1; i > 0; i--) {
    a = (Math.imul(a, 1103515245) + 12345) & 0x7fffffff;
    const j = a % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const db = memoryDuckDB();

async function land(table: string, payloads: string[]): Promise<void> {
  await db.con().run(`CREATE TABLE ${table} (topic VARCHAR, partition INTEGER, "offset" BIGINT, kafka_ts TIMESTAMPTZ, raw_payload VARCHAR, raw_payload_bytes BLOB, arrived_at TIMESTAMPTZ)`);
  const app = await db.con().createAppender(table);
  payloads.forEach((p, i) => {
    app.appendVarchar('orders');
    app.appendInteger(i % 3);
    app.appendBigInt(BigInt(i));
    app.appendNull();
    app.appendVarchar(p);
    app.appendNull();
    app.appendNull();
    app.endRow();
  });
  app.flushSync();
  app.closeSync();
}

test('orders example: bronze/dead letter split, warn counts, SCD2 gold equals the generated history', async () => {
  const { payloads, history, deadLetters } = generate(60);
  await land('raw_orders', shuffle(payloads, 7));
  await db.con().run(`CREATE TEMP TABLE parsed AS ${parsedSql('raw_orders', orders.rules, 'pipeline orders')}`);

  expect(await expectationOutcome(db.con(), 'parsed', orders.rules)).toEqual({ warnings: { 'unknown status': 0 } });
  const dl = (await db.con().runAndReadAll(`SELECT error, count(*) AS n FROM parsed WHERE error IS NOT NULL GROUP BY ALL`)).getRowObjectsJS();
  expect(new Map(dl.map((r) => [String(r.error), Number(r.n)]))).toEqual(deadLetters);

  const g = orders.gold;
  const sql = goldRowsSql(
    { keys: g.keys, columns: g.columns, sequenceBy: g.sequenceBy ?? [], scdType: g.scdType, deleteWhenSql: g.deleteWhen && expressionSql(g.deleteWhen) },
    '(SELECT * FROM parsed WHERE error IS NULL)',
  );
  const rows = (
    await db.con().runAndReadAll(`SELECT order_id, status, CAST(amount AS VARCHAR) AS amount, customer_id, country, epoch_ms(__START_AT) AS s, epoch_ms(__END_AT) AS e, __IS_CURRENT AS cur FROM (${sql})`)
  ).getRowObjectsJS();
  const got = rows.map((r) => JSON.stringify([r.order_id, r.status, r.amount, Number(r.customer_id), r.country, Number(r.s), r.e === null ? null : Number(r.e), r.cur])).sort();
  const want = history.map((v) => JSON.stringify([v.order, v.status, v.amount, v.customer, v.country, v.start, v.end, v.end === null])).sort();
  expect(got).toEqual(want);

  // re-deriving from the same events in another order, with every event delivered twice, changes nothing
  await land('raw_orders_again', shuffle([...payloads, ...payloads], 99));
  await db.con().run(`CREATE TEMP TABLE parsed2 AS ${parsedSql('raw_orders_again', orders.rules)}`);
  const again = sql.replaceAll('FROM parsed WHERE', 'FROM parsed2 WHERE');
  expect(again).not.toBe(sql);
  const diff = (await db.con().runAndReadAll(`SELECT (SELECT count(*) FROM ((${again}) EXCEPT ALL (${sql}))) + (SELECT count(*) FROM ((${sql}) EXCEPT ALL (${again}))) AS n`)).getRowObjectsJS();
  expect(diff[0]?.n).toBe(0n);
});

test('orders example: a customer id that is not positive fails the batch, naming the expectation and the offset', async () => {
  await land('raw_orders_fail', [
    JSON.stringify({ order_id: 'x1', status: 'paid', customer: { id: 5 }, updated_at: '2024-03-01T10:00:00Z' }),
    JSON.stringify({ order_id: 'x2', status: 'paid', customer: { id: 0 }, updated_at: '2024-03-01T10:00:00Z' }),
  ]);
  await db.con().run(`CREATE TEMP TABLE parsed_fail AS ${parsedSql('raw_orders_fail', orders.rules)}`);
  const e = await expectationOutcome(db.con(), 'parsed_fail', orders.rules).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(ExpectationFailedError);
  expect((e as Error).message).toMatch(/^expectation "customer id not positive" failed .* first at orders\/1@1;/);
});
