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
import { fetchWatermarks } from './kafka/watermarks';
import { addedFilesSince, DeltaTableNotFoundError, loadSnapshot, recordCountOf, type Snapshot } from './delta';
import { lakeStores, openDuckDB } from './lake/duckdb';
import { readRawCheckpoint } from './lake/raw-table';
import { safeDuckPath, sqlString } from './delta/sql';
import { ALL_TABLES, BRONZE, DEAD_LETTER, GOLD, RAW, tableDir, type TableDef } from './lake/tables';
import { processedThrough, readBronzeCheckpoint } from './lake/bronze';
import { checkpointOf, NO_CHECKPOINT, readsAfter, type VersionCheckpoint } from './stages';
import { readGoldCheckpoint } from './lake/gold';
import { tablesHealth, type TableHealthRow } from './lake/maintenance';
import { SCHEDULES, STAGE_SCHEDULES } from './schedules';

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
  stages: StageStatus[];
  tables: TableStatus[];
  deadLettersByError: Record<string, number>;
  /** Table maintenance: its last run, and per table what compaction / vacuum / log cleanup would find. */
  maintenance: { lastRun: StageStatus['lastRun']; tables: (TableHealthRow & { lastMaintained: string | null })[] };
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

async function lastRun(client: Client, workflowType: string, taskQueue: string): Promise<StageStatus['lastRun']> {
  let newest: WorkflowExecutionInfo | undefined;
  // Both values are ours (a constant and validated config), not user text.
  for await (const wf of client.workflow.list({ query: `WorkflowType = '${workflowType}' AND TaskQueue = '${taskQueue}'`, pageSize: 1 })) {
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

/** The tables' versions, sizes and checkpoints and each stage's lag — from the Delta logs and Kafka, no scans. */
/** `kafkaLogger`: where kafkajs lines go (default: warnings and errors on stderr). */
export async function readLakeState(
  config: WorkerConfig,
  topics = ['sensor_readings'],
  kafkaLogger?: KafkaLogger,
): Promise<LakeState & { snaps: Map<TableDef, Snapshot | null> }> {
  const snaps = new Map<TableDef, Snapshot | null>();
  for (const t of ALL_TABLES) snaps.set(t, await snapshotOrNull(tableDir(config.lakeRoot, t)));
  const tables: TableStatus[] = ALL_TABLES.map((t) => {
    const s = snaps.get(t) ?? null;
    let bytes = 0;
    for (const add of s?.files.values() ?? []) bytes += add.size;
    return { table: t.name, version: s?.version ?? null, rows: s ? rowsOf(s) : 0, files: s?.files.size ?? 0, bytes };
  });

  const stages: StageLag[] = [];
  for (const def of STAGE_SCHEDULES) {
    if (def.stage === 'raw') {
      const cp = snaps.get(RAW) ? (await readRawCheckpoint(tableDir(config.lakeRoot, RAW))).checkpoint : {};
      let lagByTopic: Record<string, number> | null = null;
      try {
        const marks = await fetchWatermarks(connectKafka(config.kafka, kafkaLogger), topics);
        lagByTopic = Object.fromEntries(topics.map((t) => [t, 0]));
        for (const w of marks) lagByTopic[w.topic] += Math.max(0, w.high - Math.max(w.low, cp[w.topic]?.[String(w.partition)] ?? w.low));
      } catch {
        lagByTopic = null; // Kafka unreachable: the lake is still reported
      }
      const lag = lagByTopic ? Object.values(lagByTopic).reduce((a, b) => a + b, 0) : null;
      stages.push({ stage: 'raw', checkpoint: cp, lag, lagByTopic });
    } else if (def.stage === 'bronze') {
      const processed = snaps.get(BRONZE) && snaps.get(DEAD_LETTER) ? checkpointOf(processedThrough(await readBronzeCheckpoint(config.lakeRoot))) : NO_CHECKPOINT;
      const lag = await rowsAfter(tableDir(config.lakeRoot, RAW), snaps.get(RAW) ?? null, processed);
      stages.push({ stage: 'bronze', checkpoint: { rawVersionProcessed: processed }, lag, lagTable: RAW.name });
    } else {
      const processed = snaps.get(GOLD) ? (await readGoldCheckpoint(tableDir(config.lakeRoot, GOLD))).bronzeVersion : null;
      const lag = await rowsAfter(tableDir(config.lakeRoot, BRONZE), snaps.get(BRONZE) ?? null, processed);
      stages.push({ stage: 'gold', checkpoint: { bronzeVersionProcessed: processed }, lag, lagTable: BRONZE.name });
    }
  }
  return { snaps, tables, stages };
}

export async function collectStatus(client: Client, config: WorkerConfig, topics = ['sensor_readings']): Promise<PipelineStatus> {
  const lake = await readLakeState(config, topics);
  const stages: StageStatus[] = [];
  for (const def of STAGE_SCHEDULES) {
    const st = lake.stages.find((s) => s.stage === def.stage)!;
    stages.push({ stage: def.stage, schedule: def.id, workflowType: def.workflowType, checkpoint: st.checkpoint, lastRun: await lastRun(client, def.workflowType, config.temporal.taskQueue), lag: st.lag });
  }

  const deadLettersByError: Record<string, number> = {};
  if (lake.snaps.get(DEAD_LETTER)) {
    const duck = await openDuckDB({ extensionPath: config.deltaExtensionPath, stores: lakeStores(config.lakeRoot) });
    try {
      const dir = sqlString(safeDuckPath(tableDir(config.lakeRoot, DEAD_LETTER)));
      const rows = (await duck.connection.runAndReadAll(`SELECT error, count(*)::BIGINT AS n FROM delta_scan(${dir}) GROUP BY error ORDER BY n DESC`)).getRowObjects();
      for (const r of rows) deadLettersByError[String(r.error)] = Number(r.n);
    } finally {
      duck.close();
    }
  }
  const maintainDef = SCHEDULES.find((d) => d.stage === 'maintenance')!;
  const maintained = await lastMaintained(client, maintainDef.workflowType, config.temporal.taskQueue);
  const health = (await tablesHealth(config.lakeRoot)).map((t) => ({ ...t, lastMaintained: maintained.get(t.table) ?? null }));
  const maintenance = { lastRun: await lastRun(client, maintainDef.workflowType, config.temporal.taskQueue), tables: health };
  return { at: new Date().toISOString(), stages, tables: lake.tables, deadLettersByError, maintenance };
}

function table(headers: string[], rows: (string | number | null)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null ? '—' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r, j) => r.map((c, i) => c.padEnd(widths[i])).join('  ') + (j === 0 ? '\n' + widths.map((w) => '─'.repeat(w)).join('  ') : '')).join('\n');
}

export function formatStatus(s: PipelineStatus): string {
  const stages = table(
    ['stage', 'schedule', 'last run', 'started', 'lag (records)', 'checkpoint'],
    s.stages.map((st) => [st.stage, st.schedule, st.lastRun?.status ?? 'never', st.lastRun?.startTime ?? null, st.lag, JSON.stringify(st.checkpoint)]),
  );
  const failures = s.stages.filter((st) => st.lastRun?.status === 'FAILED').map((st) => `  ${st.stage}: ${st.lastRun!.summary}`);
  const tables = table(['table', 'version', 'rows', 'files'], s.tables.map((t) => [t.table, t.version, t.rows, t.files]));
  const dl = Object.entries(s.deadLettersByError).map(([e, n]) => `  ${n}  ${e}`);
  const m = s.maintenance;
  const mib = (b: number) => (b / 1024 ** 2).toFixed(1);
  const health = table(
    ['table', 'live files', 'small', 'mean MiB', 'MiB', 'commits since checkpoint', 'oldest version', 'MiB to vacuum', 'last maintained'],
    m.tables.map((t) => [t.table, t.liveFiles, t.smallFiles, mib(t.meanFileBytes), mib(t.bytes), t.commitsSinceCheckpoint, t.oldestRetainedVersion, mib(t.bytesWaitingForVacuum), t.lastMaintained]),
  );
  const lastMaint = m.lastRun ? `${m.lastRun.status} ${m.lastRun.startTime}${m.lastRun.status === 'FAILED' ? ` — ${m.lastRun.summary}` : ''}` : 'never';
  return [
    `pipeline status at ${s.at}`,
    stages,
    ...(failures.length ? ['last failures:', ...failures] : []),
    '',
    tables,
    '',
    dl.length ? `dead letters by error:\n${dl.join('\n')}` : 'dead letters: none',
    '',
    `table maintenance (schedule sensor-maintain-tables), last run: ${lastMaint}`,
    health,
  ].join('\n');
}
