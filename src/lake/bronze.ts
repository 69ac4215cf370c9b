/**
 * Stage 2 — the seed's Job 2 (`02_deserialize`): raw/sensor_readings → bronze/sensor_readings
 * (good rows) + bronze/sensor_readings_dead_letter (bad rows, with the reason). That is the sensor
 * pipeline; any other pipeline (BronzeRunOptions.pipeline) runs the same on its own tables, rules
 * and app ids (`tributary.<pipeline>.bronze/…` instead of `tributary.bronze/…`).
 *
 * Incremental read: the raw table is append-only, so "what is new" is exactly the data files that
 * the raw commits after our checkpoint added (`addedFilesSince`, the change feed — like Spark's
 * Delta streaming source). Nothing else of raw is read and raw is never written.
 *
 * Checkpoint = the raw Delta version processed through, kept as a Delta `txn` action
 * (appId `tributary.bronze/raw-version`) in EACH of the two output tables, inside the same commit
 * that appends that batch's rows. A run starts from min(bronze txn, dead-letter txn) and stops at
 * the raw version that existed when it started.
 *
 * Exactly-once per table: a batch (lo, hi] commits to bronze, then to the dead letter; each commit
 * holds its rows + `txn = hi` and is a compare-and-swap on `txn = lo` (checked against the very
 * snapshot the put-if-absent commit goes on top of, see commitWithRetry). A crash between the two
 * commits leaves bronze at hi and the dead letter at lo: the next attempt first re-derives exactly
 * (lo, hi] for the lagging table only (a "repair" batch), whatever batch size it was given. A
 * concurrent writer that moved a txn makes the commit fail with ConcurrentWriterError (retryable:
 * the retry re-plans from the tables).
 *
 * batch_id (dead letter) = hi, the raw version the batch was derived through: strictly increasing
 * with every scheduled batch like Spark's foreachBatch id, and the same on every retry of a batch.
 *
 * Backfill (re-derive raw versions (from, to] that were already processed, e.g. after rows were
 * lost from bronze): never moves the scheduled txn; `to` is clamped to the scheduled checkpoint
 * (later versions belong to scheduled runs, so the two never touch the same raw rows). It writes
 * only rows whose (topic, partition, offset) is in neither bronze nor the dead letter (anti-join
 * against both, at the snapshot the commit goes on top of), so re-deriving rows already there adds
 * nothing. Concurrent backfills are serialised by a second txn, `tributary.bronze/backfill`, a
 * counter each backfill commit compare-and-swaps.
 *
 * Dead letters of non-UTF-8 values: `raw_payload` holds the base64 of the exact bytes (lossless;
 * `error = 'not UTF-8'` tells the reader to decode it), so a dead letter can be replayed without
 * going back to raw. Null payloads (tombstones) keep `raw_payload` NULL.
 *
 * Memory: one batch at a time (bounded by raw row count from the add stats), parsed once into a
 * temp table that is dropped after the batch; DuckDB's memory_limit bounds the rest (it spills).
 */
import { openTableStore } from '../delta/open-store';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import {
  addAction,
  commit,
  ConcurrentWriterError,
  dataFileLocation,
  loadSnapshot,
  txnAction,
  writeParquetDataFile,
  type Action,
  type AddAction,
  type CommitInfo,
  type CommitObserver,
  type Snapshot,
} from '../delta';
import { checkpointOf, type VersionCheckpoint } from '../stages';
import type { Lake } from './duckdb';
import { expectationOutcome } from './expectation-outcome';
import { parsedSql, PAYLOAD_ERRORS, type FieldRule } from './parse-rules';
import { isSensorPipeline, SENSOR_PIPELINE, type StagePipeline } from './pipeline';
import { sqlIdent, sqlString } from '../delta/sql';
import { assertSameUpstream, lakeTable, tableDir, upstreamTxn } from './tables';

export * from './bronze-plan';
import { assertSameRules, firstCommitOf, pendingFileExists } from './bronze-repair';
import {
  CheckpointAheadOfRawError,
  NOTHING_PROCESSED,
  rawChangedRecovery,
  rawChanges,
  rawLatestVersion,
  rawSnapshot,
  readBronzeCheckpoint,
  txnOf,
  planBatches,
  processedThrough,
  DEFAULT_MAX_ROWS_PER_BATCH,
  type BronzeResult,
  type BronzeRunTotals,
  type CommitHooks,
  type OutputTable,
  type PendingDeadLetter,
  type RawBatch,
} from './bronze-plan';

// ───────────────────────────────────────────── running ──────────────────────────────────────────────

export interface BronzeRunOptions {
  maxRowsPerBatch?: number;
  /** Re-derive raw versions (fromExclusive, toInclusive]; absent = the scheduled run. */
  backfill?: { fromExclusive: number; toInclusive: number };
  hooks?: CommitHooks;
  /** Called after every batch (the activity heartbeats here). */
  onBatch?: (b: BatchResult, totals: BronzeRunTotals) => void | Promise<void>;
  /** Stops the run between two batches (activity cancelled, worker shutting down); rejects with its reason. */
  signal?: AbortSignal;
  now?: () => Date;
  /** The checkpoint the workflow carried (its previous run's result); the tables' txn wins, a difference is reported. */
  workflowCheckpoint?: VersionCheckpoint;
  /** The pipeline: its tables, app ids, parse rules and expectations (default: the sensor pipeline). */
  pipeline?: StagePipeline;
  /** Tests: other fields than the pipeline's (its expectations and options stay). */
  rules?: readonly FieldRule[];
}

export interface BatchResult {
  from: number;
  to: number;
  batchId: number;
  rawRows: number;
  tables: OutputTable[];
  good: number;
  bad: number;
  /** Rows already in bronze or the dead letter (backfill only) and therefore not written again. */
  alreadyPresent: number;
  deadLettersByError: Record<string, number>;
  /** Per `warn` expectation: rows of the batch written to bronze that broke it. */
  expectationWarnings: Record<string, number>;
  bronzeVersion: number | null;
  deadLetterVersion: number | null;
  /** Wall time of the batch's phases: read + parse into the temp table, each table's file + commit. */
  timingsMs: { parse: number; bronze: number; deadLetter: number };
}

const emptyTotals = (): BronzeRunTotals => ({
  batches: 0,
  repairBatches: 0,
  recordsIn: 0,
  recordsOut: 0,
  deadLetters: 0,
  alreadyPresent: 0,
  deadLettersByError: {},
  expectationWarnings: {},
});

/**
 * One stage-2 run: the scheduled catch-up (or a backfill) in bounded batches. Needs bronze and the
 * dead letter to exist (ensureTables); a missing raw table means nothing to do.
 */
export async function runBronze(lake: Lake, lakeRoot: string, opts: BronzeRunOptions = {}): Promise<BronzeResult> {
  const maxRows = opts.maxRowsPerBatch ?? DEFAULT_MAX_ROWS_PER_BATCH;
  const base = opts.pipeline ?? SENSOR_PIPELINE;
  const p: StagePipeline = opts.rules ? { ...base, rules: { ...base.rules, fields: opts.rules } } : base;
  const writer = new BronzeBatchWriter(lake, lakeRoot, opts.hooks, opts.now, p);
  const start = await readBronzeCheckpoint(lakeRoot, p);
  const before = processedThrough(start);
  const raw = await rawSnapshot(lakeRoot, p);
  const target = raw?.version ?? null;
  if (raw) {
    for (const t of [p.tables.bronze, p.tables.deadLetter]) {
      assertSameUpstream(p.appIds.bronzeStage, raw, await loadSnapshot(openTableStore(tableDir(lakeRoot, t))), rawChangedRecovery(p));
    }
  }
  const totals = emptyTotals();
  let repaired: OutputTable | null = null;
  let backfillRange: BronzeResult['backfillRange'] = null;

  // Between batches only: each table commit is all or nothing, and the retry resumes from the txns.
  const write = (batch: RawBatch, mode: 'scheduled' | 'backfill') => {
    opts.signal?.throwIfAborted();
    return mode === 'scheduled' ? writer.writeScheduledBatch(batch) : writer.writeBackfillBatch(batch);
  };
  const account = async (b: BatchResult) => {
    totals.batches += 1;
    totals.recordsIn += b.rawRows;
    totals.recordsOut += b.good;
    totals.deadLetters += b.bad;
    totals.alreadyPresent += b.alreadyPresent;
    for (const [e, n] of Object.entries(b.deadLettersByError)) totals.deadLettersByError[e] = (totals.deadLettersByError[e] ?? 0) + n;
    for (const [e, n] of Object.entries(b.expectationWarnings)) totals.expectationWarnings[e] = (totals.expectationWarnings[e] ?? 0) + n;
    await opts.onBatch?.(b, totals);
  };

  if (target !== null) {
    if (Math.max(start.bronze, start.deadLetter) > target) {
      throw new CheckpointAheadOfRawError(
        `bronze has processed raw through version ${Math.max(start.bronze, start.deadLetter)}, but the raw table's latest version is ${target}: ` +
          `the raw table was recreated or LAKE_ROOT points elsewhere; refusing to guess`,
      );
    }
    if (opts.backfill) {
      const from = Math.max(opts.backfill.fromExclusive, NOTHING_PROCESSED);
      const to = Math.min(opts.backfill.toInclusive, before, target);
      if (to > from) {
        backfillRange = { fromExclusive: from, toInclusive: to };
        const changes = await rawChanges(lake, lakeRoot, from, to, p);
        for (const batch of planBatches(changes, from, maxRows)) {
          if (batch.rows === 0) continue;
          await account(await write(batch, 'backfill'));
        }
      }
    } else {
      let after = before;
      // A crash between the two commits of a batch: the lagging table re-derives exactly that range.
      if (start.bronze !== start.deadLetter) {
        repaired = start.bronze < start.deadLetter ? 'bronze' : 'dead-letter';
        const to = Math.max(start.bronze, start.deadLetter);
        const first = await firstCommitOf(tableDir(lakeRoot, repaired === 'bronze' ? p.tables.deadLetter : p.tables.bronze), p.appIds.bronze, to);
        if (repaired === 'dead-letter' && first?.deadLetter && (await pendingFileExists(tableDir(lakeRoot, p.tables.deadLetter), first.deadLetter))) {
          // Exactly what the first attempt derived: its dead-letter file, written before bronze's commit.
          opts.signal?.throwIfAborted();
          totals.repairBatches += 1;
          await account(await writer.commitPendingDeadLetter(after, to, first.deadLetter));
        } else {
          // Older tables (no file named) or the file is gone: re-derive, but only under the same rules.
          assertSameRules(first, writer.rulesFingerprint(), after, to);
          const changes = await rawChanges(lake, lakeRoot, after, to, p);
          // Bounded like any batch; every piece keeps the batch id (to) the other table committed.
          for (const batch of planBatches(changes, after, maxRows, [repaired])) {
            totals.repairBatches += 1;
            await account(await write({ ...batch, batchId: to }, 'scheduled'));
          }
        }
        after = to;
      }
      if (target > after) {
        const changes = await rawChanges(lake, lakeRoot, after, target, p);
        for (const batch of planBatches(changes, after, maxRows)) {
          // Versions that appended no rows (e.g. only aborted Kafka transactions) need no commit:
          // trailing ones are simply looked at again (cheaply) by the next run.
          if (batch.rows === 0) continue;
          await account(await write(batch, 'scheduled'));
        }
      }
    }
  }

  const end = await readBronzeCheckpoint(lakeRoot, p);
  const through = processedThrough(end);
  const latest = await rawLatestVersion(lakeRoot, p);
  let lagVersions = 0;
  let lagRecords = 0;
  if (latest !== null && latest > through) {
    lagVersions = latest - through;
    lagRecords = (await rawChanges(lake, lakeRoot, through, latest, p)).reduce((s, c) => s + c.rows, 0);
  }
  const checkpointBefore = checkpointOf(before);
  const wf = opts.workflowCheckpoint;
  return {
    stage: 'bronze',
    mode: opts.backfill ? 'backfill' : 'scheduled',
    rawTargetVersion: target,
    checkpointBefore,
    checkpoint: checkpointOf(through),
    checkpointDisagreement: !opts.backfill && wf != null && wf !== checkpointBefore ? { workflow: wf, table: checkpointBefore } : null,
    repaired,
    backfillRange,
    ...totals,
    bronzeTableVersion: end.bronzeTableVersion,
    deadLetterTableVersion: end.deadLetterTableVersion,
    lagVersions,
    lagRecords,
  };
}

/** Temp tables of one batch; dropped after it. */
const PARSED = '__bronze_parsed';
const EXISTING = '__bronze_existing';

/** A raw batch of no files: the parsed temp table still gets its columns. */
const EMPTY_RAW = `(SELECT NULL::VARCHAR AS topic, NULL::INTEGER AS "partition", NULL::BIGINT AS "offset", NULL::TIMESTAMPTZ AS kafka_ts,
  NULL::TIMESTAMPTZ AS arrived_at, NULL::VARCHAR AS raw_payload, NULL::BLOB AS raw_payload_bytes WHERE false)`;

interface BatchCounts {
  good: number;
  bad: number;
  byError: Record<string, number>;
  warnings: Record<string, number>;
}

/** The (topic, partition, offset) key of both output tables. */
const KEY_COLS = ['topic', '"partition"', '"offset"'] as const;

/**
 * Writes raw batches to bronze + dead letter. Exposed for tests and the benchmark; runBronze is
 * the entry point.
 */
export class BronzeBatchWriter {
  private readonly rawDir: string;
  private readonly bronzeDir: string;
  private readonly deadLetterDir: string;
  private readonly commits: Record<OutputTable, number> = { bronze: 0, 'dead-letter': 0 };
  private rawTableId: string | null = null;

  constructor(
    private readonly lake: Lake,
    lakeRoot: string,
    private readonly hooks: CommitHooks = {},
    private readonly now: () => Date = () => new Date(),
    private readonly pipeline: StagePipeline = SENSOR_PIPELINE,
  ) {
    this.rawDir = tableDir(lakeRoot, pipeline.tables.raw);
    this.bronzeDir = tableDir(lakeRoot, pipeline.tables.bronze);
    this.deadLetterDir = tableDir(lakeRoot, pipeline.tables.deadLetter);
  }

  /** The stage's checkpoint app id (the raw version processed through) and the backfill counter's. */
  private get txnIds() {
    return { stage: this.pipeline.appIds.bronze, backfill: this.pipeline.appIds.backfill };
  }

  /** The generated parse/validate SELECT over `source` (the sensor's label keeps its error messages and fingerprint). */
  private parsedSql(source: string): string {
    return parsedSql(source, this.pipeline.rules, isSensorPipeline(this.pipeline) ? 'sensor rules' : `pipeline ${this.pipeline.name}`);
  }

  /** Scheduled batch: CAS on the stage txn (expected = batch.from), txn := batch.to. */
  async writeScheduledBatch(batch: RawBatch): Promise<BatchResult> {
    const t0 = performance.now();
    const parsed = await this.parse(batch);
    try {
      const result = this.emptyResult(batch, parsed);
      result.timingsMs.parse = performance.now() - t0;
      const txn = (snap: Snapshot) => {
        const { stage } = this.txnIds;
        const found = txnOf(snap, stage);
        if (found !== batch.from) {
          throw new ConcurrentWriterError(
            `${snap.root}: ${stage} is ${found}, expected ${batch.from} for raw batch (${batch.from}, ${batch.to}]: another stage-2 run is writing`,
          );
        }
        return [txnAction(stage, batch.to)];
      };
      await this.writeTables(batch, result, txn, 'scheduled');
      return result;
    } finally {
      await this.dropTemps();
    }
  }

  /**
   * Backfill batch: anti-join against bronze ∪ dead letter at the snapshots read here, then commit
   * with CAS on the backfill counter of each table, so that a concurrent backfill (which could have
   * added the same keys after our read) makes this commit fail and the retry re-reads.
   */
  async writeBackfillBatch(batch: RawBatch): Promise<BatchResult> {
    const t0 = performance.now();
    await this.parse(batch);
    try {
      const bronzeSnap = await loadSnapshot(openTableStore(this.bronzeDir));
      const deadLetterSnap = await loadSnapshot(openTableStore(this.deadLetterDir));
      const present = await this.removeExistingKeys([bronzeSnap, deadLetterSnap]);
      const after = await this.counts();
      const result = this.emptyResult(batch, after);
      result.alreadyPresent = present;
      result.timingsMs.parse = performance.now() - t0;
      const expected = new Map([
        [path.resolve(this.bronzeDir), txnOf(bronzeSnap, this.txnIds.backfill)],
        [path.resolve(this.deadLetterDir), txnOf(deadLetterSnap, this.txnIds.backfill)],
      ]);
      const txn = (snap: Snapshot) => {
        const { backfill } = this.txnIds;
        const want = expected.get(path.resolve(snap.root));
        const found = txnOf(snap, backfill);
        if (found !== want) throw new ConcurrentWriterError(`${snap.root}: another backfill committed meanwhile (${backfill} ${want} → ${found})`);
        return [txnAction(backfill, found === NOTHING_PROCESSED ? 1 : found + 1)];
      };
      await this.writeTables(batch, result, txn, 'backfill');
      return result;
    } finally {
      await this.dropTemps();
    }
  }

  private emptyResult(batch: RawBatch, c: BatchCounts): BatchResult {
    return {
      from: batch.from,
      to: batch.to,
      batchId: batch.batchId ?? batch.to,
      rawRows: batch.rows,
      tables: batch.tables,
      good: batch.tables.includes('bronze') ? c.good : 0,
      bad: batch.tables.includes('dead-letter') ? c.bad : 0,
      alreadyPresent: 0,
      deadLettersByError: batch.tables.includes('dead-letter') ? c.byError : {},
      expectationWarnings: batch.tables.includes('bronze') ? c.warnings : {},
      bronzeVersion: null,
      deadLetterVersion: null,
      timingsMs: { parse: 0, bronze: 0, deadLetter: 0 },
    };
  }

  /**
   * Commits bronze, then the dead letter (each only if the batch writes it). Both data files are
   * written before the first commit, and bronze's commit names the dead-letter file: a retry after a
   * crash between the two commits commits exactly that file, whatever the rules are by then.
   */
  private async writeTables(batch: RawBatch, result: BatchResult, stageTxn: (snap: Snapshot) => Action[], mode: 'scheduled' | 'backfill'): Promise<void> {
    const backfill = mode === 'backfill';
    const txn = await this.withUpstream(stageTxn);
    const writesBronze = batch.tables.includes('bronze') && (!backfill || result.good > 0);
    const writesDeadLetter = batch.tables.includes('dead-letter') && (!backfill || result.bad > 0);
    const c = this.lake.connection;
    let t = performance.now();
    const bronzeAdd = writesBronze ? await writeParquetDataFile(c, openTableStore(this.bronzeDir), this.bronzeSelect(), this.pipeline.tables.bronze.fields) : null;
    result.timingsMs.bronze = performance.now() - t;
    t = performance.now();
    const deadLetterAdd = writesDeadLetter ? await writeParquetDataFile(c, openTableStore(this.deadLetterDir), this.deadLetterSelect(result.batchId), this.pipeline.tables.deadLetter.fields) : null;
    result.timingsMs.deadLetter = performance.now() - t;
    const pending: PendingDeadLetter | undefined =
      writesBronze && writesDeadLetter ? { add: deadLetterAdd, batchId: result.batchId, rows: result.bad, byError: result.deadLettersByError } : undefined;

    t = performance.now();
    if (writesBronze) {
      const info = { stage: 'bronze', mode, rawVersions: [batch.from + 1, batch.to], rows: result.good, rules: this.rulesFingerprint(), deadLetter: pending };
      try {
        result.bronzeVersion = await this.commitTable('bronze', this.bronzeDir, bronzeAdd, txn, {
          operation: 'WRITE',
          operationParameters: { mode: 'Append' },
          engineInfo: `tributary stage 2 (${mode})`,
          tributary: info,
        });
      } catch (e) {
        // Bronze's commit certainly did not happen: nothing references the dead-letter file either.
        if (e instanceof ConcurrentWriterError && deadLetterAdd) await openTableStore(this.deadLetterDir).delete(deadLetterAdd.path);
        throw e;
      }
    }
    result.timingsMs.bronze += performance.now() - t;
    t = performance.now();
    if (writesDeadLetter) {
      result.deadLetterVersion = await this.commitTable('dead-letter', this.deadLetterDir, deadLetterAdd, txn, {
        operation: 'WRITE',
        operationParameters: { mode: 'Append' },
        engineInfo: `tributary stage 2 (${mode})`,
        tributary: { stage: 'dead-letter', mode, rawVersions: [batch.from + 1, batch.to], batchId: result.batchId, rows: result.bad },
      });
    }
    result.timingsMs.deadLetter += performance.now() - t;
  }

  /** Adds to a batch's txns the one recording which raw table its raw versions belong to (see tables.ts). */
  private async withUpstream(stageTxn: (snap: Snapshot) => Action[]): Promise<(snap: Snapshot) => Action[]> {
    this.rawTableId ??= (await loadSnapshot(openTableStore(this.rawDir))).metadata.id;
    const rawId = this.rawTableId;
    return (snap) => [...stageTxn(snap), ...upstreamTxn(this.pipeline.appIds.bronzeStage, rawId, snap)];
  }

  /** Fingerprint of the parse rules (their generated SQL): equal fingerprints derive equal rows. */
  rulesFingerprint(): string {
    return createHash('sha256').update(this.parsedSql('__source')).digest('hex').slice(0, 16);
  }

  /** The repair after a crash between the two commits: the dead-letter file the first attempt wrote, committed as it is. */
  async commitPendingDeadLetter(after: number, to: number, p: PendingDeadLetter): Promise<BatchResult> {
    const batch: RawBatch = { from: after, to, files: [], rows: 0, tables: ['dead-letter'], batchId: p.batchId };
    const result = this.emptyResult(batch, { good: 0, bad: p.rows, byError: p.byError, warnings: {} });
    const { stage } = this.txnIds;
    const txn = await this.withUpstream((snap) => {
      const found = txnOf(snap, stage);
      if (found !== after) throw new ConcurrentWriterError(`${snap.root}: ${stage} is ${found}, expected ${after}: another stage-2 run is writing`);
      return [txnAction(stage, to)];
    });
    const t = performance.now();
    result.deadLetterVersion = await this.commitTable('dead-letter', this.deadLetterDir, p.add, txn, {
      operation: 'WRITE',
      operationParameters: { mode: 'Append' },
      engineInfo: 'tributary stage 2 (repair)',
      tributary: { stage: 'dead-letter', mode: 'scheduled', rawVersions: [after + 1, to], batchId: p.batchId, rows: p.rows, repair: 'the file the first attempt wrote' },
    });
    result.timingsMs.deadLetter = performance.now() - t;
    return result;
  }

  /**
   * Raw files of the batch → the pipeline's parsedSql (one vectorized SELECT) → one temp table
   * (parsed once; both outputs are cut from it). Keeps the payload only for bad rows (base64 for
   * non-UTF-8 bytes). A row that broke a `fail` expectation fails the batch here, before any commit.
   */
  private async parse(batch: RawBatch): Promise<BatchCounts> {
    const c = this.lake.connection;
    await this.dropTemps();
    const rawStore = openTableStore(this.rawDir);
    const files = batch.files.map((f) => sqlString(dataFileLocation(rawStore, f.path))).join(', ');
    const source = batch.files.length
      ? `(SELECT topic, "partition", "offset", kafka_ts, arrived_at, raw_payload, raw_payload_bytes FROM read_parquet([${files}]))`
      : EMPTY_RAW;
    await c.run(`CREATE TEMP TABLE ${PARSED} AS
      SELECT * EXCLUDE (raw_payload, raw_payload_bytes),
             CASE WHEN error IS NULL THEN NULL
                  WHEN error = ${sqlString(PAYLOAD_ERRORS.notUtf8)} THEN to_base64(raw_payload_bytes)
                  ELSE raw_payload END AS dl_payload
      FROM (${this.parsedSql(source)})`);
    return this.counts();
  }

  /** Good and bad rows of the parsed batch, bad by error, warn expectations broken by good rows; throws on a broken `fail` expectation. */
  private async counts(): Promise<BatchCounts> {
    const { warnings } = await expectationOutcome(this.lake.connection, PARSED, this.pipeline.rules);
    const rows = (await this.lake.connection.runAndReadAll(`SELECT error, count(*)::BIGINT AS n FROM ${PARSED} GROUP BY error`)).getRowObjects();
    let good = 0;
    let bad = 0;
    const byError: Record<string, number> = {};
    for (const r of rows) {
      const n = Number(r.n);
      if (r.error === null) good += n;
      else {
        bad += n;
        byError[String(r.error)] = n;
      }
    }
    return { good, bad, byError, warnings: { ...warnings } };
  }

  /**
   * Deletes from the parsed batch every key already in one of the tables (live files of the given
   * snapshots whose offset stats overlap the batch). Returns how many were deleted.
   */
  private async removeExistingKeys(snaps: Snapshot[]): Promise<number> {
    const c = this.lake.connection;
    const bounds = (await c.runAndReadAll(`SELECT min("offset")::BIGINT AS lo, max("offset")::BIGINT AS hi, count(*)::BIGINT AS n FROM ${PARSED}`)).getRowObjects()[0];
    if (!bounds || Number(bounds.n) === 0) return 0;
    const lo = BigInt(String(bounds.lo));
    const hi = BigInt(String(bounds.hi));
    const files: string[] = [];
    for (const snap of snaps) {
      for (const add of snap.files.values()) {
        const s = add.stats ? (JSON.parse(add.stats) as { minValues?: Record<string, unknown>; maxValues?: Record<string, unknown> }) : {};
        const mn = s.minValues?.offset;
        const mx = s.maxValues?.offset;
        if (mn !== undefined && mx !== undefined && (BigInt(String(mx)) < lo || BigInt(String(mn)) > hi)) continue;
        files.push(sqlString(dataFileLocation(snap.store, add.path)));
      }
    }
    if (files.length === 0) return 0;
    await c.run(`CREATE TEMP TABLE ${EXISTING} AS
      SELECT DISTINCT ${KEY_COLS.join(', ')} FROM read_parquet([${files.join(', ')}], union_by_name = true)
      WHERE "offset" BETWEEN ${lo} AND ${hi}`);
    const deleted = await c.runAndReadAll(
      `DELETE FROM ${PARSED} AS p USING ${EXISTING} AS e WHERE p.topic = e.topic AND p."partition" = e."partition" AND p."offset" = e."offset"`,
    );
    return Number(deleted.getRows()[0]?.[0] ?? 0);
  }

  private bronzeSelect(): string {
    return `SELECT ${this.pipeline.tables.bronze.fields.map((f) => sqlIdent(f.name)).join(', ')} FROM ${PARSED} WHERE error IS NULL`;
  }

  private deadLetterSelect(batchId: number): string {
    const failedAt = sqlString(this.now().toISOString());
    return `SELECT dl_payload AS raw_payload, topic, "partition", "offset", arrived_at, ${failedAt}::TIMESTAMPTZ AS failed_at,
                   CAST(${Math.trunc(batchId)} AS BIGINT) AS batch_id, error
            FROM ${PARSED} WHERE error IS NOT NULL`;
  }

  /**
   * Data file (none for 0 rows) + txn in one commit. The file is written before the commit and
   * deleted again when the commit certainly did not happen.
   */
  private async commitTable(
    stage: OutputTable,
    dir: string,
    add: AddAction | null,
    txn: (snap: Snapshot) => Action[],
    commitInfo: CommitInfo,
  ): Promise<number> {
    const n = this.commits[stage] + 1;
    const observer: CommitObserver = {
      // a "crash" before the commit leaves the data file behind, as a real one would
      beforeCommit: (e) => (e.attempt === 1 ? this.hooks.beforeCommit?.(stage, n) : undefined),
      afterCommit: () => this.hooks.afterCommit?.(stage, n),
    };
    // The txns (compare-and-swap on the stage's checkpoint, upstream identity) are derived from
    // the snapshot each attempt commits on.
    const plan = async (snap: Snapshot) => ({ actions: [...(add ? [addAction(add)] : []), ...txn(snap)], commitInfo });
    const committed = await commit(lakeTable(this.lake.connection, dir, { observer }), { plan, rebuild: plan, written: add ? [add] : [] });
    this.commits[stage] = n;
    return committed!.version;
  }

  private async dropTemps(): Promise<void> {
    await this.lake.connection.run(`DROP TABLE IF EXISTS ${PARSED}; DROP TABLE IF EXISTS ${EXISTING}`);
  }
}
