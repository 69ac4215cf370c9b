/**
 * Stage 2 against the real stack: Kafka → ingestRawWorkflow → raw → deserializeWorkflow → bronze +
 * dead letter, on Temporal. 10,000 messages, 10% malformed of ten kinds; the generator's truth is
 * compared with the tables exactly, also when the activity dies around either table commit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addAction, commitWithRetry, readSnapshot, writeParquetDataFile } from '../helpers/delta-dir';
import { openDuckDB } from '../../src/lake/duckdb';
import { sqlString } from '../../src/delta/sql';
import { BRONZE, BRONZE_TXN_APP_ID, DEAD_LETTER, RAW, REPLAY_LOG, tableDir, type TableDef } from '../../src/lake/tables';
import { deserializeWorkflow, ingestRawWorkflow, replayDeadLettersWorkflow } from '../../src/workflows';
import type { DeserializeInput } from '../../src/workflows/bronze-input';
import type { ReplayDeadLettersInput } from '../../src/workflows/replay-input';
import { DeadLetters, PipelineStage, RecordsIn, RecordsOut } from '../../src/workflows/search-attributes';
import { readWithDeltaScan, readWithDeltalake } from '../helpers/deltalake-reader';
import {
  closeConnections,
  createTopic,
  deltaScan,
  deltaVersions,
  execute,
  produce,
  queryLake,
  tempLakeRoot,
  testConfig,
  testWorker,
  uniqueName,
  type TestWorker,
} from '../helpers/pipeline';

afterAll(closeConnections);

const N = 10_000;
const BASE_TS = Date.UTC(2026, 0, 1);
const NOT_UTF8 = Buffer.from([0x7b, 0x22, 0x73, 0x22, 0x3a, 0xff, 0xfe, 0x7d]);

/** Malformed kinds (one of them for every 10th message, rotating) and the error each must get. */
const BAD: { error: string; value: (i: number) => string | Buffer | null }[] = [
  { error: 'invalid JSON', value: (i) => `{"sensor_id":"s-${i}","value":1.5,"unit":"C","ts_ms":` },
  { error: 'not an object', value: (i) => `[{"sensor_id":"s-${i}"}]` },
  { error: 'missing value', value: (i) => JSON.stringify({ sensor_id: `s-${i}`, unit: 'C', ts_ms: BASE_TS + i }) },
  { error: 'wrong type for value', value: (i) => JSON.stringify({ sensor_id: `s-${i}`, value: '12.5', unit: 'C', ts_ms: BASE_TS + i }) },
  { error: 'wrong type for ts_ms', value: (i) => `{"sensor_id":"s-${i}","value":2,"unit":"C","ts_ms":1.5}` },
  { error: 'value out of range', value: (i) => JSON.stringify({ sensor_id: `s-${i}`, value: 20_000, unit: 'C', ts_ms: BASE_TS + i }) },
  { error: 'null payload', value: () => null },
  { error: 'not UTF-8', value: () => NOT_UTF8 },
  { error: 'missing sensor_id', value: (i) => JSON.stringify({ value: 3, unit: 'C', ts_ms: BASE_TS + i }) },
  { error: 'missing unit', value: (i) => JSON.stringify({ sensor_id: `s-${i}`, value: 4, unit: null, ts_ms: BASE_TS + i }) },
];

interface Truth {
  good: number;
  valueSum: number;
  byError: Record<string, number>;
}

/** Message i: every 10th is malformed (kinds rotate); good ones vary harmlessly (extra fields, numeric ids). */
function generate(): { messages: { key: string; value: string | Buffer | null }[]; truth: Truth } {
  const truth: Truth = { good: 0, valueSum: 0, byError: {} };
  const messages = Array.from({ length: N }, (_, i) => {
    if (i % 10 === 3) {
      const kind = BAD[Math.floor(i / 10) % BAD.length]!;
      truth.byError[kind.error] = (truth.byError[kind.error] ?? 0) + 1;
      return { key: `k${i}`, value: kind.value(i) };
    }
    const value = (i % 1000) / 10;
    truth.good += 1;
    truth.valueSum += value;
    const payload =
      i % 10 === 7
        ? `{"sensor_id":${i},"value":${value},"unit":"C","ts_ms":${BASE_TS + i},"site":"p7"}` // number id → its JSON text
        : JSON.stringify({ sensor_id: `s-${i % 50}`, value, unit: 'C', ts_ms: BASE_TS + i, seq: i });
    return { key: `k${i}`, value: payload };
  });
  return { messages, truth };
}

const { messages, truth } = generate();
let topic: string;
/** A raw table landed once by stage 1; each test stage-2s its own copy. */
let rawTemplate: string;

beforeAll(async () => {
  topic = uniqueName('bronze-10k');
  await createTopic(topic, 3);
  await produce(topic, messages);
  const root = tempLakeRoot();
  const w = await testWorker(testConfig(root));
  const raw = await w.run(() =>
    w.client.workflow.execute(ingestRawWorkflow, {
      taskQueue: w.taskQueue,
      workflowId: uniqueName('ingest-raw'),
      args: [{ topics: [topic], startingOffsets: 'earliest', maxRecordsPerCommit: 2500 }],
    }),
  );
  expect(raw.recordsIn).toBe(N);
  rawTemplate = tableDir(root, RAW);
}, 180_000);

function lakeWithRaw(): string {
  const root = tempLakeRoot();
  fs.cpSync(rawTemplate, tableDir(root, RAW), { recursive: true });
  return root;
}

const deserialize = (w: TestWorker, input: Partial<DeserializeInput>, workflowId?: string) => execute(w, deserializeWorkflow, input, workflowId);
const replay = (w: TestWorker, input: Partial<ReplayDeadLettersInput>, workflowId?: string) => execute(w, replayDeadLettersWorkflow, input, workflowId);

const scan = (root: string, t: TableDef) => deltaScan(tableDir(root, t));

/** Exact comparison with the generator's truth, plus key uniqueness within and across the tables. */
async function expectExact(root: string): Promise<void> {
  const [b] = await queryLake<{ n: number; keys: number; value_sum: number; numeric_ids: number }>(
    `SELECT count(*)::INT AS n, count(DISTINCT (topic, "partition", "offset"))::INT AS keys, sum(value) AS value_sum,
            count(*) FILTER (WHERE NOT starts_with(sensor_id, 's-'))::INT AS numeric_ids FROM ${scan(root, BRONZE)}`,
  );
  expect(b!.n).toBe(truth.good);
  expect(b!.keys).toBe(truth.good);
  expect(b!.value_sum).toBeCloseTo(truth.valueSum, 6);
  expect(b!.numeric_ids).toBe(N / 10);
  const dl = await queryLake<{ error: string; n: number; keys: number }>(
    `SELECT error, count(*)::INT AS n, count(DISTINCT (topic, "partition", "offset"))::INT AS keys FROM ${scan(root, DEAD_LETTER)} GROUP BY error`,
  );
  expect(Object.fromEntries(dl.map((r) => [r.error, r.n]))).toEqual(truth.byError);
  for (const r of dl) expect(r.keys).toBe(r.n);
  // every raw row in exactly one of the two tables
  const [u] = await queryLake<{ raw: number; either: number }>(
    `WITH b AS (SELECT topic, "partition", "offset" FROM ${scan(root, BRONZE)}),
          d AS (SELECT topic, "partition", "offset" FROM ${scan(root, DEAD_LETTER)}),
          r AS (SELECT topic, "partition", "offset" FROM ${scan(root, RAW)})
     SELECT (SELECT count(*) FROM r)::INT AS raw,
            (SELECT count(*) FROM (SELECT * FROM r EXCEPT (SELECT * FROM b UNION ALL SELECT * FROM d)))::INT AS either`,
  );
  expect(u).toEqual({ raw: N, either: 0 });
  const [overlap] = await queryLake<{ n: number }>(
    `SELECT count(*)::INT AS n FROM (SELECT topic, "partition", "offset" FROM ${scan(root, BRONZE)} INTERSECT SELECT topic, "partition", "offset" FROM ${scan(root, DEAD_LETTER)})`,
  );
  expect(overlap!.n).toBe(0);
}

describe('deserializeWorkflow', () => {
  it('Kafka → raw → bronze + dead letter: exact counts, unique keys, lossless non-UTF-8, delta-rs agrees, raw untouched, an idle run adds no versions', async () => {
    const root = lakeWithRaw();
    const rawVersions = deltaVersions(tableDir(root, RAW));
    const w = await testWorker(testConfig(root));
    const workflowId = uniqueName('deserialize');
    const r = await w.run(() => deserialize(w, { maxRowsPerBatch: 3000 }, workflowId));
    expect(r).toMatchObject({
      stage: 'bronze',
      mode: 'scheduled',
      checkpointBefore: null,
      checkpoint: rawVersions[rawVersions.length - 1],
      recordsIn: N,
      recordsOut: truth.good,
      deadLetters: N - truth.good,
      lagVersions: 0,
      repaired: null,
      checkpointDisagreement: null,
    });
    expect(r.batches).toBeGreaterThanOrEqual(4); // bounded: ≤ 3000 rows per batch, raw commits of 2500
    expect(r.deadLettersByError).toEqual(truth.byError);
    await expectExact(root);
    expect(deltaVersions(tableDir(root, RAW))).toEqual(rawVersions); // stage 2 only reads raw

    const desc = await w.client.workflow.getHandle(workflowId).describe();
    expect(desc.typedSearchAttributes.get(PipelineStage)).toBe('bronze');
    expect(desc.typedSearchAttributes.get(RecordsIn)).toBe(N);
    expect(desc.typedSearchAttributes.get(RecordsOut)).toBe(truth.good);
    expect(desc.typedSearchAttributes.get(DeadLetters)).toBe(N - truth.good);

    // dead letters: batch ids are raw versions and increase per batch; non-UTF-8 bytes kept as base64
    const batches = await queryLake<{ batch_id: number }>(`SELECT DISTINCT batch_id::INT AS batch_id FROM ${scan(root, DEAD_LETTER)} ORDER BY 1`);
    expect(batches.length).toBe(r.batches);
    expect(batches[batches.length - 1]!.batch_id).toBe(r.checkpoint);
    const bytes = await queryLake<{ p: string }>(`SELECT DISTINCT raw_payload AS p FROM ${scan(root, DEAD_LETTER)} WHERE error = 'not UTF-8'`);
    expect(bytes.map((b) => Buffer.from(b.p, 'base64'))).toEqual([NOT_UTF8]);

    // the independent reader (delta-rs) sees the same rows and the checkpoint txn
    const lake = await openDuckDB();
    try {
      for (const t of [BRONZE, DEAD_LETTER]) {
        const viaRs = await readWithDeltalake(tableDir(root, t), { appIds: [BRONZE_TXN_APP_ID] });
        const viaDuck = await readWithDeltaScan(lake.connection, tableDir(root, t), t.fields);
        expect(viaRs.numRows).toBe(t === BRONZE ? truth.good : N - truth.good);
        expect(viaRs.rows).toEqual(viaDuck.rows);
        expect(viaRs.appTransactions[BRONZE_TXN_APP_ID]).toBe(r.checkpoint);
      }
    } finally {
      lake.close();
    }

    // nothing new: no versions anywhere; the carried checkpoint agrees with the tables
    const before = [BRONZE, DEAD_LETTER].map((t) => deltaVersions(tableDir(root, t)));
    const idle = await w.run(() => deserialize(w, {}));
    expect(idle).toMatchObject({ recordsIn: 0, batches: 0, checkpoint: r.checkpoint });
    expect([BRONZE, DEAD_LETTER].map((t) => deltaVersions(tableDir(root, t)))).toEqual(before);

    // backfill over everything: re-derives, finds every row already there, writes nothing
    const backfill = await w.run(() => deserialize(w, { fromRawVersion: 0 }));
    expect(backfill).toMatchObject({ mode: 'backfill', recordsIn: N, recordsOut: 0, deadLetters: 0, alreadyPresent: N, checkpoint: r.checkpoint });
    expect([BRONZE, DEAD_LETTER].map((t) => deltaVersions(tableDir(root, t)))).toEqual(before);
  });

  it.each([
    ['before', 'bronze', 'beforeCommit'],
    ['after', 'bronze', 'afterCommit'],
    ['before', 'dead-letter', 'beforeCommit'],
    ['after', 'dead-letter', 'afterCommit'],
  ] as const)('the activity dying %s the %s commit of a batch (twice) loses and duplicates nothing', async (_when, table, hook) => {
    const root = lakeWithRaw();
    let crashes = 0;
    const die = (stage: string, n: number) => {
      if (stage === table && n === 2 && crashes < 2) {
        crashes += 1;
        throw new Error(`injected crash ${hook} ${stage} commit ${n}`);
      }
    };
    const w = await testWorker(testConfig(root), { [hook]: die });
    const r = await w.run(() => deserialize(w, { maxRowsPerBatch: 2500 }));
    expect(crashes).toBe(2);
    expect(r.lagVersions).toBe(0);
    await expectExact(root);
    const [b, d] = [await readSnapshot(tableDir(root, BRONZE)), await readSnapshot(tableDir(root, DEAD_LETTER))];
    expect(b.appTransactions.get(BRONZE_TXN_APP_ID)).toBe(r.checkpoint);
    expect(d.appTransactions.get(BRONZE_TXN_APP_ID)).toBe(r.checkpoint);
    // a crash between the two commits is finished by a repair batch for the lagging table
    if ((hook === 'afterCommit' && table === 'bronze') || (hook === 'beforeCommit' && table === 'dead-letter')) {
      expect(r.repaired).toBe('dead-letter');
    }
  });

  it('replays dead letters: truly bad rows stay; rows that pass now move to bronze exactly once, recorded in the replay log', async () => {
    const root = lakeWithRaw();
    const w = await testWorker(testConfig(root));
    const first = await w.run(() => deserialize(w, {}));
    const bronzeVersions = deltaVersions(tableDir(root, BRONZE));

    const all = await w.run(() => replay(w, {}));
    expect(all).toMatchObject({ stage: 'bronze-replay', alreadyLogged: false, examined: N - truth.good, moved: 0, bronzeVersion: null });
    expect(all.stillFailing).toEqual(truth.byError);
    expect(deltaVersions(tableDir(root, BRONZE))).toEqual(bronzeVersions);

    // dead letters an older rule rejected but the current rules accept (appended directly)
    const lake = await openDuckDB();
    try {
      const add = await writeParquetDataFile(
        lake.connection,
        tableDir(root, DEAD_LETTER),
        `SELECT '{"sensor_id":"fixed-' || i || '","value":' || i || ',"unit":"C","ts_ms":' || (${BASE_TS} + i) || '}' AS raw_payload,
                ${sqlString(topic)} AS topic, 7 AS "partition", i AS "offset", now() AS arrived_at, now() AS failed_at,
                999999 AS batch_id, 'value out of range' AS error
         FROM range(20) t(i)`,
        DEAD_LETTER.fields,
      );
      await commitWithRetry(tableDir(root, DEAD_LETTER), async () => ({ actions: [addAction(add!)] }));
    } finally {
      lake.close();
    }
    const workflowId = uniqueName('replay-fix');
    const fix = await w.run(() => replay(w, { batchIdFrom: 999999 }, workflowId));
    expect(fix).toMatchObject({ replayId: workflowId, examined: 20, moved: 20, stillFailing: {} });
    // the same workflow id again (e.g. an operator re-running it): the replay id makes it a no-op
    const again = await w.run(() => replay(w, { batchIdFrom: 999999 }, workflowId));
    expect(again).toMatchObject({ alreadyLogged: true, moved: 20, bronzeVersion: null });
    // another replay over everything: the 20 were moved already, nothing else passes
    const overlap = await w.run(() => replay(w, {}));
    expect(overlap).toMatchObject({ alreadyReplayed: 20, moved: 0 });

    const [moved] = await queryLake<{ n: number; keys: number }>(
      `SELECT count(*)::INT AS n, count(DISTINCT (topic, "partition", "offset"))::INT AS keys FROM ${scan(root, BRONZE)} WHERE "partition" = 7`,
    );
    expect(moved).toEqual({ n: 20, keys: 20 });
    const [log] = await queryLake<{ n: number; id: string }>(`SELECT count(*)::INT AS n, min(replay_id) AS id FROM ${scan(root, REPLAY_LOG)}`);
    expect(log).toEqual({ n: 20, id: workflowId });
    // replays never touch the scheduled checkpoint; the next scheduled run adds nothing
    expect((await readSnapshot(tableDir(root, BRONZE))).appTransactions.get(BRONZE_TXN_APP_ID)).toBe(first.checkpoint);
    expect(await w.run(() => deserialize(w, {}))).toMatchObject({ recordsIn: 0, checkpoint: first.checkpoint });
    expect(fs.existsSync(path.join(tableDir(root, REPLAY_LOG), '_delta_log'))).toBe(true);
  });

  it('rejects a bad input at once, listing the problems', async () => {
    const w = await testWorker(testConfig(tempLakeRoot()));
    const fail = (input: unknown) => w.run(() => deserialize(w, input as never).then(() => null, (e: unknown) => String((e as Error).cause ?? e)));
    expect(await fail({ maxRowsPerBatch: 0, bogus: 1 })).toMatch(/invalid deserializeWorkflow input: .*maxRowsPerBatch.*bogus/s);
    expect(await fail({ fromRawVersion: 5, toRawVersion: 2 })).toMatch(/fromRawVersion must be <= toRawVersion/);
  });
});
