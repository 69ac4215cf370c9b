/**
 * `npm run schedules -- [--trigger]`: creates or updates the pipeline's four schedules (cron from
 * SCHEDULE_RAW_CRON / SCHEDULE_BRONZE_CRON / SCHEDULE_GOLD_CRON / SCHEDULE_MAINTAIN_CRON),
 * optionally runs each of the three stages once now.
 */
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { loadEnv } from '../config';
import { ensureSchedules, triggerSchedules } from '../schedules';
import { parseArgs } from './args';

const Args = z.object({ trigger: z.boolean().default(false) }).strict();

async function main(): Promise<void> {
  const args = parseArgs(Args, process.argv.slice(2), 'usage: npm run schedules -- [--trigger]');
  const env = loadEnv();
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  try {
    const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
    for (const s of await ensureSchedules(client, { taskQueue: env.TEMPORAL_TASK_QUEUE, nearRealTime: env.PIPELINE_NEAR_REAL_TIME })) {
      console.log(`${s.created ? 'created' : 'updated'} schedule ${s.id} (${s.cron})`);
    }
    if (args.trigger) {
      await triggerSchedules(client);
      console.log('triggered the three stage schedules once');
    }
  } finally {
    await connection.close();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
