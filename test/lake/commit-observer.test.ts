/**
 * Every writer commits through src/delta's one transaction, so every table gets the checkpoint
 * policy (`delta.checkpointInterval`): raw backfill and dead-letter replay (replay log and bronze)
 * used to never checkpoint. Observed through the transaction's CommitObserver.
 */
import * as path from 'node:path';
import { addAction, commit, createTable, readLastCheckpoint, writeParquetDataFile, type CommitObserver } from '../../src/delta';
import { openTableStore } from '../../src/delta/open-store';
import { sqlString } from '../../src/delta/sql';
import { replayDeadLetters } from '../../src/lake/replay';
import { KafkaRecords } from '../../src/kafka/range-reader';
import type { Lake } from '../../src/lake/duckdb';
import { RawTableWriter } from '../../src/lake/raw-table';
import { BRONZE, DEAD_LETTER, ensureTables, RAW, REPLAY_LOG, tableDir, type TableDef } from '../../src/lake/tables';
import { lakeTargets } from '../helpers/lake-targets';

const targets = lakeTargets('observer');

// One suite on every kind of lake root: local disk, Azurite, versitygw.
describe.each(targets)('commit observer on $name', (target) => {
  let lake: Lake;
  beforeAll(async () => {
    lake = await target.openLake();
  });
  afterAll(() => {
    lake?.close();
  });

  function newRoot(): string {
    const root = target.newRoot();
    return root;
  }

  /** Records commits and checkpoints per table root. */
  function recorder(): { observer: CommitObserver; commits: string[]; checkpoints: string[] } {
    const commits: string[] = [];
    const checkpoints: string[] = [];
    return {
      commits,
      checkpoints,
      observer: {
        afterCommit: (e) => void commits.push(`${path.basename(e.root)}@${e.version}`),
        checkpointed: (e) => void checkpoints.push(`${path.basename(e.root)}@${e.version}`),
      },
    };
  }

  async function createWithInterval(root: string, t: TableDef, interval: number): Promise<void> {
    await createTable(openTableStore(tableDir(root, t)), t.fields, { configuration: { 'delta.checkpointInterval': String(interval) } });
  }

  it('raw backfill checkpoints every delta.checkpointInterval versions', async () => {
    const root = newRoot();
    await createWithInterval(root, RAW, 3);
    const rec = recorder();
    const writer = await RawTableWriter.open(lake, tableDir(root, RAW), rec.observer);
    for (let i = 0; i < 7; i++) {
      const records = new KafkaRecords();
      records.push(records.segment('t', 0), i, 1_700_000_000_000, Buffer.from(`v${i}`));
      const r = await writer.appendMissing(records, new Date());
      expect(r).toEqual({ written: 1, alreadyPresent: 0 });
    }
    expect(rec.commits).toEqual([1, 2, 3, 4, 5, 6, 7].map((v) => `sensor_readings@${v}`));
    expect(rec.checkpoints).toEqual(['sensor_readings@3', 'sensor_readings@6']);
    expect((await readLastCheckpoint(openTableStore(tableDir(root, RAW))))?.version).toBe(6);
  });

  it('dead-letter replay checkpoints the replay log and bronze', async () => {
    const root = newRoot();
    await createWithInterval(root, BRONZE, 1);
    await createWithInterval(root, REPLAY_LOG, 1);
    await ensureTables(root, [RAW, BRONZE, DEAD_LETTER, REPLAY_LOG]);
    const dl = openTableStore(tableDir(root, DEAD_LETTER));
    const payload = JSON.stringify({ sensor_id: 's-1', value: 1, unit: 'C', ts_ms: 1_700_000_000_000 });
    const add = await writeParquetDataFile(
      lake.connection,
      dl,
      `SELECT ${sqlString(payload)} AS raw_payload, 'replay-topic' AS topic, 0 AS "partition", 7::BIGINT AS "offset",
              TIMESTAMPTZ '2026-01-01 00:00:00+00' AS arrived_at, TIMESTAMPTZ '2026-01-02 00:00:00+00' AS failed_at, 1::BIGINT AS batch_id, 'old rule' AS error`,
      DEAD_LETTER.fields,
    );
    await commit({ store: dl }, { plan: async () => ({ actions: [addAction(add!)] }) });

    const rec = recorder();
    const summary = await replayDeadLetters(lake, root, 'fix-1', {}, { observer: rec.observer });
    expect(summary.moved).toBe(1);
    expect(rec.commits).toEqual([`${path.basename(tableDir(root, REPLAY_LOG))}@1`, 'sensor_readings@1']);
    expect(rec.checkpoints).toEqual(rec.commits);
    expect((await readLastCheckpoint(openTableStore(tableDir(root, REPLAY_LOG))))?.version).toBe(1);
    expect((await readLastCheckpoint(openTableStore(tableDir(root, BRONZE))))?.version).toBe(1);
  });
});
