/**
 * README "Add your own topic", run as written: its pipeline block (on this test's topic) next to
 * the shipped sensor pipeline, one worker, real Kafka → raw → bronze (+ dead letter) → gold with
 * `{"pipeline":"clicks"}` inputs; gold holds the latest version of each click by `at` whatever
 * the arrival order (both readers), its expectations act as declared, and `status` reports the
 * pipeline caught up.
 */
import * as fs from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { parsePipelineFile } from '../../src/pipelines/definition';
import { stagePipeline } from '../../src/pipelines/stage-pipeline';
import { collectStatus, SENSOR_STATUS } from '../../src/status';
import { DEFAULT_PIPELINES_FILE } from '../../src/pipelines/definition';
import { deserializeWorkflow, ingestRawWorkflow, mergeGoldWorkflow } from '../../src/workflows';
import type { BronzeResult } from '../../src/lake/bronze';
import { tableDir } from '../../src/lake/tables';
import { readSnapshot } from '../helpers/delta-dir';
import { loadDeltaExtension, readWithDeltalake, readWithDeltaScan } from '../helpers/deltalake-reader';
import { closeConnections, createTopic, execute, produce, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';
import { readmeExample } from '../helpers/pipelines';

afterAll(closeConnections);

const click = (o: Record<string, unknown>) => ({ key: String(o.click_id ?? 'x'), value: JSON.stringify(o) });

describe('the README example pipeline', () => {
  it('runs end to end next to the sensor pipeline', async () => {
    const topic = uniqueName('clicks');
    await createTopic(topic, 2);
    const { block } = readmeExample();
    const ours = block.replace('topics: [clicks]', `topics: [${topic}]`);
    expect(ours).not.toBe(block);
    const file = parsePipelineFile(`${fs.readFileSync(DEFAULT_PIPELINES_FILE, 'utf8').trimEnd()}\n${ours}`, 'pipelines.yaml');
    const def = file.pipelines.find((p) => p.name === 'clicks')!;
    const clicks = stagePipeline(def);
    const lakeRoot = tempLakeRoot();
    const w = await testWorker(testConfig(lakeRoot), undefined, file);
    const stages = async () => {
      await execute(w, ingestRawWorkflow, { pipeline: 'clicks' });
      const bronze = (await execute(w, deserializeWorkflow, { pipeline: 'clicks' })) as BronzeResult;
      await execute(w, mergeGoldWorkflow, { pipeline: 'clicks' });
      return bronze;
    };

    const bronze = await w.run(async () => {
      // first run: c1's LATER version, a click without page (dead letter), a negative price (warn), a duplicate, garbage
      await produce(topic, [
        click({ click_id: 'c1', user: { id: 7 }, page: '/b', price: '2.25', at: '2026-03-01T10:01:00Z' }),
        click({ click_id: 'c2', user: { id: 8 }, price: 1, at: '2026-03-01T10:00:00Z' }),
        click({ click_id: 'c3', user: { id: 9 }, page: '/c', price: -1, at: '2026-03-01T10:00:00+02:00' }),
        click({ click_id: 'c4', user: { id: 7 }, page: '/d', at: '2026-03-01T10:02:00Z' }),
        click({ click_id: 'c4', user: { id: 7 }, page: '/d', at: '2026-03-01T10:02:00Z' }),
        { key: 'bad', value: '{"click_id":' },
      ]);
      const first = await stages();
      // second run: c1's OLDER version arrives late, and a new version of c3
      await produce(topic, [
        click({ click_id: 'c1', user: { id: 7 }, page: '/a', price: 1.5, at: '2026-03-01T10:00:00Z' }),
        click({ click_id: 'c3', user: { id: 9 }, page: '/c2', price: 3, at: '2026-03-01T09:30:00Z' }),
      ]);
      await stages();
      return first;
    });
    expect(bronze).toMatchObject({ recordsIn: 6, recordsOut: 4, deadLetters: 2, expectationWarnings: { 'negative price': 1 } });
    expect(bronze.deadLettersByError).toEqual({ 'no page': 1, 'invalid JSON': 1 });

    // gold: the latest version of each click by `at` (c1 keeps /b, c3 moves to /c2: 09:30Z is after 08:00Z), through both readers
    const goldDir = tableDir(lakeRoot, clicks.tables.gold);
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    try {
      await loadDeltaExtension(con);
      const fields = (await readSnapshot(goldDir)).metadata.fields.filter((f) => ['click_id', 'user_id', 'page', 'price', 'at'].includes(f.name));
      const duck = await readWithDeltaScan(con, goldDir, fields);
      const rs = await readWithDeltalake(goldDir);
      expect(rs.rows.map((r) => Object.fromEntries(fields.map((f) => [f.name, r[f.name]])))).toEqual(duck.rows);
      expect(duck.rows).toEqual([
        { click_id: 'c1', user_id: '7', page: '/b', price: '2.25', at: '2026-03-01T10:01:00.000000Z' },
        { click_id: 'c3', user_id: '9', page: '/c2', price: '3.00', at: '2026-03-01T09:30:00.000000Z' },
        { click_id: 'c4', user_id: '7', page: '/d', price: null, at: '2026-03-01T10:02:00.000000Z' },
      ]);
    } finally {
      con.closeSync();
      db.closeSync();
    }

    // status: the pipeline under its own schedules, caught up
    const status = await collectStatus(w.client, w.config, undefined, { pipelines: [SENSOR_STATUS, { ...clicks, scheduleIds: def.scheduleIds }] });
    expect(status.pipelines[1]!.stages.map((s) => [s.schedule, s.lag])).toEqual([
      ['clicks-raw-ingest', 0],
      ['clicks-deserialize', 0],
      ['clicks-merge-gold', 0],
    ]);
    expect(status.pipelines[1]!.deadLettersByError).toEqual({ 'no page': 1, 'invalid JSON': 1 });
  });
});
