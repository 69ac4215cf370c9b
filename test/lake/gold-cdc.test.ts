/**
 * The generic gold stage (src/lake/gold-cdc.ts) on real Delta tables, for the shipped orders
 * example (pipelines.yaml) as SCD2 and as SCD1 on the default sequence (the Kafka position):
 * bronze is written directly, batch by batch, with updates arriving out of order across batches,
 * duplicates, deletes and re-created keys; after every run gold must equal a reference computed
 * here in plain TypeScript (not by goldRowsSql), read through DuckDB's delta_scan and delta-rs.
 * Every test runs on each lake target: local disk, Azurite (az://), versitygw (s3://).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { addAction, commit, loadSnapshot, writeParquetDataFile } from '../../src/delta';
import { openTableStore } from '../../src/delta/open-store';
import { sqlString } from '../../src/delta/sql';
import type { Lake as DuckLake } from '../../src/lake/duckdb';
import { GoldSpecError, mergeBronzeIntoGoldCdc, type GoldCdcRequest } from '../../src/lake/gold-cdc';
import { ensureTables, tableDir, UpstreamTableChangedError, type TableDef } from '../../src/lake/tables';
import { parsePipelineFile, pipelineNamed, type PipelineDefinition } from '../../src/pipelines/definition';
import { stagePipeline } from '../../src/pipelines/stage-pipeline';
import { expectReadersAgree, readWithDeltaScan, sortRows, type NormalizedRow } from '../helpers/deltalake-reader';
import { dataFileKeys, lakeTargets, removeTable, type LakeTarget } from '../helpers/lake-targets';
import { pipelinesWithExample } from '../helpers/pipelines';
import { rng } from '../helpers/rng';

const orders: PipelineDefinition = pipelineNamed(parsePipelineFile(pipelinesWithExample()), 'orders');
/** The same pipeline as SCD1 on the default sequence (no sequence_by: the Kafka position). */
const ordersScd1: PipelineDefinition = {
  ...orders,
  tables: { ...orders.tables, gold: 'gold/orders_scd1' },
  gold: { keys: orders.gold.keys, columns: orders.gold.columns, scdType: 1, ...(orders.gold.deleteWhen ? { deleteWhen: orders.gold.deleteWhen } : {}) },
};

const targets = lakeTargets('gold-cdc');
/** The lake target's DuckDB and fresh roots, set by the target's suite (suites run one after the other). */
let conn: DuckDBConnection;
let newRoot: () => string;

// ───────────────────────────────────── events and the reference ─────────────────────────────────

/** One bronze row of the orders pipeline (the fields gold reads; the others are NULL). */
interface Ev {
  order_id: string;
  op: string | null;
  status: string | null;
  customer_id: number | null;
  country: string | null;
  amount: string | null;
  updated_at: number;
  partition: number;
  offset: number;
  kafka_ts: number;
}

const BASE = Date.UTC(2024, 2, 1, 12);

/**
 * The events of `orderCount` orders as they arrive: each order's changes in time order, then the
 * whole stream shuffled (updates out of order, also across batches), ~15 % delivered twice (a new
 * Kafka record with the same payload), deletes and orders re-created after a delete, equal
 * updated_at values; Kafka positions in arrival order (kafka_ts with ties).
 */
function stream(seed: number, orderCount: number): Omit<Ev, 'partition' | 'offset' | 'kafka_ts'>[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const out: Omit<Ev, 'partition' | 'offset' | 'kafka_ts'>[] = [];
  for (let i = 0; i < orderCount; i++) {
    let t = BASE + i * 60_000;
    const steps = 1 + Math.floor(r() * 5);
    for (let s = 0; s < steps; s++) {
      t += r() < 0.15 ? 0 : 1000 * (1 + Math.floor(r() * 5)); // equal updated_at sometimes
      const del = r() < 0.15;
      out.push({
        order_id: `o${i}`,
        op: del ? 'd' : null,
        status: del ? null : pick(['placed', 'paid', 'shipped', 'cancelled']),
        customer_id: r() < 0.1 ? null : 1000 + (i % 7),
        country: pick(['DE', 'FR', 'PL']),
        amount: del ? null : `${Math.floor(r() * 100000)}.${String(Math.floor(r() * 100)).padStart(2, '0')}`,
        updated_at: t,
      });
    }
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  const withDups: typeof out = [];
  for (const e of out) {
    withDups.push(e);
    if (r() < 0.15) withDups.splice(Math.floor(r() * withDups.length) + 1, 0, { ...e });
  }
  return withDups;
}

/** Assigns Kafka positions in arrival order: 3 partitions, kafka_ts increasing with ties. */
function deliver(evs: Omit<Ev, 'partition' | 'offset' | 'kafka_ts'>[], seed: number): Ev[] {
  const r = rng(seed);
  const next = [0, 0, 0];
  return evs.map((e, i) => {
    const partition = Math.floor(r() * 3);
    return { ...e, partition, offset: next[partition]!++, kafka_ts: BASE + Math.floor(i / 3) * 1000 };
  });
}

const ts = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

function order(evs: Ev[], seq: (e: Ev) => number[]): Ev[] {
  return [...evs].sort((a, b) => {
    const ka = [...seq(a), a.partition, a.offset];
    const kb = [...seq(b), b.partition, b.offset];
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! - kb[i]!;
    return 0;
  });
}

function byKey(evs: Ev[]): Map<string, Ev[]> {
  const m = new Map<string, Ev[]>();
  for (const e of evs) m.set(e.order_id, [...(m.get(e.order_id) ?? []), e]);
  return m;
}

const goldValues = (e: Ev) => ({
  order_id: e.order_id,
  status: e.status,
  customer_id: e.customer_id === null ? null : String(e.customer_id),
  country: e.country,
  amount: e.amount,
  updated_at: ts(e.updated_at),
});

/** SCD1: each order's latest event in Kafka order (kafka_ts, partition, offset); gone when it is a delete. */
function referenceScd1(evs: Ev[]): NormalizedRow[] {
  const rows: NormalizedRow[] = [];
  for (const list of byKey(evs).values()) {
    const last = order(list, (e) => [e.kafka_ts, e.partition, e.offset]).at(-1)!;
    if (last.op !== 'd') rows.push(goldValues(last));
  }
  return sortRows(rows, ['order_id', 'status', 'customer_id', 'country', 'amount', 'updated_at']);
}

/**
 * SCD2 over updated_at: walk each order's events in order; a non-delete opens a version unless it
 * repeats the open one's values; the next version's start or a delete closes it.
 */
function referenceScd2(evs: Ev[]): NormalizedRow[] {
  const rows: NormalizedRow[] = [];
  for (const list of byKey(evs).values()) {
    let open: { values: ReturnType<typeof goldValues>; start: number } | null = null;
    const close = (end: number | null) => {
      if (open) rows.push({ ...open.values, __START_AT: ts(open.start), __END_AT: end === null ? null : ts(end), __IS_CURRENT: end === null });
      open = null;
    };
    for (const e of order(list, (x) => [x.updated_at])) {
      if (e.op === 'd') {
        close(e.updated_at);
        continue;
      }
      const values = goldValues(e);
      if (open && JSON.stringify((open as { values: unknown }).values) === JSON.stringify(values)) continue;
      close(e.updated_at);
      open = { values, start: e.updated_at };
    }
    close(null);
  }
  return sortRows(rows, ['order_id', 'status', 'customer_id', 'country', 'amount', 'updated_at', '__START_AT', '__END_AT', '__IS_CURRENT']);
}

// ─────────────────────────────────────────── fixtures ───────────────────────────────────────────

interface Lake {
  root: string;
  bronze: TableDef;
  gold: TableDef;
  req: (over?: Partial<GoldCdcRequest>) => GoldCdcRequest;
  append: (evs: Ev[]) => Promise<number>;
  goldRows: () => Promise<NormalizedRow[]>;
  goldVersion: () => Promise<number>;
}

/** Bronze and gold of `p` in a fresh lake root of the current target. */
async function lake(p: PipelineDefinition): Promise<Lake> {
  const root = newRoot();
  const c = conn;
  const sp = stagePipeline(p);
  const { bronze, gold } = sp.tables;
  await ensureTables(root, [bronze, gold]);
  const bronzeStore = openTableStore(tableDir(root, bronze));
  const lit = (v: string | number | null) => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : sqlString(v));
  return {
    root,
    bronze,
    gold,
    req: (over = {}) => ({
      lakeRoot: root,
      bronze,
      gold,
      spec: sp.gold,
      checkpointAppId: sp.appIds.gold,
      upstreamStage: sp.appIds.goldStage,
      mode: { kind: 'incremental' },
      ...over,
    }),
    append: async (evs) => {
      const values = evs
        .map(
          (e) =>
            `(${lit(e.order_id)}, ${lit(e.op)}, ${lit(e.status)}, ${lit(e.customer_id)}::BIGINT, ${lit(e.country)}, ${lit(e.amount)}, ${lit(ts(e.updated_at))}, ` +
            `${lit(ts(e.kafka_ts + 5))}, 'orders', ${e.partition}, ${e.offset}::BIGINT, ${lit(ts(e.kafka_ts))})`,
        )
        .join(', ');
      const sql = `SELECT order_id, op, status, customer_id, country, amount, updated_at, NULL::DATE AS order_date, NULL::VARCHAR AS lines,
                          arrived_at, topic, "partition", "offset", kafka_ts
                   FROM (VALUES ${values}) AS v(order_id, op, status, customer_id, country, amount, updated_at, arrived_at, topic, "partition", "offset", kafka_ts)`;
      const add = await writeParquetDataFile(c, bronzeStore, sql, bronze.fields);
      const done = await commit({ store: bronzeStore }, { plan: async () => ({ actions: [addAction(add!)] }) });
      return done!.version;
    },
    goldRows: async () => (await readWithDeltaScan(c, tableDir(root, gold), gold.fields)).rows,
    goldVersion: async () => (await loadSnapshot(openTableStore(tableDir(root, gold)))).version,
  };
}

/** Splits `xs` into `n` consecutive slices. */
const slices = <T>(xs: T[], n: number): T[][] => Array.from({ length: n }, (_, i) => xs.slice(Math.floor((i * xs.length) / n), Math.floor(((i + 1) * xs.length) / n)));

// ───────────────────────────────────────────── tests ────────────────────────────────────────────

describe.each(targets)('gold-cdc on $name', (target: LakeTarget) => {
  let db: DuckLake;
  beforeAll(async () => {
    db = await target.openLake();
    conn = db.connection;
    newRoot = () => target.newRoot();
    await conn.run(`SET TimeZone = 'America/Los_Angeles'`); // nothing may depend on it
  });
  afterAll(() => db?.close());

  describe.each([
    ['SCD2 on updated_at', orders, referenceScd2],
    ['SCD1 on the Kafka position', ordersScd1, referenceScd1],
  ] as const)('%s', (_name, pipeline, reference) => {
    test('out-of-order updates, duplicates, deletes across batches: gold = reference after every run; re-runs commit nothing', async () => {
      const l = await lake(pipeline);
      const all = deliver(stream(7, 60), 8);
      const seen: Ev[] = [];
      for (const [i, part] of slices(all, 4).entries()) {
        await l.append(part);
        seen.push(...part);
        // the third run merges two bronze versions at once, in batches of one version
        if (i === 1) continue;
        const run = await mergeBronzeIntoGoldCdc(conn, l.req({ maxRowsPerBatch: 1 }));
        expect(run.commits).toBeGreaterThan(0);
        expect(await l.goldRows()).toEqual(reference(seen));
      }
      // Both readers agree (and with our snapshot, and on the checkpoint).
      const appId = l.req().checkpointAppId;
      const { snap } = await expectReadersAgree(conn, tableDir(l.root, l.gold), l.gold.fields, appId);
      expect(snap.appTransactions.get(appId)).toBe(4);

      // A re-run: the txn covers the range, nothing is committed.
      const version = await l.goldVersion();
      const again = await mergeBronzeIntoGoldCdc(conn, l.req());
      expect({ commits: again.commits, rowsIn: again.rowsIn, goldVersion: again.goldVersion, checkpoint: again.checkpoint }).toEqual({ commits: 0, rowsIn: 0, goldVersion: version, checkpoint: 4 });

      // A backfill of everything re-derives the same rows: no file changes, the checkpoint stays.
      const backfill = await mergeBronzeIntoGoldCdc(conn, l.req({ mode: { kind: 'backfill', afterVersion: -1 } }));
      expect({ commits: backfill.commits, filesAdded: backfill.filesAdded, skipped: backfill.skippedOlder, checkpoint: backfill.checkpoint }).toEqual({
        commits: 0,
        filesAdded: 0,
        skipped: new Set(all.map((e) => e.order_id)).size,
        checkpoint: 4,
      });
      expect(await l.goldVersion()).toBe(version);
      expect(await l.goldRows()).toEqual(reference(all));
    });

    test('the same Kafka records landed again (raw backfill) change no gold file; a late update rewrites only its key’s file', async () => {
      const l = await lake(pipeline);
      const all = deliver(stream(11, 30), 12);
      await l.append(all);
      await mergeBronzeIntoGoldCdc(conn, l.req({ targetRowsPerFile: 10 }));
      const before = await l.goldRows();
      expect(before).toEqual(reference(all));

      await l.append(all.slice(0, 20)); // identical rows: same topic, partition, offset
      const redelivered = await mergeBronzeIntoGoldCdc(conn, l.req({ targetRowsPerFile: 10 }));
      expect(redelivered.perBatch[0]).toMatchObject({ removedFiles: [], addedFiles: [], inserted: 0, updated: 0, deleted: 0 });
      expect(redelivered.commits).toBe(1); // the checkpoint moves
      expect(await l.goldRows()).toEqual(before);

      // A late correction to an order gold holds: only the file holding it is rewritten.
      const target = String(before[0]!.order_id);
      const late = { ...all.find((e) => e.order_id === target && e.op === null)!, status: 'refunded', updated_at: BASE + 86_400_000, partition: 0, offset: 10_000, kafka_ts: BASE + 86_400_000 };
      await l.append([late]);
      const fixed = await mergeBronzeIntoGoldCdc(conn, l.req({ targetRowsPerFile: 10 }));
      expect(fixed.perBatch[0]!.keys).toBe(1);
      expect(fixed.filesRewritten).toBe(1);
      expect(fixed.perBatch[0]!.candidateFiles).toBe(1);
      const after = reference([...all, late]);
      expect(await l.goldRows()).toEqual(after);
      // the counts: rows only after = inserted + updated, rows only before = updated + deleted
      const only = (xs: NormalizedRow[], ys: NormalizedRow[]) => xs.filter((x) => !ys.some((y) => JSON.stringify(y) === JSON.stringify(x))).length;
      expect([fixed.inserted + fixed.updated, fixed.updated + fixed.deleted]).toEqual([only(after, before), only(before, after)]);
      expect(fixed.updated).toBeGreaterThan(0);
    });
  });

  describe('commits', () => {
    test('a crash between writing the files and the commit leaves gold as it was; the retry commits once', async () => {
      const l = await lake(orders);
      const all = deliver(stream(21, 20), 22);
      await l.append(all.slice(0, 30));
      await mergeBronzeIntoGoldCdc(conn, l.req());
      await l.append(all.slice(30));
      const version = await l.goldVersion();
      const rowsBefore = await l.goldRows();
      await expect(
        mergeBronzeIntoGoldCdc(
          conn,
          l.req({
            beforeCommitAttempt: async () => {
              throw new Error('crash before the commit');
            },
          }),
        ),
      ).rejects.toThrow('crash before the commit');
      expect(await l.goldVersion()).toBe(version);
      expect(await l.goldRows()).toEqual(rowsBefore);
      const retry = await mergeBronzeIntoGoldCdc(conn, l.req());
      expect(retry.commits).toBe(1);
      expect(await l.goldRows()).toEqual(referenceScd2(all));
    });

    test('losing the commit race re-plans on the new snapshot', async () => {
      const l = await lake(orders);
      const all = deliver(stream(31, 20), 32);
      await l.append(all);
      const goldStore = openTableStore(tableDir(l.root, l.gold));
      const run = await mergeBronzeIntoGoldCdc(
        conn,
        l.req({
          beforeCommitAttempt: async (attempt) => {
            // another writer takes the version this attempt planned on
            if (attempt === 1) await commit({ store: goldStore }, { plan: async () => ({ actions: [], txns: [{ appId: 'someone-else', expected: undefined, next: 1 }] }) });
          },
        }),
      );
      expect(run.perBatch[0]!.attempts).toBe(2);
      expect(await l.goldRows()).toEqual(referenceScd2(all));
      // no data file of the losing attempt is left behind
      const live = new Set((await loadSnapshot(goldStore)).files.keys());
      expect((await dataFileKeys(tableDir(l.root, l.gold))).filter((f) => !live.has(f))).toEqual([]);
    });

    test('a recreated bronze table is refused before anything is written; a spec that does not fit the tables too', async () => {
      const l = await lake(orders);
      await l.append(deliver(stream(41, 5), 42));
      await mergeBronzeIntoGoldCdc(conn, l.req());
      const version = await l.goldVersion();
      await removeTable(tableDir(l.root, l.bronze));
      await ensureTables(l.root, [l.bronze]);
      await l.append(deliver(stream(43, 5), 44));
      await expect(mergeBronzeIntoGoldCdc(conn, l.req())).rejects.toBeInstanceOf(UpstreamTableChangedError);
      expect(await l.goldVersion()).toBe(version);

      const scd1Spec = stagePipeline(ordersScd1).gold;
      await expect(mergeBronzeIntoGoldCdc(conn, l.req({ spec: scd1Spec }))).rejects.toBeInstanceOf(GoldSpecError);
      await expect(mergeBronzeIntoGoldCdc(conn, l.req({ spec: { ...stagePipeline(orders).gold, keys: ['nope'] } }))).rejects.toBeInstanceOf(GoldSpecError);
    });
  });
});
