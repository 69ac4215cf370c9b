/**
 * Version 0 of a table: protocol (1, 2) — the highest the DuckDB delta extension 1.5.5 still
 * INSERTs into, and what Spark reads without table features — and an unpartitioned metaData.
 */
import { randomUUID } from 'node:crypto';
import type { MetadataAction } from './actions';
import { DeltaCommitConflictError, DeltaTableNotFoundError } from './errors';
import { describeSchemaDifference, schemaStringOf, validateFields, type DeltaField } from './schema';
import { loadSnapshot } from './snapshot';
import type { TableStore } from './storage';
import { writeCommit } from './transaction';

export interface CreateTableOptions {
  name?: string;
  description?: string;
  /** Table properties, e.g. `delta.checkpointInterval`. */
  configuration?: Record<string, string>;
}

/** Creates the table if absent; idempotent for the same schema, an error for a different one. */
export async function createTable(store: TableStore, fields: DeltaField[], opts: CreateTableOptions = {}): Promise<{ created: boolean; version: number }> {
  validateFields(fields);
  const existing = async (): Promise<{ created: boolean; version: number } | null> => {
    try {
      const snap = await loadSnapshot(store);
      const diff = describeSchemaDifference(snap.metadata.fields, fields);
      if (diff) throw new Error(`Delta table ${store.root} already exists with a different schema: ${diff}`);
      return { created: false, version: snap.version };
    } catch (e) {
      if (e instanceof DeltaTableNotFoundError) return null;
      throw e;
    }
  };
  const found = await existing();
  if (found) return found;

  const now = Date.now();
  const metaData: MetadataAction = {
    id: randomUUID(),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.description !== undefined ? { description: opts.description } : {}),
    format: { provider: 'parquet', options: {} },
    schemaString: schemaStringOf(fields),
    partitionColumns: [],
    createdTime: now,
    configuration: { ...opts.configuration },
  };
  try {
    await writeCommit(store, 0, [{ protocol: { minReaderVersion: 1, minWriterVersion: 2 } }, { metaData }], {
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
