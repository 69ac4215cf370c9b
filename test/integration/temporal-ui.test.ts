/**
 * What a data engineer sees in the Temporal Web UI: the three schedules, and a completed
 * scheduled run with its summary. Headless Debian Chromium driven by playwright-core; the
 * screenshots are kept in test-output/ as artifacts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { chromium, type Browser } from 'playwright-core';
import { ensureSchedules, SCHEDULES } from '../../src/schedules';
import { closeConnections, createTopic, env, produce, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The stack's UI address (stack.env), which may be on other ports than the default 8233.
const UI = env.TEMPORAL_UI_URL.replace(/\/$/, '');
const ARTIFACTS = path.resolve('test-output');

let browser: Browser;
beforeAll(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await browser?.close();
  await closeConnections();
});

describe('Temporal UI', () => {
  it('shows the three schedules and a completed scheduled run with its summary', async () => {
    const topic = uniqueName('ui');
    await createTopic(topic, 1);
    await produce(topic, [{ value: '{"sensor_id":"a","value":1,"unit":"C","ts_ms":1}' }]);
    const w = await testWorker(testConfig(tempLakeRoot()));
    const prefix = `${uniqueName('ui')}-`;
    await ensureSchedules(w.client, { taskQueue: w.taskQueue, idPrefix: prefix, inputs: { raw: { topics: [topic], startingOffsets: 'earliest' } } });
    try {
      const raw = w.client.schedule.getHandle(`${prefix}sensor-raw-ingest`);
      const run = await w.run(async () => {
        await raw.trigger(ScheduleOverlapPolicy.SKIP);
        let started: { workflowId: string; firstExecutionRunId: string } | undefined;
        for (let i = 0; !started && i < 100; i++) {
          started = (await raw.describe()).info.recentActions.at(-1)?.action.workflow;
          if (!started) await new Promise((r) => setTimeout(r, 200)); // poll the schedule until it reports the run
        }
        if (!started) throw new Error('the schedule did not start a run');
        await w.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId).result();
        return started;
      });

      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
      await page.goto(`${UI}/namespaces/default/schedules`);
      for (const def of SCHEDULES) await page.getByText(`${prefix}${def.id}`).first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: path.join(ARTIFACTS, 'temporal-ui-schedules.png'), fullPage: true });

      await page.goto(`${UI}/namespaces/default/workflows/${encodeURIComponent(run.workflowId)}/${run.firstExecutionRunId}/history`);
      await page.getByText('Completed').first().waitFor({ timeout: 30_000 });
      await page.getByText(`raw: Kafka → raw/sensor_readings (schedule ${prefix}sensor-raw-ingest`).first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: path.join(ARTIFACTS, 'temporal-ui-run.png'), fullPage: true });
      await page.close();
    } finally {
      for (const def of SCHEDULES) await w.client.schedule.getHandle(`${prefix}${def.id}`).delete().catch(() => undefined);
    }
  });
});
