/** `npm run status -- [--json] [--topic sensor_readings]`: per-stage checkpoint, last run, lag; tables; dead letters. */
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { loadWorkerConfig } from '../config';
import { collectStatus, formatStatus } from '../status';
import { parseArgs } from './args';

const Args = z.object({ json: z.boolean().default(false), topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/).default('sensor_readings') }).strict();

async function main(): Promise<void> {
  const args = parseArgs(Args, process.argv.slice(2), 'usage: npm run status -- [--json] [--topic sensor_readings]');
  const config = loadWorkerConfig();
  const connection = await Connection.connect({ address: config.temporal.address });
  try {
    const status = await collectStatus(new Client({ connection, namespace: config.temporal.namespace }), config, [args.topic]);
    console.log(args.json ? JSON.stringify(status, null, 2) : formatStatus(status));
  } finally {
    await connection.close();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
