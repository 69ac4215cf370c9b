/**
 * tributary's own Delta Lake transaction-log writer/reader (delta-io/delta PROTOCOL.md).
 *
 * Why this exists: the DuckDB delta extension 1.5.5 can INSERT into an existing table and read it,
 * but it cannot CREATE a table, nor MERGE / UPDATE / DELETE / compact / vacuum. Those are done here
 * directly on the protocol: we write parquet data files with DuckDB and commit `add`/`remove`/`txn`
 * actions as new `_delta_log/<20-digit version>.json` files with put-if-absent.
 *
 * Scope (deliberately small, refused loudly when a table needs more):
 *  - protocol reader 1 / writer 2 (or reader 3 / writer 7 with only the harmless features listed in
 *    KNOWN_*_FEATURES); no deletion vectors, column mapping, CHECK constraints, CDF, generated or
 *    identity columns, v2 / multi-part checkpoints, partitioned writes.
 *  - column types: string, integer, long, double, timestamp (UTC, µs), binary, boolean.
 *
 * ── What the DuckDB delta extension 1.5.5 really does (observed with the official binary, kernel
 *    v0.21.0, and read in duckdb/duckdb-delta src/storage/delta_transaction.cpp and
 *    src/functions/delta_transaction_utils/idempotency_helpers.cpp) ──────────────────────────────
 *  - Version 0 it accepts for INSERT: `protocol` {minReaderVersion:1, minWriterVersion:1|2} (also
 *    3/7 with empty or appendOnly/invariants features) + `metaData` that has `format`,
 *    `schemaString`, `partitionColumns` and `configuration` (missing `partitionColumns` or
 *    `configuration` → kernel JSON decode error even for reads; missing protocol → "No protocol
 *    found"). createdTime and commitInfo are optional. minWriterVersion 3 or 4 → INSERT refused
 *    ("Feature 'checkConstraints' is not supported"). That is why we create tables at (1, 2).
 *  - `ATTACH '<dir>' AS t (TYPE delta)`; `INSERT INTO t SELECT …` writes one `duckdb-<uuid>.parquet`
 *    per INSERT and commits `commitInfo` + `add` (with stats: numRecords/nullCount/min/max, µs
 *    timestamps, tightBounds). `BEGIN; INSERT; INSERT; COMMIT` = ONE Delta version with two adds.
 *    A failed COMMIT deletes its parquet files. The protocol action is never changed by it.
 *  - Each DuckDB transaction sees the latest table version (no re-ATTACH needed after other writers).
 *  - Concurrent writers: the kernel commits with put-if-absent at base+1 and does not retry:
 *    "TransactionContext Error: Failed to commit: DeltaKernel GenericError (5): Generic delta kernel
 *    error: commit conflict at version N". The caller must redo the whole transaction. The kernel's
 *    base version is the latest snapshot at the transaction's FIRST INSERT (not at BEGIN).
 *  - Idempotency (Delta `txn` actions) — both are TABLE functions:
 *      `SELECT version FROM delta_get_transaction_version(<attached name>, <app_id>)`
 *          (VARCHAR, VARCHAR) → one row, column `version` UBIGINT, NULL when the app id is unknown.
 *      `CALL delta_set_transaction_version(<attached name>, <app_id>, <new> UBIGINT, <expected> UBIGINT)`
 *          Registers a `txn {appId, version:new}` for the current DuckDB transaction; `expected`
 *          is the value the app id must have (NULL::UBIGINT = "never set"). At COMMIT, if the value
 *          differs: "TransactionContext Error: Failed to commit: DeltaTransaction version for app_id
 *          'X' did not match the expected previous version of 'E' (found: 'F')" and nothing is
 *          committed. The first argument is the ATTACH alias (not a path).
 *    Caveats, all observed:
 *      * the txn is written ONLY if the transaction appended at least one file: CALL in autocommit
 *        mode, or with only 0-row INSERTs, silently records nothing;
 *      * a second CALL for the same app id in one transaction is ignored (first one wins);
 *      * the expected-version check reads the snapshot that the DuckDB transaction bound when it
 *        FIRST touched the table, while the commit goes to latest-at-first-INSERT + 1. If the CALL
 *        (or any SELECT on t) comes before the INSERT and another writer commits the same app id in
 *        between, BOTH commits succeed (duplicate data; reproduced). Safe order:
 *        `BEGIN; INSERT INTO t …; CALL delta_set_transaction_version(…); COMMIT` (the INSERT is the
 *        first statement touching t; a racer then makes our COMMIT fail with "commit conflict").
 *        A small window remains between the INSERT's bind and its first append. For strict
 *        exactly-once prefer `commitWithRetry` + `writeParquetDataFile` + `txnAction` below, where
 *        the txn check and the put-if-absent commit use the very same snapshot version.
 *  - `CHECKPOINT t` writes a classic single-file V1 checkpoint `<v>.checkpoint.parquet` plus
 *    `_last_checkpoint` {version,size,sizeInBytes,numOfAddFiles}; readSnapshot reads it with
 *    DuckDB's read_parquet. Nothing is checkpointed automatically.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { createDuckDBInstance } from './duckdb';
import { safeDuckPath, sqlIdent, sqlString } from '../delta/sql';

// ───────────────────────────────────────────── types ─────────────────────────────────────────────

export type DeltaPrimitive = 'string' | 'integer' | 'long' | 'double' | 'timestamp' | 'binary' | 'boolean';

export interface DeltaField {
  name: string;
  type: DeltaPrimitive;
  nullable: boolean;
}

export interface AddAction {
  path: string;
  partitionValues: Record<string, string | null>;
  size: number;
  modificationTime: number;
  dataChange: boolean;
  stats?: string;
}

export interface RemoveAction {
  path: string;
  deletionTimestamp?: number;
  dataChange: boolean;
  extendedFileMetadata?: boolean;
  partitionValues?: Record<string, string | null>;
  size?: number;
}

export interface DeltaProtocol {
  minReaderVersion: number;
  minWriterVersion: number;
  readerFeatures?: string[];
  writerFeatures?: string[];
}

export interface DeltaMetadata {
  id: string;
  name?: string;
  description?: string;
  format: { provider: string; options: Record<string, string> };
  schemaString: string;
  partitionColumns: string[];
  createdTime?: number;
  configuration: Record<string, string>;
  /** schemaString parsed; only the primitive types listed in DeltaPrimitive are accepted. */
  fields: DeltaField[];
}

export interface Snapshot {
  tableDir: string;
  version: number;
  protocol: DeltaProtocol;
  metadata: DeltaMetadata;
  /** Live data files, keyed by the `path` exactly as written in the log. */
  files: Map<string, AddAction>;
  /** Remove tombstones still in the state (for vacuum: files that may be deleted once expired). */
  tombstones: Map<string, RemoveAction>;
  /** appId → version, from `txn` actions (latest wins). */
  appTransactions: Map<string, number>;
}

export class DeltaCommitConflictError extends Error {
  override name = 'DeltaCommitConflictError';
  constructor(
    readonly tableDir: string,
    readonly version: number,
  ) {
    super(`Delta commit conflict: version ${version} of ${tableDir} was already written by another writer`);
  }
}

export class UnsupportedDeltaFeatureError extends Error {
  override name = 'UnsupportedDeltaFeatureError';
}

/** The directory holds no Delta log (or an empty one). */
export class DeltaTableNotFoundError extends Error {
  override name = 'DeltaTableNotFoundError';
}

/** The log is inconsistent (gaps, unparsable lines, missing protocol/metaData, …). */
export class DeltaLogCorruptError extends Error {
  override name = 'DeltaLogCorruptError';
}

// ─────────────────────────────────────── names & escaping ───────────────────────────────────────

const ENGINE_INFO = 'tributary';
const LOG_DIR = '_delta_log';
const COMMIT_RE = /^(\d{20})\.json$/;
const CLASSIC_CHECKPOINT_RE = /^(\d{20})\.checkpoint\.parquet$/;
const MULTIPART_CHECKPOINT_RE = /^(\d{20})\.checkpoint\.\d{10}\.\d{10}\.parquet$/;
const V2_CHECKPOINT_RE = /^(\d{20})\.checkpoint\.[0-9a-fA-F-]{36}\.(json|parquet)$/;

export function logDir(tableDir: string): string {
  return path.join(tableDir, LOG_DIR);
}

/** `_delta_log/<version zero-padded to 20 digits>.json` */
export function commitFileName(version: number): string {
  assertVersion(version);
  return `${String(version).padStart(20, '0')}.json`;
}

function assertVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) throw new Error(`invalid Delta version: ${version}`);
}

/** Delta primitive type → DuckDB type used for data files (timestamp = µs, UTC-adjusted). */
export function duckTypeOf(field: DeltaField | DeltaPrimitive): string {
  const t = typeof field === 'string' ? field : field.type;
  switch (t) {
    case 'string':
      return 'VARCHAR';
    case 'integer':
      return 'INTEGER';
    case 'long':
      return 'BIGINT';
    case 'double':
      return 'DOUBLE';
    case 'timestamp':
      return 'TIMESTAMPTZ';
    case 'binary':
      return 'BLOB';
    case 'boolean':
      return 'BOOLEAN';
  }
}

const PRIMITIVES: ReadonlySet<string> = new Set<DeltaPrimitive>([
  'string',
  'integer',
  'long',
  'double',
  'timestamp',
  'binary',
  'boolean',
]);

/** Characters Delta forbids in column names unless column mapping is on (parquet limitation). */
const INVALID_COLUMN_CHARS = /[ ,;{}()\n\t=]/;

export function validateFields(fields: DeltaField[]): void {
  if (!Array.isArray(fields) || fields.length === 0) throw new Error('a Delta table needs at least one column');
  const seen = new Set<string>();
  for (const f of fields) {
    if (typeof f.name !== 'string' || f.name.length === 0) throw new Error('column names must be non-empty strings');
    if (INVALID_COLUMN_CHARS.test(f.name)) {
      throw new Error(`column name ${JSON.stringify(f.name)} contains a character Delta forbids (" ,;{}()\\n\\t=")`);
    }
    // Delta column names are case-insensitive: "Id" and "id" would collide for readers.
    const key = f.name.toLowerCase();
    if (seen.has(key)) throw new Error(`duplicate column name ${JSON.stringify(f.name)} (Delta names are case-insensitive)`);
    seen.add(key);
    if (!PRIMITIVES.has(f.type)) throw new Error(`column ${f.name}: unsupported type ${JSON.stringify(f.type)}`);
    if (typeof f.nullable !== 'boolean') throw new Error(`column ${f.name}: nullable must be a boolean`);
  }
}

export function schemaStringOf(fields: DeltaField[]): string {
  return JSON.stringify({
    type: 'struct',
    fields: fields.map((f) => ({ name: f.name, type: f.type, nullable: f.nullable, metadata: {} })),
  });
}

/** Parses a schemaString; refuses anything this module can't read/write faithfully. */
export function parseSchemaString(schemaString: string, tableDir = '?'): DeltaField[] {
  let schema: { type?: unknown; fields?: unknown };
  try {
    schema = JSON.parse(schemaString);
  } catch (e) {
    throw new DeltaLogCorruptError(`${tableDir}: metaData.schemaString is not JSON: ${(e as Error).message}`);
  }
  if (schema.type !== 'struct' || !Array.isArray(schema.fields)) {
    throw new DeltaLogCorruptError(`${tableDir}: metaData.schemaString is not a struct schema`);
  }
  return schema.fields.map((raw: { name?: unknown; type?: unknown; nullable?: unknown; metadata?: unknown }) => {
    const name = String(raw.name);
    if (typeof raw.type !== 'string' || !PRIMITIVES.has(raw.type)) {
      throw new UnsupportedDeltaFeatureError(
        `${tableDir}: column ${name} has type ${JSON.stringify(raw.type)}; tributary supports only ${[...PRIMITIVES].join(', ')}`,
      );
    }
    const meta = (raw.metadata ?? {}) as Record<string, unknown>;
    const special = Object.keys(meta).filter(
      (k) =>
        k.startsWith('delta.columnMapping') ||
        k === 'delta.invariants' ||
        k === 'delta.generationExpression' ||
        k.startsWith('delta.identity'),
    );
    if (special.length > 0) {
      throw new UnsupportedDeltaFeatureError(`${tableDir}: column ${name} uses ${special.join(', ')}, which tributary does not implement`);
    }
    return { name, type: raw.type as DeltaPrimitive, nullable: raw.nullable !== false };
  });
}

/** Human-readable differences between two schemas ('' when equal). Compares name, type, nullability, order. */
export function describeSchemaDifference(existing: DeltaField[], wanted: DeltaField[]): string {
  const diffs: string[] = [];
  const byName = (fs_: DeltaField[]) => new Map(fs_.map((f) => [f.name, f]));
  const a = byName(existing);
  const b = byName(wanted);
  for (const f of wanted) {
    const e = a.get(f.name);
    if (!e) diffs.push(`column ${f.name} (${f.type}) is missing from the existing table`);
    else {
      if (e.type !== f.type) diffs.push(`column ${f.name} is ${e.type} in the table but ${f.type} requested`);
      if (e.nullable !== f.nullable) {
        diffs.push(`column ${f.name} is ${e.nullable ? 'nullable' : 'NOT NULL'} in the table but ${f.nullable ? 'nullable' : 'NOT NULL'} requested`);
      }
    }
  }
  for (const e of existing) if (!b.has(e.name)) diffs.push(`the table has extra column ${e.name} (${e.type})`);
  if (diffs.length === 0 && existing.map((f) => f.name).join('\u0001') !== wanted.map((f) => f.name).join('\u0001')) {
    diffs.push(`column order differs: table (${existing.map((f) => f.name).join(', ')}) vs requested (${wanted.map((f) => f.name).join(', ')})`);
  }
  return diffs.join('; ');
}

// ─────────────────────────────────────── protocol checks ────────────────────────────────────────

/**
 * Reader features we can honour. `vacuumProtocolCheck` only asks vacuum to check the protocol,
 * which our snapshot reader always does.
 */
const KNOWN_READER_FEATURES: ReadonlySet<string> = new Set(['vacuumProtocolCheck']);
/**
 * Writer features we honour: `appendOnly` (we refuse data-changing removes when
 * delta.appendOnly=true), `invariants` (we refuse to write if any column declares one, see
 * parseSchemaString), `vacuumProtocolCheck`.
 */
const KNOWN_WRITER_FEATURES: ReadonlySet<string> = new Set(['appendOnly', 'invariants', 'vacuumProtocolCheck']);

function assertReadable(tableDir: string, protocol: DeltaProtocol, metadata: { configuration: Record<string, string> }): void {
  const r = protocol.minReaderVersion;
  if (r === 2 || r > 3) {
    // Reader 2 = column mapping; >3 does not exist yet.
    throw new UnsupportedDeltaFeatureError(`${tableDir}: minReaderVersion ${r} is not supported (column mapping / unknown reader protocol)`);
  }
  if (r === 3) {
    const unknown = (protocol.readerFeatures ?? []).filter((f) => !KNOWN_READER_FEATURES.has(f));
    if (unknown.length > 0) {
      throw new UnsupportedDeltaFeatureError(`${tableDir}: unsupported Delta reader features: ${unknown.join(', ')}`);
    }
  }
  const mode = metadata.configuration['delta.columnMapping.mode'];
  if (mode !== undefined && mode !== 'none') {
    throw new UnsupportedDeltaFeatureError(`${tableDir}: column mapping mode ${mode} is not supported`);
  }
}

/**
 * Throws unless tributary may write `actions` to a table in this state. commitWithRetry calls it
 * with the snapshot the actions were built from.
 */
export function assertWritable(snap: Snapshot, actions: object[] = []): void {
  const { protocol, metadata, tableDir } = snap;
  const w = protocol.minWriterVersion;
  if (w >= 3 && w <= 6) {
    throw new UnsupportedDeltaFeatureError(
      `${tableDir}: minWriterVersion ${w} requires CHECK constraints / change data feed / generated, identity or mapped columns, which tributary does not implement`,
    );
  }
  if (w > 7) throw new UnsupportedDeltaFeatureError(`${tableDir}: minWriterVersion ${w} is unknown`);
  if (w === 7) {
    const unknown = (protocol.writerFeatures ?? []).filter((f) => !KNOWN_WRITER_FEATURES.has(f));
    if (unknown.length > 0) throw new UnsupportedDeltaFeatureError(`${tableDir}: unsupported Delta writer features: ${unknown.join(', ')}`);
  }
  if (metadata.partitionColumns.length > 0) {
    throw new UnsupportedDeltaFeatureError(`${tableDir}: partitioned tables are not supported for writing (partitionColumns ${metadata.partitionColumns.join(', ')})`);
  }
  if (metadata.configuration['delta.appendOnly'] === 'true') {
    for (const a of actions) {
      const rm = (a as { remove?: RemoveAction }).remove;
      if (rm && rm.dataChange !== false) {
        throw new UnsupportedDeltaFeatureError(`${tableDir}: delta.appendOnly=true forbids removing data (remove ${rm.path})`);
      }
    }
  }
}

// ────────────────────────────────────────── actions ─────────────────────────────────────────────

/** `{txn:{appId, version, lastUpdated}}` – records app progress atomically with the data it wrote. */
export function txnAction(appId: string, version: number): object {
  if (typeof appId !== 'string' || appId.length === 0) throw new Error('txn appId must be a non-empty string');
  if (!Number.isSafeInteger(version)) throw new Error(`txn version must be a safe integer, got ${version}`);
  return { txn: { appId, version, lastUpdated: Date.now() } };
}

/**
 * `{remove:{…}}` for a live file. dataChange=false is for rewrites that keep the same rows
 * (compaction); copy-on-write updates/deletes keep the default true.
 */
export function removeAction(add: AddAction, opts: { dataChange?: boolean; deletionTimestamp?: number } = {}): object {
  const remove: RemoveAction = {
    path: add.path,
    deletionTimestamp: opts.deletionTimestamp ?? Date.now(),
    dataChange: opts.dataChange ?? true,
    extendedFileMetadata: true,
    partitionValues: add.partitionValues ?? {},
    size: add.size,
  };
  return { remove };
}

/** `{add:{…}}` wrapper; dataChange can be overridden (false for compaction output). */
export function addAction(add: AddAction, opts: { dataChange?: boolean } = {}): object {
  return { add: { ...add, dataChange: opts.dataChange ?? add.dataChange } };
}

/**
 * Absolute local path of a data file referenced by the log. `path` is an RFC 2396 URI relative to
 * the table root; absolute URIs are refused (we never write them, and following them could make a
 * rewrite/vacuum touch files outside the table).
 */
export function dataFilePath(tableDir: string, addPath: string): string {
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(addPath) || addPath.startsWith('/')) {
    throw new UnsupportedDeltaFeatureError(`${tableDir}: absolute data file path ${addPath} is not supported`);
  }
  const rel = decodeURIComponent(addPath);
  const abs = path.resolve(tableDir, rel);
  const root = path.resolve(tableDir) + path.sep;
  if (!abs.startsWith(root)) throw new DeltaLogCorruptError(`${tableDir}: data file path ${addPath} escapes the table directory`);
  return abs;
}

// ─────────────────────────────────────── snapshot reading ───────────────────────────────────────

interface LogListing {
  commits: Set<number>;
  classicCheckpoints: number[];
  otherCheckpoints: number[];
}

async function listLog(tableDir: string): Promise<LogListing> {
  let names: string[];
  try {
    names = await fsp.readdir(logDir(tableDir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new DeltaTableNotFoundError(`${tableDir} is not a Delta table (no ${LOG_DIR} directory)`);
    throw e;
  }
  const out: LogListing = { commits: new Set(), classicCheckpoints: [], otherCheckpoints: [] };
  for (const n of names) {
    let m: RegExpExecArray | null;
    if ((m = COMMIT_RE.exec(n))) out.commits.add(Number(m[1]));
    else if ((m = CLASSIC_CHECKPOINT_RE.exec(n))) out.classicCheckpoints.push(Number(m[1]));
    else if ((m = MULTIPART_CHECKPOINT_RE.exec(n)) || (m = V2_CHECKPOINT_RE.exec(n))) out.otherCheckpoints.push(Number(m[1]));
  }
  out.classicCheckpoints.sort((a, b) => b - a);
  return out;
}

/** Reads `_last_checkpoint` (a hint only: it may be stale or absent). */
async function readLastCheckpoint(tableDir: string): Promise<{ version: number; parts?: number } | null> {
  try {
    const j = JSON.parse(await fsp.readFile(path.join(logDir(tableDir), '_last_checkpoint'), 'utf8'));
    return typeof j?.version === 'number' ? j : null;
  } catch {
    return null;
  }
}

let checkpointDuck: Promise<DuckDBInstance> | null = null;
let checkpointReaderMemoryLimit = '256MB';

/** The checkpoint reader's share of the worker's memory budget (set before the first read). */
export function setCheckpointReaderMemoryLimit(limit: string): void {
  checkpointReaderMemoryLimit = limit;
}

/**
 * A private in-memory DuckDB (no extensions) for reading parquet checkpoints, so readSnapshot does
 * not need the caller's connection. Created lazily, kept for the process lifetime; its spill
 * directory is removed at exit (or, after kill -9, by the next process's first instance).
 */
function checkpointReader(): Promise<DuckDBInstance> {
  checkpointDuck ??= createDuckDBInstance({ memoryLimit: checkpointReaderMemoryLimit, threads: 1 }).then((owned) => {
    process.once('exit', () => fs.rmSync(owned.spillDir, { recursive: true, force: true }));
    return owned.instance;
  });
  return checkpointDuck;
}

const CHECKPOINT_ACTION_COLUMNS = ['protocol', 'metaData', 'txn', 'add', 'remove', 'sidecar', 'checkpointMetadata'] as const;

/** Actions of a single-file parquet checkpoint, in the same JSON shape as commit lines. */
async function readParquetCheckpoint(tableDir: string, version: number, conn?: DuckDBConnection): Promise<Record<string, unknown>[]> {
  const file = safeDuckPath(path.join(logDir(tableDir), `${String(version).padStart(20, '0')}.checkpoint.parquet`));
  const own = conn ? null : await (await checkpointReader()).connect();
  const c = conn ?? own!;
  try {
    const described = (await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`)).getRowObjects();
    const present = new Set(described.map((r) => String(r.column_name)));
    // Columns absent from a checkpoint are null for every row (PROTOCOL.md, Checkpoints).
    const cols = CHECKPOINT_ACTION_COLUMNS.filter((k) => present.has(k));
    if (cols.length === 0) throw new DeltaLogCorruptError(`${file}: no action columns`);
    // to_json keeps MAP columns as JSON objects and BIGINTs as exact numbers.
    const sql = `SELECT ${cols.map((k) => `to_json(${sqlIdent(k)}) AS ${sqlIdent(k)}`).join(', ')} FROM read_parquet(${sqlString(file)})`;
    const rows = (await c.runAndReadAll(sql)).getRowObjects();
    const actions: Record<string, unknown>[] = [];
    for (const row of rows) {
      for (const k of cols) {
        const v = row[k];
        if (v !== null && v !== undefined) actions.push({ [k]: JSON.parse(String(v)) });
      }
    }
    return actions;
  } finally {
    own?.closeSync();
  }
}

/** The actions of one commit file, in order (commitInfo included). */
export async function readCommit(tableDir: string, version: number): Promise<Record<string, unknown>[]> {
  const file = path.join(logDir(tableDir), commitFileName(version));
  const text = await fsp.readFile(file, 'utf8');
  const out: Record<string, unknown>[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line));
    } catch (e) {
      throw new DeltaLogCorruptError(`${file}:${i + 1}: invalid JSON: ${(e as Error).message}`);
    }
  }
  return out;
}

interface ReplayState {
  protocol?: DeltaProtocol;
  rawMetadata?: Omit<DeltaMetadata, 'fields'>;
  files: Map<string, AddAction>;
  tombstones: Map<string, RemoveAction>;
  appTransactions: Map<string, number>;
}

function applyAction(tableDir: string, st: ReplayState, action: Record<string, unknown>, where: string): void {
  if (action.add) {
    const a = action.add as AddAction & { deletionVector?: unknown };
    if (a.deletionVector) throw new UnsupportedDeltaFeatureError(`${tableDir}: ${where}: deletion vectors are not supported (file ${a.path})`);
    st.files.set(a.path, {
      path: a.path,
      partitionValues: a.partitionValues ?? {},
      size: Number(a.size),
      modificationTime: Number(a.modificationTime),
      dataChange: a.dataChange !== false,
      ...(a.stats != null ? { stats: a.stats } : {}),
    });
    st.tombstones.delete(a.path);
  } else if (action.remove) {
    const r = action.remove as RemoveAction & { deletionVector?: unknown };
    if (r.deletionVector) throw new UnsupportedDeltaFeatureError(`${tableDir}: ${where}: deletion vectors are not supported (file ${r.path})`);
    st.files.delete(r.path);
    st.tombstones.set(r.path, r);
  } else if (action.txn) {
    const t = action.txn as { appId: string; version: number };
    st.appTransactions.set(t.appId, Number(t.version));
  } else if (action.protocol) {
    st.protocol = action.protocol as DeltaProtocol;
  } else if (action.metaData) {
    const m = action.metaData as Omit<DeltaMetadata, 'fields'>;
    st.rawMetadata = {
      ...m,
      partitionColumns: m.partitionColumns ?? [],
      configuration: m.configuration ?? {},
      format: m.format ?? { provider: 'parquet', options: {} },
    };
  } else if (action.sidecar || action.checkpointMetadata) {
    throw new UnsupportedDeltaFeatureError(`${tableDir}: ${where}: v2 checkpoints (sidecar/checkpointMetadata) are not supported`);
  }
  // commitInfo, cdc, domainMetadata and unknown actions don't affect the snapshot we expose
  // (PROTOCOL.md: unknown actions must be ignored by clients).
}

export interface ReadSnapshotOptions {
  /** Connection used to read a parquet checkpoint; default: a private in-memory DuckDB. */
  conn?: DuckDBConnection;
}

/**
 * The table state at `atVersion` (default: latest). Starts from the newest classic checkpoint
 * ≤ target whose following commits are all present (else replays from version 0), then applies
 * the JSON commits in order. The directory listing, not `_last_checkpoint`, decides what exists:
 * listing is cheap on a local filesystem and `_last_checkpoint` may be stale.
 */
export async function readSnapshot(tableDir: string, atVersion?: number, opts: ReadSnapshotOptions = {}): Promise<Snapshot> {
  tableDir = path.resolve(tableDir);
  const listing = await listLog(tableDir);
  const allVersions = [...listing.commits, ...listing.classicCheckpoints, ...listing.otherCheckpoints];
  if (allVersions.length === 0) throw new DeltaTableNotFoundError(`${tableDir} is not a Delta table (${LOG_DIR} has no commits)`);
  const latest = Math.max(...listing.commits, ...listing.classicCheckpoints);
  if (!Number.isFinite(latest)) {
    throw new UnsupportedDeltaFeatureError(`${tableDir}: the log holds only multi-part or v2 checkpoints, which are not supported`);
  }
  if (atVersion !== undefined) {
    assertVersion(atVersion);
    if (atVersion > latest) throw new Error(`${tableDir}: version ${atVersion} does not exist (latest is ${latest})`);
  }
  const target = atVersion ?? latest;

  const commitsPresent = (from: number) => {
    for (let v = from; v <= target; v++) if (!listing.commits.has(v)) return false;
    return true;
  };
  let start: number | null = null; // checkpoint version to start from, or -1 for "replay from 0"
  for (const cp of listing.classicCheckpoints) {
    if (cp <= target && commitsPresent(cp + 1)) {
      start = cp;
      break;
    }
  }
  if (start === null && commitsPresent(0)) start = -1;
  if (start === null) {
    const last = await readLastCheckpoint(tableDir);
    const exotic = listing.otherCheckpoints.filter((v) => v <= target);
    if (exotic.length > 0 || (last?.parts ?? 1) > 1) {
      throw new UnsupportedDeltaFeatureError(
        `${tableDir}: version ${target} can only be reconstructed from a multi-part or v2 checkpoint (versions ${exotic.join(', ')}), which is not supported`,
      );
    }
    throw new DeltaLogCorruptError(`${tableDir}: cannot reconstruct version ${target}: commit files are missing and no usable checkpoint exists`);
  }

  const st: ReplayState = { files: new Map(), tombstones: new Map(), appTransactions: new Map() };
  if (start >= 0) {
    for (const a of await readParquetCheckpoint(tableDir, start, opts.conn)) applyAction(tableDir, st, a, `checkpoint ${start}`);
  }
  for (let v = start + 1; v <= target; v++) {
    for (const a of await readCommit(tableDir, v)) applyAction(tableDir, st, a, `version ${v}`);
  }
  if (!st.protocol) throw new DeltaLogCorruptError(`${tableDir}: no protocol action up to version ${target}`);
  if (!st.rawMetadata) throw new DeltaLogCorruptError(`${tableDir}: no metaData action up to version ${target}`);
  assertReadable(tableDir, st.protocol, st.rawMetadata);
  if (st.rawMetadata.format.provider !== 'parquet') {
    throw new UnsupportedDeltaFeatureError(`${tableDir}: data format ${st.rawMetadata.format.provider} is not supported`);
  }
  const fields = parseSchemaString(st.rawMetadata.schemaString, tableDir);
  return {
    tableDir,
    version: target,
    protocol: st.protocol,
    metadata: { ...st.rawMetadata, fields },
    files: st.files,
    tombstones: st.tombstones,
    appTransactions: st.appTransactions,
  };
}

// ────────────────────────────────────────── committing ──────────────────────────────────────────

async function fsyncDir(dir: string): Promise<void> {
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(dir, 'r');
    await h.sync();
  } catch (e) {
    // Some filesystems refuse fsync on directories (EINVAL/EISDIR); the link itself is still atomic.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw e;
  } finally {
    await h?.close();
  }
}

const SINGLE_KEY_ACTIONS = new Set(['add', 'remove', 'txn', 'protocol', 'metaData', 'cdc', 'domainMetadata']);

/** PROTOCOL.md "Delta Log Entries": one version must not contain actions that reconcile with each other. */
function validateActions(actions: object[]): void {
  const adds = new Set<string>();
  const removes = new Set<string>();
  const apps = new Set<string>();
  let meta = 0;
  let proto = 0;
  for (const a of actions) {
    const keys = Object.keys(a);
    if (keys.length !== 1 || !SINGLE_KEY_ACTIONS.has(keys[0])) {
      throw new Error(`invalid Delta action ${JSON.stringify(a).slice(0, 200)} (expected one of ${[...SINGLE_KEY_ACTIONS].join(', ')}; pass commitInfo separately)`);
    }
    const rec = a as Record<string, Record<string, unknown>>;
    if (rec.add) {
      const p = String(rec.add.path);
      if (adds.has(p)) throw new Error(`duplicate add for ${p} in one commit`);
      adds.add(p);
    } else if (rec.remove) {
      const p = String(rec.remove.path);
      if (removes.has(p)) throw new Error(`duplicate remove for ${p} in one commit`);
      removes.add(p);
    } else if (rec.txn) {
      const id = String(rec.txn.appId);
      if (apps.has(id)) throw new Error(`duplicate txn for appId ${id} in one commit`);
      apps.add(id);
    } else if (rec.metaData && ++meta > 1) throw new Error('more than one metaData action in one commit');
    else if (rec.protocol && ++proto > 1) throw new Error('more than one protocol action in one commit');
  }
}

/**
 * Writes `_delta_log/<version>.json` atomically and only if absent. The content goes to a
 * dot-prefixed temp file in the log dir (readers ignore names that don't parse as versions), is
 * fsynced, then hard-linked to the final name: link(2) fails with EEXIST when a racer got there
 * first, so a commit can never overwrite another (rename would). commitInfo goes first (as
 * In-Commit Timestamps would require).
 *
 * Low-level: it does not read the table, so it does not check protocol/features; commitWithRetry
 * does. It does check that `version - 1` exists, because a gap would corrupt the log.
 */
export async function commitActions(tableDir: string, version: number, actions: object[], commitInfo?: object): Promise<void> {
  tableDir = path.resolve(tableDir);
  assertVersion(version);
  validateActions(actions);
  const dir = logDir(tableDir);
  if (version > 0) {
    const prev = String(version - 1).padStart(20, '0');
    const ok = fs.existsSync(path.join(dir, `${prev}.json`)) || fs.existsSync(path.join(dir, `${prev}.checkpoint.parquet`));
    if (!ok) throw new DeltaLogCorruptError(`${tableDir}: refusing to commit version ${version}: version ${version - 1} does not exist`);
  }
  const info = { timestamp: Date.now(), engineInfo: ENGINE_INFO, operation: 'WRITE', ...(commitInfo ?? {}) };
  const body = [{ commitInfo: info }, ...actions].map((a) => JSON.stringify(a)).join('\n') + '\n';

  const target = path.join(dir, commitFileName(version));
  const tmp = path.join(dir, `.${commitFileName(version)}.${randomUUID()}.tmp`);
  const h = await fsp.open(tmp, 'wx');
  try {
    try {
      await h.writeFile(body, 'utf8');
      await h.sync();
    } finally {
      await h.close();
    }
    try {
      await fsp.link(tmp, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new DeltaCommitConflictError(tableDir, version);
      throw e;
    }
  } finally {
    await fsp.rm(tmp, { force: true });
  }
  await fsyncDir(dir);
}

export interface CommitBuild {
  actions: object[];
  commitInfo?: object;
}

/**
 * Optimistic concurrency: read the latest snapshot, build the actions from it, commit at
 * snapshot.version + 1; if another writer took that version, re-read and rebuild. `build` may
 * therefore run several times: it must derive everything (files to remove, txn checks) from the
 * snapshot it is given. Parquet files written by an attempt that lost are left as orphans unless
 * the builder reuses them (vacuum removes unreferenced files). Returns null when build does.
 */
export async function commitWithRetry(
  tableDir: string,
  build: (snap: Snapshot) => Promise<CommitBuild | null>,
  opts: { maxAttempts?: number } = {},
): Promise<{ version: number } | null> {
  const maxAttempts = opts.maxAttempts ?? 10;
  let lastConflict: DeltaCommitConflictError | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const snap = await readSnapshot(tableDir);
    assertWritable(snap);
    const built = await build(snap);
    if (built === null) return null;
    assertWritable(snap, built.actions);
    // A remove of a file that is no longer live means the builder worked from another snapshot.
    for (const a of built.actions) {
      const rm = (a as { remove?: RemoveAction }).remove;
      if (rm && !snap.files.has(rm.path)) {
        throw new Error(`${snap.tableDir}: commit at version ${snap.version + 1} removes ${rm.path}, which is not a live file of version ${snap.version}`);
      }
    }
    try {
      await commitActions(tableDir, snap.version + 1, built.actions, built.commitInfo);
      return { version: snap.version + 1 };
    } catch (e) {
      if (!(e instanceof DeltaCommitConflictError)) throw e;
      lastConflict = e;
      // Small jittered pause so that several losers don't collide again in lockstep.
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20 * attempt)));
    }
  }
  throw lastConflict ?? new Error('commitWithRetry: no attempt made');
}

// ───────────────────────────────────────── create table ─────────────────────────────────────────

/**
 * Creates version 0: protocol (1, 2) — the highest the DuckDB delta extension 1.5.5 still INSERTs
 * into — and metaData (unpartitioned, configuration {}). Idempotent for the same schema.
 */
export async function createDeltaTable(
  tableDir: string,
  fields: DeltaField[],
  opts: { name?: string; description?: string } = {},
): Promise<{ created: boolean; version: number }> {
  tableDir = path.resolve(tableDir);
  validateFields(fields);
  const existing = async (): Promise<{ created: boolean; version: number } | null> => {
    let snap: Snapshot;
    try {
      snap = await readSnapshot(tableDir);
    } catch (e) {
      if (e instanceof DeltaTableNotFoundError) return null;
      throw e;
    }
    const diff = describeSchemaDifference(snap.metadata.fields, fields);
    if (diff) throw new Error(`Delta table ${tableDir} already exists with a different schema: ${diff}`);
    return { created: false, version: snap.version };
  };
  const found = await existing();
  if (found) return found;

  await fsp.mkdir(logDir(tableDir), { recursive: true });
  const now = Date.now();
  const metaData = {
    id: randomUUID(),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.description !== undefined ? { description: opts.description } : {}),
    format: { provider: 'parquet', options: {} },
    schemaString: schemaStringOf(fields),
    partitionColumns: [],
    createdTime: now,
    configuration: {},
  };
  try {
    await commitActions(tableDir, 0, [{ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, { metaData }], {
      timestamp: now,
      operation: 'CREATE TABLE',
      operationParameters: { mode: 'ErrorIfExists', partitionBy: '[]' },
    });
    return { created: true, version: 0 };
  } catch (e) {
    // Someone created it concurrently: same schema is fine, a different one is an error.
    if (e instanceof DeltaCommitConflictError) {
      const again = await existing();
      if (again) return again;
    }
    throw e;
  }
}

// ─────────────────────────────────────── data files ─────────────────────────────────────────────

/** Column expression that converts a source column to the table type (timestamps to UTC µs). */
function castExpr(field: DeltaField, sourceType: string): string {
  const col = `__src.${sqlIdent(field.name)}`;
  if (field.type === 'timestamp') {
    const t = sourceType.toUpperCase();
    if (t === 'TIMESTAMP WITH TIME ZONE') return col;
    // Naive timestamps/dates are taken as UTC (not the session TimeZone): timezone('UTC', ts).
    if (t === 'TIMESTAMP' || t === 'TIMESTAMP_NS' || t === 'TIMESTAMP_MS' || t === 'TIMESTAMP_S' || t === 'DATE') {
      return `timezone('UTC', CAST(${col} AS TIMESTAMP))`;
    }
    if (t === 'VARCHAR' || t === '"NULL"' || t === 'NULL') return `CAST(${col} AS TIMESTAMPTZ)`;
    throw new Error(`column ${field.name}: cannot convert ${sourceType} to a Delta timestamp (give a TIMESTAMP/TIMESTAMPTZ; numbers have ambiguous units)`);
  }
  return `CAST(${col} AS ${duckTypeOf(field)})`;
}

/** Delta stats want timestamps as ISO-8601 with milliseconds and 'Z'. */
const ISO_MS = `'%Y-%m-%dT%H:%M:%S.%gZ'`;
/** Spark/Delta cut string stats to a prefix; 32 is Delta Spark's default. */
const STRING_STATS_PREFIX = 32;

/**
 * `COPY (<selectSql>) TO '<tableDir>/<uuid>.parquet'` with columns cast to the table's types and
 * in the table's order, then the `add` action with stats computed by DuckDB from the written file.
 * The select must produce exactly the table's columns (by name; order free). Returns null (and
 * leaves no file) for 0 rows. Does not commit: pass the result to commitActions/commitWithRetry.
 *
 * Stats are conservative bounds: timestamp min is truncated down and max rounded UP to the
 * millisecond (PROTOCOL.md truncates to ms; rounding max down could let readers skip a file that
 * holds a match); string max is omitted when longer than the 32-char prefix; doubles with NaN/±Inf
 * get no min/max; binary/boolean get only nullCount.
 */
export async function writeParquetDataFile(
  conn: DuckDBConnection,
  tableDir: string,
  selectSql: string,
  fields: DeltaField[],
): Promise<AddAction | null> {
  validateFields(fields);
  const dir = safeDuckPath(tableDir);
  const query = selectSql.trim().replace(/;+\s*$/, '');

  // Bind only (no execution) to learn the source columns.
  const described = (await conn.runAndReadAll(`DESCRIBE ${query}`)).getRowObjects();
  const sourceTypes = new Map(described.map((r) => [String(r.column_name), String(r.column_type)]));
  const missing = fields.filter((f) => !sourceTypes.has(f.name)).map((f) => f.name);
  const extra = [...sourceTypes.keys()].filter((n) => !fields.some((f) => f.name === n));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `writeParquetDataFile(${tableDir}): the query's columns don't match the table` +
        (missing.length ? `; missing: ${missing.join(', ')}` : '') +
        (extra.length ? `; unexpected: ${extra.join(', ')}` : ''),
    );
  }

  const name = `${randomUUID()}.parquet`;
  const file = path.join(dir, name);
  const selectList = fields.map((f) => `${castExpr(f, sourceTypes.get(f.name)!)} AS ${sqlIdent(f.name)}`).join(', ');
  try {
    const copied = (
      await conn.runAndReadAll(`COPY (SELECT ${selectList} FROM (${query}) AS __src) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`)
    ).getRowObjects();
    const count = Number(copied[0]?.Count ?? 0);
    if (count === 0) {
      await fsp.rm(file, { force: true });
      return null;
    }
    const stats = await computeStats(conn, file, fields);
    for (const f of fields) {
      if (!f.nullable && stats.nullCount[f.name] > 0) {
        throw new Error(`writeParquetDataFile(${tableDir}): column ${f.name} is NOT NULL but ${stats.nullCount[f.name]} rows are null`);
      }
    }
    // COPY does not fsync; the file must be durable before a commit can reference it.
    const h = await fsp.open(file, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
    await fsyncDir(dir);
    const st = await fsp.stat(file);
    return {
      path: name,
      partitionValues: {},
      size: st.size,
      modificationTime: Math.floor(st.mtimeMs),
      dataChange: true,
      stats: stats.json,
    };
  } catch (e) {
    await fsp.rm(file, { force: true });
    throw e;
  }
}

/** One aggregate query over the written file → Delta stats JSON (numbers kept exact as text). */
async function computeStats(
  conn: DuckDBConnection,
  file: string,
  fields: DeltaField[],
): Promise<{ json: string; nullCount: Record<string, number> }> {
  const parts: string[] = ['count(*)::VARCHAR AS n'];
  fields.forEach((f, i) => {
    const c = sqlIdent(f.name);
    parts.push(`(count(*) - count(${c}))::VARCHAR AS nc${i}`);
    switch (f.type) {
      case 'integer':
      case 'long':
        parts.push(`min(${c})::VARCHAR AS mn${i}`, `max(${c})::VARCHAR AS mx${i}`);
        break;
      case 'double':
        // JSON has no NaN/Infinity, and a finite bound would be wrong if the column holds them.
        parts.push(
          `CASE WHEN bool_or(NOT isfinite(${c})) THEN NULL ELSE min(${c}) END AS mn${i}`,
          `CASE WHEN bool_or(NOT isfinite(${c})) THEN NULL ELSE max(${c}) END AS mx${i}`,
        );
        break;
      case 'string':
        parts.push(
          `left(min(${c}), ${STRING_STATS_PREFIX}) AS mn${i}`,
          `CASE WHEN length(max(${c})) <= ${STRING_STATS_PREFIX} THEN max(${c}) END AS mx${i}`,
        );
        break;
      case 'timestamp':
        parts.push(
          `CASE WHEN isfinite(min(${c})) THEN strftime(min(${c}) AT TIME ZONE 'UTC', ${ISO_MS}) END AS mn${i}`,
          `CASE WHEN isfinite(max(${c})) THEN strftime((max(${c}) + INTERVAL 999 MICROSECONDS) AT TIME ZONE 'UTC', ${ISO_MS}) END AS mx${i}`,
        );
        break;
      case 'binary':
      case 'boolean':
        break;
    }
  });
  const row = (await conn.runAndReadAll(`SELECT ${parts.join(', ')} FROM read_parquet(${sqlString(file)})`)).getRowObjects()[0];
  const minV: string[] = [];
  const maxV: string[] = [];
  const nulls: string[] = [];
  const nullCount: Record<string, number> = {};
  fields.forEach((f, i) => {
    const key = JSON.stringify(f.name);
    nulls.push(`${key}:${String(row[`nc${i}`])}`);
    nullCount[f.name] = Number(row[`nc${i}`]);
    const fmt = (v: unknown): string | null => {
      if (v === null || v === undefined) return null;
      if (f.type === 'integer' || f.type === 'long') return String(v); // exact integer text
      if (f.type === 'double') return JSON.stringify(v as number);
      return JSON.stringify(String(v));
    };
    const mn = fmt(row[`mn${i}`]);
    const mx = fmt(row[`mx${i}`]);
    if (mn !== null) minV.push(`${key}:${mn}`);
    if (mx !== null) maxV.push(`${key}:${mx}`);
  });
  const json = `{"numRecords":${String(row.n)},"minValues":{${minV.join(',')}},"maxValues":{${maxV.join(',')}},"nullCount":{${nulls.join(',')}}}`;
  return { json, nullCount };
}

// ──────────────────────────────────────── checkpoints ───────────────────────────────────────────

/**
 * Writes a classic checkpoint for the latest version through the delta extension (`CHECKPOINT`),
 * so that readSnapshot (and every other reader) stops replaying the whole JSON log. Needs a
 * connection with the delta extension loaded. Returns the checkpointed version.
 * Why the extension and not our own writer: its checkpoint parquet schema is the kernel's, which
 * every reader accepts; a hand-built one would have to match it field by field.
 */
export async function checkpointWithExtension(conn: DuckDBConnection, tableDir: string): Promise<number> {
  const dir = safeDuckPath(tableDir);
  const alias = `__tributary_checkpoint_${randomUUID().replace(/-/g, '')}`;
  await conn.run(`ATTACH ${sqlString(dir)} AS ${sqlIdent(alias)} (TYPE delta)`);
  try {
    await conn.run(`CHECKPOINT ${sqlIdent(alias)}`);
  } finally {
    await conn.run(`DETACH ${sqlIdent(alias)}`);
  }
  const last = await readLastCheckpoint(dir);
  if (!last) throw new Error(`${dir}: CHECKPOINT wrote no _last_checkpoint`);
  return last.version;
}

// ─────────────────────────────────────────── change feed ───────────────────────────────────────────

export interface AddedFiles {
  version: number;
  /** Files the commit added with dataChange=true (new rows; rewrites with dataChange=false are skipped). */
  adds: AddAction[];
}

/**
 * What each commit in (afterVersion, toVersion] appended — the incremental read of a downstream
 * stage, like Spark's Delta streaming source. Works for append-only tables; a commit that removes
 * data files with dataChange=true (an update or delete) is refused, since its rows cannot be
 * expressed as appends. Needs the commit JSON files of those versions (never vacuumed here).
 */
export async function addedFilesSince(tableDir: string, afterVersion: number, toVersion: number): Promise<AddedFiles[]> {
  const out: AddedFiles[] = [];
  for (let v = afterVersion + 1; v <= toVersion; v++) {
    let actions: Record<string, unknown>[];
    try {
      actions = await readCommit(tableDir, v);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new DeltaLogCorruptError(`${tableDir}: commit ${v} is missing; cannot read changes after version ${afterVersion}`);
      }
      throw e;
    }
    const adds: AddAction[] = [];
    for (const a of actions) {
      const rm = a.remove as RemoveAction | undefined;
      if (rm && rm.dataChange !== false) {
        throw new UnsupportedDeltaFeatureError(`${tableDir}: version ${v} removes data (${rm.path}); an incremental reader needs an append-only table`);
      }
      const add = a.add as AddAction | undefined;
      if (add && add.dataChange !== false) adds.push({ ...add, partitionValues: add.partitionValues ?? {}, size: Number(add.size) });
    }
    out.push({ version: v, adds });
  }
  return out;
}

/** numRecords from an add's stats (null when the writer wrote no stats). */
export function recordCountOf(add: AddAction): number | null {
  if (!add.stats) return null;
  const n = (JSON.parse(add.stats) as { numRecords?: number }).numRecords;
  return typeof n === 'number' ? n : null;
}

/**
 * Another writer moved a checkpoint (`txn`) this writer relied on since it read the table: nothing
 * was committed; the caller's retry re-plans from the table.
 */
export class ConcurrentWriterError extends Error {
  override name = 'ConcurrentWriterError';
}

/** Versions between Delta checkpoints: keeps every snapshot read (one per commit) short. */
export const CHECKPOINT_INTERVAL = 50;

/** Writes a Delta checkpoint when `version` is due for one (every CHECKPOINT_INTERVAL versions). */
export async function checkpointIfDue(conn: DuckDBConnection, tableDir: string, version: number, interval = CHECKPOINT_INTERVAL): Promise<void> {
  if (interval > 0 && version > 0 && version % interval === 0) await checkpointWithExtension(conn, tableDir);
}
