/**
 * `npm run status` per pipeline (src/status.ts, src/cli/status.ts): a second pipeline's tables,
 * checkpoints (its own txn app ids) and lag, its last runs told apart from the sensor pipeline's;
 * the sensor pipeline's part stays where scripts read it (top-level JSON, first text block), and
 * `--pipeline NAME` shows one pipeline.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { addAction, txnAction } from '../../src/delta';
import { ensureTables, tableDir, type TableDef } from '../../src/lake/tables';
import { parsePipelineFile } from '../../src/pipelines/definition';
import { stagePipeline } from '../../src/pipelines/stage-pipeline';
import { collectStatus, formatStatus, SENSOR_STATUS, type PipelineStatus, type StatusPipeline } from '../../src/status';
import { commitWithRetry, writeParquetDataFile } from '../helpers/delta-dir';
import { closeConnections, createTopic, produce, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';

afterAll(closeConnections);

const definition = (topic: string) => `pipelines:
  - name: sensor
    source: { topics: [sensor_readings] }
    tables: { raw: raw/sensor_readings, bronze: bronze/sensor_readings, dead_letter: bronze/sensor_readings_dead_letter, gold: gold/sensor_readings }
    schema:
      - { name: sensor_id, type: string, required: true }
      - { name: value, type: double, required: true }
      - { name: unit, type: string, required: true }
      - { name: ts_ms, type: long, required: true }
    expectations:
      - { name: value out of range, expect: value BETWEEN -100 AND 10000 }
    gold: { keys: [sensor_id, ts_ms] }
  - name: clicks
    source: { topics: [${topic}] }
    tables: { raw: raw/clicks, bronze: bronze/clicks, dead_letter: bronze/clicks_dead_letter, gold: gold/clicks }
    schema:
      - { name: id, type: string, required: true }
      - { name: n, type: long }
    gold: { keys: [id] }
`;

/** One commit of `rows` (SELECT over the table's columns, in order) plus txns. */
async function commitRows(con: Awaited<ReturnType<DuckDBInstance['connect']>>, dir: string, table: TableDef, select: string | null, txns: [string, number][]): Promise<number> {
  const add = select === null ? null : await writeParquetDataFile(con, dir, select, table.fields);
  const done = await commitWithRetry(dir, async () => ({ actions: [...(add ? [addAction(add)] : []), ...txns.map(([id, v]) => txnAction(id, v))], commitInfo: { operation: 'WRITE', engineInfo: 'status test' } }));
  return done!.version;
}

describe('status per pipeline', () => {
  it('reports each pipeline\'s stages, checkpoints and lag from its own tables and app ids; the sensor pipeline\'s part is unchanged', async () => {
    const topic = uniqueName('clicks');
    await createTopic(topic, 1);
    await produce(topic, [1, 2, 3, 4, 5].map((i) => ({ value: JSON.stringify({ id: `c${i}`, n: i }) })));
    const lakeRoot = tempLakeRoot();
    const file = parsePipelineFile(definition(topic), 'p.yaml');
    const clicks = stagePipeline(file.pipelines[1]!);
    const w = await testWorker(testConfig(lakeRoot), undefined, file);

    // clicks' lake: raw holds offsets 0..2 (checkpoint 3), bronze and the dead letter processed raw version 1, gold nothing yet
    await ensureTables(lakeRoot, Object.values(clicks.tables));
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const t = clicks.tables;
    try {
      const rawVersion = await commitRows(
        con,
        tableDir(lakeRoot, t.raw),
        t.raw,
        `SELECT ${`'${topic}'`} AS topic, 0 AS "partition", i::BIGINT AS "offset", now() AS kafka_ts, '{}' AS raw_payload, NULL::BLOB AS raw_payload_bytes, now() AS arrived_at FROM range(3) r(i)`,
        [[`${clicks.appIds.rawPrefix}${topic}/0`, 3]],
      );
      const bronzeRows = `SELECT 'c' || i AS id, i::BIGINT AS n, now() AS arrived_at, ${`'${topic}'`} AS topic, 0 AS "partition", i::BIGINT AS "offset", now() AS kafka_ts FROM range(2) r(i)`;
      await commitRows(con, tableDir(lakeRoot, t.bronze), t.bronze, bronzeRows, [[clicks.appIds.bronze, rawVersion]]);
      await commitRows(con, tableDir(lakeRoot, t.deadLetter), t.deadLetter, null, [[clicks.appIds.bronze, rawVersion]]);
    } finally {
      con.closeSync();
      db.closeSync();
    }

    // a run of clicks' raw schedule on this task queue: clicks' last run, not the sensor pipeline's
    // (an input the workflow refuses at once: the run exists, and reads nothing whatever the stages support)
    const all: StatusPipeline[] = [SENSOR_STATUS, { ...clicks, scheduleIds: file.pipelines[1]!.scheduleIds }];
    const runId = `${all[1]!.scheduleIds.raw}-${uniqueName('run')}`;
    await w.run(async () => {
      await w.client.workflow.execute('ingestRawWorkflow', { taskQueue: w.taskQueue, workflowId: runId, args: [{ pipeline: 'clicks', parallelism: 0 }] }).catch(() => undefined);
    });

    const status = await collectStatus(w.client, w.config, undefined, { pipelines: all });
    expect(status.pipelines.map((p) => p.pipeline)).toEqual(['sensor', 'clicks']);
    // top level: the sensor pipeline, as before (nothing in this lake, no runs)
    expect(status.pipeline).toBe('sensor');
    expect(status.tables.map((x) => [x.table, x.version])).toEqual([
      ['raw/sensor_readings', null],
      ['bronze/sensor_readings', null],
      ['bronze/sensor_readings_dead_letter', null],
      ['gold/sensor_readings', null],
    ]);
    expect(status.stages.map((s) => [s.stage, s.schedule, s.lastRun])).toEqual([
      ['raw', 'sensor-raw-ingest', null],
      ['bronze', 'sensor-deserialize', null],
      ['gold', 'sensor-merge-gold', null],
    ]);
    const c = status.pipelines[1]!;
    expect(c.stages.map((s) => [s.stage, s.schedule, s.checkpoint, s.lag])).toEqual([
      ['raw', 'clicks-raw-ingest', { [topic]: { '0': 3 } }, 2],
      ['bronze', 'clicks-deserialize', { rawVersionProcessed: 1 }, 0],
      ['gold', 'clicks-merge-gold', { bronzeVersionProcessed: null }, 2],
    ]);
    expect(c.stages[0]!.lastRun?.workflowId).toBe(runId);
    expect(c.tables.map((x) => [x.table, x.version, x.rows])).toEqual([
      ['raw/clicks', 1, 3],
      ['bronze/clicks', 1, 2],
      ['bronze/clicks_dead_letter', 1, 0],
      ['gold/clicks', 0, 0],
    ]);
    const text = formatStatus(status);
    expect(text.split('\n')[0]).toMatch(/^pipeline status at /);
    expect(text).toMatch(/\npipeline clicks\nstage +schedule/);
    expect(text.indexOf('pipeline clicks')).toBeLessThan(text.indexOf('table maintenance'));
    // maintenance: each pipeline's schedule and last run, and the health of every pipeline's tables
    expect(status.maintenance.schedules.map((x) => [x.pipeline, x.schedule, x.lastRun])).toEqual([
      ['sensor', 'sensor-maintain-tables', null],
      ['clicks', 'clicks-maintain-tables', null],
    ]);
    expect(status.maintenance.tables.map((x) => x.table)).toEqual(expect.arrayContaining(['raw/clicks', 'bronze/clicks', 'gold/clicks']));
    expect(text).toMatch(/\ntable maintenance \(schedule sensor-maintain-tables\), last run: never\ntable maintenance of pipeline clicks \(schedule clicks-maintain-tables\), last run: never\n/);

    // the CLI: --pipeline clicks puts clicks at the top level; JSON keeps the shape
    const pipelinesFile = path.join(lakeRoot, 'pipelines.yaml');
    fs.writeFileSync(pipelinesFile, definition(topic));
    const cli = spawnSync(process.execPath, ['--import', 'tsx', path.resolve('src/cli/status.ts'), '--json', '--pipeline', 'clicks'], {
      env: { ...process.env, LAKE_ROOT: lakeRoot, PIPELINES_FILE: pipelinesFile, TEMPORAL_TASK_QUEUE: w.taskQueue },
      encoding: 'utf8',
    });
    expect(cli.stderr).toBe('');
    const json = JSON.parse(cli.stdout) as PipelineStatus;
    expect(Object.keys(json).sort()).toEqual(['at', 'deadLettersByError', 'maintenance', 'pipeline', 'pipelines', 'stages', 'tables']);
    expect(json.pipeline).toBe('clicks');
    expect(json.pipelines.map((p) => p.pipeline)).toEqual(['clicks']);
    expect(json.stages.map((s) => s.lag)).toEqual([2, 0, 2]);
    expect(json.stages[0]!.lastRun?.workflowId).toBe(runId);
    const unknown = spawnSync(process.execPath, ['--import', 'tsx', path.resolve('src/cli/status.ts'), '--pipeline', 'nope'], { env: { ...process.env, LAKE_ROOT: lakeRoot, PIPELINES_FILE: pipelinesFile }, encoding: 'utf8' });
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/no pipeline "nope" in .*pipelines\.yaml \(it has: sensor, clicks\)/);
  });
});
