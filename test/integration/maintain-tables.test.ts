/**
 * maintainTablesWorkflow on the real stack: compaction, checkpoints and vacuum running while the
 * scheduled stages and a raw backfill write the same tables lose and duplicate nothing, and no
 * reader fails meanwhile; a dry run changes nothing; a stage whose upstream log was cut fails
 * non-retryably with how to recover.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LocalStore, cleanupLog, loadSnapshot, DAY_MS } from '../../src/delta';
import { BRONZE, DEAD_LETTER, GOLD, RAW, REPLAY_LOG, tableDir } from '../../src/lake/tables';

import { sampleMessages } from '../../src/sample/sensor-data';
import { deserializeWorkflow, ingestRawWorkflow, maintainTablesWorkflow, mergeGoldWorkflow } from '../../src/workflows';
import { closeConnections, createTopic, deltaScan, execute, produce, queryLake, rootFailure, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';
import { readWithDeltalake } from '../helpers/deltalake-reader';
import { collectStatus, formatStatus } from '../../src/status';

afterAll(closeConnections);

async function produceSample(topic: string, count: number, seed: number): Promise<void> {
  const messages = [...sampleMessages({ count, seed, malformed: 0.1, duplicates: 0.1, outOfOrder: 0.05, startMs: Date.UTC(2026, 0, 1) + seed * 1e9 })];
  await produce(topic, messages.map((m) => ({ key: m.key, value: m.value })));
}

/** Raw offsets once each; every raw row in exactly one of bronze / dead letter; gold one row per bronze key. */
async function expectExact(lakeRoot: string, produced: number): Promise<void> {
  const s = (t: typeof RAW) => deltaScan(tableDir(lakeRoot, t));
  const [r] = await queryLake<Record<string, number>>(`
    WITH o AS (SELECT topic, "partition", "offset" FROM ${s(BRONZE)} UNION ALL SELECT topic, "partition", "offset" FROM ${s(DEAD_LETTER)})
    SELECT (SELECT count(*) FROM ${s(RAW)})::INT AS raw,
           (SELECT count(DISTINCT ("partition", "offset")) FROM ${s(RAW)})::INT AS raw_keys,
           (SELECT count(*) FROM o)::INT AS out, (SELECT count(DISTINCT (topic, "partition", "offset")) FROM o)::INT AS out_keys,
           (SELECT count(*) FROM ${s(GOLD)})::INT AS gold,
           (SELECT count(DISTINCT (sensor_id, ts_ms)) FROM ${s(BRONZE)})::INT AS bronze_keys`);
  expect(r).toEqual({ raw: produced, raw_keys: produced, out: produced, out_keys: produced, gold: r!.bronze_keys, bronze_keys: r!.bronze_keys });
}

describe('maintainTablesWorkflow', () => {
  it('compaction and vacuum while stages and a backfill write the same tables: nothing lost or duplicated, no reader error', async () => {
    const topic = uniqueName('maint');
    await createTopic(topic, 3);
    const lakeRoot = tempLakeRoot();
    const w = await testWorker(testConfig(lakeRoot));
    const raw = { topics: [topic], startingOffsets: 'earliest', maxRecordsPerCommit: 40 };
    await w.run(async () => {
      await produceSample(topic, 1200, 1);
      await execute(w, ingestRawWorkflow, raw);
      await execute(w, deserializeWorkflow, { maxRowsPerBatch: 200 });
      await execute(w, mergeGoldWorkflow, { maxRowsPerBatch: 200 });
      const rawFiles = (await loadSnapshot(new LocalStore(tableDir(lakeRoot, RAW)))).files.size;
      expect(rawFiles).toBeGreaterThan(25);

      // A dry run lists and changes nothing.
      const versions = async () => Promise.all([RAW, BRONZE, DEAD_LETTER, GOLD].map(async (t) => (await loadSnapshot(new LocalStore(tableDir(lakeRoot, t)))).version));
      const before = await versions();
      const dry = await execute(w, maintainTablesWorkflow, { dryRun: true });
      expect(dry.tables.find((t) => t.table === RAW.name)!.compaction!.filesRemoved).toBe(rawFiles);
      expect(await versions()).toEqual(before);

      await produceSample(topic, 800, 2);
      // Readers keep scanning every table while everything below runs; none may fail.
      let stop = false;
      let scans = 0;
      const readers = (async () => {
        while (!stop) {
          for (const t of [RAW, BRONZE, DEAD_LETTER, GOLD]) await queryLake(`SELECT count(*) FROM ${deltaScan(tableDir(lakeRoot, t))}`);
          scans += 1;
        }
      })();
      const backfill = { topics: [topic], backfill: { offsets: { [topic]: { '0': [0, 400], '1': [0, 400], '2': [0, 400] } } } };
      try {
        await Promise.all([
          execute(w, ingestRawWorkflow, raw),
          execute(w, ingestRawWorkflow, backfill),
          execute(w, deserializeWorkflow, { maxRowsPerBatch: 200 }),
          execute(w, mergeGoldWorkflow, { maxRowsPerBatch: 200 }),
          execute(w, maintainTablesWorkflow, {}),
          execute(w, maintainTablesWorkflow, { operations: ['compact', 'vacuum'], tables: ['gold/sensor_readings', 'raw/sensor_readings'] }),
        ]);
      } finally {
        stop = true;
        await readers;
      }
      expect(scans).toBeGreaterThan(0);
      // Drain what the concurrent runs left, compact everything, and vacuum with a forced zero retention.
      await execute(w, ingestRawWorkflow, raw);
      await execute(w, deserializeWorkflow, {});
      await execute(w, mergeGoldWorkflow, {});
      await expectExact(lakeRoot, 2000);
      const done = await execute(w, maintainTablesWorkflow, { vacuumRetentionHours: 0, force: true });
      expect(done.failed).toEqual([]);
      await expectExact(lakeRoot, 2000);
      for (const t of [RAW, BRONZE, DEAD_LETTER, GOLD]) {
        const dir = tableDir(lakeRoot, t);
        const snap = await loadSnapshot(new LocalStore(dir));
        // Vacuumed: exactly the live files are left on disk; delta-rs reads the same.
        expect(fs.readdirSync(dir).filter((n) => n.endsWith('.parquet')).sort()).toEqual([...snap.files.keys()].sort());
        expect((await readWithDeltalake(dir)).numRows).toBe((await queryLake<{ n: number }>(`SELECT count(*)::INT AS n FROM ${deltaScan(dir)}`))[0].n);
      }
      expect(fs.existsSync(path.join(tableDir(lakeRoot, REPLAY_LOG), '_delta_log'))).toBe(true);

      // npm run status: per table what maintenance left, and when it last ran on it.
      const status = await collectStatus(w.client, w.config, [topic]);
      expect(status.maintenance.lastRun?.status).toBe('COMPLETED');
      const rawHealth = status.maintenance.tables.find((t) => t.table === RAW.name)!;
      expect(rawHealth).toMatchObject({ smallFiles: rawHealth.liveFiles, bytesWaitingForVacuum: 0, filesWaitingForVacuum: 0 });
      expect(rawHealth.commitsSinceCheckpoint).toBeLessThanOrEqual(2); // VACUUM START / END come after the checkpoint
      expect(rawHealth.liveFiles).toBeLessThanOrEqual(2);
      expect(rawHealth.lastMaintained).not.toBeNull();
      expect(status.maintenance.tables.map((t) => t.table)).toEqual([RAW, BRONZE, DEAD_LETTER, REPLAY_LOG, GOLD].map((t) => t.name));
      expect(formatStatus(status)).toMatch(/table maintenance \(schedule sensor-maintain-tables\), last run: COMPLETED/);

      // A shorter vacuum retention without force is refused, non-retryably.
      const refused = await execute(w, maintainTablesWorkflow, { tables: ['gold/sensor_readings'], operations: ['vacuum'], vacuumRetentionHours: 1 }).catch((e: unknown) => e);
      expect(rootFailure(refused).message).toMatch(/refusing to vacuum with a retention of 1 h/);
    });
  }, 600_000);

  it('a stage whose upstream commits were removed fails non-retryably, saying how to recover', async () => {
    const topic = uniqueName('maint-gone');
    await createTopic(topic, 1);
    const lakeRoot = tempLakeRoot();
    // Table properties from config: raw checkpoints every 2 versions.
    const w = await testWorker({ ...testConfig(lakeRoot), tableProperties: { [RAW.name]: { 'delta.checkpointInterval': '2' } } });
    await w.run(async () => {
      await produceSample(topic, 300, 3);
      await execute(w, ingestRawWorkflow, { topics: [topic], startingOffsets: 'earliest', maxRecordsPerCommit: 50 });
      await execute(w, deserializeWorkflow, {});
      await execute(w, mergeGoldWorkflow, {});
      await produceSample(topic, 300, 4);
      await execute(w, ingestRawWorkflow, { topics: [topic], maxRecordsPerCommit: 50 });
      // Checkpoint raw, then cut its log with no regard for bronze (what a careless tool would do).
      const cp = await execute(w, maintainTablesWorkflow, { tables: ['raw/sensor_readings'], operations: ['checkpoint'] });
      expect(cp.tables[0]).toMatchObject({ propertiesSet: ['delta.checkpointInterval'], checkpoint: cp.tables[0]!.version });
      const deleted = await cleanupLog(new LocalStore(tableDir(lakeRoot, RAW)), { now: Date.now() + 31 * DAY_MS, retentionMs: 0 });
      expect(deleted.deleted).toBeGreaterThan(0);
      const failure = await execute(w, deserializeWorkflow, {}).catch((e: unknown) => e);
      const root = rootFailure(failure);
      expect(root.type).toBe('ChangeFeedExpiredError');
      expect(root.nonRetryable).toBe(true);
      expect(root.message).toMatch(/bronze stage: its checkpoint is version \d+ of raw\/sensor_readings, but that table's log now starts at version \d+.*To recover/);
    });
  }, 300_000);
});
