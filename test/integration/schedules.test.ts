/** The pipelines' schedules (three stages per pipeline + table maintenance) on the real Temporal server. */
import { Client, ScheduleOverlapPolicy } from '@temporalio/client';
import { parsePipelineFile } from '../../src/pipelines/definition';
import { ensureSchedules, orphanSchedules, SCHEDULES, syncSchedules, type OrphanSchedule } from '../../src/schedules';
import { closeConnections, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';
import { pipelinesWithExample } from '../helpers/pipelines';

afterAll(closeConnections);

describe('schedules', () => {
  it('creating them twice leaves four, with the configured crons and overlap SKIP; an edit keeps the schedule', async () => {
    const w = await testWorker(testConfig(tempLakeRoot()));
    const prefix = `${uniqueName('t')}-`;
    try {
      const first = await ensureSchedules(w.client, { taskQueue: w.taskQueue, idPrefix: prefix });
      const second = await ensureSchedules(w.client, { taskQueue: w.taskQueue, idPrefix: prefix, env: { SCHEDULE_GOLD_CRON: '*/10 * * * *' } });
      expect(first.map((s) => s.created)).toEqual([true, true, true, true]);
      expect(second.map((s) => s.created)).toEqual([false, false, false, false]);

      for (const def of SCHEDULES) {
        const d = await w.client.schedule.getHandle(`${prefix}${def.id}`).describe();
        expect(d.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
        expect(d.spec.calendars?.length).toBe(1); // the server stores each cron expression as a calendar
        expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: def.workflowType, taskQueue: w.taskQueue });
      }
      const gold = await w.client.schedule.getHandle(`${prefix}sensor-merge-gold`).describe();
      expect(gold.spec.calendars?.[0].minute).toEqual([{ start: 0, end: 59, step: 10 }]);
      // Maintenance: daily at 03:00 by default, and its input is the workflow's defaults (no nearRealTime).
      const maint = await w.client.schedule.getHandle(`${prefix}sensor-maintain-tables`).describe();
      expect(maint.spec.calendars?.[0].hour).toEqual([{ start: 3, end: 3, step: 1 }]);
      expect(maint.action).toMatchObject({ workflowType: 'maintainTablesWorkflow', args: [{}] });
    } finally {
      for (const def of SCHEDULES) await w.client.schedule.getHandle(`${prefix}${def.id}`).delete().catch(() => undefined);
    }
  });

  it('a per-stage interval replaces that stage\'s cron (the chaos driver runs stages every few seconds)', async () => {
    const w = await testWorker(testConfig(tempLakeRoot()));
    const prefix = `${uniqueName('t')}-`;
    try {
      await ensureSchedules(w.client, { taskQueue: w.taskQueue, idPrefix: prefix, intervals: { raw: '3s' } });
      const raw = await w.client.schedule.getHandle(`${prefix}sensor-raw-ingest`).describe();
      expect(raw.spec.intervals).toMatchObject([{ every: 3000 }]);
      expect(raw.spec.calendars ?? []).toEqual([]);
      const bronze = await w.client.schedule.getHandle(`${prefix}sensor-deserialize`).describe();
      expect(bronze.spec.calendars?.length).toBe(1);
    } finally {
      for (const def of SCHEDULES) await w.client.schedule.getHandle(`${prefix}${def.id}`).delete().catch(() => undefined);
    }
  });

  it('refuses a malformed cron expression from config', async () => {
    const w = await testWorker(testConfig(tempLakeRoot()));
    await expect(ensureSchedules(w.client, { taskQueue: w.taskQueue, idPrefix: `${uniqueName('t')}-`, env: { SCHEDULE_RAW_CRON: 'every five minutes' } })).rejects.toThrow(
      /SCHEDULE_RAW_CRON.*5-field cron/,
    );
  });

  it('every pipeline of the file gets its schedules; a pipeline removed from the file is reported, and deleted only with prune', async () => {
    const w = await testWorker(testConfig(tempLakeRoot()));
    const prefix = `${uniqueName('t')}-`;
    const { pipelines } = parsePipelineFile(pipelinesWithExample());
    const [sensor] = pipelines;
    const ids = ['sensor-raw-ingest', 'sensor-deserialize', 'sensor-merge-gold', 'orders-raw-ingest', 'orders-deserialize', 'orders-merge-gold', 'sensor-maintain-tables', 'orders-maintain-tables'];
    try {
      const first = await syncSchedules(w.client, { taskQueue: w.taskQueue, idPrefix: prefix, pipelines, env: {} });
      expect(first.schedules.map((s) => [s.id.slice(prefix.length), s.pipeline ?? null, s.created])).toEqual(ids.map((id) => [id, id.startsWith('orders') ? 'orders' : 'sensor', true]));
      const ordersMaint = await w.client.schedule.getHandle(`${prefix}orders-maintain-tables`).describe();
      expect(ordersMaint.action).toMatchObject({ workflowType: 'maintainTablesWorkflow', args: [{ pipeline: 'orders' }] });
      expect(ordersMaint.memo).toEqual({ stage: 'maintenance', pipeline: 'orders' });
      const gold = await w.client.schedule.getHandle(`${prefix}orders-merge-gold`).describe();
      expect(gold.action).toMatchObject({ workflowType: 'mergeGoldWorkflow', taskQueue: w.taskQueue, args: [{ pipeline: 'orders' }] });
      expect(gold.spec.calendars?.[0].minute).toEqual([{ start: 0, end: 59, step: 10 }]); // the definition's */10
      expect(gold.memo).toEqual({ stage: 'gold', pipeline: 'orders' });
      const sensorRaw = await w.client.schedule.getHandle(`${prefix}sensor-raw-ingest`).describe();
      expect(sensorRaw.action).toMatchObject({ workflowType: 'ingestRawWorkflow', args: [{}] }); // as before pipelines were declared

      // orders taken out of the file: its schedules are reported, not deleted …
      const ordersIds = ids.filter((id) => id.startsWith('orders')).map((id) => prefix + id);
      const listed = await untilListed(w.client, prefix, ordersIds);
      expect(listed.map((o) => [o.id, o.pipeline])).toEqual([...ordersIds].sort().map((id) => [id, 'orders']));
      const kept = await syncSchedules(w.client, { taskQueue: w.taskQueue, idPrefix: prefix, pipelines: [sensor!], env: {} });
      expect(kept.orphans.map((o) => o.id)).toEqual([...ordersIds].sort());
      for (const id of ordersIds) await w.client.schedule.getHandle(id).describe();
      // … and deleted with prune (its maintenance schedule too); the sensor pipeline's stay
      const pruned = await syncSchedules(w.client, { taskQueue: w.taskQueue, idPrefix: prefix, pipelines: [sensor!], env: {}, prune: true });
      expect(pruned.orphans.map((o) => o.id)).toEqual([...ordersIds].sort());
      for (const id of ordersIds) await expect(w.client.schedule.getHandle(id).describe()).rejects.toThrow(/not found/i);
      for (const id of ids.filter((x) => !x.startsWith('orders'))) await w.client.schedule.getHandle(prefix + id).describe();
    } finally {
      for (const id of ids) await w.client.schedule.getHandle(`${prefix}${id}`).delete().catch(() => undefined);
    }
  });
});

/** The orphans under `prefix` once the server's schedule list shows all of `ids` (its index is asynchronous; bounded poll). */
async function untilListed(client: Client, prefix: string, ids: string[]): Promise<OrphanSchedule[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = await orphanSchedules(client, [{ name: 'sensor' }], prefix);
    if (ids.every((id) => found.some((o) => o.id === id)) || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 200)); // poll the list until the index caught up
  }
}

