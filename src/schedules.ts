/**
 * The Temporal Schedules that run the pipelines — Temporal's supported form of the cron jobs the
 * seed describes (every 5/15/30 min) — three per pipeline of the definition file, plus each
 * pipeline's daily table maintenance (what Databricks does for the seed's tables: OPTIMIZE, VACUUM, checkpoints, log
 * cleanup). Overlap SKIP: a stage never runs twice at once from its schedule. Creating them is
 * idempotent: an existing schedule is updated in place, which keeps its identity and the last
 * completion result its runs chain their checkpoint through.
 *
 * The sensor pipeline's schedules keep their ids (`sensor-raw-ingest`, …), their cron overrides
 * (SCHEDULE_*_CRON) and their workflow arguments (no `pipeline` key: the workflows' default), so
 * they are the same schedules as before pipelines were declared. Every other pipeline's runs get
 * `pipeline: <name>` in their input.
 */
import { Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type ScheduleOptionsAction, type ScheduleSpec } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { z } from 'zod';
import type { PipelineDefinition } from './pipelines/definition';
import { SENSOR_PIPELINE_NAME as SENSOR_PIPELINE } from './lake/pipeline-name';
import { CRON_EXPRESSION, maintenanceScheduleId } from './pipelines/name';

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

// defined next to the pipeline name, below the definition file (which checks names against every schedule id)
export { maintenanceScheduleId };

/** The three data stages (maintenance keeps their tables but moves no data). */
export const STAGE_SCHEDULES = SCHEDULES.filter((d): d is ScheduleDef & { stage: 'raw' | 'bronze' | 'gold' } => d.stage !== 'maintenance');


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


type Stage = 'raw' | 'bronze' | 'gold';

/** What the schedules need of a pipeline definition. */
export type PipelineScheduling = Pick<PipelineDefinition, 'name' | 'schedules' | 'nearRealTime' | 'scheduleIds'>;

/** The sensor pipeline as the code has always scheduled it (used when no definition file is given: tests). */
export const BUILT_IN_SENSOR: PipelineScheduling = {
  name: SENSOR_PIPELINE,
  schedules: { raw: '*/5 * * * *', bronze: '*/15 * * * *', gold: '*/30 * * * *' },
  nearRealTime: false,
  scheduleIds: { raw: 'sensor-raw-ingest', bronze: 'sensor-deserialize', gold: 'sensor-merge-gold' },
};

export interface EnsureSchedulesOptions {
  taskQueue: string;
  /** The pipelines whose stage schedules to create or update (default: the built-in sensor pipeline). */
  pipelines?: readonly PipelineScheduling[];
  /**
   * Create or update each pipeline's maintenance schedule too (`<pipeline>-maintain-tables`, cron
   * SCHEDULE_MAINTAIN_CRON or daily at 03:00, after all stage schedules). Default: true.
   */
  maintenance?: boolean;
  /** Input for each stage's workflow, merged into every pipeline's (default: {} = the workflow's defaults). */
  inputs?: Partial<Record<ScheduleDef['stage'], unknown>>;
  /** Input for one pipeline's stages (by pipeline name), merged after `inputs` (`npm start`: its sample topic, sensor only). */
  pipelineInputs?: Readonly<Record<string, Partial<Record<Stage, unknown>>>>;
  /** Near-real-time mode for every pipeline (PIPELINE_NEAR_REAL_TIME); a pipeline's own `near_real_time` also turns it on. */
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

/** One schedule as it will be created: what `ensureSchedules` writes and `pipelines apply --dry-run` prints. */
export interface PlannedSchedule {
  id: string;
  /** The pipeline it runs (maintenance: whose tables it keeps). */
  pipeline?: string;
  stage: ScheduleDef['stage'];
  workflowType: string;
  /** The cron expression, or `every <interval>`. */
  cron: string;
  every?: Duration;
  /** The workflow's input (the schedule action's only argument). */
  input: Record<string, unknown>;
  summary: string;
}

/**
 * The cron of a pipeline's stage: for the sensor pipeline SCHEDULE_<STAGE>_CRON still wins over
 * the definition (it did before pipelines were declared); other pipelines take their definition's.
 */
function stageCron(p: PipelineScheduling, def: ScheduleDef & { stage: Stage }, env: NodeJS.ProcessEnv | undefined): string {
  if (p.name === SENSOR_PIPELINE && env?.[def.cronEnv]) return cronFor(def, env);
  return p.schedules[def.stage];
}

/** Every schedule `ensureSchedules` would create or update with these options (pure: no Temporal). */
export function planSchedules(opts: Omit<EnsureSchedulesOptions, 'taskQueue'>): PlannedSchedule[] {
  const env = opts.env ?? process.env;
  const parallelism = rawParallelism(env);
  const prefix = opts.idPrefix ?? '';
  const out: PlannedSchedule[] = [];
  const withTiming = (stage: ScheduleDef['stage'], cron: string) => {
    const every = opts.intervals?.[stage];
    return every === undefined ? { cron } : { cron: `every ${String(every)}`, every };
  };
  for (const p of opts.pipelines ?? [BUILT_IN_SENSOR]) {
    const nearRealTime = Boolean(opts.nearRealTime) || p.nearRealTime;
    for (const def of STAGE_SCHEDULES) {
      const id = `${prefix}${p.scheduleIds[def.stage]}`;
      const input: Record<string, unknown> = {
        // the sensor pipeline's input stays what it always was (the workflows default to it)
        ...(p.name === SENSOR_PIPELINE ? {} : { pipeline: p.name }),
        ...(nearRealTime && (def.stage === 'raw' || def.stage === 'bronze') ? { nearRealTime: true } : {}),
        ...(def.stage === 'raw' && parallelism !== undefined ? { parallelism } : {}),
        ...((opts.inputs?.[def.stage] as object) ?? {}),
        ...((opts.pipelineInputs?.[p.name]?.[def.stage] as object) ?? {}),
      };
      const summary = p.name === SENSOR_PIPELINE ? def.summary : `pipeline ${p.name}: ${STAGE_SUMMARY[def.stage]}`;
      out.push({ id, pipeline: p.name, stage: def.stage, workflowType: def.workflowType, ...withTiming(def.stage, stageCron(p, def, env)), input, summary });
    }
  }
  if (opts.maintenance ?? true) {
    const def = SCHEDULES.find((d) => d.stage === 'maintenance')!;
    for (const p of opts.pipelines ?? [BUILT_IN_SENSOR]) {
      const sensor = p.name === SENSOR_PIPELINE;
      out.push({
        id: `${prefix}${maintenanceScheduleId(p.name)}`,
        pipeline: p.name,
        stage: def.stage,
        workflowType: def.workflowType,
        ...withTiming(def.stage, cronFor(def, env)),
        // the sensor pipeline's input stays {} (the workflow defaults to it)
        input: { ...(sensor ? {} : { pipeline: p.name }), ...((opts.inputs?.maintenance as object) ?? {}) },
        summary: sensor ? def.summary : `pipeline ${p.name}: ${def.summary}`,
      });
    }
  }
  return out;
}

const STAGE_SUMMARY: Record<Stage, string> = { raw: 'Kafka → raw', bronze: 'raw → bronze + dead letter', gold: 'bronze → gold' };

export async function ensureSchedules(client: Client, opts: EnsureSchedulesOptions): Promise<{ id: string; cron: string; created: boolean; pipeline?: string; stage: ScheduleDef['stage'] }[]> {
  const out: { id: string; cron: string; created: boolean; pipeline?: string; stage: ScheduleDef['stage'] }[] = [];
  for (const s of planSchedules(opts)) {
    const action: ScheduleOptionsAction = {
      type: 'startWorkflow',
      workflowType: s.workflowType,
      taskQueue: opts.taskQueue,
      workflowId: s.id,
      args: [s.input],
      staticSummary: `${s.stage}: ${s.summary} (schedule ${s.id}, ${s.cron})`,
    };
    const spec: ScheduleSpec = s.every === undefined ? { cronExpressions: [s.cron] } : { intervals: [{ every: s.every }] };
    const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' as const, pauseOnFailure: false };
    const info = { id: s.id, cron: s.cron, stage: s.stage, ...(s.pipeline !== undefined ? { pipeline: s.pipeline } : {}) };
    try {
      // memo.pipeline lets a later run find the schedules of a pipeline removed from the file
      await client.schedule.create({ scheduleId: s.id, spec, action, policies, memo: { stage: s.stage, ...(s.pipeline !== undefined ? { pipeline: s.pipeline } : {}) } });
      out.push({ ...info, created: true });
    } catch (e) {
      if (!(e instanceof ScheduleAlreadyRunning)) throw e;
      await client.schedule.getHandle(s.id).update((prev) => ({ ...prev, spec, action, policies }));
      out.push({ ...info, created: false });
    }
  }
  return out;
}

/** Runs each stage's schedule once now (overlap SKIP, so the run joins its checkpoint chain); not maintenance. */
export async function triggerSchedules(client: Client, idPrefix = '', pipelines: readonly PipelineScheduling[] = [BUILT_IN_SENSOR]): Promise<void> {
  for (const p of pipelines) for (const def of STAGE_SCHEDULES) await client.schedule.getHandle(`${idPrefix}${p.scheduleIds[def.stage]}`).trigger(ScheduleOverlapPolicy.SKIP);
}

/** A stage or maintenance schedule of a pipeline that is no longer in the definition file. */
export interface OrphanSchedule {
  id: string;
  pipeline: string;
  stage: string;
}

const SENSOR_IDS = new Set([...Object.values(BUILT_IN_SENSOR.scheduleIds), maintenanceScheduleId(SENSOR_PIPELINE)]);

/**
 * Stage and maintenance schedules (under `idPrefix`) whose pipeline is not among `pipelines`:
 * schedules created for a pipeline carry it in their memo; the sensor pipeline's older schedules
 * carry none and are known by their ids. Found from the schedule list,
 * which the server indexes asynchronously: a schedule created a moment ago may not be listed yet.
 */
export async function orphanSchedules(client: Client, pipelines: readonly Pick<PipelineScheduling, 'name'>[], idPrefix = ''): Promise<OrphanSchedule[]> {
  const names = new Set(pipelines.map((p) => p.name));
  const out: OrphanSchedule[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(idPrefix)) continue;
    const stage = typeof s.memo?.stage === 'string' ? s.memo.stage : undefined;
    if (stage === undefined) continue;
    const pipeline = typeof s.memo?.pipeline === 'string' ? s.memo.pipeline : SENSOR_IDS.has(s.scheduleId.slice(idPrefix.length)) ? SENSOR_PIPELINE : undefined;
    if (pipeline !== undefined && !names.has(pipeline)) out.push({ id: s.scheduleId, pipeline, stage });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Deletes the given schedules (their runs in flight finish; nothing in the lake changes). Already gone = fine. */
export async function deleteSchedules(client: Client, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await client.schedule
      .getHandle(id)
      .delete()
      .catch((e: unknown) => {
        if (!(e instanceof ScheduleNotFoundError)) throw e;
      });
  }
}

export interface SyncResult {
  schedules: Awaited<ReturnType<typeof ensureSchedules>>;
  /** Stage schedules of pipelines no longer in the file (deleted when `prune`). */
  orphans: OrphanSchedule[];
  pruned: boolean;
}

/**
 * What `npm run schedules` and `npm run pipelines -- apply` do: create or update every pipeline's
 * schedules, then find those of pipelines removed from the file. They are only reported unless
 * `prune` (`--prune`): deleting a schedule is easy to do by mistake with a wrong PIPELINES_FILE,
 * and a schedule's last result (its checkpoint chain) is lost with it.
 */
export async function syncSchedules(client: Client, opts: EnsureSchedulesOptions & { pipelines: readonly PipelineScheduling[]; prune?: boolean }): Promise<SyncResult> {
  const schedules = await ensureSchedules(client, opts);
  const orphans = await orphanSchedules(client, opts.pipelines, opts.idPrefix);
  if (opts.prune) await deleteSchedules(client, orphans.map((o) => o.id));
  return { schedules, orphans, pruned: Boolean(opts.prune) };
}

/** One line per orphan: what `--prune` would delete (or deleted). */
export function describeOrphans(r: Pick<SyncResult, 'orphans' | 'pruned'>): string[] {
  return r.orphans.map((o) =>
    r.pruned
      ? `deleted schedule ${o.id} (pipeline ${o.pipeline} is no longer in the definition file)`
      : `schedule ${o.id} belongs to pipeline ${o.pipeline}, which is no longer in the definition file: left as it is (pause or delete it, or rerun with --prune to delete it)`,
  );
}
