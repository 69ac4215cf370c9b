/**
 * Tests address tables by directory: these are src/delta's functions with the table's store per call
 * (the API src/lake/delta-log.ts had before src/delta existed, so the tests written against it
 * keep asserting the same things). A directory may be a local path, az://… or s3://… (openTableStore:
 * credentials from the environment, as the stages get them).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  addedFilesSince as addedFilesSinceIn,
  commit,
  createTable,
  dataFileKey,
  DEFAULT_CHECKPOINT_INTERVAL,
  extensionCheckpointer,
  isCheckpointDue,
  loadSnapshot,
  readCommit as readCommitIn,
  writeCommit,
  writeParquetDataFile as writeParquetDataFileIn,
  type Action,
  type AddAction,
  type AddedFiles,
  type CommitInfo,
  type DeltaField,
  type Snapshot as StoreSnapshot,
} from '../../src/delta';
import { openTableStore } from '../../src/delta/open-store';

export {
  addAction,
  assertWritable,
  commitFileName,
  ConcurrentWriterError,
  DeltaCommitConflictError,
  DeltaLogCorruptError,
  DeltaTableNotFoundError,
  describeSchemaDifference,
  duckTypeOf,
  parseSchemaString,
  recordCountOf,
  removeAction,
  schemaStringOf,
  txnAction,
  UnsupportedDeltaFeatureError,
  validateFields,
} from '../../src/delta';
export type { Action, AddAction, AddedFiles, CommitInfo, DeltaField, DeltaPrimitive, DeltaProtocol, RemoveAction, TableMetadata as DeltaMetadata } from '../../src/delta';

export type Snapshot = StoreSnapshot & { tableDir: string };

const store = (tableDir: string) => openTableStore(tableDir);

export async function readSnapshot(tableDir: string, atVersion?: number, opts: { conn?: DuckDBConnection } = {}): Promise<Snapshot> {
  const snap = await loadSnapshot(store(tableDir), { atVersion, conn: opts.conn });
  return { ...snap, tableDir: snap.root };
}

/** The actions of one commit file, in order (commitInfo included). */
export async function readCommit(tableDir: string, version: number): Promise<Record<string, unknown>[]> {
  return (await readCommitIn(store(tableDir), version)) as unknown as Record<string, unknown>[];
}

export function dataFilePath(tableDir: string, addPath: string): string {
  const s = store(tableDir);
  return s.locate(dataFileKey(s.root, addPath));
}

export async function commitActions(tableDir: string, version: number, actions: Action[], commitInfo?: CommitInfo): Promise<void> {
  await writeCommit(store(tableDir), version, actions, commitInfo);
}

export interface CommitBuild {
  actions: Action[];
  commitInfo?: CommitInfo;
}

export async function commitWithRetry(
  tableDir: string,
  build: (snap: Snapshot) => Promise<CommitBuild | null>,
  opts: { maxAttempts?: number } = {},
): Promise<{ version: number } | null> {
  const plan = async (snap: StoreSnapshot) => build({ ...snap, tableDir: snap.root });
  const done = await commit({ store: store(tableDir) }, { plan, rebuild: plan, maxAttempts: opts.maxAttempts });
  return done && { version: done.version };
}

export async function createDeltaTable(
  tableDir: string,
  fields: DeltaField[],
  opts: { name?: string; description?: string } = {},
): Promise<{ created: boolean; version: number }> {
  return createTable(store(tableDir), fields, opts);
}

export function writeParquetDataFile(conn: DuckDBConnection, tableDir: string, selectSql: string, fields: DeltaField[]): Promise<AddAction | null> {
  return writeParquetDataFileIn(conn, store(tableDir), selectSql, fields);
}

export function checkpointWithExtension(conn: DuckDBConnection, tableDir: string): Promise<number> {
  return extensionCheckpointer(conn)(store(tableDir));
}

export function addedFilesSince(tableDir: string, afterVersion: number, toVersion: number): Promise<AddedFiles[]> {
  return addedFilesSinceIn(store(tableDir), afterVersion, toVersion);
}

export const CHECKPOINT_INTERVAL = DEFAULT_CHECKPOINT_INTERVAL;

export async function checkpointIfDue(conn: DuckDBConnection, tableDir: string, version: number, interval = CHECKPOINT_INTERVAL): Promise<void> {
  if (isCheckpointDue(version, interval)) await checkpointWithExtension(conn, tableDir);
}
