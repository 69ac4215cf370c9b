/**
 * Checkpoints: reading a classic single-file V1 checkpoint, writing one (through the DuckDB delta
 * extension), `_last_checkpoint`, and the policy that decides when a commit is followed by one.
 *
 * Why the extension writes them and not our own writer: its checkpoint parquet schema is the
 * kernel's, which every reader (delta-rs, Spark, DuckDB) accepts; a hand-built one would have to
 * match it field by field. The extension's `CHECKPOINT t` writes `<v>.checkpoint.parquet` plus
 * `_last_checkpoint` {version,size,sizeInBytes,numOfAddFiles} and never checkpoints by itself.
 */
import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { normalizeAction, type LogAction } from './actions';
import { DeltaLogCorruptError } from './errors';
import { checkpointKey, LAST_CHECKPOINT_KEY } from './log-path';
import type { TableMetadata } from './schema';
import { safeDuckPath, sqlIdent, sqlString } from './sql';
import type { TableStore } from './storage';

/** Versions between checkpoints when the table sets no `delta.checkpointInterval` (as before this library). */
export const DEFAULT_CHECKPOINT_INTERVAL = 50;

/** Delta's `delta.checkpointInterval` table property, else the default. 0 or invalid → default. */
export function checkpointInterval(metadata: Pick<TableMetadata, 'configuration'>): number {
  const n = Number(metadata.configuration['delta.checkpointInterval']);
  return Number.isSafeInteger(n) && n > 0 ? n : DEFAULT_CHECKPOINT_INTERVAL;
}

export function isCheckpointDue(version: number, interval: number): boolean {
  return interval > 0 && version > 0 && version % interval === 0;
}

/** Writes a checkpoint of the table's latest version; returns that version. */
export type Checkpointer = (store: TableStore) => Promise<number>;

/** A Checkpointer on a DuckDB connection that has the delta extension loaded. */
export function extensionCheckpointer(conn: DuckDBConnection): Checkpointer {
  return async (store) => {
    const alias = `__tributary_checkpoint_${randomUUID().replace(/-/g, '')}`;
    await conn.run(`ATTACH ${sqlString(safeDuckPath(store.root))} AS ${sqlIdent(alias)} (TYPE delta)`);
    try {
      await conn.run(`CHECKPOINT ${sqlIdent(alias)}`);
    } finally {
      await conn.run(`DETACH ${sqlIdent(alias)}`);
    }
    const last = await readLastCheckpoint(store);
    if (!last) throw new Error(`${store.root}: CHECKPOINT wrote no _last_checkpoint`);
    return last.version;
  };
}

export interface LastCheckpoint {
  version: number;
  /** Set for multi-part checkpoints (which tributary refuses to read). */
  parts?: number;
}

/** Reads `_last_checkpoint`: a hint only (it may be stale, absent or torn). */
export async function readLastCheckpoint(store: TableStore): Promise<LastCheckpoint | null> {
  try {
    const j = JSON.parse((await store.read(LAST_CHECKPOINT_KEY)).toString('utf8'));
    return Number.isSafeInteger(j?.version) && j.version >= 0 ? { version: j.version, ...(typeof j.parts === 'number' ? { parts: j.parts } : {}) } : null;
  } catch {
    return null;
  }
}

let readerDb: Promise<DuckDBInstance> | null = null;
let readerFactory: () => Promise<DuckDBInstance> = () =>
  // (No TimeZone option here: DuckDB 1.5.5 rejects it at create time, and nothing here needs it.)
  DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false', threads: '1' });

/**
 * How the private checkpoint-reading DuckDB is made (the worker gives it its share of the memory
 * budget and a spill directory). Takes effect if set before the first checkpoint read.
 */
export function setCheckpointReaderFactory(factory: () => Promise<DuckDBInstance>): void {
  readerFactory = factory;
}

/**
 * A private in-memory DuckDB (no extensions) for reading parquet checkpoints, so that loading a
 * snapshot needs no caller connection. Created lazily, kept for the process lifetime.
 */
function checkpointReader(): Promise<DuckDBInstance> {
  readerDb ??= readerFactory();
  return readerDb;
}

const CHECKPOINT_ACTION_COLUMNS = ['protocol', 'metaData', 'txn', 'add', 'remove', 'sidecar', 'checkpointMetadata'] as const;

/**
 * The actions of a single-file parquet checkpoint, in the same shape as commit lines. `conn`
 * reads it when given (one that can reach the store's locations); else a private DuckDB.
 */
export async function readCheckpointActions(store: TableStore, version: number, conn?: DuckDBConnection): Promise<LogAction[]> {
  const located = store.locate(checkpointKey(version));
  // On an object store the checkpoint is fetched through the store into a temp file: the private reader needs no
  // extensions or credentials.
  const remote = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(located);
  const file = remote ? path.join(os.tmpdir(), `tributary-checkpoint-${process.pid}-${randomUUID()}.parquet`) : safeDuckPath(located);
  if (remote) await fsp.writeFile(file, await store.read(checkpointKey(version)));
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
    const actions: LogAction[] = [];
    const where = `${store.root}: checkpoint ${version}`;
    for (const row of rows) {
      for (const k of cols) {
        const v = row[k];
        if (v === null || v === undefined) continue;
        const a = normalizeAction({ [k]: JSON.parse(String(v)) }, where);
        if (a) actions.push(a);
      }
    }
    return actions;
  } finally {
    own?.closeSync();
    if (remote) await fsp.rm(file, { force: true });
  }
}
