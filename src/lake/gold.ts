/**
 * Stage 3 table logic — the seed's `03_merge_gold`: bronze rows appended since the checkpoint are
 * deduplicated and MERGEd into gold/sensor_readings on (sensor_id, ts_ms), with a copy-on-write
 * Delta commit written through src/delta's commit() (the DuckDB delta extension cannot MERGE).
 *
 * Semantics (per key (sensor_id, ts_ms); docs/gold-merge.md):
 *  - Versions are ordered by SOURCE position, never by the wall clock (sourceOrder()). The batch
 *    winner is the greatest; gold keeps the winner's position (source_*) and takes a batch winner
 *    only when strictly greater — one order inside and across batches, so a raw backfill
 *    re-landing old records, skewed worker clocks, replays and out-of-order batches cannot move a
 *    key back (the seed's MERGE updates unconditionally).
 *  - matched → value, unit, updated_at = winner.arrived_at, source_*; not matched → insert with
 *    updated_at = the winner's arrival. arrived_at = the earliest arrival ever merged.
 *    Together: gold = a pure function of the SET of bronze rows merged.
 *
 * Copy-on-write: candidate gold files are the live files whose per-file stats (min/max of ts_ms
 * and sensor_id from the log; files without stats are always candidates) can hold a batch key.
 * Only candidates are read; only candidates where a row actually changes are rewritten (whole
 * file, same rows, new values) and removed; keys found in no candidate are provably new and go to
 * new files. One commit per batch: removes + adds + (for scheduled runs) `txn` appId
 * `tributary.gold/bronze-version` = the last bronze version merged. commit() puts it at
 * snapshot+1 with put-if-absent; a loser rebuilds from the new snapshot (re-pruning, re-reading),
 * and a retried run whose range the txn already covers commits nothing.
 *
 * Layout: every file written is sorted by (ts_ms, sensor_id); new rows are split into clusters of
 * `clusterMs` of ts_ms and files of at most `targetRowsPerFile` rows. Sensor streams append at
 * increasing ts_ms, so new keys fall past every existing file's ts range, and corrections to
 * recent keys hit the one or two newest files: MERGE cost grows with the batch and the files it
 * touches, not with the table. Inserts are never folded into existing files (no write
 * amplification); compacting small files is left to maintenance (see src/delta).
 *
 * One merge at a time per DuckDB connection (it uses connection-local temp tables `__gm_*`).
 */
import { openTableStore } from '../delta/open-store';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  addAction,
  commit,
  dataFileLocation,
  describeSchemaDifference,
  loadSnapshot,
  recordCountOf,
  removeAction,
  UnsupportedDeltaFeatureError,
  writeParquetDataFile,
  type AddAction,
  type CommitPlan,
  type Snapshot,
} from '../delta';
import { sqlIdent, sqlString } from '../delta/sql';
import type { VersionCheckpoint } from '../stages';
import type { BatchMergeResult, GoldRun } from './gold-result';
export type { BatchMergeResult, GoldResult, GoldRun } from './gold-result';
import {
  assertColumns,
  batchResult,
  goldRange,
  loadFileStats,
  mergeCommitInfo,
  parquetFrom,
  parquetList,
  planBronzeBatches,
  summarizeGoldRun,
  utcTimestamp,
  writeDataFiles,
  type BronzeBatch,
  type GoldMergeMode,
} from './gold-run';
export { GoldCheckpointError, planBronzeBatches, type BronzeBatch, type GoldMergeMode } from './gold-run';
import { bronzeHistogram, filesOverlapping, planWindows, type TsBucket, type TsWindow } from './gold-windows';
import { bronzeSource, createDups, loadBronzeBatch, sourceOrder, T, winnersSql } from './gold-sensor-bronze';
import { assertSameUpstream, GOLD, GOLD_CHECKPOINT_APP_ID, GOLD_STAGE, lakeTable, upstreamTxn } from './tables';

export interface GoldLayout {
  /** Upper bound of rows per file written (rewrites and inserts). */
  targetRowsPerFile: number;
  /** New rows are clustered in ts_ms windows of this size; no new file spans two windows. */
  clusterMs: number;
}

export const DEFAULT_GOLD_LAYOUT: GoldLayout = { targetRowsPerFile: 500_000, clusterMs: 3_600_000 };

/** A gold checkpoint that no longer fits the bronze table (bronze recreated, or a bad override). */
const BRONZE_CHANGED_RECOVERY =
  'To keep gold as it is, put the original bronze table back. To rebuild gold from this bronze table, move gold/sensor_readings aside and run mergeGoldWorkflow (it merges all of bronze).';

// ───────────────────────────────────────── one batch ────────────────────────────────────────────

export interface MergeBatchOptions {
  /**
   * txn app id advanced to batch.toVersion in the same commit (compare-and-swap; a range the txn
   * already covers is skipped). null for backfills, which must not move the scheduled checkpoint.
   */
  checkpointAppId: string | null;
  layout?: Partial<GoldLayout>;
  /** Write a Delta checkpoint (through the extension; conn must have it loaded) every N versions; 0 = never. */
  checkpointInterval?: number;
  /** Test hook: an attempt has written its files and is about to commit on `snapshotVersion`. */
  beforeCommitAttempt?: (attempt: number, snapshotVersion: number) => Promise<void>;
  /** Bronze's Delta table id, recorded in gold's commits (see assertSameUpstream in tables.ts). */
  upstreamId?: string;
  /**
   * Merge the batch ts_ms window by ts_ms window (src/lake/gold-windows.ts): the histogram of its
   * bronze ts_ms and the bound of bronze rows per window. Without it the batch is one step.
   */
  windows?: { histogram: TsBucket[]; maxRows: number };
  /** Progress of a windowed batch (heartbeats: one batch can take a while). */
  afterWindow?: (done: number, of: number) => void | Promise<void>;
}


const GOLD_COLS = GOLD.fields.map((f) => sqlIdent(f.name)).join(', ');

/**
 * Merges one bronze batch into gold: one Delta commit (or none when the txn shows it is done,
 * or nothing changes and no checkpoint is to be recorded).
 */
export async function mergeBatchIntoGold(
  conn: DuckDBConnection,
  bronzeDir: string,
  goldDir: string,
  batch: BronzeBatch,
  opts: MergeBatchOptions,
): Promise<BatchMergeResult> {
  const layout = { ...DEFAULT_GOLD_LAYOUT, ...opts.layout };
  if (!Number.isSafeInteger(layout.targetRowsPerFile) || layout.targetRowsPerFile < 1) throw new Error(`targetRowsPerFile must be a positive integer`);
  if (!Number.isSafeInteger(layout.clusterMs) || layout.clusterMs < 1) throw new Error(`clusterMs must be a positive integer`);

  const result = batchResult(batch);
  try {
    const windowed = opts.windows;
    // A batch merged in one step is loaded once, for every commit attempt; windows are loaded
    // inside the attempt (the gold snapshot decides where windows may be cut).
    const keys = windowed ? 0 : await loadBronzeBatch(conn, bronzeDir, batch.files);
    result.keys = keys;

    const build = async (snap: Snapshot): Promise<CommitPlan | null> => {
      result.attempts += 1;
      assertGoldSchema(snap);
      if (opts.checkpointAppId !== null) {
        const done = snap.appTransactions.get(opts.checkpointAppId);
        if (done !== undefined && done >= batch.toVersion) {
          result.alreadyMerged = true;
          return null;
        }
      }
      if (!windowed && keys === 0) return null; // nothing to merge; the caller carries the checkpoint
      let plan: MergePlan;
      if (windowed) {
        // planWindows succeeded on the gold the run started with; a concurrent writer may since have
        // added a file that blocks the cuts: then one window (correct, only bigger).
        const windows = planWindows(windowed.histogram, layout.clusterMs, layout.targetRowsPerFile, windowed.maxRows, snap.files.values()) ?? [
          { lo: 0, hi: 2 ** 53, rows: batch.rows },
        ];
        const merged = await mergeWindows(conn, bronzeDir, batch, windows, snap, layout, opts.afterWindow);
        result.keys = merged.keys;
        plan = merged;
      } else {
        plan = await computeMerge(conn, snap, layout);
      }
      Object.assign(result, plan.counts, {
        removedFiles: plan.removes.map((a) => a.path),
        addedFiles: plan.adds.map((a) => a.path),
      });
      const appId = opts.checkpointAppId;
      if (plan.adds.length === 0 && plan.removes.length === 0 && appId === null) return null;
      await opts.beforeCommitAttempt?.(result.attempts, snap.version);
      return {
        actions: [...plan.removes.map((a) => removeAction(a)), ...plan.adds.map((a) => addAction(a)), ...(opts.upstreamId ? upstreamTxn(GOLD_STAGE, opts.upstreamId, snap) : [])],
        txns: appId === null ? [] : [{ appId, expected: snap.appTransactions.get(appId), next: batch.toVersion }],
        commitInfo: mergeCommitInfo(snap.version, batch, appId !== null, result, {
          predicate: 'gold.sensor_id = new.sensor_id AND gold.ts_ms = new.ts_ms',
          matched: 'new source position > gold source position (docs/gold-merge.md)',
          engineInfo: 'tributary gold merge',
        }),
      };
    };
    // A MERGE is planned on one snapshot: after a lost race it is planned again on the new one
    // (the transaction deletes the files of the attempt that lost).
    const committed = await commit(lakeTable(conn, goldDir, { checkpointInterval: opts.checkpointInterval }), { plan: build, rebuild: build });
    if (committed === null) {
      // Nothing changed (counts stand: e.g. all skipped as older), or the range was merged already
      // (counts of an attempt that lost the race describe nothing that happened).
      if (result.alreadyMerged) {
        Object.assign(result, { inserted: 0, updated: 0, skippedOlder: 0, arrivalBackdated: 0, candidateFiles: 0, removedFiles: [], addedFiles: [] });
      }
      return result;
    }
    result.goldVersion = committed.version;
    return result;
  } finally {
    for (const t of Object.values(T)) await conn.run(`DROP TABLE IF EXISTS ${t}`);
  }
}

function assertGoldSchema(snap: Snapshot): void {
  const diff = describeSchemaDifference(snap.metadata.fields, GOLD.fields);
  if (diff) throw new UnsupportedDeltaFeatureError(`${snap.root}: not the gold schema tributary writes: ${diff}`);
}

/** Batch winner b replaces gold row c. Gold rows from before source_* (NULL) keep the former arrival rule. */
const NEWER = `CASE WHEN c.topic IS NULL THEN b.new_at > c.updated_at ELSE ${sourceOrder('b', 'new_at')} > ${sourceOrder('c', 'updated_at')} END`;

/**
 * A big batch, window by window (src/lake/gold-windows.ts): a window no live gold file can hold a
 * key of is new keys only — deduplicated, sorted and written as one file in one statement, nothing
 * materialized; any other window goes through computeMerge like a small batch.
 */
async function mergeWindows(
  conn: DuckDBConnection,
  bronzeDir: string,
  batch: BronzeBatch,
  windows: TsWindow[],
  snap: Snapshot,
  layout: GoldLayout,
  afterWindow?: (done: number, of: number) => void | Promise<void>,
): Promise<MergePlan & { keys: number }> {
  const out: MergePlan & { keys: number } = {
    removes: [],
    adds: [],
    counts: { inserted: 0, updated: 0, skippedOlder: 0, arrivalBackdated: 0, candidateFiles: 0 },
    keys: 0,
  };
  const gold = [...snap.files.values()];
  try {
    for (const [i, w] of windows.entries()) {
      const files = filesOverlapping(batch.files, w);
      if (w.rows <= layout.targetRowsPerFile && filesOverlapping(gold, w).length === 0) {
        const src = await bronzeSource(conn, bronzeDir, files, w);
        await createDups(conn, src);
        const add = await writeParquetDataFile(
          conn,
          snap.store,
          `SELECT sensor_id, value, unit, ts_ms, first_at AS arrived_at, new_at AS updated_at, kafka_ts AS source_kafka_ts, topic AS source_topic,
                  "partition" AS source_partition, "offset" AS source_offset
           FROM (${winnersSql(src)}) ORDER BY ts_ms, sensor_id`,
          GOLD.fields,
        );
        if (add) {
          const n = recordCountOf(add) ?? 0;
          out.adds.push(add);
          out.counts.inserted += n;
          out.keys += n;
        }
      } else {
        out.keys += await loadBronzeBatch(conn, bronzeDir, files, w);
        const plan = await computeMerge(conn, snap, layout);
        out.removes.push(...plan.removes);
        out.adds.push(...plan.adds);
        for (const k of Object.keys(out.counts) as (keyof MergePlan['counts'])[]) out.counts[k] += plan.counts[k];
      }
      await afterWindow?.(i + 1, windows.length);
    }
  } catch (e) {
    for (const a of out.adds) await snap.store.delete(a.path);
    throw e;
  }
  return out;
}

interface MergePlan {
  removes: AddAction[];
  adds: AddAction[];
  counts: Pick<BatchMergeResult, 'inserted' | 'updated' | 'skippedOlder' | 'arrivalBackdated' | 'candidateFiles'>;
}

/** New contents of the touched gold files + the new rows, as written parquet files. */
async function computeMerge(conn: DuckDBConnection, snap: Snapshot, layout: GoldLayout): Promise<MergePlan> {
  const goldDir = snap.root;
  // 1. Candidate files from the log's per-file stats (unknown bound = unbounded).
  await loadFileStats(conn, T.files, snap);
  const candidates = (
    await conn.runAndReadAll(`
      WITH f AS (
        SELECT path,
               coalesce(TRY_CAST(json_extract_string(stats, '$.minValues.ts_ms') AS BIGINT), -9223372036854775808) AS min_ts,
               coalesce(TRY_CAST(json_extract_string(stats, '$.maxValues.ts_ms') AS BIGINT), 9223372036854775807) AS max_ts,
               json_extract_string(stats, '$.minValues.sensor_id') AS min_sid,
               json_extract_string(stats, '$.maxValues.sensor_id') AS max_sid
        FROM ${T.files})
      SELECT DISTINCT f.path FROM f JOIN ${T.src} b ON b.ts_ms >= f.min_ts AND b.ts_ms <= f.max_ts
      WHERE (f.min_sid IS NULL OR b.sensor_id >= f.min_sid) AND (f.max_sid IS NULL OR b.sensor_id <= f.max_sid)
      ORDER BY 1`)
  ).getRowObjects().map((r) => String(r.path));

  const byAbs = new Map<string, AddAction>();
  for (const p of candidates) byAbs.set(dataFileLocation(snap.store, p), snap.files.get(p)!);

  // 2. Pass 1 — which batch keys the candidates hold, and whether each would change. A streaming
  //    join with the batch as build side: memory stays bounded by the batch even when a backfill
  //    makes most of the table a candidate.
  const goldFrom = async (abs: string[]) => {
    const read = await parquetFrom(conn, abs, true);
    assertColumns(read, GOLD.fields, `${goldDir}: gold data files`);
    const { from, types } = read;
    // The winner's source position, under bronze's names; NULL in files written before gold kept it.
    const opt = (col: string, sql: string, as: string) => `${types.has(col) ? sql : 'NULL'}::${as}`;
    return `(SELECT filename AS __file, CAST(sensor_id AS VARCHAR) AS sensor_id, CAST(value AS DOUBLE) AS value, CAST(unit AS VARCHAR) AS unit,
                    CAST(ts_ms AS BIGINT) AS ts_ms, ${utcTimestamp('arrived_at', types.get('arrived_at')!)} AS arrived_at,
                    ${utcTimestamp('updated_at', types.get('updated_at')!)} AS updated_at,
                    ${types.has('source_kafka_ts') ? utcTimestamp('source_kafka_ts', types.get('source_kafka_ts')!) : 'NULL::TIMESTAMPTZ'} AS kafka_ts,
                    ${opt('source_topic', 'source_topic', 'VARCHAR')} AS topic, ${opt('source_partition', 'source_partition', 'INTEGER')} AS "partition",
                    ${opt('source_offset', 'source_offset', 'BIGINT')} AS "offset"
             FROM ${from})`;
  };
  if (candidates.length > 0) {
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.hits} AS
      SELECT c.__file, b.sensor_id, b.ts_ms, ${NEWER} AS newer, b.first_at < c.arrived_at AS backdated
      FROM ${await goldFrom([...byAbs.keys()])} c JOIN ${T.src} b ON b.sensor_id = c.sensor_id AND b.ts_ms = c.ts_ms`);
  } else {
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.hits} (__file VARCHAR, sensor_id VARCHAR, ts_ms BIGINT, newer BOOLEAN, backdated BOOLEAN)`);
  }
  const counts = (
    await conn.runAndReadAll(`SELECT
        count(*) FILTER (WHERE newer)::BIGINT AS updated,
        count(*) FILTER (WHERE NOT newer)::BIGINT AS skipped,
        count(*) FILTER (WHERE backdated)::BIGINT AS backdated,
        (SELECT count(*) FROM ${T.src} b ANTI JOIN ${T.hits} h ON h.sensor_id = b.sensor_id AND h.ts_ms = b.ts_ms)::BIGINT AS inserted
      FROM ${T.hits}`)
  ).getRowObjects()[0];
  const changed = (await conn.runAndReadAll(`SELECT DISTINCT __file FROM ${T.hits} WHERE newer OR backdated ORDER BY 1`))
    .getRowObjects()
    .map((r) => String(r.__file));
  const removes = changed.map((f) => {
    const add = byAbs.get(f);
    if (!add) throw new Error(`${goldDir}: DuckDB reported rows from ${f}, which is not one of the candidate files read`);
    return add;
  });

  // 3. Pass 2 — output rows: the whole new contents of the changed files + the new keys, grouped
  //    and cut into files.
  const rewritten =
    changed.length === 0
      ? ''
      : `SELECT 'r:' || __file AS grp, sensor_id,
                CASE WHEN newer THEN b.value ELSE value END AS value,
                CASE WHEN newer THEN b.unit ELSE unit END AS unit,
                ts_ms,
                CASE WHEN b.first_at < arrived_at THEN b.first_at ELSE arrived_at END AS arrived_at,
                CASE WHEN newer THEN b.new_at ELSE updated_at END AS updated_at,
                CASE WHEN newer THEN b.kafka_ts ELSE kafka_ts END AS source_kafka_ts,
                CASE WHEN newer THEN b.topic ELSE topic END AS source_topic,
                CASE WHEN newer THEN b."partition" ELSE "partition" END AS source_partition,
                CASE WHEN newer THEN b."offset" ELSE "offset" END AS source_offset
         -- Rows without a batch version (b IS NULL) are never newer: compared as a row value, an
         -- all-NULL b would rank above a gold row whose winner had no Kafka timestamp (NULLs order last).
         FROM (SELECT c.*, b, b.sensor_id IS NOT NULL AND coalesce(${NEWER}, false) AS newer
               FROM ${await goldFrom(changed)} c LEFT JOIN ${T.src} b ON b.sensor_id = c.sensor_id AND b.ts_ms = c.ts_ms)
         UNION ALL`;
  const k = layout.targetRowsPerFile;
  const c = layout.clusterMs;
  // Only groups bigger than one file are numbered (a sort of those rows); a group that fits in one
  // file (the common case: an hour of readings) is chunk 0 and is sorted once, by its COPY. The
  // profile (bench/gold-backlog.ts) had the window over every output row as the largest phase.
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.out} AS
    WITH rows AS MATERIALIZED (
      ${rewritten}
      SELECT 'i:' || (b.ts_ms // ${c})::VARCHAR AS grp, b.sensor_id, b.value, b.unit, b.ts_ms, b.first_at AS arrived_at, b.new_at AS updated_at,
             b.kafka_ts AS source_kafka_ts, b.topic AS source_topic, b."partition" AS source_partition, b."offset" AS source_offset
      FROM ${T.src} b ANTI JOIN ${T.hits} h ON h.sensor_id = b.sensor_id AND h.ts_ms = b.ts_ms
    ), sizes AS MATERIALIZED (
      SELECT grp, count(*) AS n FROM rows GROUP BY grp
    )
    SELECT grp, 0 AS chunk, ${GOLD_COLS} FROM rows SEMI JOIN (SELECT grp FROM sizes WHERE n <= ${k}) USING (grp)
    UNION ALL
    -- balanced cut: ceil(n / k) files of about equal size
    SELECT grp, (rn * ((n + ${k} - 1) // ${k})) // n AS chunk, ${GOLD_COLS} FROM (
      SELECT r.*, row_number() OVER (PARTITION BY r.grp ORDER BY r.ts_ms, r.sensor_id) - 1 AS rn, s.n
      FROM rows r JOIN sizes s USING (grp) WHERE s.n > ${k})`);
  const chunks = (await conn.runAndReadAll(`SELECT DISTINCT grp, chunk FROM ${T.out} ORDER BY grp, chunk`)).getRowObjects();
  const adds = await writeDataFiles(
    conn,
    snap.store,
    chunks.map((ch) => `SELECT ${GOLD_COLS} FROM ${T.out} WHERE grp = ${sqlString(String(ch.grp))} AND chunk = ${Number(ch.chunk)} ORDER BY ts_ms, sensor_id`),
    GOLD.fields,
  );
  return {
    removes,
    adds,
    counts: {
      inserted: Number(counts.inserted),
      updated: Number(counts.updated),
      skippedOlder: Number(counts.skipped),
      arrivalBackdated: Number(counts.backdated),
      candidateFiles: candidates.length,
    },
  };
}

// ─────────────────────────────────────────── a run ──────────────────────────────────────────────

export interface GoldMergeRequest {
  bronzeDir: string;
  goldDir: string;
  mode: GoldMergeMode;
  /** The checkpoint the workflow carried (its previous run's result); the gold table's txn wins, a difference is reported. */
  workflowCheckpoint?: VersionCheckpoint;
  maxRowsPerBatch?: number;
  layout?: Partial<GoldLayout>;
  checkpointInterval?: number;
  /** Called before each batch's merge (fault injection in tests) and after it (progress, heartbeats). */
  beforeBatch?: (n: number, batch: BronzeBatch) => void | Promise<void>;
  afterBatch?: (n: number, r: BatchMergeResult) => void | Promise<void>;
  /** Progress inside a batch merged window by window (heartbeats). */
  afterWindow?: (batch: number, done: number, of: number) => void | Promise<void>;
  beforeCommitAttempt?: MergeBatchOptions['beforeCommitAttempt'];
  /** Stops the run between two batches (activity cancelled, worker shutting down); rejects with its reason. */
  signal?: AbortSignal;
}

/** A backlog is merged in commits of up to this many times maxRowsPerBatch rows, window by window. */
const WINDOWED_BATCH_FACTOR = 20;

/**
 * The run's batches. Up to maxRowsPerBatch rows: one batch, merged in one step (the incremental
 * case: pruning, copy-on-write of the touched files). More (a backlog): batches of up to
 * WINDOWED_BATCH_FACTOR × that, each merged window by window in one commit — windows of at most
 * maxRowsPerBatch bronze rows (targetRowsPerFile where gold has no file), so memory stays bounded
 * and no file is written twice. A batch that cannot be cut into such windows (gold files without ts_ms stats or
 * spanning the backlog) is merged in batches of whole versions of ≤ maxRowsPerBatch rows, one
 * commit each, as before windows existed.
 */
async function planRun(
  conn: DuckDBConnection,
  req: GoldMergeRequest,
  after: number,
  to: number,
): Promise<{ batch: BronzeBatch; windows?: MergeBatchOptions['windows'] }[]> {
  const maxRows = req.maxRowsPerBatch ?? 1_000_000;
  const layout = { ...DEFAULT_GOLD_LAYOUT, ...req.layout };
  const out: { batch: BronzeBatch; windows?: MergeBatchOptions['windows'] }[] = [];
  for (const batch of await planBronzeBatches(conn, req.bronzeDir, after, to, maxRows * WINDOWED_BATCH_FACTOR)) {
    if (batch.rows <= maxRows) {
      out.push({ batch });
      continue;
    }
    const bronzeStore = openTableStore(req.bronzeDir);
    const read = `read_parquet(${parquetList(batch.files.map((a) => dataFileLocation(bronzeStore, a.path)))}, union_by_name = true)`;
    const histogram = await bronzeHistogram(conn, read, layout.clusterMs);
    const gold = await loadSnapshot(openTableStore(req.goldDir));
    if (histogram && planWindows(histogram, layout.clusterMs, layout.targetRowsPerFile, maxRows, gold.files.values())) {
      out.push({ batch, windows: { histogram, maxRows } });
    } else {
      for (const b of await planBronzeBatches(conn, req.bronzeDir, batch.afterVersion, batch.toVersion, maxRows)) out.push({ batch: b });
    }
  }
  return out;
}

export async function readGoldCheckpoint(goldDir: string): Promise<{ bronzeVersion: VersionCheckpoint; goldVersion: number }> {
  const snap = await loadSnapshot(openTableStore(goldDir));
  return { bronzeVersion: snap.appTransactions.get(GOLD_CHECKPOINT_APP_ID) ?? null, goldVersion: snap.version };
}

/** A whole run: plan the bronze range, merge it batch by batch (one gold commit per batch). */
export async function mergeBronzeIntoGold(conn: DuckDBConnection, req: GoldMergeRequest): Promise<GoldRun> {
  const bronze = await loadSnapshot(openTableStore(req.bronzeDir));
  assertSameUpstream(GOLD_STAGE, bronze, await loadSnapshot(openTableStore(req.goldDir)), BRONZE_CHANGED_RECOVERY);
  const gold = await readGoldCheckpoint(req.goldDir);
  const scheduled = req.mode.kind === 'incremental';
  const { after, to, disagreement } = goldRange(req.mode, bronze.version, gold.bronzeVersion, req.workflowCheckpoint, req.bronzeDir);

  const batches = await planRun(conn, req, after, to);
  const results: BatchMergeResult[] = [];
  for (const [i, { batch, windows }] of batches.entries()) {
    // Between batches only: each gold commit is all or nothing, and the retry resumes from its txn.
    req.signal?.throwIfAborted();
    await req.beforeBatch?.(i + 1, batch);
    const r = await mergeBatchIntoGold(conn, req.bronzeDir, req.goldDir, batch, {
      checkpointAppId: scheduled ? GOLD_CHECKPOINT_APP_ID : null,
      layout: req.layout,
      checkpointInterval: req.checkpointInterval,
      beforeCommitAttempt: req.beforeCommitAttempt,
      upstreamId: bronze.metadata.id,
      windows,
      afterWindow: req.afterWindow ? (done, of) => req.afterWindow!(i + 1, done, of) : undefined,
    });
    results.push(r);
    await req.afterBatch?.(i + 1, r);
  }
  const end = await readGoldCheckpoint(req.goldDir);
  return summarizeGoldRun(
    { mode: req.mode, after, to, disagreement, endCheckpoint: end.bronzeVersion, goldVersion: end.goldVersion, workflowCheckpoint: req.workflowCheckpoint },
    results,
  );
}
