/**
 * Dead-letter replay: re-parse dead letters (all, or a selection) with the CURRENT rules, move the
 * rows that now pass into bronze exactly once, and record the replay. Needed after a rule fix.
 *
 * Design — the dead letter stays append-only (its rows are the audit trail of what failed, when
 * and why); a third table, `bronze/sensor_readings_replay_log`, records every moved row: the
 * replay id, the row's key, its original batch_id / error / failed_at, the parsed bronze columns
 * and replayed_at. "Still pending" dead letters = dead letter ANTI JOIN replay log on
 * (topic, partition, offset) — see README.
 *
 * A replay `R` is two commits, each idempotent on its own:
 *  1. replay log: the moved rows + txn `tributary.replay/R` = 1 + txn `tributary.replay` = n+1
 *     (a counter of all replays). Candidates are anti-joined against the rows ALL earlier replays
 *     logged, read at the snapshot whose counter value n the commit compare-and-swaps: if another
 *     replay logged rows meanwhile, the commit fails (ConcurrentWriterError) and the retry re-reads.
 *     So no row is ever logged twice, whichever replays overlap. commitInfo holds the selection and
 *     counts (also for a replay that moved nothing).
 *  2. bronze: the rows logged under R (read back from the log, so a retry writes exactly the same
 *     rows) + txn `tributary.replay/R` = 1, compare-and-swapped against "absent".
 * A crash between 1 and 2: the retry finds R in the log's txns, skips step 1 and does step 2. A
 * retry after 2 finds R in bronze's txns and does nothing. Replay ids are idempotency keys: a
 * second replay with the same id is a no-op whatever its selection.
 *
 * Replayed bronze rows keep the original arrived_at; the bronze scheduled checkpoint txn is not
 * touched (replay commits carry only their own app ids).
 */
import { openTableStore } from '../delta/open-store';
import type { DuckDBValue } from '@duckdb/node-api';
import {
  addAction,
  commit,
  dataFileLocation,
  loadSnapshot,
  writeParquetDataFile,
  type AddAction,
  type CommitEvent,
  type CommitInfo,
  type CommitObserver,
  type Snapshot,
  type TxnUpdate,
} from '../delta';
import type { Lake } from './duckdb';
import { expectationOutcome } from './expectation-outcome';
import { parsedSql, PAYLOAD_ERRORS } from './parse-rules';
import { isSensorPipeline, SENSOR_PIPELINE, type StagePipeline } from './pipeline';
import { sqlIdent, sqlString } from '../delta/sql';
import { lakeTable, replayAppId, tableDir, type TableDef } from './tables';
import type { CommitHooks } from './bronze';

export interface ReplaySelection {
  /** Inclusive bounds on the dead letter's batch_id. */
  batchIdFrom?: number;
  batchIdTo?: number;
  /** failed_at in [failedAtFrom, failedAtTo) (ISO-8601 with offset). */
  failedAtFrom?: string;
  failedAtTo?: string;
  /** Only dead letters with one of these error reasons. */
  errors?: string[];
}

export interface ReplaySummary {
  replayId: string;
  /** The replay log already had this id (a retry, or a reused id): step 1 was skipped. */
  alreadyLogged: boolean;
  /** Dead letters the selection matched (null when alreadyLogged). */
  examined: number | null;
  /** Matched rows an earlier replay already moved (null when alreadyLogged). */
  alreadyReplayed: number | null;
  /** Rows logged (and moved to bronze) under this replay id. */
  moved: number;
  /** Still failing, by the current error reason (null when alreadyLogged). */
  stillFailing: Record<string, number> | null;
  replayLogVersion: number | null;
  /** The bronze version that received the rows; null when there were none or it already had them. */
  bronzeVersion: number | null;
  replayedAt: string;
}

const SRC = '__replay_src';
const PARSED = '__replay_parsed';

const liveFiles = (snap: Snapshot, keep: (stats: StatsJson) => boolean = () => true): string[] =>
  [...snap.files.values()]
    .filter((a) => keep(statsOf(a)))
    .map((a) => sqlString(dataFileLocation(snap.store, a.path)));

interface StatsJson {
  minValues?: Record<string, unknown>;
  maxValues?: Record<string, unknown>;
}
const statsOf = (a: AddAction): StatsJson => (a.stats ? (JSON.parse(a.stats) as StatsJson) : {});

/** Can a dead-letter file (by its stats) hold rows of the selection? */
function mayMatch(s: StatsJson, sel: ReplaySelection): boolean {
  const num = (v: unknown) => (v === undefined || v === null ? undefined : Number(v));
  const mn = num(s.minValues?.batch_id);
  const mx = num(s.maxValues?.batch_id);
  if (sel.batchIdFrom !== undefined && mx !== undefined && mx < sel.batchIdFrom) return false;
  if (sel.batchIdTo !== undefined && mn !== undefined && mn > sel.batchIdTo) return false;
  const tmn = s.minValues?.failed_at ? Date.parse(String(s.minValues.failed_at)) : undefined;
  const tmx = s.maxValues?.failed_at ? Date.parse(String(s.maxValues.failed_at)) : undefined;
  if (sel.failedAtFrom !== undefined && tmx !== undefined && tmx < Date.parse(sel.failedAtFrom)) return false;
  if (sel.failedAtTo !== undefined && tmn !== undefined && tmn >= Date.parse(sel.failedAtTo)) return false;
  return true;
}

export async function replayDeadLetters(
  lake: Lake,
  lakeRoot: string,
  replayId: string,
  selection: ReplaySelection,
  opts: {
    hooks?: CommitHooks;
    /** Sees every commit of the replay log and of bronze (tests). */
    observer?: CommitObserver;
    now?: () => Date;
    /** Called after each step (the activity heartbeats here). */
    onProgress?: (step: string) => void;
    /** Stops the replay between steps (activity cancelled, worker shutting down); rejects with its reason. */
    signal?: AbortSignal;
    /** Whose dead letter, bronze, replay log, rules and app ids (default: the sensor pipeline). */
    pipeline?: StagePipeline;
  } = {},
): Promise<ReplaySummary> {
  if (replayId.length === 0) throw new Error('replay id must not be empty');
  const c = lake.connection;
  const pipeline = opts.pipeline ?? SENSOR_PIPELINE;
  const { tables } = pipeline;
  const logDir = tableDir(lakeRoot, tables.replayLog);
  const bronzeDir = tableDir(lakeRoot, tables.bronze);
  const appId = replayAppId(replayId, pipeline.appIds);
  const seqAppId = pipeline.appIds.replaySeq;
  const fieldCols = pipeline.rules.fields.map((f) => sqlIdent(f.name)).join(', ');
  const replayedAt = (opts.now ?? (() => new Date()))();
  const summary: ReplaySummary = {
    replayId,
    alreadyLogged: false,
    examined: null,
    alreadyReplayed: null,
    moved: 0,
    stillFailing: null,
    replayLogVersion: null,
    bronzeVersion: null,
    replayedAt: replayedAt.toISOString(),
  };
  const drop = () => c.run(`DROP TABLE IF EXISTS ${PARSED}; DROP TABLE IF EXISTS ${SRC}`);
  // Each step ends in one all-or-nothing commit (or none); a retry finds what was done by the replay id.
  const step = (name: string) => {
    opts.onProgress?.(name);
    opts.signal?.throwIfAborted();
  };

  try {
    // ── step 1: the replay log ───────────────────────────────────────────────────────────────────
    const logSnap = await loadSnapshot(openTableStore(logDir));
    if (logSnap.appTransactions.has(appId)) {
      summary.alreadyLogged = true;
    } else {
      const dl = await loadSnapshot(openTableStore(tableDir(lakeRoot, tables.deadLetter)));
      const files = liveFiles(dl, (s) => mayMatch(s, selection));
      const where: string[] = [];
      const params: DuckDBValue[] = [];
      const p = (v: DuckDBValue) => {
        params.push(v);
        return `$${params.length}`;
      };
      if (selection.batchIdFrom !== undefined) where.push(`batch_id >= ${p(selection.batchIdFrom)}::BIGINT`);
      if (selection.batchIdTo !== undefined) where.push(`batch_id <= ${p(selection.batchIdTo)}::BIGINT`);
      if (selection.failedAtFrom !== undefined) where.push(`failed_at >= ${p(selection.failedAtFrom)}::TIMESTAMPTZ`);
      if (selection.failedAtTo !== undefined) where.push(`failed_at < ${p(selection.failedAtTo)}::TIMESTAMPTZ`);
      if (selection.errors !== undefined) where.push(`error IN (${selection.errors.map((e) => p(e)).join(', ')})`);
      await drop();
      // The dead letter's payload back into raw's shape (base64 → bytes for 'not UTF-8').
      const notUtf8 = sqlString(PAYLOAD_ERRORS.notUtf8);
      const cols = `topic, "partition", "offset", arrived_at, batch_id, failed_at, error AS dead_letter_error,
        CASE WHEN error = ${notUtf8} THEN NULL ELSE raw_payload END AS raw_payload,
        CASE WHEN error = ${notUtf8} THEN from_base64(raw_payload) END AS raw_payload_bytes`;
      if (files.length > 0) {
        await c.run(
          `CREATE TEMP TABLE ${SRC} AS SELECT ${cols} FROM read_parquet([${files.join(', ')}])${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`,
          params,
        );
      } else {
        await c.run(`CREATE TEMP TABLE ${SRC} AS SELECT ${cols} FROM (SELECT NULL::VARCHAR AS topic, NULL::INTEGER AS "partition", NULL::BIGINT AS "offset",
          NULL::TIMESTAMPTZ AS arrived_at, NULL::BIGINT AS batch_id, NULL::TIMESTAMPTZ AS failed_at, NULL::VARCHAR AS error, NULL::VARCHAR AS raw_payload) WHERE false`);
      }
      summary.examined = await count(lake, SRC);
      step('selected');
      // Rows an earlier replay already logged never go again (the log is small: only moved rows).
      const logged = liveFiles(logSnap);
      if (logged.length > 0) {
        await c.run(`DELETE FROM ${SRC} AS s USING (SELECT DISTINCT topic, "partition", "offset" FROM read_parquet([${logged.join(', ')}])) AS l
          WHERE s.topic = l.topic AND s."partition" = l."partition" AND s."offset" = l."offset"`);
      }
      summary.alreadyReplayed = summary.examined - (await count(lake, SRC));
      const label = isSensorPipeline(pipeline) ? 'sensor rules' : `pipeline ${pipeline.name}`;
      await c.run(`CREATE TEMP TABLE ${PARSED} AS SELECT * FROM (${parsedSql(SRC, pipeline.rules, label)})`);
      // the current rules' `fail` expectations hold for replayed rows too (nothing is logged or moved)
      await expectationOutcome(c, PARSED, pipeline.rules);
      step('parsed');
      const byError = (await c.runAndReadAll(`SELECT error, count(*)::BIGINT AS n FROM ${PARSED} GROUP BY error`)).getRowObjects();
      summary.stillFailing = {};
      for (const r of byError) {
        if (r.error === null) summary.moved = Number(r.n);
        else summary.stillFailing[String(r.error)] = Number(r.n);
      }
      const expectedSeq = logSnap.appTransactions.get(seqAppId);
      summary.replayLogVersion = await commitWith(
        lake,
        'replay-log',
        logDir,
        tables.replayLog,
        `SELECT ${sqlString(replayId)} AS replay_id, topic, "partition", "offset", batch_id, dead_letter_error, failed_at,
                ${fieldCols}, arrived_at, ${sqlString(summary.replayedAt)}::TIMESTAMPTZ AS replayed_at
         FROM ${PARSED} WHERE error IS NULL`,
        // CAS: this replay id is logged once, and replays are logged one after the other.
        [
          { appId, expected: undefined, next: 1 },
          { appId: seqAppId, expected: expectedSeq, next: (expectedSeq ?? 0) + 1 },
        ],
        {
          operation: 'REPLAY DEAD LETTERS',
          operationParameters: { replayId },
          engineInfo: 'tributary stage 2 replay',
          tributary: { replayId, selection, examined: summary.examined, alreadyReplayed: summary.alreadyReplayed, moved: summary.moved, stillFailing: summary.stillFailing, replayedAt: summary.replayedAt },
        },
        opts,
      );
      await drop();
    }
    step('logged');

    // ── step 2: bronze, from the rows logged under this id ─────────────────────────────────────────
    const bronzeSnap = await loadSnapshot(openTableStore(bronzeDir));
    const logNow = await loadSnapshot(openTableStore(logDir));
    const logFiles = liveFiles(logNow);
    const bronzeCols = tables.bronze.fields.map((f) => (f.name === 'kafka_ts' ? 'NULL::TIMESTAMPTZ AS kafka_ts' : sqlIdent(f.name))).join(', ');
    const fromLog = logFiles.length
      ? // The dead letter does not keep the Kafka timestamp: replayed rows carry NULL (docs/gold-merge.md).
        `SELECT ${bronzeCols} FROM read_parquet([${logFiles.join(', ')}], union_by_name = true) WHERE replay_id = ${sqlString(replayId)}`
      : null;
    if (summary.alreadyLogged) {
      summary.moved = fromLog ? Number((await c.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM (${fromLog})`)).getRowObjects()[0]?.n ?? 0) : 0;
    }
    if (!bronzeSnap.appTransactions.has(appId) && fromLog && summary.moved > 0) {
      summary.bronzeVersion = await commitWith(
        lake,
        'bronze-replay',
        bronzeDir,
        tables.bronze,
        fromLog,
        [{ appId, expected: undefined, next: 1 }], // CAS: this replay id reaches bronze once
        {
          operation: 'WRITE',
          operationParameters: { mode: 'Append' },
          engineInfo: 'tributary stage 2 replay',
          tributary: { stage: 'bronze', mode: 'replay', replayId, rows: summary.moved },
        },
        opts,
      );
      opts.onProgress?.('bronze');
    }
    return summary;
  } finally {
    await drop();
  }
}

async function count(lake: Lake, table: string): Promise<number> {
  return Number((await lake.connection.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${table}`)).getRowObjects()[0]?.n ?? 0);
}

const commitCounts = new WeakMap<Lake, Record<string, number>>();

/** Data file (none for 0 rows) + txn actions in one compare-and-swap commit. */
async function commitWith(
  lake: Lake,
  stage: string,
  dir: string,
  table: TableDef,
  selectSql: string,
  txns: TxnUpdate[],
  commitInfo: CommitInfo,
  opts: { hooks?: CommitHooks; observer?: CommitObserver },
): Promise<number> {
  const store = openTableStore(dir);
  const add = await writeParquetDataFile(lake.connection, store, selectSql, table.fields);
  const counts = commitCounts.get(lake) ?? {};
  commitCounts.set(lake, counts);
  const n = (counts[stage] ?? 0) + 1;
  const { hooks = {}, observer } = opts;
  const committed = await commit(
    lakeTable(lake.connection, dir, {
      observer: {
        ...observer,
        beforeCommit: async (e: CommitEvent) => {
          if (e.attempt === 1) hooks.beforeCommit?.(stage, n);
          await observer?.beforeCommit?.(e);
        },
        afterCommit: async (e: CommitEvent) => {
          await observer?.afterCommit?.(e);
          hooks.afterCommit?.(stage, n);
        },
      },
    }),
    { plan: async () => ({ actions: add ? [addAction(add)] : [], txns, commitInfo }) },
  );
  counts[stage] = n;
  return committed!.version;
}
