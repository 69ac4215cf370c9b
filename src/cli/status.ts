/**
 * `npm run status -- [--json] [--pipeline NAME] [--topic sensor_readings] [--watch [--every 5]]`: per pipeline of
 * the definition file (PIPELINES_FILE or ./pipelines.yaml; `--pipeline` picks one) its stages' checkpoint, last
 * run and lag, its tables and dead letters; then table maintenance. `--watch` redraws it every few seconds until
 * Ctrl-C (with `--json`: one JSON object per line).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { loadWorkerConfig } from '../config';
import { loadPipelineFile, pipelineNamed } from '../pipelines/definition';
import { PipelineName } from '../pipelines/name';
import { collectStatus, formatStatus, statusPipelinesOf } from '../status';
import { parseArgs } from './args';

const Args = z
  .object({
    json: z.boolean().default(false),
    /** Only this pipeline (default: every pipeline of the file, the sensor pipeline first). */
    pipeline: PipelineName.optional(),
    /** The topic the sensor pipeline's raw lag is counted over (default: its source's topics). */
    topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/).optional(),
    watch: z.boolean().default(false),
    /** Seconds between two refreshes with --watch. */
    every: z.coerce.number().min(1).max(3600).default(5),
  })
  .strict()
  .refine((a) => a.watch || a.every === 5, { message: '--every needs --watch', path: ['every'] });

const USAGE = 'usage: npm run status -- [--json] [--pipeline NAME] [--topic sensor_readings] [--watch [--every 5 (seconds)]]';

async function main(): Promise<void> {
  const args = parseArgs(Args, process.argv.slice(2), USAGE);
  const config = loadWorkerConfig();
  const file = loadPipelineFile();
  const all = statusPipelinesOf(file.pipelines);
  const shown = args.pipeline ? [all.find((p) => p.name === pipelineNamed(file, args.pipeline!).name)!] : all;
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  // Ctrl-C ends the watch loop (also mid-refresh or mid-sleep); the connection is closed on the way out.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const redraw = args.watch && !args.json && process.stdout.isTTY;
  try {
    do {
      let text: string;
      try {
        const status = await collectStatus(client, config, args.topic ? [args.topic] : undefined, { pipelines: shown, allPipelines: all });
        text = args.json ? JSON.stringify(status, null, args.watch ? undefined : 2) : formatStatus(status);
      } catch (e) {
        if (!args.watch) throw e;
        // A watch survives a moment of Temporal or the lake being unreachable: it says so and tries again.
        text = `status failed at ${new Date().toISOString()}: ${e instanceof Error ? e.message : e}`;
      }
      if (stop.signal.aborted) break;
      if (redraw) process.stdout.write('\x1b[2J\x1b[H');
      console.log(text);
      if (args.watch && !args.json) console.log(`\n(refreshing every ${args.every} s; Ctrl-C to stop)`);
      if (args.watch) await sleep(args.every * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
    } while (args.watch && !stop.signal.aborted);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await connection.close();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
