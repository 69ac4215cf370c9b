/**
 * Dead-letter replay (src/lake/replay.ts), DuckDB only: truly bad rows never move;
 * dead letters that pass the current rules move to bronze exactly once, also across a crash between
 * the replay-log and bronze commits, a reused replay id, and overlapping replays.
 */
import { runBronze } from '../../src/lake/bronze';
import { replayDeadLetters } from '../../src/lake/replay';
import { addAction, commitWithRetry, readSnapshot, writeParquetDataFile } from '../helpers/delta-dir';
import type { Lake } from '../../src/lake/duckdb';
import { sqlString } from '../../src/delta/sql';
import { BRONZE, DEAD_LETTER, ensureTables, RAW, replayAppId, REPLAY_LOG, tableDir } from '../../src/lake/tables';
import { appendRaw } from '../helpers/raw-fixture';
import { expectReadersAgree } from '../helpers/deltalake-reader';
import { lakeTargets } from '../helpers/lake-targets';

const targets = lakeTargets('replay');

// One suite on every kind of lake root: local disk, Azurite, versitygw.
describe.each(targets)('on $name', (target) => {
  let lake: Lake;
  beforeAll(async () => {
    lake = await target.openLake();
  });
  afterAll(() => {
    lake?.close();
  });

  async function q<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return (await lake.connection.runAndReadAll(sql)).getRowObjectsJson() as T[];
  }
  const scan = (root: string, t: typeof BRONZE) => `delta_scan(${sqlString(tableDir(root, t))})`;

  /** Appends rows to the dead letter directly, as if an older rule had rejected them. */
  async function appendDeadLetters(root: string, rows: { payload: string | null; offset: number; error: string; batchId: number }[]): Promise<void> {
    const values = rows
      .map(
        (r) =>
          `(${r.payload === null ? 'NULL' : sqlString(r.payload)}, 'replay-topic', 0, ${r.offset}, TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-02 00:00:00+00', ${r.batchId}, ${sqlString(r.error)})`,
      )
      .join(', ');
    const add = await writeParquetDataFile(
      lake.connection,
      tableDir(root, DEAD_LETTER),
      `SELECT * FROM (VALUES ${values}) AS t(raw_payload, topic, "partition", "offset", arrived_at, failed_at, batch_id, error)`,
      DEAD_LETTER.fields,
    );
    await commitWithRetry(tableDir(root, DEAD_LETTER), async () => ({ actions: [addAction(add!)] }));
  }

  const ok = (i: number) => JSON.stringify({ sensor_id: `r-${i}`, value: i, unit: 'C', ts_ms: 1_700_000_000_000 + i });

  describe('replayDeadLetters', () => {
    it('heartbeats after each step and stops between steps when cancelled; the retry finishes exactly once (issue 16 finding 7)', async () => {
      const root = target.newRoot();
      await ensureTables(root, [RAW, BRONZE, DEAD_LETTER, REPLAY_LOG]);
      await appendDeadLetters(root, [
        { payload: ok(1), offset: 1, error: 'not an object', batchId: 0 },
        { payload: ok(2), offset: 2, error: 'not an object', batchId: 0 },
      ]);
      const steps: string[] = [];
      const cancel = new AbortController();
      // Built outside the call: options the replay does not know would otherwise not even compile.
      const opts = {
        onProgress: (s: string) => {
          steps.push(s);
          if (s === 'logged') cancel.abort(new Error('activity cancelled'));
        },
        signal: cancel.signal,
      };
      await expect(replayDeadLetters(lake, root, 'cancelled-1', {}, opts)).rejects.toThrow('activity cancelled');
      expect(steps).toEqual(['selected', 'parsed', 'logged']);
      expect((await readSnapshot(tableDir(root, BRONZE))).appTransactions.has(replayAppId('cancelled-1'))).toBe(false);
      const retry = await replayDeadLetters(lake, root, 'cancelled-1', {});
      expect(retry).toMatchObject({ alreadyLogged: true, moved: 2 });
      expect(await q(`SELECT count(*)::INT AS n FROM ${scan(root, BRONZE)}`)).toEqual([{ n: 2 }]);
    });

    it('moves only rows that now pass, exactly once, and records which rows and when', async () => {
      const root = target.newRoot();
      await ensureTables(root, [RAW, BRONZE, DEAD_LETTER, REPLAY_LOG]);
      await appendRaw(lake.connection, root, [
        { value: ok(1) },
        { value: '{"sensor_id":"a","value":"12.5","unit":"C","ts_ms":1}' },
        { value: Buffer.from([0xff, 0x00]) },
        { value: null },
        { value: '[]' },
      ]);
      await runBronze(lake, root);
      const bronze0 = (await readSnapshot(tableDir(root, BRONZE))).version;

      // 1) the rules are unchanged: nothing in the dead letter passes; the replay is still recorded
      const none = await replayDeadLetters(lake, root, 'all-1', {});
      expect(none).toMatchObject({ alreadyLogged: false, examined: 4, alreadyReplayed: 0, moved: 0, bronzeVersion: null });
      expect(none.stillFailing).toEqual({ 'wrong type for value': 1, 'not UTF-8': 1, 'null payload': 1, 'not an object': 1 });
      expect((await readSnapshot(tableDir(root, BRONZE))).version).toBe(bronze0);
      const log1 = await readSnapshot(tableDir(root, REPLAY_LOG));
      expect(log1.appTransactions.get(replayAppId('all-1'))).toBe(1);

      // 2) rows an older rule rejected but the current one accepts (appended directly), plus a bad one
      await appendDeadLetters(root, [
        ...[0, 1, 2, 3, 4].map((i) => ({ payload: ok(100 + i), offset: i, error: 'value out of range', batchId: 1000 })),
        { payload: 'nope', offset: 5, error: 'invalid JSON', batchId: 1000 },
      ]);
      const moved = await replayDeadLetters(lake, root, 'fix-1', { batchIdFrom: 1000, batchIdTo: 1000 });
      expect(moved).toMatchObject({ examined: 6, moved: 5, stillFailing: { 'invalid JSON': 1 } });
      expect(moved.bronzeVersion).toBe(bronze0 + 1);
      const rows = await q<{ offset: number; sensor_id: string; value: number }>(
        `SELECT "offset"::INT AS "offset", sensor_id, value FROM ${scan(root, BRONZE)} WHERE topic = 'replay-topic' ORDER BY 1`,
      );
      expect(rows).toEqual([0, 1, 2, 3, 4].map((i) => ({ offset: i, sensor_id: `r-${100 + i}`, value: 100 + i })));
      const log = await q<{ replay_id: string; n: number; replayed_at: string }>(
        `SELECT replay_id, count(*)::INT AS n, min(replayed_at)::VARCHAR AS replayed_at FROM ${scan(root, REPLAY_LOG)} GROUP BY ALL`,
      );
      expect(log).toEqual([{ replay_id: 'fix-1', n: 5, replayed_at: expect.any(String) }]);

      // 3) the same id again (a rerun) and an overlapping replay: nothing moves twice
      expect(await replayDeadLetters(lake, root, 'fix-1', {})).toMatchObject({ alreadyLogged: true, moved: 5, bronzeVersion: null });
      expect(await replayDeadLetters(lake, root, 'all-2', {})).toMatchObject({ examined: 10, alreadyReplayed: 5, moved: 0 });
      expect(await q(`SELECT count(*)::INT AS n FROM ${scan(root, BRONZE)} WHERE topic = 'replay-topic'`)).toEqual([{ n: 5 }]);

      // 4) a crash between the replay-log commit and the bronze commit: the retry finishes bronze
      await appendDeadLetters(root, [6, 7].map((i) => ({ payload: ok(100 + i), offset: i, error: 'missing unit', batchId: 1001 })));
      const die = (stage: string) => {
        if (stage === 'replay-log') throw new Error('injected crash after the replay-log commit');
      };
      await expect(replayDeadLetters(lake, root, 'fix-2', { errors: ['missing unit'] }, { hooks: { afterCommit: die } })).rejects.toThrow(/injected/);
      expect(await q(`SELECT count(*)::INT AS n FROM ${scan(root, BRONZE)} WHERE topic = 'replay-topic'`)).toEqual([{ n: 5 }]);
      const retry = await replayDeadLetters(lake, root, 'fix-2', { errors: ['missing unit'] });
      expect(retry).toMatchObject({ alreadyLogged: true, moved: 2 });
      expect(retry.bronzeVersion).not.toBeNull();
      expect(await replayDeadLetters(lake, root, 'fix-2', {})).toMatchObject({ alreadyLogged: true, bronzeVersion: null });
      const keys = await q<{ n: number; k: number }>(
        `SELECT count(*)::INT AS n, count(DISTINCT (topic, "partition", "offset"))::INT AS k FROM ${scan(root, BRONZE)}`,
      );
      expect(keys).toEqual([{ n: 8, k: 8 }]); // 1 from the scheduled run + 7 replayed

      // still pending = dead letter ANTI JOIN replay log
      const pending = await q<{ n: number }>(
        `SELECT count(*)::INT AS n FROM ${scan(root, DEAD_LETTER)} d ANTI JOIN ${scan(root, REPLAY_LOG)} r USING (topic, "partition", "offset")`,
      );
      expect(pending).toEqual([{ n: 5 }]);
      // What the replay wrote reads back the same through delta_scan and delta-rs, on every store.
      for (const t of [BRONZE, DEAD_LETTER, REPLAY_LOG]) await expectReadersAgree(lake.connection, tableDir(root, t), t.fields, replayAppId('fix-2'));
    });
  });
});
