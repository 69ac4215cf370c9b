/**
 * The pipeline's Delta tables in one place: their place under the lake root, their schemas (the
 * seed's columns and types; Delta `timestamp` = DuckDB TIMESTAMPTZ, UTC), and the `txn` app ids
 * under which each stage keeps its position in them.
 */
import { joinRoot, openTableStore } from '../delta/open-store';
import type { DuckDBConnection } from '@duckdb/node-api';
import { SENSOR_PIPELINE_NAME } from './pipeline-name';
import { addNullableColumns, createTable, DeltaTableNotFoundError, extensionCheckpointer, txnAction, type CommitObserver, type DeltaField, type DeltaTable, type Snapshot } from '../delta';

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
    // The Kafka record's timestamp, part of the source position that orders versions of a gold key
    // (see docs/gold-merge.md). Added after the first release: NULL in rows written before.
    f('kafka_ts', 'timestamp'),
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
  description: 'One row per (sensor_id, ts_ms), latest source position wins (stage 3)',
  fields: [
    f('sensor_id', 'string', false),
    f('value', 'double', false),
    f('unit', 'string', false),
    f('ts_ms', 'long', false),
    f('arrived_at', 'timestamp', false),
    f('updated_at', 'timestamp', false),
    // The winning bronze row's source position, so that an incoming row can be compared with the
    // stored winner (docs/gold-merge.md). Added after the first release: NULL in rows written before.
    f('source_kafka_ts', 'timestamp'),
    f('source_topic', 'string'),
    f('source_partition', 'integer'),
    f('source_offset', 'long'),
  ],
};

const nn = (name: string, type: DeltaField['type']): DeltaField => f(name, type, false);

/** Where a pipeline's dead-letter replay log lives: next to its bronze table (the definition file checks it is free). */
export const replayLogPath = (bronze: string): string => `${bronze}_replay_log`;

export const REPLAY_LOG: TableDef = {
  name: replayLogPath('bronze/sensor_readings'),
  description: 'Dead letters moved to bronze by a replay: which rows, by which replay, when (stage 2)',
  fields: [
    nn('replay_id', 'string'),
    nn('topic', 'string'),
    nn('partition', 'integer'),
    nn('offset', 'long'),
    nn('batch_id', 'long'),
    nn('dead_letter_error', 'string'),
    nn('failed_at', 'timestamp'),
    nn('sensor_id', 'string'),
    nn('value', 'double'),
    nn('unit', 'string'),
    nn('ts_ms', 'long'),
    nn('arrived_at', 'timestamp'),
    nn('replayed_at', 'timestamp'),
  ],
};

/**
 * The replay log of another pipeline than sensor: next to its bronze table (`<bronze>_replay_log`),
 * the replay's columns, the pipeline's payload fields (`payload`: bronze's fields before its Kafka
 * metadata; nullable, so a field the definition adds later is a plain added column), then
 * arrived_at and replayed_at — the sensor's REPLAY_LOG laid out for any schema.
 */
export function replayLogOf(bronze: TableDef, payload: readonly DeltaField[]): TableDef {
  const head = REPLAY_LOG.fields.slice(0, REPLAY_LOG.fields.findIndex((x) => x.name === 'failed_at') + 1);
  return {
    name: replayLogPath(bronze.name),
    description: `Dead letters moved to ${bronze.name} by a replay: which rows, by which replay, when (stage 2)`,
    fields: [...head, ...payload.map((x) => ({ ...x, nullable: true })), f('arrived_at', 'timestamp', false), f('replayed_at', 'timestamp', false)],
  };
}

/**
 * Delta `txn` app ids: where each stage keeps its position, committed with its rows
 * (docs/architecture.md). The sensor pipeline's are `tributary.<stage>…` (what every lake written
 * before pipelines existed holds); every other pipeline's are namespaced by its name,
 * `tributary.<pipeline>.<stage>…` (a pipeline name has no dot, so the two never collide).
 */
export interface StageAppIds {
  /** Stage 1: prefix of `<prefix><topic>/<partition>` = next offset of one topic-partition. */
  readonly rawPrefix: string;
  /** Stage 2: raw version processed through, in bronze and in the dead letter. */
  readonly bronze: string;
  /** Stage 2 backfills: a counter each backfill commit compare-and-swaps (serialises backfills). */
  readonly backfill: string;
  /** Stage 2: prefix under which bronze and the dead letter record the raw table's identity (upstreamTxn). */
  readonly bronzeStage: string;
  /** Stage 3: bronze version merged through. */
  readonly gold: string;
  /** Stage 3: prefix under which gold records bronze's identity (upstreamTxn). */
  readonly goldStage: string;
  /** Replay: a sequence in the replay log; `<replaySeq>/<replay id>` per replay in the log and in bronze. */
  readonly replaySeq: string;
}

export function stageAppIds(pipeline: string): StageAppIds {
  const ns = pipeline === SENSOR_PIPELINE_NAME ? 'tributary' : `tributary.${pipeline}`;
  return {
    rawPrefix: `${ns}.raw/`,
    bronze: `${ns}.bronze/raw-version`,
    backfill: `${ns}.bronze/backfill`,
    bronzeStage: `${ns}.bronze`,
    gold: `${ns}.gold/bronze-version`,
    goldStage: `${ns}.gold`,
    replaySeq: `${ns}.replay`,
  };
}

/** The sensor pipeline's app ids. */
export const SENSOR_APP_IDS = stageAppIds(SENSOR_PIPELINE_NAME);

/** Stage 1: next offset of one topic-partition. */
export function rawTxnAppId(topic: string, partition: number, ids: StageAppIds = SENSOR_APP_IDS): string {
  return `${ids.rawPrefix}${topic}/${partition}`;
}
/** The topic-partition a raw app id names; null for other app ids. */
export function parseRawTxnAppId(appId: string, ids: StageAppIds = SENSOR_APP_IDS): { topic: string; partition: number } | null {
  if (!appId.startsWith(ids.rawPrefix)) return null;
  const rest = appId.slice(ids.rawPrefix.length);
  const slash = rest.lastIndexOf('/');
  return { topic: rest.slice(0, slash), partition: Number(rest.slice(slash + 1)) };
}
export const BRONZE_TXN_APP_ID = SENSOR_APP_IDS.bronze;
export const BACKFILL_TXN_APP_ID = SENSOR_APP_IDS.backfill;
export const BRONZE_STAGE = SENSOR_APP_IDS.bronzeStage;
export const GOLD_CHECKPOINT_APP_ID = SENSOR_APP_IDS.gold;
export const GOLD_STAGE = SENSOR_APP_IDS.goldStage;
export const REPLAY_SEQ_APP_ID = SENSOR_APP_IDS.replaySeq;
export const replayAppId = (replayId: string, ids: StageAppIds = SENSOR_APP_IDS): string => `${ids.replaySeq}/${replayId}`;

export const ALL_TABLES = [RAW, BRONZE, DEAD_LETTER, GOLD] as const;

export function tableDir(lakeRoot: string, table: TableDef): string {
  return joinRoot(lakeRoot, ...table.name.split('/'));
}

/**
 * Creates whichever of the tables is missing; brings an existing table whose schema lacks trailing
 * nullable columns up to date (a metaData commit; old rows read NULL); refuses any other difference.
 */
export async function ensureTables(lakeRoot: string, tables: readonly TableDef[] = ALL_TABLES): Promise<string[]> {
  const created: string[] = [];
  for (const t of tables) {
    const store = openTableStore(tableDir(lakeRoot, t));
    try {
      await addNullableColumns({ store }, t.fields);
    } catch (e) {
      if (!(e instanceof DeltaTableNotFoundError)) throw e;
    }
    const r = await createTable(store, t.fields, { name: t.name.replace('/', '.'), description: t.description });
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
