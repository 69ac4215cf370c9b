/** The pipeline's schedules (three stages + table maintenance) on the real Temporal server. */
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { ensureSchedules, SCHEDULES } from '../../src/schedules';
import { closeConnections, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';

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
});
