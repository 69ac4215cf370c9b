/**
 * Stage 2's batch writer (src/lake/bronze.ts) on raw tables filled directly (DuckDB only, no
 * Kafka/Temporal): routing, exactly-once across a crash between the two table commits, batch
 * bounds, the stop-at-start-version rule, backfill without duplicates, CAS against a stale writer.
 */
import {
  BronzeBatchWriter,
  planBatches,
  rawChanges,
  readBronzeCheckpoint,
  RulesChangedError,
  runBronze,
  type BatchResult,
} from '../../src/lake/bronze';
import { commitWithRetry, readSnapshot, removeAction } from '../helpers/delta-dir';
import type { Lake } from '../../src/lake/duckdb';
import { openTableStore } from '../../src/delta/open-store';
import { ConcurrentWriterError } from '../helpers/delta-dir';
import { SENSOR_FIELDS } from '../../src/lake/sensor-rules';
import { sqlString } from '../../src/delta/sql';
import { BACKFILL_TXN_APP_ID, BRONZE, BRONZE_TXN_APP_ID, DEAD_LETTER, ensureTables, RAW, tableDir, UpstreamTableChangedError } from '../../src/lake/tables';
import { appendRaw, type RawRow } from '../helpers/raw-fixture';
import { expectReadersAgree } from '../helpers/deltalake-reader';
import { dataFileKeys, keyExists, lakeTargets, removeTable } from '../helpers/lake-targets';

const targets = lakeTargets('bronze');

const good = (i: number) => JSON.stringify({ sensor_id: `s-${i % 7}`, value: (i % 500) / 4, unit: 'C', ts_ms: 1_700_000_000_000 + i });

/** Payload kinds → expected error (null = good). */
const KINDS: { value: RawRow['value']; error: string | null }[] = [
  { value: good(1), error: null },
  { value: '{"sensor_id":7,"value":1,"unit":"C","ts_ms":1}', error: null }, // number → its JSON text
  { value: '{"sensor_id":"a","value":1,"unit":"C","ts_ms":1,"value":2}', error: null }, // last wins
  { value: null, error: 'null payload' },
  { value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), error: 'not UTF-8' },
  { value: '{"sensor_id":"a","value":1', error: 'invalid JSON' },
  { value: '', error: 'invalid JSON' },
  { value: '[1,2]', error: 'not an object' },
  { value: '{"value":1,"unit":"C","ts_ms":1}', error: 'missing sensor_id' },
  { value: '{"sensor_id":"a","value":"12.5","unit":"C","ts_ms":1}', error: 'wrong type for value' },
  { value: '{"sensor_id":"a","value":1,"unit":"C","ts_ms":1.5}', error: 'wrong type for ts_ms' },
  { value: '{"sensor_id":"a","value":10000.5,"unit":"C","ts_ms":1}', error: 'value out of range' },
  { value: '{"sensor_id":"a","value":"NaN","unit":"C","ts_ms":1}', error: 'value out of range' },
];

describe('planBatches', () => {
  const ch = (version: number, rows: number) => ({ version, rows, files: [] });
  it('groups whole versions up to maxRows, gives an oversized version its own batch, keeps empty versions', () => {
    const b = planBatches([ch(3, 1000), ch(4, 1000), ch(5, 0), ch(6, 1000), ch(7, 5000), ch(8, 10)], 2, 2500);
    expect(b.map((x) => [x.from, x.to, x.rows])).toEqual([
      [2, 5, 2000],
      [5, 6, 1000],
      [6, 7, 5000],
      [7, 8, 10],
    ]);
  });
  it('refuses a gap in the change feed', () => {
    expect(() => planBatches([ch(3, 1), ch(5, 1)], 2, 10)).toThrow(/gap/);
  });
});

// One suite on every kind of lake root: local disk, Azurite, versitygw.
describe.each(targets)('bronze batch writer on $name', (target) => {
  let lake: Lake;

  beforeAll(async () => {
    lake = await target.openLake({ memoryLimit: '1GB' });
  });
  afterAll(() => {
    lake?.close();
  });

  async function newLake(): Promise<string> {
    const root = target.newRoot();
    await ensureTables(root, [RAW, BRONZE, DEAD_LETTER]);
    return root;
  }

  async function q<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return (await lake.connection.runAndReadAll(sql)).getRowObjectsJson() as T[];
  }
  const scan = (root: string, t: typeof BRONZE) => `delta_scan(${sqlString(tableDir(root, t))})`;

  /** Counts of both tables plus key uniqueness within and across them. */
  async function tableStats(root: string) {
    const [r] = await q<{ bronze: number; dl: number; bronze_keys: number; dl_keys: number; all_keys: number }>(`
      WITH b AS (SELECT topic, "partition", "offset" FROM ${scan(root, BRONZE)}),
           d AS (SELECT topic, "partition", "offset" FROM ${scan(root, DEAD_LETTER)})
      SELECT (SELECT count(*) FROM b)::INT AS bronze, (SELECT count(*) FROM d)::INT AS dl,
             (SELECT count(DISTINCT (topic, "partition", "offset")) FROM b)::INT AS bronze_keys,
             (SELECT count(DISTINCT (topic, "partition", "offset")) FROM d)::INT AS dl_keys,
             (SELECT count(DISTINCT (topic, "partition", "offset")) FROM (SELECT * FROM b UNION ALL SELECT * FROM d))::INT AS all_keys`);
    return r!;
  }

  it('routes every kind of payload: good rows to bronze, bad rows to the dead letter with the reason', async () => {
    const root = await newLake();
    const rows = Array.from({ length: 260 }, (_, i) => KINDS[i % KINDS.length]!);
    const v = await appendRaw(lake.connection, root, rows.map((r) => ({ value: r.value, partition: 0 })));
    const s = await runBronze(lake, root);
    const expectedGood = rows.filter((r) => r.error === null).length;
    const byError: Record<string, number> = {};
    for (const r of rows) if (r.error) byError[r.error] = (byError[r.error] ?? 0) + 1;
    expect(s).toMatchObject({ mode: 'scheduled', batches: 1, recordsIn: 260, recordsOut: expectedGood, deadLetters: 260 - expectedGood, checkpointBefore: null, checkpoint: v });
    expect(s.deadLettersByError).toEqual(byError);

    const dl = await q<{ offset: number; raw_payload: string | null; error: string; batch_id: number }>(
      `SELECT "offset"::INT AS "offset", raw_payload, error, batch_id::INT AS batch_id FROM ${scan(root, DEAD_LETTER)} ORDER BY "offset"`,
    );
    for (const d of dl) {
      const kind = KINDS[d.offset % KINDS.length]!;
      expect(d.error).toBe(kind.error);
      expect(d.batch_id).toBe(v);
      if (kind.value === null) expect(d.raw_payload).toBeNull();
      else if (Buffer.isBuffer(kind.value)) expect(Buffer.from(d.raw_payload!, 'base64')).toEqual(kind.value); // lossless
      else expect(d.raw_payload).toBe(kind.value);
    }
    const b = await q<{ offset: number; sensor_id: string; value: number; ts_ms: string }>(
      `SELECT "offset"::INT AS "offset", sensor_id, value, ts_ms::VARCHAR AS ts_ms FROM ${scan(root, BRONZE)} ORDER BY "offset"`,
    );
    expect(b.length).toBe(expectedGood);
    expect(b.filter((r) => r.offset % KINDS.length === 1).every((r) => r.sensor_id === '7')).toBe(true);
    expect(b.filter((r) => r.offset % KINDS.length === 2).every((r) => r.value === 2)).toBe(true);
    expect(await tableStats(root)).toEqual({ bronze: expectedGood, dl: 260 - expectedGood, bronze_keys: expectedGood, dl_keys: 260 - expectedGood, all_keys: 260 });
    // the checkpoint is a txn in each table; raw is untouched
    expect(await readBronzeCheckpoint(root)).toMatchObject({ bronze: v, deadLetter: v });
    expect((await readSnapshot(tableDir(root, RAW))).version).toBe(v);
    // temp tables are gone after the batch
    expect(await q(`SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '__bronze%'`)).toEqual([]);
    // Both tables read back the same through delta_scan and delta-rs, on every store.
    for (const t of [BRONZE, DEAD_LETTER]) await expectReadersAgree(lake.connection, tableDir(root, t), t.fields, BRONZE_TXN_APP_ID);
  });

  it.each([
    ['before the bronze commit', 'beforeCommit', 'bronze', null],
    ['after the bronze commit', 'afterCommit', 'bronze', 'dead-letter'],
    ['before the dead-letter commit', 'beforeCommit', 'dead-letter', 'dead-letter'],
    ['after the dead-letter commit', 'afterCommit', 'dead-letter', null],
  ] as const)('exactly once when the run dies %s of batch 2', async (_name, hook, stage, repaired) => {
    const root = await newLake();
    for (let v = 0; v < 4; v++) {
      await appendRaw(lake.connection, root, Array.from({ length: 500 }, (_, i) => ({ value: KINDS[(v * 500 + i) % KINDS.length]!.value, partition: i % 2 })));
    }
    const die = (s: string, n: number) => {
      if (s === stage && n === 2) throw new Error(`injected crash ${hook} ${s} ${n}`);
    };
    await expect(runBronze(lake, root, { maxRowsPerBatch: 1000, hooks: { [hook]: die } })).rejects.toThrow(/injected crash/);
    const mid = await readBronzeCheckpoint(root);
    if (repaired === 'dead-letter') expect([mid.bronze, mid.deadLetter]).toEqual([4, 2]);
    else if (hook === 'afterCommit') expect([mid.bronze, mid.deadLetter]).toEqual([4, 4]);
    else expect([mid.bronze, mid.deadLetter]).toEqual([2, 2]);

    const again = await runBronze(lake, root, { maxRowsPerBatch: 700 }); // a different batch size on retry
    expect(again.repaired).toBe(repaired);
    expect(again.checkpoint).toBe(4);
    const expectedGood = Array.from({ length: 2000 }, (_, i) => KINDS[i % KINDS.length]!.error === null).filter(Boolean).length;
    expect(await tableStats(root)).toEqual({ bronze: expectedGood, dl: 2000 - expectedGood, bronze_keys: expectedGood, dl_keys: 2000 - expectedGood, all_keys: 2000 });
    // batch ids = raw version through which each batch was derived: the half-written batch (2, 4]
    // is finished as such; when nothing of it was committed the retry re-plans with its own size
    const ids = hook === 'beforeCommit' && stage === 'bronze' ? [2, 3, 4] : [2, 4];
    expect(await q(`SELECT DISTINCT batch_id::INT AS b FROM ${scan(root, DEAD_LETTER)} ORDER BY 1`)).toEqual(ids.map((b) => ({ b })));
  });

  it('a re-derived repair is bounded by maxRowsPerBatch too, and every piece keeps the batch id (issue 16 finding 6)', async () => {
    const root = await newLake();
    for (let v = 0; v < 4; v++) await appendRaw(lake.connection, root, Array.from({ length: 500 }, (_, i) => ({ value: KINDS[(v * 500 + i) % KINDS.length]!.value })));
    const die = (s: string, n: number) => {
      if (s === 'bronze' && n === 2) throw new Error('injected crash');
    };
    await expect(runBronze(lake, root, { maxRowsPerBatch: 1000, hooks: { afterCommit: die } })).rejects.toThrow(/injected crash/);
    expect(await readBronzeCheckpoint(root)).toMatchObject({ bronze: 4, deadLetter: 2 });
    // The dead-letter file the first attempt wrote is gone (cleaned up): the repair re-derives.
    const dl = tableDir(root, DEAD_LETTER);
    const live = (await readSnapshot(dl)).files;
    for (const f of (await dataFileKeys(dl)).filter((n) => !live.has(n))) await openTableStore(dl).delete(f);
    const seen: BatchResult[] = [];
    const again = await runBronze(lake, root, { maxRowsPerBatch: 500, onBatch: (b) => void seen.push(b) });
    expect(again).toMatchObject({ repaired: 'dead-letter', repairBatches: 2, checkpoint: 4 });
    expect(seen.map((b) => [b.from, b.to, b.rawRows, b.batchId, b.tables])).toEqual([
      [2, 3, 500, 4, ['dead-letter']],
      [3, 4, 500, 4, ['dead-letter']],
    ]);
    expect(await q(`SELECT DISTINCT batch_id::INT AS b FROM ${scan(root, DEAD_LETTER)} ORDER BY 1`)).toEqual([{ b: 2 }, { b: 4 }]);
    expect((await tableStats(root)).all_keys).toBe(2000);
  });

  it('a cancelled run stops between batches: what it committed stays, the retry resumes from the txns (issue 16 finding 7)', async () => {
    const root = await newLake();
    for (let v = 0; v < 4; v++) await appendRaw(lake.connection, root, Array.from({ length: 100 }, (_, i) => ({ value: good(v * 100 + i) })));
    const cancel = new AbortController();
    // Built outside the call: an option the run does not know would otherwise not even compile.
    const opts = { maxRowsPerBatch: 100, signal: cancel.signal, onBatch: () => cancel.abort(new Error('activity cancelled')) };
    await expect(runBronze(lake, root, opts)).rejects.toThrow('activity cancelled');
    expect(await readBronzeCheckpoint(root)).toMatchObject({ bronze: 1, deadLetter: 1 }); // raw v0 is the table's creation
    expect((await tableStats(root)).bronze).toBe(100);
    const rest = await runBronze(lake, root, { maxRowsPerBatch: 100 });
    expect(rest).toMatchObject({ checkpointBefore: 1, checkpoint: 4, batches: 3 });
    expect((await tableStats(root)).bronze_keys).toBe(400);
  });

  it('refuses a raw table recreated past the checkpoint instead of silently skipping its first versions (issue 16 finding 1)', async () => {
    const root = await newLake();
    await appendRaw(lake.connection, root, [{ value: good(1) }]);
    await appendRaw(lake.connection, root, [{ value: good(2) }]);
    expect((await runBronze(lake, root)).checkpoint).toBe(2);
    // raw deleted and recreated (or restored from another copy); it grows past bronze's checkpoint
    await removeTable(tableDir(root, RAW));
    await ensureTables(root, [RAW]);
    for (let v = 0; v < 4; v++) await appendRaw(lake.connection, root, [{ value: good(10 + v) }]);
    const versions = async () => [(await readSnapshot(tableDir(root, BRONZE))).version, (await readSnapshot(tableDir(root, DEAD_LETTER))).version];
    const before = await versions();
    const refused = await runBronze(lake, root).then(() => null, (e: Error) => e);
    expect(refused).toBeInstanceOf(UpstreamTableChangedError);
    expect(refused!.message).toMatch(/deleted and recreated, or restored from another copy.*Nothing was written.*move bronze\/sensor_readings and bronze\/sensor_readings_dead_letter aside/);
    expect(await versions()).toEqual(before);
  });

  describe('repair after a deploy that changed the rules (issue 16 finding 3)', () => {
    // Narrower value range: the good rows of KINDS (values 1 and 2) are bad under these rules.
    const changedRules = SENSOR_FIELDS.map((f) => (f.name === 'value' ? { ...f, range: { min: -100, max: 0.5 } } : f));
    const expectedGood = Array.from({ length: 2000 }, (_, i) => KINDS[i % KINDS.length]!.error === null).filter(Boolean).length;
    async function crashBetweenCommits(): Promise<string> {
      const root = await newLake();
      for (let v = 0; v < 4; v++) {
        await appendRaw(lake.connection, root, Array.from({ length: 500 }, (_, i) => ({ value: KINDS[(v * 500 + i) % KINDS.length]!.value })));
      }
      const die = (s: string, n: number) => {
        if (s === 'bronze' && n === 2) throw new Error('injected crash');
      };
      await expect(runBronze(lake, root, { maxRowsPerBatch: 1000, hooks: { afterCommit: die } })).rejects.toThrow(/injected crash/);
      expect(await readBronzeCheckpoint(root)).toMatchObject({ bronze: 4, deadLetter: 2 });
      return root;
    }

    it('commits exactly the dead-letter file the first attempt wrote, whatever the rules are now', async () => {
      const root = await crashBetweenCommits();
      const again = await runBronze(lake, root, { maxRowsPerBatch: 1000, rules: changedRules });
      expect(again).toMatchObject({ repaired: 'dead-letter', repairBatches: 1, checkpoint: 4, recordsIn: 0 });
      expect(await tableStats(root)).toEqual({ bronze: expectedGood, dl: 2000 - expectedGood, bronze_keys: expectedGood, dl_keys: 2000 - expectedGood, all_keys: 2000 });
      expect(await q(`SELECT DISTINCT batch_id::INT AS b FROM ${scan(root, DEAD_LETTER)} ORDER BY 1`)).toEqual([{ b: 2 }, { b: 4 }]);
    });

    it('refuses to re-derive under other rules when that file is gone, and finishes under the same rules', async () => {
      const root = await crashBetweenCommits();
      const dl = tableDir(root, DEAD_LETTER);
      const live = (await readSnapshot(dl)).files;
      for (const f of (await dataFileKeys(dl)).filter((n) => !live.has(n))) await openTableStore(dl).delete(f);
      const refused = await runBronze(lake, root, { rules: changedRules }).then(() => null, (e: Error) => e);
      expect(refused).toBeInstanceOf(RulesChangedError);
      expect(refused!.message).toMatch(/raw versions 3\.\.4 were committed to one output table under parse rules .* Nothing was written/);
      expect(await readBronzeCheckpoint(root)).toMatchObject({ bronze: 4, deadLetter: 2 });
      await runBronze(lake, root);
      expect(await tableStats(root)).toEqual({ bronze: expectedGood, dl: 2000 - expectedGood, bronze_keys: expectedGood, dl_keys: 2000 - expectedGood, all_keys: 2000 });
    });
  });

  it('bounds batches by raw rows, stops at the raw version that existed at start, and a run with nothing new adds no versions', async () => {
    const root = await newLake();
    for (let v = 0; v < 5; v++) await appendRaw(lake.connection, root, Array.from({ length: 1000 }, (_, i) => ({ value: good(v * 1000 + i) })));
    const seen: BatchResult[] = [];
    const s = await runBronze(lake, root, {
      maxRowsPerBatch: 2500,
      onBatch: async (b) => {
        seen.push(b);
        // stage 1 keeps landing data while stage 2 runs: this run must not chase it
        if (seen.length === 1) await appendRaw(lake.connection, root, Array.from({ length: 1000 }, (_, i) => ({ value: good(9000 + i) })));
      },
    });
    expect(seen.map((b) => [b.from, b.to, b.rawRows])).toEqual([
      [-1, 2, 2000],
      [2, 4, 2000],
      [4, 5, 1000],
    ]);
    expect(s).toMatchObject({ rawTargetVersion: 5, checkpoint: 5, recordsIn: 5000, lagVersions: 1, lagRecords: 1000 });

    const next = await runBronze(lake, root, { maxRowsPerBatch: 2500 });
    expect(next).toMatchObject({ checkpointBefore: 5, checkpoint: 6, recordsIn: 1000, batches: 1, lagVersions: 0 });
    const before = [(await readSnapshot(tableDir(root, BRONZE))).version, (await readSnapshot(tableDir(root, DEAD_LETTER))).version];
    const idle = await runBronze(lake, root, { maxRowsPerBatch: 2500 });
    expect(idle).toMatchObject({ batches: 0, recordsIn: 0, checkpoint: 6 });
    expect([(await readSnapshot(tableDir(root, BRONZE))).version, (await readSnapshot(tableDir(root, DEAD_LETTER))).version]).toEqual(before);
    expect((await tableStats(root)).bronze_keys).toBe(6000);
  });

  it('keeps the checkpoint txn across Delta checkpoints (one every 50 versions)', async () => {
    const root = await newLake();
    for (let v = 0; v < 52; v++) await appendRaw(lake.connection, root, [{ value: v % 2 ? good(v) : 'bad' }]);
    const s = await runBronze(lake, root, { maxRowsPerBatch: 1 });
    expect(s).toMatchObject({ batches: 52, checkpoint: 52, recordsOut: 26, deadLetters: 26 });
    for (const t of [BRONZE, DEAD_LETTER]) {
      expect(await keyExists(tableDir(root, t), `_delta_log/${'50'.padStart(20, '0')}.checkpoint.parquet`)).toBe(true);
    }
    expect(await readBronzeCheckpoint(root)).toMatchObject({ bronze: 52, deadLetter: 52, bronzeTableVersion: 52, deadLetterTableVersion: 52 });
    await appendRaw(lake.connection, root, [{ value: good(99) }]);
    expect(await runBronze(lake, root)).toMatchObject({ checkpointBefore: 52, checkpoint: 53, recordsIn: 1 });
  });

  it('a stale writer (wrong expected txn) commits nothing and leaves no data file', async () => {
    const root = await newLake();
    await appendRaw(lake.connection, root, [{ value: good(1) }, { value: 'x' }]);
    await appendRaw(lake.connection, root, [{ value: good(2) }]);
    await runBronze(lake, root);
    const w = new BronzeBatchWriter(lake, root);
    const [stale] = planBatches(await rawChanges(lake, root, 0, 1), 0, 10);
    const files = () => dataFileKeys(tableDir(root, BRONZE));
    const before = await files();
    await expect(w.writeScheduledBatch(stale!)).rejects.toBeInstanceOf(ConcurrentWriterError);
    expect(await files()).toEqual(before);
    expect(await tableStats(root)).toMatchObject({ bronze: 2, dl: 1 });
  });

  it('backfill re-derives a processed range without duplicates, fills holes, and never moves the scheduled checkpoint', async () => {
    const root = await newLake();
    for (let v = 0; v < 3; v++) {
      await appendRaw(lake.connection, root, Array.from({ length: 400 }, (_, i) => ({ value: KINDS[(v * 400 + i) % KINDS.length]!.value, partition: i % 3 })));
    }
    await runBronze(lake, root, { maxRowsPerBatch: 400 });
    const full = await tableStats(root);
    const bronzeDir = tableDir(root, BRONZE);
    const v0 = [(await readSnapshot(bronzeDir)).version, (await readSnapshot(tableDir(root, DEAD_LETTER))).version];

    // everything is there: nothing written, no new versions, scheduled txn unchanged
    const noop = await runBronze(lake, root, { backfill: { fromExclusive: -1, toInclusive: 99 } });
    expect(noop).toMatchObject({ mode: 'backfill', backfillRange: { fromExclusive: -1, toInclusive: 3 }, recordsIn: 1200, recordsOut: 0, deadLetters: 0, alreadyPresent: 1200, checkpoint: 3 });
    expect([(await readSnapshot(bronzeDir)).version, (await readSnapshot(tableDir(root, DEAD_LETTER))).version]).toEqual(v0);

    // lose one bronze file (raw version 2's good rows), then backfill raw versions 2..3 only
    const snap = await readSnapshot(bronzeDir);
    const victim = [...snap.files.values()].find((f) => f.stats && JSON.parse(f.stats).numRecords > 0 && snap.files.size > 1)!;
    const lost = JSON.parse(victim.stats!).numRecords as number;
    await commitWithRetry(bronzeDir, async () => ({ actions: [removeAction(victim)] }));
    expect((await tableStats(root)).bronze).toBe(full.bronze - lost);

    const fill = await runBronze(lake, root, { backfill: { fromExclusive: 0, toInclusive: 3 } });
    expect(fill.recordsOut).toBe(lost);
    expect(fill.deadLetters).toBe(0);
    expect(await tableStats(root)).toEqual(full);
    const after = await readSnapshot(bronzeDir);
    expect(after.appTransactions.get(BRONZE_TXN_APP_ID)).toBe(3);
    expect(after.appTransactions.get(BACKFILL_TXN_APP_ID)).toBe(1);
    // the backfill is bounded by the scheduled checkpoint: later raw versions are left to scheduled runs
    await appendRaw(lake.connection, root, [{ value: good(77) }]);
    const clamped = await runBronze(lake, root, { backfill: { fromExclusive: 3, toInclusive: 4 } });
    expect(clamped).toMatchObject({ backfillRange: null, recordsIn: 0, checkpoint: 3, lagVersions: 1, lagRecords: 1 });
  });
});
