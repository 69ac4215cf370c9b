/**
 * The schedules planned for the pipelines of a definition file (src/schedules.ts planSchedules):
 * three per pipeline with its ids and crons, the sensor pipeline's exactly as before pipelines were
 * declared (same ids, SCHEDULE_*_CRON overrides, no `pipeline` in the input), the others with
 * `pipeline: <name>`, and a maintenance schedule per pipeline (the sensor pipeline's as before).
 */
import { parsePipelineFile } from '../../src/pipelines/definition';
import { BUILT_IN_SENSOR, planSchedules, SCHEDULES } from '../../src/schedules';
import { pipelinesWithExample } from '../helpers/pipelines';

const { pipelines } = parsePipelineFile(pipelinesWithExample());
const brief = (opts: Parameters<typeof planSchedules>[0]) => planSchedules(opts).map((s) => [s.id, s.cron, s.workflowType, s.input]);

test('without a definition: the four schedules the code has always created', () => {
  expect(planSchedules({ env: {} }).map((s) => [s.id, s.cron, s.workflowType, s.input, s.summary])).toEqual(
    SCHEDULES.map((d) => [d.id, d.defaultCron, d.workflowType, {}, d.summary]),
  );
  expect(planSchedules({ env: {}, pipelines: [pipelines[0]!] })).toEqual(planSchedules({ env: {} }));
  expect(BUILT_IN_SENSOR).toEqual({ name: 'sensor', schedules: pipelines[0]!.schedules, nearRealTime: false, scheduleIds: pipelines[0]!.scheduleIds });
});

test('every pipeline of the file gets its three stage schedules and its maintenance schedule', () => {
  expect(brief({ env: {}, pipelines })).toEqual([
    ['sensor-raw-ingest', '*/5 * * * *', 'ingestRawWorkflow', {}],
    ['sensor-deserialize', '*/15 * * * *', 'deserializeWorkflow', {}],
    ['sensor-merge-gold', '*/30 * * * *', 'mergeGoldWorkflow', {}],
    ['orders-raw-ingest', '*/5 * * * *', 'ingestRawWorkflow', { pipeline: 'orders' }],
    ['orders-deserialize', '*/5 * * * *', 'deserializeWorkflow', { pipeline: 'orders' }],
    ['orders-merge-gold', '*/10 * * * *', 'mergeGoldWorkflow', { pipeline: 'orders' }],
    ['sensor-maintain-tables', '0 3 * * *', 'maintainTablesWorkflow', {}],
    ['orders-maintain-tables', '0 3 * * *', 'maintainTablesWorkflow', { pipeline: 'orders' }],
  ]);
});

test('each pipeline\'s maintenance keeps its own tables; SCHEDULE_MAINTAIN_CRON sets every one; maintenance: false plans none', () => {
  const orders = planSchedules({ env: { SCHEDULE_MAINTAIN_CRON: '30 2 * * *' }, pipelines: [pipelines[1]!] });
  expect(orders.map((s) => [s.id, s.pipeline, s.stage])).toEqual([
    ['orders-raw-ingest', 'orders', 'raw'],
    ['orders-deserialize', 'orders', 'bronze'],
    ['orders-merge-gold', 'orders', 'gold'],
    ['orders-maintain-tables', 'orders', 'maintenance'],
  ]);
  expect(orders[3]).toMatchObject({ cron: '30 2 * * *', input: { pipeline: 'orders' }, summary: expect.stringMatching(/^pipeline orders: compaction/) });
  expect(planSchedules({ env: {}, pipelines, maintenance: false }).some((s) => s.stage === 'maintenance')).toBe(false);
});

test('SCHEDULE_*_CRON override the sensor pipeline only; near-real-time from the definition or the env', () => {
  const env = { SCHEDULE_GOLD_CRON: '*/7 * * * *', SCHEDULE_RAW_PARALLELISM: '4' };
  const orders = { ...pipelines[1]!, nearRealTime: true };
  expect(brief({ env, pipelines: [pipelines[0]!, orders], maintenance: false })).toEqual([
    ['sensor-raw-ingest', '*/5 * * * *', 'ingestRawWorkflow', { parallelism: 4 }],
    ['sensor-deserialize', '*/15 * * * *', 'deserializeWorkflow', {}],
    ['sensor-merge-gold', '*/7 * * * *', 'mergeGoldWorkflow', {}],
    ['orders-raw-ingest', '*/5 * * * *', 'ingestRawWorkflow', { pipeline: 'orders', nearRealTime: true, parallelism: 4 }],
    ['orders-deserialize', '*/5 * * * *', 'deserializeWorkflow', { pipeline: 'orders', nearRealTime: true }],
    ['orders-merge-gold', '*/10 * * * *', 'mergeGoldWorkflow', { pipeline: 'orders' }],
  ]);
  const nrt = planSchedules({ env: {}, pipelines, nearRealTime: true, maintenance: false });
  expect(nrt.map((s) => s.input.nearRealTime ?? false)).toEqual([true, true, false, true, true, false]);
  expect(() => planSchedules({ env: { SCHEDULE_RAW_CRON: 'soon' }, pipelines })).toThrow(/SCHEDULE_RAW_CRON.*5-field cron/);
});

test('pipelineInputs reach only the named pipeline (npm start: the sample topic is the sensor pipeline\'s)', () => {
  const planned = planSchedules({ env: {}, pipelines, pipelineInputs: { sensor: { raw: { topics: ['sample'], startingOffsets: 'earliest' } } } });
  expect(planned.filter((s) => s.stage === 'raw').map((s) => [s.id, s.input])).toEqual([
    ['sensor-raw-ingest', { topics: ['sample'], startingOffsets: 'earliest' }],
    ['orders-raw-ingest', { pipeline: 'orders' }],
  ]);
});
