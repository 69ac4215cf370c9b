/**
 * The three stages on every kind of lake root — local disk, Azurite (az://) and versitygw (s3://) — in one
 * parameterised suite: a sample batch goes Kafka → raw (2 partition groups) → bronze + dead letter → gold through
 * the real workflows and activities (raw in small commits, so its log is checkpointed on the store); counts match the producer's truth, a second round with nothing new commits
 * nothing, and every table reads back identically through our snapshot, DuckDB's delta_scan and delta-rs.
 */
import { clearSnapshotCache, loadSnapshot } from '../../src/delta';
import { openTableStore } from '../../src/delta/open-store';
import { openDuckDB, type Lake } from '../../src/lake/duckdb';
import { BRONZE, DEAD_LETTER, GOLD, RAW, tableDir, type TableDef } from '../../src/lake/tables';
import { deserializeWorkflow, ingestRawWorkflow, mergeGoldWorkflow } from '../../src/workflows';
import { emptyTruth, sampleMessages, tally } from '../../src/sample/sensor-data';
import { readWithDeltalake, readWithDeltaScan } from '../helpers/deltalake-reader';
import { lakeTargets } from '../helpers/lake-targets';
import { closeConnections, createTopic, execute, produce, testConfig, testWorker, uniqueName } from '../helpers/pipeline';

afterAll(closeConnections);

// The same parameterisation as the lake suites (test/helpers/lake-targets.ts): the stores' credentials are in
// this file's environment, as a worker's would be, and each object-store lake is removed afterwards.
const targets = lakeTargets('lake');

describe.each(targets)('the stages on a lake on $name', ({ object, newRoot }) => {

  it('raw → bronze → gold exactly, nothing new commits nothing, and all readers agree', async () => {
    const topic = uniqueName('stores');
    await createTopic(topic, 3);
    const truth = emptyTruth();
    const keys = new Set<string>();
    const messages = [...sampleMessages({ count: 3000, seed: 7, malformed: 0.1, duplicates: 0.1, startMs: Date.UTC(2026, 0, 1) })];
    for (const m of messages) {
      tally(truth, m);
      if (!m.malformed) {
        const r = JSON.parse(m.value!.toString()) as { sensor_id: string; ts_ms: number };
        keys.add(`${r.sensor_id}|${r.ts_ms}`);
      }
    }
    await produce(topic, messages.map((m) => ({ key: m.key, value: m.value })));
    const lakeRoot = newRoot();
    const w = await testWorker(testConfig(lakeRoot));

    const round = () =>
      w.run(async () => {
        const raw = await execute(w, ingestRawWorkflow, { topics: [topic], startingOffsets: 'earliest', parallelism: 2, maxRecordsPerCommit: 40 });
        await execute(w, deserializeWorkflow, {});
        await execute(w, mergeGoldWorkflow, {});
        return raw;
      });
    const first = await round();
    expect(first.recordsIn).toBe(messages.length);

    const lake: Lake = await openDuckDB({ stores: object ? { roots: [lakeRoot], creds: object.creds } : undefined });
    try {
      const count = async (t: TableDef) =>
        Number((await lake.connection.runAndReadAll(`SELECT count(*) AS n FROM delta_scan('${tableDir(lakeRoot, t)}')`)).getRowObjects()[0]!.n);
      const versions = async () => Promise.all([RAW, BRONZE, DEAD_LETTER, GOLD].map(async (t) => (await loadSnapshot(openTableStore(tableDir(lakeRoot, t), object?.creds))).version));
      expect(await count(RAW)).toBe(messages.length);
      expect((await count(BRONZE)) + (await count(DEAD_LETTER))).toBe(messages.length);
      expect(await count(DEAD_LETTER)).toBe(Object.values(truth.malformed).reduce((a, b) => a + b, 0));
      expect(await count(GOLD)).toBe(keys.size);

      // Small raw commits: the raw log passes the checkpoint interval, so a checkpoint was written to the store
      // (by the delta extension) and the readers below start from it.
      const rawLog = await openTableStore(tableDir(lakeRoot, RAW), object?.creds).list('_delta_log/');
      expect(rawLog.some((o) => o.key.endsWith('.checkpoint.parquet'))).toBe(true);

      const before = await versions();
      const second = await round();
      expect(second.recordsIn).toBe(0);
      expect(await versions()).toEqual(before);

      // Our snapshot read cold: from `_last_checkpoint` and the checkpoint file, fetched through the store.
      clearSnapshotCache();
      for (const t of [RAW, BRONZE, DEAD_LETTER, GOLD]) {
        const dir = tableDir(lakeRoot, t);
        const snap = await loadSnapshot(openTableStore(dir, object?.creds));
        const duck = await readWithDeltaScan(lake.connection, dir, t.fields);
        const py = await readWithDeltalake(dir, object ? { storage: object.deltalake } : {});
        expect([t.name, py.version]).toEqual([t.name, snap.version]);
        expect([t.name, py.numRows]).toEqual([t.name, duck.numRows]);
        expect(py.rows).toEqual(duck.rows);
        expect(py.files).toEqual([...snap.files.keys()].sort());
      }
    } finally {
      lake.close();
    }
  });
});
