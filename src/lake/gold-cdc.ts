/**
 * Stage 3 for any pipeline but sensor (which keeps gold.ts, its optimised MERGE): gold as a pure
 * function of the SET of bronze rows (gold-scd.ts, SCD type 1 or 2 with deletes), maintained
 * incrementally with copy-on-write Delta commits through src/delta's commit().
 *
 * One batch (bronze versions (after, to], planned by gold-run.ts's planBronzeBatches):
 *
 *   affected keys   = the keys of the rows those versions appended (the change feed: only the
 *                     files they added are read)
 *   events          = ALL bronze rows of those keys (bronze files pruned by their key stats)
 *   new rows        = goldRowsSql(spec, events)
 *   changed keys    = affected keys whose new rows differ from the rows gold holds (EXCEPT ALL)
 *   commit          = remove the gold files holding a changed key; add files with their other rows
 *                     + the new rows of the changed keys; txn <checkpointAppId> = to
 *
 * Re-deriving a key from all of its events is what makes the order, the batching and the
 * repetition of deliveries irrelevant: an update that arrives late, a duplicate, a replay, a
 * backfill of old offsets all land in the same set. A retried run whose range the txn covers
 * commits nothing; a run that loses the commit race re-plans the gold side on the new snapshot.
 * Affected keys whose rows do not change (a re-delivered record) rewrite no file.
 *
 * Events are read from bronze as of the run's start (its latest version), not of each batch's end:
 * a key affected in an early batch then also sees rows a later batch appends, and that later batch
 * re-derives it to the same rows — the invariant that matters, gold = f(bronze through the
 * checkpoint) for every key, holds after each run, and files vacuumed since old versions are never
 * needed. Rows whose key has a NULL cannot be gold rows (keys are NOT NULL in gold) and are skipped.
 *
 * One run at a time per DuckDB connection (connection-local temp tables `__gc_*`).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  addAction,
  commit,
  dataFileLocation,
  DeltaLogCorruptError,
  describeSchemaDifference,
  duckTypeOf,
  loadSnapshot,
  removeAction,
  UnsupportedDeltaFeatureError,
  type AddAction,
  type CommitPlan,
  type DeltaField,
  type Snapshot,
} from '../delta';
import { openTableStore } from '../delta/open-store';
import { sqlIdent, sqlString } from '../delta/sql';
import type { VersionCheckpoint } from '../stages';
import type { BatchMergeResult, GoldRun } from './gold-result';
import {
  batchResult,
  goldRange,
  loadFileStats,
  mergeCommitInfo,
  parquetFrom,
  planBronzeBatches,
  summarizeGoldRun,
  typedRead,
  writeDataFiles,
  type BronzeBatch,
  type GoldMergeMode,
  type ParquetRead,
} from './gold-run';
import { goldRowsSql, SCD2_COLUMNS, type GoldSpec } from './gold-scd';
import { assertSameUpstream, lakeTable, tableDir, upstreamTxn, type TableDef } from './tables';

export interface GoldCdcRequest {
  lakeRoot: string;
  /** Bronze as the pipeline defines it (StagePipeline.tables.bronze) (needs the key, column, sequence and delete-condition columns, and topic/partition/offset). */
  bronze: TableDef;
  /** Gold (StagePipeline.tables.gold): spec.columns, then for SCD2 __START_AT, __END_AT, __IS_CURRENT (src/pipelines/tables.ts plans it). */
  gold: TableDef;
  /** StagePipeline.gold (its default sequence is the Kafka position, KAFKA_POSITION_SEQUENCE). */
  spec: GoldSpec;
  /** txn app id of the scheduled checkpoint in gold (bronze version merged through): StagePipeline.appIds.gold. */
  checkpointAppId: string;
  /** Prefix under which gold records bronze's table id (tables.ts upstreamTxn / assertSameUpstream): StagePipeline.appIds.goldStage. */
  upstreamStage: string;
  mode: GoldMergeMode;
  /** The checkpoint the workflow carried (its previous run's result); the gold table's txn wins, a difference is reported. */
  workflowCheckpoint?: VersionCheckpoint;
  /** Bronze rows appended per batch (whole versions; default 1M). Each batch re-reads all rows of its keys. */
  maxRowsPerBatch?: number;
  /** Upper bound of rows per gold file written (default 500k). */
  targetRowsPerFile?: number;
  /** Delta checkpoint every N gold versions (through the extension); default the table's policy. */
  checkpointInterval?: number;
  beforeBatch?: (n: number, batch: BronzeBatch) => void | Promise<void>;
  afterBatch?: (n: number, r: CdcBatchResult) => void | Promise<void>;
  /** Test hook / heartbeat: an attempt has written its files and is about to commit on `snapshotVersion`. */
  beforeCommitAttempt?: (attempt: number, snapshotVersion: number) => Promise<void>;
  signal?: AbortSignal;
}

/**
 * A batch's detail. inserted / updated / deleted count gold rows (identity: the keys, plus
 * __START_AT for SCD2); skippedOlder = affected keys whose gold rows did not change.
 */
export interface CdcBatchResult extends BatchMergeResult {
  deleted: number;
  /** Bronze files read for the events (after pruning by key stats) / live bronze files. */
  bronzeFilesRead: number;
  bronzeFiles: number;
}

export interface GoldCdcRun extends GoldRun {
  perBatch: CdcBatchResult[];
  deleted: number;
}

const T = { keys: '__gc_keys', events: '__gc_events', old: '__gc_old', fresh: '__gc_new', changed: '__gc_changed', out: '__gc_out', files: '__gc_files' } as const;

const DEFAULT_TARGET_ROWS_PER_FILE = 500_000;

/** A whole run: the bronze range from the checkpoint (or the backfill's), batch by batch, one gold commit per batch. */
export async function mergeBronzeIntoGoldCdc(conn: DuckDBConnection, req: GoldCdcRequest): Promise<GoldCdcRun> {
  const bronzeDir = tableDir(req.lakeRoot, req.bronze);
  const goldDir = tableDir(req.lakeRoot, req.gold);
  checkRequest(req);
  const bronze = await loadSnapshot(openTableStore(bronzeDir));
  const goldStart = await loadSnapshot(openTableStore(goldDir));
  assertSameUpstream(
    req.upstreamStage,
    bronze,
    goldStart,
    `To keep gold as it is, put the original bronze table back. To rebuild gold from this bronze table, move ${req.gold.name} aside and run the gold stage (it merges all of bronze).`,
  );
  const scheduled = req.mode.kind === 'incremental';
  const { after, to, disagreement } = goldRange(req.mode, bronze.version, goldStart.appTransactions.get(req.checkpointAppId) ?? null, req.workflowCheckpoint, bronzeDir);

  const batches = await planBronzeBatches(conn, bronzeDir, after, to, req.maxRowsPerBatch ?? 1_000_000);
  const results: CdcBatchResult[] = [];
  for (const [i, batch] of batches.entries()) {
    req.signal?.throwIfAborted();
    await req.beforeBatch?.(i + 1, batch);
    const r = await mergeCdcBatch(conn, bronze, goldDir, batch, req, scheduled ? req.checkpointAppId : null);
    results.push(r);
    await req.afterBatch?.(i + 1, r);
  }
  const end = await loadSnapshot(openTableStore(goldDir));
  const endCheckpoint = end.appTransactions.get(req.checkpointAppId) ?? null;
  return {
    ...summarizeGoldRun({ mode: req.mode, after, to, disagreement, endCheckpoint, goldVersion: end.version, workflowCheckpoint: req.workflowCheckpoint }, results),
    deleted: results.reduce((n, r) => n + r.deleted, 0),
  };
}

/** Gold's columns as goldRowsSql produces them. */
export function goldColumnsOf(spec: GoldSpec): string[] {
  return spec.scdType === 2 ? [...spec.columns, SCD2_COLUMNS.startAt, SCD2_COLUMNS.endAt, SCD2_COLUMNS.isCurrent] : [...spec.columns];
}

/** Configuration errors (non-retryable: the run would fail the same way every time). */
export class GoldSpecError extends Error {
  override name = 'GoldSpecError';
}

function checkRequest(req: GoldCdcRequest): void {
  const want = goldColumnsOf(req.spec);
  const have = req.gold.fields.map((f) => f.name);
  if (want.join('\u0001') !== have.join('\u0001')) {
    throw new GoldSpecError(`${req.gold.name}: its columns (${have.join(', ')}) are not the gold columns of the spec (${want.join(', ')})`);
  }
  const bronzeCols = new Set(req.bronze.fields.map((f) => f.name));
  const needed = [...req.spec.keys, ...req.spec.columns, ...req.spec.sequenceBy, 'topic', 'partition', 'offset'];
  const missing = [...new Set(needed.filter((c) => !bronzeCols.has(c)))];
  if (missing.length > 0) throw new GoldSpecError(`${req.bronze.name} lacks column(s) ${missing.join(', ')} that gold needs`);
  const byName = new Map(req.gold.fields.map((f) => [f.name, f]));
  const nullableKeys = req.spec.keys.filter((k) => byName.get(k)!.nullable);
  if (nullableKeys.length > 0) throw new GoldSpecError(`${req.gold.name}: key column(s) ${nullableKeys.join(', ')} must be NOT NULL`);
}

// ───────────────────────────────────────── one batch ────────────────────────────────────────────

async function mergeCdcBatch(
  conn: DuckDBConnection,
  bronze: Snapshot,
  goldDir: string,
  batch: BronzeBatch,
  req: GoldCdcRequest,
  appId: string | null,
): Promise<CdcBatchResult> {
  const r: CdcBatchResult = { ...batchResult(batch), deleted: 0, bronzeFilesRead: 0, bronzeFiles: bronze.files.size };
  const keyFields = req.spec.keys.map((k) => req.bronze.fields.find((f) => f.name === k)!);
  try {
    // Bronze side: independent of gold's snapshot, so computed once per batch.
    if (batch.files.length > 0) {
      const added = typedRead(await readFiles(conn, bronze, batch.files.map((a) => a.path)), keyFields, bronze.root);
      const notNull = keyFields.map((f) => `${sqlIdent(f.name)} IS NOT NULL`).join(' AND ');
      await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.keys} AS SELECT DISTINCT * FROM (${added}) WHERE ${notNull}`);
      r.keys = await count(conn, T.keys);
    }
    if (r.keys > 0) r.bronzeFilesRead = await loadEvents(conn, bronze, req.bronze.fields, keyFields);

    const build = async (snap: Snapshot): Promise<CommitPlan | null> => {
      r.attempts += 1;
      const diff = describeSchemaDifference(snap.metadata.fields, req.gold.fields);
      if (diff) throw new UnsupportedDeltaFeatureError(`${snap.root}: not the gold table the pipeline defines: ${diff}`);
      if (appId !== null) {
        const done = snap.appTransactions.get(appId);
        if (done !== undefined && done >= batch.toVersion) {
          r.alreadyMerged = true;
          return null;
        }
      }
      if (r.keys === 0) return null; // nothing to merge; the run's result carries the checkpoint
      const plan = await planGoldFiles(conn, snap, req, r);
      if (plan.adds.length === 0 && plan.removes.length === 0 && appId === null) return null;
      await req.beforeCommitAttempt?.(r.attempts, snap.version);
      return {
        actions: [...plan.removes.map((a) => removeAction(a)), ...plan.adds.map((a) => addAction(a)), ...upstreamTxn(req.upstreamStage, bronze.metadata.id, snap)],
        txns: appId === null ? [] : [{ appId, expected: snap.appTransactions.get(appId), next: batch.toVersion }],
        commitInfo: mergeCommitInfo(snap.version, batch, appId !== null, r, {
          predicate: req.spec.keys.map((k) => `gold.${k} = new.${k}`).join(' AND '),
          matched: `SCD type ${req.spec.scdType}: the key's rows re-derived from all its bronze rows (docs/gold-merge.md)`,
          engineInfo: 'tributary gold cdc',
        }),
      };
    };
    const committed = await commit(lakeTable(conn, goldDir, { checkpointInterval: req.checkpointInterval }), { plan: build, rebuild: build });
    if (committed === null) {
      if (r.alreadyMerged) Object.assign(r, { inserted: 0, updated: 0, deleted: 0, skippedOlder: 0, candidateFiles: 0, removedFiles: [], addedFiles: [] });
      return r;
    }
    r.goldVersion = committed.version;
    return r;
  } finally {
    for (const t of Object.values(T)) await conn.run(`DROP TABLE IF EXISTS ${t}`);
  }
}

/** All bronze rows of the affected keys (T.keys) into T.events; returns the number of bronze files read. */
async function loadEvents(conn: DuckDBConnection, bronze: Snapshot, fields: DeltaField[], keyFields: DeltaField[]): Promise<number> {
  const files = await filesThatMayHoldKeys(conn, bronze, keyFields);
  if (files.length === 0) throw new DeltaLogCorruptError(`${bronze.root}: no live file holds the keys its change feed just added`);
  const typed = typedRead(await readFiles(conn, bronze, files), fields, bronze.root);
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.events} AS SELECT * FROM (${typed}) SEMI JOIN ${T.keys} USING (${keyFields.map((f) => sqlIdent(f.name)).join(', ')})`);
  return files.length;
}

interface GoldFilesPlan {
  removes: AddAction[];
  adds: AddAction[];
}

/** The gold side on one snapshot: which files change, and their replacements (written). */
async function planGoldFiles(conn: DuckDBConnection, snap: Snapshot, req: GoldCdcRequest, r: CdcBatchResult): Promise<GoldFilesPlan> {
  const fields = req.gold.fields;
  const cols = fields.map((f) => sqlIdent(f.name)).join(', ');
  const keyFields = req.spec.keys.map((k) => fields.find((f) => f.name === k)!);
  const keys = keyFields.map((f) => sqlIdent(f.name)).join(', ');
  const candidates = await filesThatMayHoldKeys(conn, snap, keyFields);
  r.candidateFiles = candidates.length;

  // Old rows of the affected keys, with the file holding each.
  if (candidates.length > 0) {
    const typed = typedRead(await readFiles(conn, snap, candidates, true), fields, snap.root, ['filename AS __file']);
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.old} AS SELECT * FROM (${typed}) SEMI JOIN ${T.keys} USING (${keys})`);
  } else {
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.old} AS SELECT NULL::VARCHAR AS __file, ${fields.map((f) => `NULL::${duckTypeOf(f)} AS ${sqlIdent(f.name)}`).join(', ')} LIMIT 0`);
  }
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.fresh} AS SELECT ${fields.map((f) => `CAST(${sqlIdent(f.name)} AS ${duckTypeOf(f)}) AS ${sqlIdent(f.name)}`).join(', ')} FROM (${goldRowsSql(req.spec, T.events)})`);

  // Keys whose rows differ (as multisets: NULLs equal, duplicates counted), and the row counts: per
  // identity, how many rows only the new side has (na) and only the old side has (nr). Keys gold does
  // not hold yet (usually most) are all new rows, without comparing; one hash aggregate counts.
  const identity = [...keyFields.map((f) => f.name), ...(req.spec.scdType === 2 ? [SCD2_COLUMNS.startAt] : [])].map(sqlIdent).join(', ');
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.changed} AS
    WITH __held AS (SELECT DISTINCT ${keys} FROM ${T.old}),
         __both AS MATERIALIZED (SELECT ${cols} FROM ${T.fresh} SEMI JOIN __held USING (${keys}))
    SELECT ${identity}, count(*) FILTER (WHERE __side = 'a') AS na, count(*) FILTER (WHERE __side = 'r') AS nr FROM (
      SELECT 'a' AS __side, ${identity} FROM ${T.fresh} ANTI JOIN __held USING (${keys})
      UNION ALL
      SELECT 'a', ${identity} FROM (SELECT * FROM __both EXCEPT ALL SELECT ${cols} FROM ${T.old})
      UNION ALL
      SELECT 'r', ${identity} FROM (SELECT ${cols} FROM ${T.old} EXCEPT ALL SELECT * FROM __both))
    GROUP BY ALL`);
  const c = (
    await conn.runAndReadAll(`SELECT
        coalesce(sum(na) FILTER (WHERE nr > 0), 0)::BIGINT AS updated,
        coalesce(sum(na) FILTER (WHERE nr = 0), 0)::BIGINT AS inserted,
        coalesce(sum(nr) FILTER (WHERE na = 0), 0)::BIGINT AS deleted,
        (SELECT count(*) FROM (SELECT DISTINCT ${keys} FROM ${T.changed}))::BIGINT AS changed_keys
      FROM ${T.changed}`)
  ).getRowObjects()[0];
  Object.assign(r, { updated: Number(c.updated), inserted: Number(c.inserted), deleted: Number(c.deleted), skippedOlder: r.keys - Number(c.changed_keys) });
  if (Number(c.changed_keys) === 0) return { removes: [], adds: [] };

  // Rewrite the files holding a changed key: their other rows + the changed keys' new rows.
  const changedKeys = `(SELECT DISTINCT ${keys} FROM ${T.changed})`;
  const rewrite = (await conn.runAndReadAll(`SELECT DISTINCT __file FROM ${T.old} SEMI JOIN ${changedKeys} USING (${keys}) ORDER BY 1`)).getRowObjects().map((x) => String(x.__file));
  const byLocation = new Map(candidates.map((p) => [dataFileLocation(snap.store, p), snap.files.get(p)!]));
  const removes = rewrite.map((f) => {
    const add = byLocation.get(f);
    if (!add) throw new Error(`${snap.root}: DuckDB reported rows from ${f}, which is not one of the candidate files read`);
    return add;
  });
  const kept =
    removes.length === 0
      ? ''
      : `SELECT ${cols} FROM (${typedRead(await readFiles(conn, snap, removes.map((a) => a.path)), fields, snap.root)}) ANTI JOIN ${changedKeys} USING (${keys}) UNION ALL`;
  const k = req.targetRowsPerFile ?? DEFAULT_TARGET_ROWS_PER_FILE;
  if (!Number.isSafeInteger(k) || k < 1) throw new GoldSpecError(`targetRowsPerFile must be a positive integer, got ${k}`);
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.out} AS
      ${kept}
      SELECT ${cols} FROM ${T.fresh} SEMI JOIN ${changedKeys} USING (${keys})`);
  // Files are cut in key order; numbering the rows (a sort of the whole output) only when more than one file is needed.
  if ((await count(conn, T.out)) > k) {
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.out} AS SELECT *, (row_number() OVER (ORDER BY ${keys}) - 1) // ${k} AS __chunk FROM ${T.out}`);
  } else {
    await conn.run(`ALTER TABLE ${T.out} ADD COLUMN __chunk BIGINT DEFAULT 0`);
  }
  const chunks = Number((await conn.runAndReadAll(`SELECT coalesce(max(__chunk) + 1, 0)::BIGINT AS n FROM ${T.out}`)).getRowObjects()[0].n);
  const adds = await writeDataFiles(
    conn,
    snap.store,
    Array.from({ length: chunks }, (_, i) => `SELECT ${cols} FROM ${T.out} WHERE __chunk = ${i} ORDER BY ${keys}`),
    fields,
  );
  r.removedFiles = removes.map((a) => a.path);
  r.addedFiles = adds.map((a) => a.path);
  return { removes, adds };
}

// ─────────────────────────────────────────── reading ────────────────────────────────────────────

async function count(conn: DuckDBConnection, table: string): Promise<number> {
  return Number((await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${table}`)).getRowObjects()[0].n);
}

/** `read_parquet([...])` over some data files of a snapshot (paths as in its log), with the column types DuckDB sees in them. */
function readFiles(conn: DuckDBConnection, snap: Snapshot, paths: string[], filename = false): Promise<ParquetRead> {
  return parquetFrom(conn, paths.map((p) => dataFileLocation(snap.store, p)), filename);
}

/** Types whose per-file stats bound the values (src/delta/data-files.ts writes them). */
const STATS_TYPES = (f: DeltaField) => f.type !== 'binary' && f.type !== 'boolean';

/**
 * Live files of `snap` that may hold one of the keys in T.keys: a file whose min/max stats of
 * every key column bracket some key's values. Files lacking a bound (no stats, a long string's
 * max, a name JSON paths can't spell) are always read.
 */
async function filesThatMayHoldKeys(conn: DuckDBConnection, snap: Snapshot, keyFields: DeltaField[]): Promise<string[]> {
  await loadFileStats(conn, T.files, snap);
  const pruning = keyFields.filter((f) => STATS_TYPES(f) && !/["\\]/.test(f.name));
  if (pruning.length === 0) return [...snap.files.keys()];
  const bound = (f: DeltaField, i: number, side: 'min' | 'max') =>
    `TRY_CAST(json_extract_string(stats, ${sqlString(`$.${side}Values."${f.name}"`)}) AS ${duckTypeOf(f)}) AS ${side}${i}`;
  const bounds = pruning.flatMap((f, i) => [bound(f, i, 'min'), bound(f, i, 'max')]).join(', ');
  const complete = pruning.map((_f, i) => `min${i} IS NOT NULL AND max${i} IS NOT NULL`).join(' AND ');
  const within = pruning.map((f, i) => `k.${sqlIdent(f.name)} BETWEEN b.min${i} AND b.max${i}`).join(' AND ');
  const rows = (
    await conn.runAndReadAll(`
      WITH b AS MATERIALIZED (SELECT path, ${bounds} FROM ${T.files})
      SELECT path FROM b WHERE NOT (${complete})
      UNION
      SELECT DISTINCT b.path FROM (SELECT * FROM b WHERE ${complete}) b JOIN ${T.keys} k ON ${within}
      ORDER BY 1`)
  ).getRowObjects();
  return rows.map((x) => String(x.path));
}
