/**
 * The four Delta tables of the pipeline: their place under the lake root and their schemas
 * (the seed's columns and types; Delta `timestamp` = DuckDB TIMESTAMPTZ, UTC).
 */
import { joinRoot, openTableStore } from '../delta/open-store';
import type { DuckDBConnection } from '@duckdb/node-api';
import { createTable, extensionCheckpointer, txnAction, type CommitObserver, type DeltaField, type DeltaTable, type Snapshot } from '../delta';

export interface TableDef {
  /** Path under the lake root, e.g. `raw/sensor_readings`. */
  name: string;
  description: string;
  fields: DeltaField[];
}

const f = (name: string, type: DeltaField['type'], nullable = true): DeltaField => ({ name, type, nullable });

export const RAW: TableDef = {
  name: 'raw/sensor_readings',
  description: 'Kafka records as landed: payload as text plus Kafka metadata (stage 1)',
  fields: [
    f('topic', 'string', false),
    f('partition', 'integer', false),
    f('offset', 'long', false),
    f('kafka_ts', 'timestamp'),
    f('raw_payload', 'string'),
    // Set only when the Kafka value is not valid UTF-8 (raw_payload is NULL then), so stage 2 can
    // dead-letter the exact bytes. Both NULL = a null value (tombstone).
    f('raw_payload_bytes', 'binary'),
    f('arrived_at', 'timestamp', false),
  ],
};

export const BRONZE: TableDef = {
  name: 'bronze/sensor_readings',
  description: 'Parsed and validated sensor readings (stage 2)',
  fields: [
    f('sensor_id', 'string', false),
    f('value', 'double', false),
    f('unit', 'string', false),
    f('ts_ms', 'long', false),
    f('arrived_at', 'timestamp', false),
    f('topic', 'string', false),
    f('partition', 'integer', false),
    f('offset', 'long', false),
  ],
};

export const DEAD_LETTER: TableDef = {
  name: 'bronze/sensor_readings_dead_letter',
  description: 'Raw records that failed parsing or validation, with the reason (stage 2)',
  fields: [
    f('raw_payload', 'string'),
    f('topic', 'string', false),
    f('partition', 'integer', false),
    f('offset', 'long', false),
    f('arrived_at', 'timestamp', false),
    f('failed_at', 'timestamp', false),
    f('batch_id', 'long', false),
    f('error', 'string', false),
  ],
};

export const GOLD: TableDef = {
  name: 'gold/sensor_readings',
  description: 'One row per (sensor_id, ts_ms), newest arrival wins (stage 3)',
  fields: [
    f('sensor_id', 'string', false),
    f('value', 'double', false),
    f('unit', 'string', false),
    f('ts_ms', 'long', false),
    f('arrived_at', 'timestamp', false),
    f('updated_at', 'timestamp', false),
  ],
};

export const ALL_TABLES = [RAW, BRONZE, DEAD_LETTER, GOLD] as const;

export function tableDir(lakeRoot: string, table: TableDef): string {
  return joinRoot(lakeRoot, ...table.name.split('/'));
}

/** Creates whichever of the tables is missing; refuses a table whose schema differs. */
export async function ensureTables(lakeRoot: string, tables: readonly TableDef[] = ALL_TABLES): Promise<string[]> {
  const created: string[] = [];
  for (const t of tables) {
    const r = await createTable(openTableStore(tableDir(lakeRoot, t)), t.fields, { name: t.name.replace('/', '.'), description: t.description });
    if (r.created) created.push(t.name);
  }
  return created;
}

/**
 * A table as the stages write it: on local disk, checkpointed through `conn` (which has the delta
 * extension loaded) whenever the table's checkpoint policy says so, commits seen by `observer` (tests).
 */
export function lakeTable(conn: DuckDBConnection, dir: string, opts: { observer?: CommitObserver; checkpointInterval?: number } = {}): DeltaTable {
  return { store: openTableStore(dir), checkpointer: extensionCheckpointer(conn), ...opts };
}

/**
 * A stage's checkpoint is a version of its upstream table, meaningful only for that very table.
 * So every commit of a stage's output table also records the upstream table's identity (Delta
 * `metaData.id`, new whenever a table is created) as a txn `<stage>/upstream/<id>`. An upstream
 * table with another id was deleted and recreated, or restored from another copy: its versions
 * are not the ones the checkpoint counts, and going on would silently skip (or re-read) rows.
 */
export class UpstreamTableChangedError extends Error {
  override name = 'UpstreamTableChangedError';
}

const upstreamPrefix = (stage: string) => `${stage}/upstream/`;

/** The txn recording `upstreamId` in `downstream`, unless it is recorded already. */
export function upstreamTxn(stage: string, upstreamId: string, downstream: Snapshot): ReturnType<typeof txnAction>[] {
  const appId = upstreamPrefix(stage) + upstreamId;
  return downstream.appTransactions.has(appId) ? [] : [txnAction(appId, 1)];
}

/**
 * Refuses (non-retryable) when `downstream` recorded another upstream table than `upstream`.
 * Tables written before this check existed recorded none: they adopt the current one.
 */
export function assertSameUpstream(stage: string, upstream: Snapshot, downstream: Snapshot, recovery: string): void {
  const prefix = upstreamPrefix(stage);
  const recorded = [...downstream.appTransactions.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  if (recorded.length === 0 || recorded.includes(upstream.metadata.id)) return;
  throw new UpstreamTableChangedError(
    `${upstream.root} is not the table ${downstream.root} was derived from: its Delta table id is ${upstream.metadata.id}, ` +
      `the checkpoint refers to table ${recorded.join(', ')} (the upstream table was deleted and recreated, or restored from another copy, ` +
      `so its versions are not the ones the checkpoint counts). Nothing was written. ${recovery}`,
  );
}
