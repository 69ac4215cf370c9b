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
import { commit, writeCommit, type DeltaTable } from './transaction';

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

/**
 * Schema evolution by adding nullable columns: when `wanted` holds every column of the table (same
 * types) plus nullable columns it lacks — anywhere: Delta readers match a file's columns by name —
 * and/or lets NOT NULL columns be NULL (every row already written satisfies that), commits a
 * `metaData` action (same id and settings, the new schemaString in `wanted`'s order). Data files
 * written before read the new columns as NULL (PROTOCOL.md: a nullable column absent from a file).
 * Any other difference (a column dropped or retyped, a new NOT NULL column, a nullable column made
 * NOT NULL) is refused. Returns the version committed, or null when there is nothing to add or relax.
 */
export async function addNullableColumns(table: DeltaTable, wanted: DeltaField[]): Promise<number | null> {
  validateFields(wanted);
  const r = await commit(table, {
    plan: async (snap) => {
      const have = snap.metadata.fields;
      if (!describeSchemaDifference(have, wanted)) return null;
      const want = new Map(wanted.map((f) => [f.name, f]));
      const haveNames = new Set(have.map((f) => f.name));
      const added = wanted.filter((f) => !haveNames.has(f.name));
      const relaxed = have.filter((f) => !f.nullable && want.get(f.name)?.nullable === true);
      const refused = [
        ...have.flatMap((f) => {
          const w = want.get(f.name);
          if (!w) return [`the table's column ${f.name} is not in the new schema`];
          if (w.type !== f.type) return [`column ${f.name} is ${f.type} in the table but ${w.type} requested`];
          return f.nullable && !w.nullable ? [`column ${f.name} is nullable in the table but NOT NULL requested`] : [];
        }),
        ...added.filter((f) => !f.nullable).map((f) => `new column ${f.name} must be nullable (rows already written have none)`),
      ];
      if (refused.length) throw new Error(`Delta table ${snap.root} already exists with a different schema, which adding nullable columns cannot reach: ${refused.join('; ')}`);
      if (added.length === 0 && relaxed.length === 0) return null; // only the order differs: nothing to change
      const { id, name, description, format, partitionColumns, createdTime, configuration } = snap.metadata;
      const metaData: MetadataAction = {
        id,
        ...(name !== undefined ? { name } : {}),
        ...(description !== undefined ? { description } : {}),
        format,
        schemaString: schemaStringOf(wanted),
        partitionColumns,
        ...(createdTime !== undefined ? { createdTime } : {}),
        configuration,
      };
      return {
        actions: [{ metaData }],
        commitInfo: added.length
          ? { operation: 'ADD COLUMNS', operationParameters: { columns: JSON.stringify(added.map((f) => ({ column: f }))) }, readVersion: snap.version, isBlindAppend: true }
          : { operation: 'CHANGE COLUMN', operationParameters: { nullable: JSON.stringify(relaxed.map((f) => f.name)) }, readVersion: snap.version, isBlindAppend: true },
      };
    },
  });
  return r?.version ?? null;
}
