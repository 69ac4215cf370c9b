/**
 * What the stages run for a pipeline definition (src/pipelines/stage-pipeline.ts): the sensor
 * pipeline is exactly the code's tables, paths, schemas and txn app ids (existing lakes keep
 * working); every other pipeline gets its definition's tables and rules and app ids namespaced by
 * its name; a sensor definition that drifted from the code is refused.
 */
import { loadPipelineFile, parsePipelineFile, pipelineNamed } from '../../src/pipelines/definition';
import { PipelineNotRunnableError, stagePipeline } from '../../src/pipelines/stage-pipeline';
import { SENSOR_PIPELINE } from '../../src/lake/pipeline';
import { BRONZE, BRONZE_TXN_APP_ID, DEAD_LETTER, GOLD, GOLD_CHECKPOINT_APP_ID, parseRawTxnAppId, RAW, rawTxnAppId, REPLAY_LOG, stageAppIds } from '../../src/lake/tables';
import { pipelinesWithExample } from '../helpers/pipelines';

test('the shipped sensor definition runs as the code\'s sensor pipeline: same tables, schemas and app ids', () => {
  const p = stagePipeline(pipelineNamed(loadPipelineFile(), 'sensor'));
  expect(p.tables).toEqual({ raw: RAW, bronze: BRONZE, deadLetter: DEAD_LETTER, gold: GOLD, replayLog: REPLAY_LOG });
  expect(p.appIds).toEqual({
    rawPrefix: 'tributary.raw/',
    bronze: 'tributary.bronze/raw-version',
    backfill: 'tributary.bronze/backfill',
    bronzeStage: 'tributary.bronze',
    gold: 'tributary.gold/bronze-version',
    goldStage: 'tributary.gold',
    replaySeq: 'tributary.replay',
  });
  expect([BRONZE_TXN_APP_ID, GOLD_CHECKPOINT_APP_ID, rawTxnAppId('sensor_readings', 3)]).toEqual(['tributary.bronze/raw-version', 'tributary.gold/bronze-version', 'tributary.raw/sensor_readings/3']);
  expect(p.rules).toBe(SENSOR_PIPELINE.rules);
  expect(p.source).toEqual({ topics: ['sensor_readings'], startingOffsets: 'latest', failOnDataLoss: false });
});

test('another pipeline: its definition\'s tables, rules and gold spec, app ids namespaced by its name', () => {
  const def = pipelineNamed(parsePipelineFile(pipelinesWithExample()), 'orders');
  const p = stagePipeline(def);
  expect([p.tables.raw.name, p.tables.bronze.name, p.tables.deadLetter.name, p.tables.gold.name]).toEqual(['raw/orders', 'bronze/orders', 'bronze/orders_dead_letter', 'gold/orders']);
  expect(p.tables.raw.fields).toEqual(RAW.fields);
  expect(p.tables.deadLetter.fields).toEqual(DEAD_LETTER.fields);
  // the replay log: the sensor's layout (REPLAY_LOG) with the pipeline's fields, next to its bronze
  expect(p.tables.replayLog.name).toBe('bronze/orders_replay_log');
  expect(p.tables.replayLog.fields.map((f) => f.name)).toEqual([
    ...REPLAY_LOG.fields.slice(0, 7).map((f) => f.name),
    ...def.rules.fields.map((f) => f.name),
    'arrived_at',
    'replayed_at',
  ]);
  expect(p.rules).toBe(def.rules);
  expect(p.gold).toMatchObject({ keys: ['order_id'], sequenceBy: ['updated_at'], scdType: 2, deleteWhenSql: expect.stringContaining('op') });
  expect(p.appIds).toEqual(stageAppIds('orders'));
  expect(p.appIds.bronze).toBe('tributary.orders.bronze/raw-version');
  // the sensor pipeline's raw app ids and another's never read as each other's
  const id = rawTxnAppId('orders', 0, p.appIds);
  expect(id).toBe('tributary.orders.raw/orders/0');
  expect(parseRawTxnAppId(id)).toBeNull();
  expect(parseRawTxnAppId(rawTxnAppId('orders', 0), p.appIds)).toBeNull();
  expect(parseRawTxnAppId(id, p.appIds)).toEqual({ topic: 'orders', partition: 0 });
});

test('a sensor definition that no longer says what the sensor stages do is not runnable', () => {
  const shipped = pipelinesWithExample();
  const text = shipped.replace('{ name: unit, type: string, required: true }', '{ name: unit, type: string }');
  expect(text).not.toBe(shipped);
  expect(() => stagePipeline(pipelineNamed(parsePipelineFile(text), 'sensor'))).toThrow(PipelineNotRunnableError);
});
