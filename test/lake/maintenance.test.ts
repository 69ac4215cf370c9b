/**
 * Table maintenance with the pipeline's stages (src/lake/maintenance.ts) on real tables: stage 2
 * and 3 after compactions process nothing twice and miss nothing; log cleanup keeps what a
 * lagging stage needs, and a stage whose commits really are gone fails with a clear error.
 */
import { DAY_MS, cleanupLog, loadSnapshot } from '../../src/delta';
import { openTableStore } from '../../src/delta/open-store';
import { runBronze } from '../../src/lake/bronze';
import type { Lake } from '../../src/lake/duckdb';
import { mergeBronzeIntoGold } from '../../src/lake/gold';
import { ChangeFeedExpiredError, explainExpiredFeed, maintainTable, type MaintainTableRequest } from '../../src/lake/maintenance';
import { sqlString } from '../../src/delta/sql';
import { BRONZE, DEAD_LETTER, ensureTables, GOLD, RAW, tableDir, type TableDef } from '../../src/lake/tables';
import { readWithDeltalake, readWithDeltaScan } from '../helpers/deltalake-reader';
import { appendRaw } from '../helpers/raw-fixture';
import { dataFileKeys, lakeTargets } from '../helpers/lake-targets';

const targets = lakeTargets('maintain');

// One suite on every kind of lake root: local disk, Azurite, versitygw.
describe.each(targets)('on $name', (target) => {
  let lake: Lake;
  beforeAll(async () => {
    lake = await target.openLake({ memoryLimit: '1GB' });
  });
  afterAll(() => {
    lake?.close();
  });

  async function newLake(): Promise<string> {
    const root = target.newRoot();
    await ensureTables(root, [RAW, BRONZE, DEAD_LETTER, GOLD]);
    return root;
  }

  let seq = 0;
  /** `versions` raw commits of `rows` payloads each; every 10th payload is bad, keys repeat now and then. */
  async function appendRawVersions(root: string, versions: number, rows: number): Promise<void> {
    for (let v = 0; v < versions; v++) {
      const batch = Array.from({ length: rows }, () => {
        const i = seq++;
        return { value: i % 10 === 9 ? `{bad ${i}` : JSON.stringify({ sensor_id: `s-${i % 7}`, value: i % 100, unit: 'C', ts_ms: 1_700_000_000_000 + (i % 400) * 60_000 }) };
      });
      await appendRaw(lake.connection, root, batch);
    }
  }

  const maintain = (root: string, table: TableDef, operations: MaintainTableRequest['operations'], extra: Partial<MaintainTableRequest> = {}) =>
    maintainTable(lake.connection, { lakeRoot: root, table, operations, dryRun: false, force: false, ...extra });

  async function q<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return (await lake.connection.runAndReadAll(sql)).getRowObjectsJson() as T[];
  }
  const scan = (root: string, t: TableDef) => `delta_scan(${sqlString(tableDir(root, t))})`;

  /** Every raw row is in exactly one of bronze / dead letter; gold holds one row per bronze key. */
  async function expectExact(root: string): Promise<void> {
    const [r] = await q<{ raw: number; out: number; keys: number; gold: number; gold_keys: number; bronze_keys: number }>(`
      WITH o AS (SELECT topic, "partition", "offset" FROM ${scan(root, BRONZE)} UNION ALL SELECT topic, "partition", "offset" FROM ${scan(root, DEAD_LETTER)})
      SELECT (SELECT count(*) FROM ${scan(root, RAW)})::INT AS raw, (SELECT count(*) FROM o)::INT AS out,
             (SELECT count(DISTINCT (topic, "partition", "offset")) FROM o)::INT AS keys,
             (SELECT count(*) FROM ${scan(root, GOLD)})::INT AS gold,
             (SELECT count(DISTINCT (sensor_id, ts_ms)) FROM ${scan(root, GOLD)})::INT AS gold_keys,
             (SELECT count(DISTINCT (sensor_id, ts_ms)) FROM ${scan(root, BRONZE)})::INT AS bronze_keys`);
    expect(r!.out).toBe(r!.raw);
    expect(r!.keys).toBe(r!.raw);
    expect(r!.gold).toBe(r!.gold_keys);
    expect(r!.gold).toBe(r!.bronze_keys);
  }

  const liveFiles = async (root: string, t: TableDef) => (await loadSnapshot(openTableStore(tableDir(root, t)))).files.size;
  const merge = (root: string) => mergeBronzeIntoGold(lake.connection, { bronzeDir: tableDir(root, BRONZE), goldDir: tableDir(root, GOLD), mode: { kind: 'incremental' }, maxRowsPerBatch: 30 });

  describe('maintenance with the stages', () => {
    it('compaction takes only files every stage has read; stage 2 and 3 afterwards process nothing twice and miss nothing', async () => {
      const root = await newLake();
      await appendRawVersions(root, 40, 5);
      await runBronze(lake, root, { maxRowsPerBatch: 25 }); // 8 batches → 8 commits per bronze table
      expect((await merge(root)).rowsIn).toBeGreaterThan(0);
      await appendRawVersions(root, 20, 5); // not read by stage 2 yet
      await runBronze(lake, root, { maxRowsPerBatch: 25 }); // 4 more bronze commits, not read by stage 3 yet
      await appendRawVersions(root, 10, 5);
      const rawBefore = await readWithDeltaScan(lake.connection, tableDir(root, RAW), RAW.fields);

      const raw = await maintain(root, RAW, ['compact', 'checkpoint']);
      // 60 files bronze has read become one; the 10 it has not stay as they are.
      expect(raw.compaction).toMatchObject({ filesRemoved: 60, filesAdded: 1 });
      expect(raw.checkpoint).toBe(raw.version);
      expect(await liveFiles(root, RAW)).toBe(11);
      expect(await readWithDeltaScan(lake.connection, tableDir(root, RAW), RAW.fields)).toEqual(rawBefore);
      expect((await readWithDeltalake(tableDir(root, RAW), { storage: target.object?.deltalake })).rows).toEqual(rawBefore.rows);

      const bronze = await maintain(root, BRONZE, ['compact', 'checkpoint']);
      expect(bronze.compaction).toMatchObject({ filesRemoved: 8, filesAdded: 1 }); // gold read 8 of 12
      const dl = await maintain(root, DEAD_LETTER, ['compact']);
      expect(dl.checkpoint).toBe(dl.version); // a compaction is always followed by a checkpoint
      expect(dl.compaction!.filesRemoved).toBe(12); // nobody reads the dead letter incrementally

      const stage2 = await runBronze(lake, root, { maxRowsPerBatch: 25 });
      expect(stage2.recordsIn).toBe(50);
      const stage3 = await merge(root);
      expect(stage3.rowsIn).toBe(stage2.recordsOut + 20 * 5 * 0.9); // the 4 unread commits + the new ones
      await expectExact(root);

      // Gold compacted (kept sorted in its ts_ms windows); later merges still land exactly.
      const goldBefore = await readWithDeltaScan(lake.connection, tableDir(root, GOLD), GOLD.fields);
      const gold = await maintain(root, GOLD, ['compact']);
      expect(gold.compaction!.filesRemoved).toBeGreaterThan(0);
      expect(await readWithDeltaScan(lake.connection, tableDir(root, GOLD), GOLD.fields)).toEqual(goldBefore);

      // Vacuum (listing with the store's modification times, deletes): the 12 dead-letter files compaction
      // removed are inside the 7-day retention now, and eight days later exactly they go.
      expect((await maintain(root, DEAD_LETTER, ['vacuum'])).vacuum).toMatchObject({ files: 0, deleted: 0 });
      expect((await maintain(root, DEAD_LETTER, ['vacuum'], { now: Date.now() + 8 * DAY_MS })).vacuum).toMatchObject({ files: 12, deleted: 12 });
      const dlDir = tableDir(root, DEAD_LETTER);
      expect(await dataFileKeys(dlDir)).toEqual([...(await loadSnapshot(openTableStore(dlDir))).files.keys()].sort());

      await appendRawVersions(root, 5, 5);
      await runBronze(lake, root);
      await merge(root);
      await expectExact(root);
      // Nothing left: reruns read nothing.
      expect((await runBronze(lake, root)).recordsIn).toBe(0);
      expect((await merge(root)).rowsIn).toBe(0);
    }, 300_000);

    it('log cleanup keeps the commits a lagging stage needs; once they are really gone the stage fails with how to recover', async () => {
      const root = await newLake();
      const later = Date.now() + 31 * DAY_MS;
      const props = { 'delta.checkpointInterval': '5' };
      await appendRawVersions(root, 10, 3);
      await runBronze(lake, root); // bronze at raw version 10
      expect((await maintain(root, RAW, ['checkpoint'], { properties: props })).checkpoint).toBe(11); // v11 = the property change
      await appendRawVersions(root, 10, 3); // raw 12..21, bronze lags
      expect((await maintain(root, RAW, ['checkpoint'])).checkpoint).toBe(21);

      // 31 days later: the newest checkpoint (21) would allow deleting up to 20, but bronze needs 11 on.
      const cleaned = await maintain(root, RAW, ['cleanupLog'], { now: later });
      expect(cleaned.logCleanup).toMatchObject({ deleteBelow: 11, deleted: 11, oldestRetainedVersion: 11 });
      const s = await runBronze(lake, root);
      expect(s.recordsIn).toBe(30);
      await merge(root);
      await expectExact(root);

      // Bronze now at 21; raw moves on, then its log is cut without regard for bronze (by hand).
      await appendRawVersions(root, 5, 3);
      expect((await maintain(root, RAW, ['checkpoint'])).checkpoint).toBe(26);
      await cleanupLog(openTableStore(tableDir(root, RAW)), { now: later });
      const err = await runBronze(lake, root).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).not.toBeNull();
      const explained = await explainExpiredFeed(err, root, 'bronze');
      expect(explained).toBeInstanceOf(ChangeFeedExpiredError);
      expect((explained as Error).message).toMatch(/checkpoint is version 21 of raw\/sensor_readings, but that table's log now starts at version 26.*To recover/);
    }, 300_000);
  });
});
