/**
 * What a data engineer asks first: where is each stage, did its last run work, how far behind is
 * it, and what do the tables hold. Everything is read from the sources of truth — Kafka
 * watermarks, the Delta logs (row counts from file stats: no table scans, except the dead-letter
 * breakdown) and Temporal's visibility — never from a separate state store.
 */
import { openTableStore } from './delta/open-store';
import { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { WorkerConfig } from './config';
import { connectKafka, type KafkaLogger } from './kafka/connection';
import { fetchWatermarks, topicsMatching } from './kafka/watermarks';
import { addedFilesSince, DeltaTableNotFoundError, loadSnapshot, recordCountOf, type Snapshot } from './delta';
import { lakeStores, openDuckDB } from './lake/duckdb';
import { safeDuckPath, sqlString } from './delta/sql';
import { tableDir } from './lake/tables';
import { SENSOR_PIPELINE, type StagePipeline, type StageSource } from './lake/pipeline';
import { checkpointOf, NO_CHECKPOINT, readsAfter, type VersionCheckpoint } from './stages';
import { NOTHING_PROCESSED } from './lake/bronze-plan';
import { tablesHealth, type TableHealthRow } from './lake/maintenance';
import { BUILT_IN_SENSOR, maintenanceScheduleId, SCHEDULES, STAGE_SCHEDULES } from './schedules';
import type { PipelineDefinition } from './pipelines/definition';
import { stagePipeline } from './pipelines/stage-pipeline';

export interface TableStatus {
  table: string;
  version: number | null;
  rows: number | null;
  files: number;
  /** Bytes of the live data files (Delta `add.size`). */
  bytes: number;
}

export type StageName = 'raw' | 'bronze' | 'gold';

/** Where a stage stands, from the tables (and Kafka for raw): shared by `status` and the metrics. */
export interface StageLag {
  stage: StageName;
  checkpoint: unknown;
  /** Records upstream not yet processed by this stage (null when unknown, e.g. Kafka unreachable). */
  lag: number | null;
  /** Raw only: Kafka end offsets − raw checkpoint, per topic (null when Kafka is unreachable). */
  lagByTopic?: Record<string, number> | null;
  /** The table the lag is counted in: the stage's input table (bronze, gold). */
  lagTable?: string;
}

export interface StageStatus {
  stage: StageName;
  schedule: string;
  workflowType: string;
  checkpoint: unknown;
  lastRun: { workflowId: string; status: string; startTime: string; closeTime: string | null; summary: string | null } | null;
  /** Records upstream not yet processed by this stage (null when unknown). */
  lag: number | null;
}

export interface PipelineStatus {
  at: string;
  /** The pipeline of `stages`, `tables` and `deadLettersByError` (the sensor pipeline unless filtered). */
  pipeline: string;
  stages: StageStatus[];
  tables: TableStatus[];
  deadLettersByError: Record<string, number>;
  /**
   * Table maintenance: the first pipeline's last run, per table of every reported pipeline what
   * compaction / vacuum / log cleanup would find, and each pipeline's schedule and last run.
   */
  maintenance: {
    lastRun: StageStatus['lastRun'];
    tables: (TableHealthRow & { lastMaintained: string | null })[];
    schedules: { pipeline: string; schedule: string; lastRun: StageStatus['lastRun'] }[];
  };
  /** Every pipeline reported, the first one also above. */
  pipelines: PipelineStageStatus[];
}

async function snapshotOrNull(dir: string): Promise<Snapshot | null> {
  try {
    return await loadSnapshot(openTableStore(dir));
  } catch (e) {
    if (e instanceof DeltaTableNotFoundError) return null;
    throw e;
  }
}

function rowsOf(snap: Snapshot): number | null {
  let total = 0;
  for (const add of snap.files.values()) {
    const n = recordCountOf(add);
    if (n === null) return null;
    total += n;
  }
  return total;
}

async function lastRun(client: Client, workflowType: string, taskQueue: string, filter = ''): Promise<StageStatus['lastRun']> {
  let newest: WorkflowExecutionInfo | undefined;
  // The values are ours (constants, validated config and names), not user text.
  for await (const wf of client.workflow.list({ query: `WorkflowType = '${workflowType}' AND TaskQueue = '${taskQueue}'${filter ? ` AND ${filter}` : ''}`, pageSize: 1 })) {
    newest = wf;
    break;
  }
  if (!newest) return null;
  let summary: string | null = null;
  if (newest.status.name === 'COMPLETED') {
    summary = JSON.stringify(await client.workflow.getHandle(newest.workflowId, newest.runId).result()).slice(0, 300);
  } else if (newest.status.name === 'FAILED') {
    summary = await client.workflow
      .getHandle(newest.workflowId, newest.runId)
      .result()
      .then(
        () => null,
        (e) => String(e?.cause?.cause?.message ?? e?.cause?.message ?? e?.message),
      );
  }
  return {
    workflowId: newest.workflowId,
    status: newest.status.name,
    startTime: newest.startTime.toISOString(),
    closeTime: newest.closeTime?.toISOString() ?? null,
    summary,
  };
}

/** Per table, when a maintenance run that was not a dry run last kept it (from the newest runs' results). */
async function lastMaintained(client: Client, workflowType: string, taskQueue: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let seen = 0;
  for await (const wf of client.workflow.list({ query: `WorkflowType = '${workflowType}' AND TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Completed'`, pageSize: 20 })) {
    if (++seen > 20) break;
    const r = (await client.workflow.getHandle(wf.workflowId, wf.runId).result()) as { dryRun?: boolean; tables?: { table: string }[] };
    if (r?.dryRun) continue;
    for (const t of r?.tables ?? []) if (!out.has(t.table)) out.set(t.table, wf.startTime.toISOString());
  }
  return out;
}

/** Rows a downstream stage has not consumed: records appended upstream after its checkpoint version. */
async function rowsAfter(upstreamDir: string, upstream: Snapshot | null, processedVersion: VersionCheckpoint): Promise<number | null> {
  if (!upstream) return 0;
  let total = 0;
  for (const commit of await addedFilesSince(openTableStore(upstreamDir), readsAfter(processedVersion), upstream.version)) {
    for (const add of commit.adds) total += recordCountOf(add) ?? 0;
  }
  return total;
}

export interface LakeState {
  tables: TableStatus[];
  stages: StageLag[];
}

/** A pipeline as status reads it: what its stages run (tables, txn app ids, source) and its schedule ids. */
export type StatusPipeline = Pick<StagePipeline, 'name' | 'tables' | 'appIds'> & { source: Pick<StageSource, 'topics' | 'topicPattern'>; scheduleIds: Record<StageName, string> };

/** The sensor pipeline: the code's tables and app ids, its historical schedule ids. */
export const SENSOR_STATUS: StatusPipeline = { ...SENSOR_PIPELINE, scheduleIds: BUILT_IN_SENSOR.scheduleIds };

/**
 * What status reads of the file's pipelines (`npm run status`, `npm start`): each one's stage tables and app ids
 * as the worker runs it and its schedule ids, the sensor pipeline first (its part of the output is what it was
 * before pipelines were declared). The sensor pipeline always has the code's tables and app ids, even when its
 * definition drifted (validate says so).
 */
export function statusPipelinesOf(defs: readonly PipelineDefinition[]): StatusPipeline[] {
  const all = defs.map((def): StatusPipeline => (def.name === SENSOR_PIPELINE.name ? { ...SENSOR_STATUS, source: def.source } : { ...stagePipeline(def), scheduleIds: def.scheduleIds }));
  return all.sort((a, b) => Number(b.name === SENSOR_PIPELINE.name) - Number(a.name === SENSOR_PIPELINE.name));
}

type Role = keyof StatusPipeline['tables'];
const ROLES: readonly Role[] = ['raw', 'bronze', 'deadLetter', 'gold'];

/** Stage 1's checkpoint from the raw table's txns: `<rawPrefix><topic>/<partition>` = next offset. */
function rawCheckpointOf(snap: Snapshot, rawPrefix: string): Record<string, Record<string, number>> {
  const cp: Record<string, Record<string, number>> = {};
  for (const [appId, version] of snap.appTransactions) {
    if (!appId.startsWith(rawPrefix)) continue;
    const rest = appId.slice(rawPrefix.length);
    const slash = rest.lastIndexOf('/');
    if (slash < 0) continue;
    (cp[rest.slice(0, slash)] ??= {})[rest.slice(slash + 1)] = version;
  }
  return cp;
}

/**
 * The tables' versions, sizes and checkpoints and each stage's lag — from the Delta logs and Kafka,
 * no scans. `topics` (the sensor pipeline's `--topic`): the topics whose lag raw reports, default
 * the pipeline's source. `kafkaLogger`: where kafkajs lines go (default: warnings and errors on stderr).
 */
export async function readLakeState(
  config: WorkerConfig,
  topics?: readonly string[],
  kafkaLogger?: KafkaLogger,
  pipeline: StatusPipeline = SENSOR_STATUS,
): Promise<LakeState & { snaps: Record<Role, Snapshot | null> }> {
  const t = pipeline.tables;
  const snaps = {} as Record<Role, Snapshot | null>;
  for (const role of ROLES) snaps[role] = await snapshotOrNull(tableDir(config.lakeRoot, t[role]));
  const tables: TableStatus[] = ROLES.map((role) => {
    const s = snaps[role];
    let bytes = 0;
    for (const add of s?.files.values() ?? []) bytes += add.size;
    return { table: t[role].name, version: s?.version ?? null, rows: s ? rowsOf(s) : 0, files: s?.files.size ?? 0, bytes };
  });

  const stages: StageLag[] = [];
  // raw: Kafka end offsets − the checkpoint
  const cp = snaps.raw ? rawCheckpointOf(snaps.raw, pipeline.appIds.rawPrefix) : {};
  let lagByTopic: Record<string, number> | null = null;
  try {
    const kafka = connectKafka(config.kafka, kafkaLogger);
    const names = topics ? [...topics] : pipeline.source.topics ? [...pipeline.source.topics] : await topicsMatching(kafka, pipeline.source.topicPattern ?? '');
    const marks = await fetchWatermarks(kafka, names);
    lagByTopic = Object.fromEntries(names.map((n) => [n, 0]));
    for (const w of marks) lagByTopic[w.topic] += Math.max(0, w.high - Math.max(w.low, cp[w.topic]?.[String(w.partition)] ?? w.low));
  } catch {
    lagByTopic = null; // Kafka unreachable: the lake is still reported
  }
  const rawLag = lagByTopic ? Object.values(lagByTopic).reduce((a, b) => a + b, 0) : null;
  stages.push({ stage: 'raw', checkpoint: cp, lag: rawLag, lagByTopic });
  // bronze: raw rows after the raw version both bronze and the dead letter hold everything through
  const txn = (snap: Snapshot, appId: string) => snap.appTransactions.get(appId) ?? NOTHING_PROCESSED;
  const bronzeProcessed = snaps.bronze && snaps.deadLetter ? checkpointOf(Math.min(txn(snaps.bronze, pipeline.appIds.bronze), txn(snaps.deadLetter, pipeline.appIds.bronze))) : NO_CHECKPOINT;
  const bronzeLag = await rowsAfter(tableDir(config.lakeRoot, t.raw), snaps.raw, bronzeProcessed);
  stages.push({ stage: 'bronze', checkpoint: { rawVersionProcessed: bronzeProcessed }, lag: bronzeLag, lagTable: t.raw.name });
  // gold: bronze rows after the bronze version merged through
  const goldProcessed = snaps.gold ? (snaps.gold.appTransactions.get(pipeline.appIds.gold) ?? null) : null;
  const goldLag = await rowsAfter(tableDir(config.lakeRoot, t.bronze), snaps.bronze, goldProcessed);
  stages.push({ stage: 'gold', checkpoint: { bronzeVersionProcessed: goldProcessed }, lag: goldLag, lagTable: t.bronze.name });
  return { snaps, tables, stages };
}

/** One pipeline's part of the status: its stages, tables and dead letters. */
export interface PipelineStageStatus {
  pipeline: string;
  stages: StageStatus[];
  tables: TableStatus[];
  deadLettersByError: Record<string, number>;
}

/**
 * Which runs of a stage's workflow on the task queue are a pipeline's (for its last run): a
 * pipeline's runs have workflow ids starting with `<name>-` (its schedules' runs, `<schedule id>-<time>`,
 * and manual runs named so) or `<task queue>/<name>/` (its near-real-time follow-ups); an id that
 * fits two names belongs to the longer (`orders-eu-…` is orders-eu's, not orders'; a longer name that would
 * take the shorter's own runs, like orders-raw, is refused by the definition file). The sensor
 * pipeline's are all runs no other pipeline claims, as before pipelines were declared.
 */
function runsOf(p: StatusPipeline, all: readonly StatusPipeline[], taskQueue: string): string {
  const others = all.filter((x) => x.name !== SENSOR_PIPELINE.name);
  const claims = (x: StatusPipeline) => `(WorkflowId STARTS_WITH ${visibilityString(`${x.name}-`)} OR WorkflowId STARTS_WITH ${visibilityString(`${taskQueue}/${x.name}/`)})`;
  if (p.name === SENSOR_PIPELINE.name) return others.length ? `NOT (${others.map(claims).join(' OR ')})` : '';
  const longer = others.filter((x) => x.name.startsWith(`${p.name}-`));
  return longer.length ? `(${claims(p)} AND NOT (${longer.map(claims).join(' OR ')}))` : claims(p);
}

/** A string literal of Temporal's visibility query language (our ids: validated names, no quotes). */
const visibilityString = (v: string): string => {
  if (!/^[A-Za-z0-9._\/ :-]*$/.test(v)) throw new Error(`unexpected characters in ${JSON.stringify(v)}`);
  return `'${v}'`;
};

async function pipelineStageStatus(client: Client, config: WorkerConfig, p: StatusPipeline, all: readonly StatusPipeline[], topics?: readonly string[]): Promise<PipelineStageStatus> {
  const lake = await readLakeState(config, topics, undefined, p);
  const stages: StageStatus[] = [];
  for (const def of STAGE_SCHEDULES) {
    const st = lake.stages.find((s) => s.stage === def.stage)!;
    const runs = runsOf(p, all, config.temporal.taskQueue);
    stages.push({ stage: def.stage, schedule: p.scheduleIds[def.stage], workflowType: def.workflowType, checkpoint: st.checkpoint, lastRun: await lastRun(client, def.workflowType, config.temporal.taskQueue, runs), lag: st.lag });
  }
  const deadLettersByError: Record<string, number> = {};
  if (lake.snaps.deadLetter) {
    const duck = await openDuckDB({ extensionPath: config.deltaExtensionPath, stores: lakeStores(config.lakeRoot) });
    try {
      const dir = sqlString(safeDuckPath(tableDir(config.lakeRoot, p.tables.deadLetter)));
      const rows = (await duck.connection.runAndReadAll(`SELECT error, count(*)::BIGINT AS n FROM delta_scan(${dir}) GROUP BY error ORDER BY n DESC`)).getRowObjects();
      for (const r of rows) deadLettersByError[String(r.error)] = Number(r.n);
    } finally {
      duck.close();
    }
  }
  return { pipeline: p.name, stages, tables: lake.tables, deadLettersByError };
}

export interface CollectStatusOptions {
  /** The pipelines to report, in order (default: the sensor pipeline). */
  pipelines?: readonly StatusPipeline[];
  /** Every pipeline of the file (tells a pipeline's runs from the others'; default `pipelines`). */
  allPipelines?: readonly StatusPipeline[];
}

/**
 * The status of the given pipelines, plus table maintenance. The top-level `stages`, `tables` and
 * `deadLettersByError` are the first pipeline's (the sensor pipeline's unless filtered), as they
 * were before pipelines were declared; `pipelines` holds every pipeline's.
 * `topics`: the topics the sensor pipeline's raw lag is counted over (`--topic`).
 */
export async function collectStatus(client: Client, config: WorkerConfig, topics?: readonly string[], opts: CollectStatusOptions = {}): Promise<PipelineStatus> {
  const shown = opts.pipelines ?? [SENSOR_STATUS];
  if (shown.length === 0) throw new Error('collectStatus: no pipeline to report');
  const all = opts.allPipelines ?? shown;
  const pipelines: PipelineStageStatus[] = [];
  for (const p of shown) pipelines.push(await pipelineStageStatus(client, config, p, all, p.name === SENSOR_PIPELINE.name ? topics : undefined));
  const maintainDef = SCHEDULES.find((d) => d.stage === 'maintenance')!;
  const maintained = await lastMaintained(client, maintainDef.workflowType, config.temporal.taskQueue);
  const health: PipelineStatus['maintenance']['tables'] = [];
  const schedules: PipelineStatus['maintenance']['schedules'] = [];
  for (const p of shown) {
    // table paths are unique across pipelines, so the per-table map serves them all
    for (const t of await tablesHealth(config.lakeRoot, p)) health.push({ ...t, lastMaintained: maintained.get(t.table) ?? null });
    const run = await lastRun(client, maintainDef.workflowType, config.temporal.taskQueue, runsOf(p, all, config.temporal.taskQueue));
    schedules.push({ pipeline: p.name, schedule: maintenanceScheduleId(p.name), lastRun: run });
  }
  const maintenance = { lastRun: schedules[0]!.lastRun, tables: health, schedules };
  const [first] = pipelines;
  return { at: new Date().toISOString(), pipeline: first!.pipeline, stages: first!.stages, tables: first!.tables, deadLettersByError: first!.deadLettersByError, maintenance, pipelines };
}

function table(headers: string[], rows: (string | number | null)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null ? '—' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r, j) => r.map((c, i) => c.padEnd(widths[i])).join('  ') + (j === 0 ? '\n' + widths.map((w) => '─'.repeat(w)).join('  ') : '')).join('\n');
}

/** A pipeline's stages (with its failures), tables and dead letters, as `npm run status` prints them. */
function formatPipeline(p: PipelineStageStatus): string[] {
  const stages = table(
    ['stage', 'schedule', 'last run', 'started', 'lag (records)', 'checkpoint'],
    p.stages.map((st) => [st.stage, st.schedule, st.lastRun?.status ?? 'never', st.lastRun?.startTime ?? null, st.lag, JSON.stringify(st.checkpoint)]),
  );
  const failures = p.stages.filter((st) => st.lastRun?.status === 'FAILED').map((st) => `  ${st.stage}: ${st.lastRun!.summary}`);
  const tables = table(['table', 'version', 'rows', 'files'], p.tables.map((t) => [t.table, t.version, t.rows, t.files]));
  const dl = Object.entries(p.deadLettersByError).map(([e, n]) => `  ${n}  ${e}`);
  return [stages, ...(failures.length ? ['last failures:', ...failures] : []), '', tables, '', dl.length ? `dead letters by error:\n${dl.join('\n')}` : 'dead letters: none'];
}

/**
 * The sensor pipeline first, exactly as before pipelines were declared (scripts parse it), then
 * each other pipeline under a `pipeline <name>` line, then table maintenance.
 */
export function formatStatus(s: PipelineStatus): string {
  const m = s.maintenance;
  const mib = (b: number) => (b / 1024 ** 2).toFixed(1);
  const health = table(
    ['table', 'live files', 'small', 'mean MiB', 'MiB', 'commits since checkpoint', 'oldest version', 'MiB to vacuum', 'last maintained'],
    m.tables.map((t) => [t.table, t.liveFiles, t.smallFiles, mib(t.meanFileBytes), mib(t.bytes), t.commitsSinceCheckpoint, t.oldestRetainedVersion, mib(t.bytesWaitingForVacuum), t.lastMaintained]),
  );
  const last = (r: StageStatus['lastRun']) => (r ? `${r.status} ${r.startTime}${r.status === 'FAILED' ? ` — ${r.summary}` : ''}` : 'never');
  const runs = m.schedules.map((x) => `table maintenance${x.pipeline === SENSOR_PIPELINE.name ? '' : ` of pipeline ${x.pipeline}`} (schedule ${x.schedule}), last run: ${last(x.lastRun)}`);
  const pipelines = s.pipelines.flatMap((p, i) =>
    i === 0 && p.pipeline === SENSOR_PIPELINE.name ? [`pipeline status at ${s.at}`, ...formatPipeline(p)] : [...(i === 0 ? [`status at ${s.at}`] : ['']), `pipeline ${p.pipeline}`, ...formatPipeline(p)],
  );
  return [...pipelines, '', ...runs, health].join('\n');
}
