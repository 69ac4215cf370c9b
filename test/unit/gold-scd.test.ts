/**
 * Gold as a pure function of bronze (src/lake/gold-scd.ts): SCD1 and SCD2 with deletes, against a
 * reference computed independently here in plain TypeScript, on random event sets with
 * out-of-order arrival, duplicates, equal sequence values and deletes; the result must not depend
 * on arrival order or on events arriving twice.
 */
import { rng } from '../helpers/rng';
import { goldRowsSql, type GoldSpec } from '../../src/lake/gold-scd';
import { memoryDuckDB } from '../helpers/pipelines';

interface Ev {
  id: string;
  status: string | null;
  amount: number | null;
  op: string | null;
  seq: number | null;
  partition: number;
  offset: number;
}

function events(seed: number, keys: number, perKey: number): Ev[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const out: Ev[] = [];
  let offset = 0;
  for (let k = 0; k < keys; k++) {
    let last: Ev | undefined;
    for (let i = 0; i < perKey; i++) {
      const dup = last && r() < 0.2; // a duplicate of the previous event, or a no-op update
      const e: Ev = dup
        ? { ...(last as Ev), seq: r() < 0.5 ? (last as Ev).seq : Math.floor(r() * 20), partition: Math.floor(r() * 3), offset: offset++ }
        : {
            id: `k${k}`,
            status: pick(['placed', 'paid', 'shipped', null]),
            amount: pick([1, 2, 3, null]),
            op: r() < 0.15 ? 'd' : pick([null, 'u']),
            seq: r() < 0.05 ? null : Math.floor(r() * 20), // equal sequence values happen; NULL sorts first
            partition: Math.floor(r() * 3),
            offset: offset++,
          };
      out.push(e);
      last = e;
    }
  }
  return out;
}

/** Reference order: sequence (NULL first), then topic (all equal here), partition, offset. */
function sorted(evs: Ev[]): Ev[] {
  const key = (e: Ev) => [e.seq === null ? -Infinity : e.seq, e.partition, e.offset];
  return [...evs].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return (ka[i] as number) - (kb[i] as number);
    return 0;
  });
}
const byKey = (evs: Ev[]): Map<string, Ev[]> => {
  const m = new Map<string, Ev[]>();
  for (const e of evs) m.set(e.id, [...(m.get(e.id) ?? []), e]);
  return m;
};
const isDelete = (e: Ev) => e.op === 'd';

function referenceScd1(evs: Ev[]): string[] {
  const out: string[] = [];
  for (const [id, list] of byKey(evs)) {
    const last = sorted(list).at(-1) as Ev;
    if (!isDelete(last)) out.push(JSON.stringify([id, last.status, last.amount]));
  }
  return out.sort();
}

function referenceScd2(evs: Ev[]): string[] {
  const out: string[] = [];
  for (const [id, list] of byKey(evs)) {
    const versions: { status: string | null; amount: number | null; start: number | null; end: number | null }[] = [];
    let open: (typeof versions)[number] | null = null;
    for (const e of sorted(list)) {
      if (isDelete(e)) {
        if (open) open.end = e.seq;
        open = null;
      } else if (!open || open.status !== e.status || open.amount !== e.amount) {
        if (open) open.end = e.seq;
        open = { status: e.status, amount: e.amount, start: e.seq, end: null };
        versions.push(open);
      }
    }
    for (const v of versions) out.push(JSON.stringify([id, v.status, v.amount, v.start, v.end, v === open]));
  }
  return out.sort();
}

const db = memoryDuckDB();
let n = 0;

async function load(evs: Ev[]): Promise<string> {
  const table = `ev_${n++}`;
  await db.con().run(`CREATE TABLE ${table} (id VARCHAR, status VARCHAR, amount INTEGER, op VARCHAR, seq BIGINT, topic VARCHAR, partition INTEGER, "offset" BIGINT)`);
  const app = await db.con().createAppender(table);
  for (const e of evs) {
    app.appendVarchar(e.id);
    if (e.status === null) app.appendNull();
    else app.appendVarchar(e.status);
    if (e.amount === null) app.appendNull();
    else app.appendInteger(e.amount);
    if (e.op === null) app.appendNull();
    else app.appendVarchar(e.op);
    if (e.seq === null) app.appendNull();
    else app.appendBigInt(BigInt(e.seq));
    app.appendVarchar('orders');
    app.appendInteger(e.partition);
    app.appendBigInt(BigInt(e.offset));
    app.endRow();
  }
  app.flushSync();
  app.closeSync();
  return table;
}

const spec = (scdType: 1 | 2): GoldSpec => ({ keys: ['id'], columns: ['id', 'status', 'amount'], sequenceBy: ['seq'], scdType, deleteWhenSql: `"op" = 'd'` });

async function gold(scdType: 1 | 2, table: string): Promise<string[]> {
  const rows = (await db.con().runAndReadAll(goldRowsSql(spec(scdType), table))).getRowObjectsJson();
  return rows
    .map((r) =>
      JSON.stringify(
        scdType === 1
          ? [r.id, r.status, r.amount]
          : [r.id, r.status, r.amount, r.__START_AT === null ? null : Number(r.__START_AT), r.__END_AT === null ? null : Number(r.__END_AT), r.__IS_CURRENT],
      ),
    )
    .sort();
}

describe.each([1, 2] as const)('SCD type %i', (scd) => {
  const reference = scd === 1 ? referenceScd1 : referenceScd2;

  test.each([1, 2, 3, 4, 5])('random events (seed %i) equal the independent reference', async (seed) => {
    const evs = events(seed, 40, 12);
    const want = reference(evs);
    expect(want.length).toBeGreaterThan(10);
    expect(await gold(scd, await load(evs))).toEqual(want);
  });

  test('arrival order and duplicate arrival do not matter', async () => {
    const evs = events(42, 30, 10);
    const r = rng(7);
    const shuffled = [...evs].sort(() => r() - 0.5);
    const want = await gold(scd, await load(evs));
    expect(await gold(scd, await load(shuffled))).toEqual(want);
    expect(await gold(scd, await load([...evs, ...shuffled.slice(0, 100)]))).toEqual(want);
  });
});

describe('hand-written cases', () => {
  const e = (id: string, seq: number, status: string | null, op: string | null = null, offset = seq): Ev => ({ id, status, amount: 1, op, seq, partition: 0, offset });

  test('an out-of-order older update never overwrites a newer one (SCD1), and lands in history (SCD2)', async () => {
    const t = await load([e('a', 5, 'shipped'), e('a', 1, 'placed'), e('a', 3, 'paid')]);
    expect(await gold(1, t)).toEqual([JSON.stringify(['a', 'shipped', 1])]);
    expect(await gold(2, t)).toEqual(
      [
        ['a', 'paid', 1, 3, 5, false],
        ['a', 'placed', 1, 1, 3, false],
        ['a', 'shipped', 1, 5, null, true],
      ].map((x) => JSON.stringify(x)),
    );
  });

  test('a delete removes the key (SCD1) / closes the version (SCD2); a later update reopens it; an older one does not', async () => {
    const t = await load([e('a', 1, 'placed'), e('a', 4, null, 'd'), e('a', 2, 'paid')]);
    expect(await gold(1, t)).toEqual([]);
    expect(await gold(2, t)).toEqual([JSON.stringify(['a', 'paid', 1, 2, 4, false]), JSON.stringify(['a', 'placed', 1, 1, 2, false])]);
    const t2 = await load([e('a', 1, 'placed'), e('a', 4, null, 'd'), e('a', 6, 'placed')]);
    expect(await gold(1, t2)).toEqual([JSON.stringify(['a', 'placed', 1])]);
    expect(await gold(2, t2)).toEqual([JSON.stringify(['a', 'placed', 1, 1, 4, false]), JSON.stringify(['a', 'placed', 1, 6, null, true])]);
  });

  test('refuses a spec without keys or with a key outside the columns', () => {
    expect(() => goldRowsSql({ ...spec(1), keys: [] }, 't')).toThrow(/no keys/);
    expect(() => goldRowsSql({ ...spec(1), keys: ['x'] }, 't')).toThrow(/key x/);
  });
});
