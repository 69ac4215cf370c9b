/**
 * The Temporal Schedules that run the pipeline — Temporal's supported form of the cron jobs the
 * seed describes (every 5/15/30 min) — plus daily table maintenance (what Databricks does for
 * the seed's tables: OPTIMIZE, VACUUM, checkpoints, log cleanup). Overlap SKIP: a stage never
 * runs twice at once from its schedule. Creating them is idempotent: an existing schedule is updated in place, which
 * keeps its identity and the last completion result its runs chain their checkpoint through.
 */
import { Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy, type ScheduleOptionsAction, type ScheduleSpec } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { z } from 'zod';

export interface ScheduleDef {
  id: string;
  stage: 'raw' | 'bronze' | 'gold' | 'maintenance';
  workflowType: string;
  defaultCron: string;
  /** Env variable that overrides the cron expression. */
  cronEnv: string;
  summary: string;
}

export const SCHEDULES: readonly ScheduleDef[] = [
  { id: 'sensor-raw-ingest', stage: 'raw', workflowType: 'ingestRawWorkflow', defaultCron: '*/5 * * * *', cronEnv: 'SCHEDULE_RAW_CRON', summary: 'Kafka → raw/sensor_readings' },
  { id: 'sensor-deserialize', stage: 'bronze', workflowType: 'deserializeWorkflow', defaultCron: '*/15 * * * *', cronEnv: 'SCHEDULE_BRONZE_CRON', summary: 'raw → bronze/sensor_readings + dead letter' },
  { id: 'sensor-merge-gold', stage: 'gold', workflowType: 'mergeGoldWorkflow', defaultCron: '*/30 * * * *', cronEnv: 'SCHEDULE_GOLD_CRON', summary: 'bronze → gold/sensor_readings (MERGE)' },
  {
    id: 'sensor-maintain-tables',
    stage: 'maintenance',
    workflowType: 'maintainTablesWorkflow',
    defaultCron: '0 3 * * *',
    cronEnv: 'SCHEDULE_MAINTAIN_CRON',
    summary: 'compaction, checkpoints, vacuum and log cleanup of every table',
  },
];

/** The three data stages (maintenance keeps their tables but moves no data). */
export const STAGE_SCHEDULES = SCHEDULES.filter((d): d is ScheduleDef & { stage: 'raw' | 'bronze' | 'gold' } => d.stage !== 'maintenance');

/** Five-field cron (minute hour day month weekday) made of the usual characters. */
export const CRON_EXPRESSION = z.string().trim().regex(/^(\S+\s+){4}\S+$/, 'expected a 5-field cron expression').regex(/^[0-9*/,\-\sA-Za-z?LW#]+$/, 'unexpected characters in cron expression');

export function cronFor(def: ScheduleDef, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[def.cronEnv];
  if (value === undefined || value === '') return def.defaultCron;
  const parsed = CRON_EXPRESSION.safeParse(value);
  if (!parsed.success) throw new Error(`${def.cronEnv}=${JSON.stringify(value)}: ${parsed.error.issues[0].message}`);
  return parsed.data;
}

/** Stage 1's partition groups for scheduled runs (scale-out), from SCHEDULE_RAW_PARALLELISM; undefined = 1. */
export function rawParallelism(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env.SCHEDULE_RAW_PARALLELISM;
  if (value === undefined || value === '') return undefined;
  const parsed = z.coerce.number().int().min(1).max(64).safeParse(value);
  if (!parsed.success) throw new Error(`SCHEDULE_RAW_PARALLELISM=${JSON.stringify(value)}: expected a whole number 1..64`);
  return parsed.data;
}

export interface EnsureSchedulesOptions {
  taskQueue: string;
  /** Input for each stage's workflow (default: {} = the workflow's defaults). */
  inputs?: Partial<Record<ScheduleDef['stage'], unknown>>;
  /** Near-real-time mode: stage 1 and 2 runs start the next stage when they commit new data. */
  nearRealTime?: boolean;
  /** Prefix for ids (tests, the chaos driver); default none. */
  idPrefix?: string;
  /**
   * Run a stage every interval (e.g. '3s') instead of on its cron expression: cron's finest step
   * is a minute, too slow for tests and the chaos driver. Default: cron.
   */
  intervals?: Partial<Record<ScheduleDef['stage'], Duration>>;
  env?: NodeJS.ProcessEnv;
}

export async function ensureSchedules(client: Client, opts: EnsureSchedulesOptions): Promise<{ id: string; cron: string; created: boolean }[]> {
  const out: { id: string; cron: string; created: boolean }[] = [];
  const parallelism = rawParallelism(opts.env);
  for (const def of SCHEDULES) {
    const id = `${opts.idPrefix ?? ''}${def.id}`;
    const every = opts.intervals?.[def.stage];
    const cronExpression = every === undefined ? cronFor(def, opts.env) : `every ${String(every)}`;
    const action: ScheduleOptionsAction = {
      type: 'startWorkflow',
      workflowType: def.workflowType,
      taskQueue: opts.taskQueue,
      workflowId: id,
      args: [
        {
          ...(opts.nearRealTime && (def.stage === 'raw' || def.stage === 'bronze') ? { nearRealTime: true } : {}),
          ...(def.stage === 'raw' && parallelism !== undefined ? { parallelism } : {}),
          ...((opts.inputs?.[def.stage] as object) ?? {}),
        },
      ],
      staticSummary: `${def.stage}: ${def.summary} (schedule ${id}, ${cronExpression})`,
    };
    const spec: ScheduleSpec = every === undefined ? { cronExpressions: [cronExpression] } : { intervals: [{ every }] };
    const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const, pauseOnFailure: false };
    try {
      await client.schedule.create({ scheduleId: id, spec, action, policies, memo: { stage: def.stage } });
      out.push({ id, cron: cronExpression, created: true });
    } catch (e) {
      if (!(e instanceof ScheduleAlreadyRunning)) throw e;
      await client.schedule.getHandle(id).update((prev) => ({ ...prev, spec, action, policies }));
      out.push({ id, cron: cronExpression, created: false });
    }
  }
  return out;
}

/** Runs each stage's schedule once now (overlap SKIP, so the run joins its checkpoint chain); not maintenance. */
export async function triggerSchedules(client: Client, idPrefix = ''): Promise<void> {
  for (const def of STAGE_SCHEDULES) await client.schedule.getHandle(`${idPrefix}${def.id}`).trigger(ScheduleOverlapPolicy.SKIP);
}
