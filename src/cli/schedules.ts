/**
 * `npm run schedules -- [--trigger] [--prune]`: creates or updates the three stage schedules of
 * every pipeline in the definition file (PIPELINES_FILE or ./pipelines.yaml; cron and near-real-time
 * from the definition, SCHEDULE_*_CRON still override the sensor pipeline's) and each pipeline's
 * maintenance schedule; reports the schedules of pipelines no longer in the file (`--prune` deletes them);
 * `--trigger` runs each stage of every pipeline once now.
 */
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { loadEnv } from '../config';
import { loadPipelineFile } from '../pipelines/definition';
import { describeOrphans, syncSchedules, triggerSchedules } from '../schedules';
import { parseArgs } from './args';

const Args = z.object({ trigger: z.boolean().default(false), prune: z.boolean().default(false) }).strict();

async function main(): Promise<void> {
  const args = parseArgs(Args, process.argv.slice(2), 'usage: npm run schedules -- [--trigger] [--prune]   (file: PIPELINES_FILE or ./pipelines.yaml)');
  const env = loadEnv();
  const { pipelines } = loadPipelineFile();
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  try {
    const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
    const r = await syncSchedules(client, { taskQueue: env.TEMPORAL_TASK_QUEUE, pipelines, nearRealTime: env.PIPELINE_NEAR_REAL_TIME, prune: args.prune });
    for (const s of r.schedules) console.log(`${s.created ? 'created' : 'updated'} schedule ${s.id} (${s.cron})`);
    for (const line of describeOrphans(r)) console.log(line);
    if (args.trigger) {
      await triggerSchedules(client, '', pipelines);
      console.log(`triggered the three stage schedules of ${pipelines.map((p) => p.name).join(', ')} once`);
    }
  } finally {
    await connection.close();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
