/**
 * Table maintenance for a pipeline's tables (any pipeline: a StagePipeline says which tables and
 * app ids; the sensor pipeline's are the defaults): which tables, which layout each keeps, which
 * downstream stage reads each one incrementally, and the per-table order of the Delta operations
 * (src/delta: optimize, checkpoint, vacuum, log cleanup). The Delta library knows nothing of
 * stages; this module tells it what a stage still needs:
 *
 *  - compaction rewrites only files every downstream reader has consumed (added at or before its
 *    checkpoint version): a file it still has to read is never removed, so neither a later vacuum
 *    nor anything else can take it away, and its change feed stays a list of appends;
 *  - log cleanup keeps every commit after the oldest downstream checkpoint (raw versions after
 *    bronze's, bronze versions after gold's) — the change feed reads them one by one.
 *
 * Per table, in this order: properties (from config) → compact → checkpoint (after a compaction,
 * or when `delta.checkpointInterval` commits went by without one) → vacuum → log cleanup.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  addedFilesSince,
  checkpointInterval,
  cleanupLog,
  commit,
  compact,
  DeltaLogCorruptError,
  DeltaTableNotFoundError,
  loadSnapshot,
  oldestCommitVersion,
  planLogCleanup,
  planTableCompaction,
  readLastCheckpoint,
  tableHealth,
  validateMaintenanceProperties,
  vacuum,
  type AddAction,
  type CompactionOptions,
  type DeltaTable,
  type TableHealth,
} from '../delta';
import { openTableStore } from '../delta/open-store';
import { DEFAULT_GOLD_LAYOUT } from './gold';
import { isSensorPipeline, SENSOR_PIPELINE, type StagePipeline } from './pipeline';
import { lakeTable, tableDir, type TableDef } from './tables';

/** Every table of a pipeline, the replay log included, in the order maintenance keeps them. */
export const maintainedTables = (p: Pick<StagePipeline, 'tables'>): readonly TableDef[] => [p.tables.raw, p.tables.bronze, p.tables.deadLetter, p.tables.replayLog, p.tables.gold];

/** The sensor pipeline's tables. */
export const MAINTAINED_TABLES: readonly TableDef[] = maintainedTables(SENSOR_PIPELINE);

export const MAINTENANCE_OPERATIONS = ['compact', 'checkpoint', 'vacuum', 'cleanupLog'] as const;
export type MaintenanceOperation = (typeof MAINTENANCE_OPERATIONS)[number];

/** A stage that reads `upstream` commit by commit; its progress is `appId`'s txn in `table`. */
interface IncrementalReader {
  stage: 'bronze' | 'gold';
  table: TableDef;
  appId: string;
}

/** Where a table is stored: local disk or an object store, as the stages open it. */
const storeOf = (lakeRoot: string, table: TableDef) => openTableStore(tableDir(lakeRoot, table));

/**
 * Who reads each of the pipeline's tables through its change feed: stage 2 reads raw and writes
 * both bronze tables (one txn each, under the pipeline's bronze app id); stage 3 reads bronze
 * (txn in gold under its gold app id). The dead letter, replay log and gold have no such reader.
 */
function readersOf(p: StagePipeline, table: TableDef): IncrementalReader[] | undefined {
  if (table.name === p.tables.raw.name) {
    return [
      { stage: 'bronze', table: p.tables.bronze, appId: p.appIds.bronze },
      { stage: 'bronze', table: p.tables.deadLetter, appId: p.appIds.bronze },
    ];
  }
  if (table.name === p.tables.bronze.name) return [{ stage: 'gold', table: p.tables.gold, appId: p.appIds.gold }];
  return undefined;
}

/**
 * The sensor pipeline's gold stays sorted by (ts_ms, sensor_id) and cut into ts_ms windows, so
 * MERGE keeps pruning by stats (gold.ts writes it that way). Other pipelines' gold merge
 * (gold-scd.ts) keeps no sort order, so compaction only bin-packs it, like every other table.
 */
export function tableLayout(table: TableDef, pipeline: StagePipeline = SENSOR_PIPELINE): Pick<CompactionOptions, 'orderBy' | 'groupOf'> {
  if (!isSensorPipeline(pipeline) || table.name !== pipeline.tables.gold.name) return {};
  return {
    orderBy: ['ts_ms', 'sensor_id'],
    groupOf: (add: AddAction) => {
      const min = add.stats ? (JSON.parse(add.stats) as { minValues?: { ts_ms?: number } }).minValues?.ts_ms : undefined;
      return typeof min === 'number' ? String(Math.floor(min / DEFAULT_GOLD_LAYOUT.clusterMs)) : 'unknown';
    },
  };
}

/**
 * The version each downstream reader of `table` has processed through (-1 = nothing yet, so it
 * needs the whole log); null when nobody reads the table incrementally.
 */
export async function downstreamCheckpoint(lakeRoot: string, table: TableDef, pipeline: StagePipeline = SENSOR_PIPELINE): Promise<number | null> {
  const readers = readersOf(pipeline, table);
  if (!readers) return null;
  let min = Number.MAX_SAFE_INTEGER;
  for (const r of readers) {
    let v = -1;
    try {
      v = (await loadSnapshot(storeOf(lakeRoot, r.table))).appTransactions.get(r.appId) ?? -1;
    } catch {
      v = -1; // the reader's table doesn't exist yet: it will start from the beginning
    }
    min = Math.min(min, v);
  }
  return min;
}

export interface MaintainTableRequest {
  lakeRoot: string;
  /** Whose table (its readers and layout); default the sensor pipeline. */
  pipeline?: StagePipeline;
  table: TableDef;
  operations: readonly MaintenanceOperation[];
  dryRun: boolean;
  /** Vacuum with a retention shorter than the table's (Spark's retentionDurationCheck off). */
  force: boolean;
  vacuumRetentionMs?: number;
  targetFileSize?: number;
  /** `delta.*` properties the table must carry (from config); others it has are kept. */
  properties?: Record<string, string>;
  now?: number;
}

export interface MaintainTableResult {
  table: string;
  dryRun: boolean;
  version: number;
  propertiesSet: string[];
  compaction: { bins: number; filesRemoved: number; filesAdded: number; bytesRemoved: number; bytesAdded: number; versions: number[]; skipped?: string } | null;
  checkpoint: number | null;
  vacuum: { files: number; bytes: number; deleted: number; retentionMs: number; sample: string[] } | null;
  logCleanup: { deleteBelow: number | null; files: number; deleted: number; oldestRetainedVersion: number | null; reason?: string } | null;
}

/** Runs the requested operations on one table (conn must have the delta extension loaded: checkpoints). */
export async function maintainTable(conn: DuckDBConnection, req: MaintainTableRequest): Promise<MaintainTableResult> {
  const table = lakeTable(conn, tableDir(req.lakeRoot, req.table));
  const store = table.store;
  const ops = new Set(req.operations);
  const out: MaintainTableResult = { table: req.table.name, dryRun: req.dryRun, version: -1, propertiesSet: [], compaction: null, checkpoint: null, vacuum: null, logCleanup: null };

  if (req.properties && Object.keys(req.properties).length > 0) out.propertiesSet = await setProperties(table, req.properties, req.dryRun);

  const downstream = await downstreamCheckpoint(req.lakeRoot, req.table, req.pipeline);
  if (ops.has('compact')) out.compaction = await compactTable(conn, table, req, downstream);

  // A compaction is always followed by a checkpoint (readers then skip the removed files' history).
  const compacted = (out.compaction?.versions.length ?? 0) > 0;
  if ((ops.has('checkpoint') || compacted) && !req.dryRun) {
    const snap = await loadSnapshot(store);
    const last = await readLastCheckpoint(store);
    const since = snap.version - (last && last.version <= snap.version ? last.version : -1);
    const due = ops.has('checkpoint') && since >= checkpointInterval(snap.metadata);
    if (snap.version > 0 && ((compacted && last?.version !== snap.version) || due)) {
      out.checkpoint = await table.checkpointer!(store);
    }
  }

  if (ops.has('vacuum')) {
    const r = await vacuum(table, { dryRun: req.dryRun, force: req.force, retentionMs: req.vacuumRetentionMs, now: req.now });
    out.vacuum = { files: r.files.length, bytes: r.bytes, deleted: r.deleted, retentionMs: r.retentionMs, sample: r.files.slice(0, 20).map((f) => f.key) };
  }

  if (ops.has('cleanupLog')) {
    const opts = { keepFromVersion: downstream === null ? undefined : downstream + 1, now: req.now, dryRun: req.dryRun };
    const r = req.dryRun ? { ...(await planLogCleanup(store, opts)), deleted: 0 } : await cleanupLog(store, opts);
    out.logCleanup = { deleteBelow: r.deleteBelow, files: r.keys.length, deleted: r.deleted, oldestRetainedVersion: r.oldestRetainedVersion, ...(r.reason ? { reason: r.reason } : {}) };
  }
  out.version = (await loadSnapshot(store)).version;
  return out;
}

async function compactTable(conn: DuckDBConnection, table: DeltaTable, req: MaintainTableRequest, downstream: number | null): Promise<NonNullable<MaintainTableResult['compaction']>> {
  const unconsumed = new Set<string>();
  if (downstream !== null) {
    const latest = (await loadSnapshot(table.store)).version;
    try {
      for (const c of await addedFilesSince(table.store, downstream, latest)) for (const a of c.adds) unconsumed.add(a.path);
    } catch (e) {
      if (!(e instanceof DeltaLogCorruptError)) throw e;
      // The reader fell behind the retained log; its own run reports how to recover.
      return { bins: 0, filesRemoved: 0, filesAdded: 0, bytesRemoved: 0, bytesAdded: 0, versions: [], skipped: `the downstream reader is behind the retained log: ${e.message}` };
    }
  }
  const opts: CompactionOptions = { ...tableLayout(req.table, req.pipeline), targetFileSize: req.targetFileSize, eligible: (a) => !unconsumed.has(a.path) };
  if (req.dryRun) {
    const plan = await planTableCompaction(table, opts);
    const bytes = plan.bins.reduce((s, b) => s + b.bytes, 0);
    return { bins: plan.bins.length, filesRemoved: plan.bins.reduce((s, b) => s + b.inputs.length, 0), filesAdded: plan.bins.length, bytesRemoved: bytes, bytesAdded: 0, versions: [] };
  }
  const r = await compact(table, conn, opts);
  return { bins: r.filesAdded, filesRemoved: r.filesRemoved, filesAdded: r.filesAdded, bytesRemoved: r.bytesRemoved, bytesAdded: r.bytesAdded, versions: r.versions };
}

/** Commits a metaData with `properties` merged into the configuration, when any differs. */
async function setProperties(table: DeltaTable, properties: Record<string, string>, dryRun: boolean): Promise<string[]> {
  validateMaintenanceProperties(properties, table.store.root);
  const snap = await loadSnapshot(table.store);
  const changed = Object.keys(properties).filter((k) => snap.metadata.configuration[k] !== properties[k]);
  if (changed.length === 0 || dryRun) return changed;
  await commit(table, {
    plan: async (s) => {
      const { fields: _fields, ...meta } = s.metadata;
      void _fields;
      const still = Object.keys(properties).filter((k) => s.metadata.configuration[k] !== properties[k]);
      if (still.length === 0) return null;
      return {
        actions: [{ metaData: { ...meta, configuration: { ...s.metadata.configuration, ...properties } } }],
        commitInfo: { operation: 'SET TBLPROPERTIES', operationParameters: { properties: JSON.stringify(properties) } },
      };
    },
  });
  return changed;
}

/**
 * A downstream stage's change feed needs the upstream commits after its checkpoint; when log
 * cleanup (or a person) removed them, no retry can help. Thrown non-retryably with how to recover.
 */
export class ChangeFeedExpiredError extends Error {
  override name = 'ChangeFeedExpiredError';
}

/**
 * Turns a stage's missing-commit error into ChangeFeedExpiredError when the upstream log really
 * starts after the stage's checkpoint (log cleanup, or files deleted by hand); returns any other
 * error unchanged. Called by the stage activities when a run fails.
 */
export async function explainExpiredFeed(e: unknown, lakeRoot: string, stage: 'bronze' | 'gold', pipeline: StagePipeline = SENSOR_PIPELINE): Promise<unknown> {
  // By name: the error comes from whichever Delta reader the stage uses.
  if ((e as Error)?.name !== 'DeltaLogCorruptError') return e;
  const upstreamTable = stage === 'bronze' ? pipeline.tables.raw : pipeline.tables.bronze;
  const upstream = storeOf(lakeRoot, upstreamTable);
  const oldest = await oldestCommitVersion(upstream).catch(() => null);
  const after = (await downstreamCheckpoint(lakeRoot, upstreamTable, pipeline).catch(() => null)) ?? -1;
  if (oldest === null || oldest <= after + 1) return e;
  // Every row is still in the upstream table's snapshot (compaction only rewrites rows the stage
  // has read, vacuum only deletes unreferenced files): what is lost is the commit-by-commit path.
  const recover =
    stage === 'bronze'
      ? `re-derive bronze from the raw table's snapshot: every raw row not yet in bronze or the dead letter (a backfill keyed by topic/partition/offset, ` +
        `which skips rows already there), then move ${pipeline.appIds.bronze} in both bronze tables to raw version ${oldest - 1}`
      : `rebuild gold from the bronze table's snapshot (a MERGE of every live bronze file is idempotent: newer arrival wins), ` +
        `then move ${pipeline.appIds.gold} to bronze version ${oldest - 1}`;
  return new ChangeFeedExpiredError(
    `${stage} stage: its checkpoint is version ${after} of ${upstreamTable.name}, but that table's log now starts at version ${oldest} ` +
      `(versions ${after + 1}..${oldest - 1} were removed by log cleanup — delta.logRetentionDuration — or by hand), ` +
      `so its change feed cannot be read any more and retrying cannot help. To recover, ${recover}.`,
  );
}

export interface TableHealthRow extends TableHealth {
  table: string;
}

/** Maintenance health of every table of the pipeline that exists (for `npm run status`). */
export async function tablesHealth(lakeRoot: string, pipeline: Pick<StagePipeline, 'tables'> = SENSOR_PIPELINE): Promise<TableHealthRow[]> {
  const out: TableHealthRow[] = [];
  for (const t of maintainedTables(pipeline)) {
    let snap;
    try {
      snap = await loadSnapshot(storeOf(lakeRoot, t));
    } catch (e) {
      if (e instanceof DeltaTableNotFoundError) continue;
      throw e;
    }
    out.push({ table: t.name, ...(await tableHealth(snap)) });
  }
  return out;
}
