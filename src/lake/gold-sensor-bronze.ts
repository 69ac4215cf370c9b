/**
 * The sensor gold's side of bronze (src/lake/gold.ts): the batch's rows typed as gold reads them,
 * and the dedupe to one row per key (sensor_id, ts_ms) in SOURCE order (docs/gold-merge.md). Which
 * bronze versions a run merges in which batch is shared with the generic gold (gold-run.ts). The
 * temp tables (`__gm_*`) are connection-local, one merge at a time per connection.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { dataFileLocation, type AddAction } from '../delta';
import { openTableStore } from '../delta/open-store';
import { assertColumns, parquetFrom, utcTimestamp } from './gold-run';
import type { TsWindow } from './gold-windows';
import { BRONZE } from './tables';

/** The merge's connection-local temp tables. */
export const T = {
  dups: '__gm_dups',
  src: '__gm_src',
  files: '__gm_files',
  hits: '__gm_hits',
  out: '__gm_out',
} as const;

/**
 * The order of a key's versions (greater = later) as a row value over kafka_ts, topic, partition,
 * offset, value, unit and the arrival column: NULL kafka_ts (rows from before bronze carried it,
 * dead-letter replays) first; the EARLIER arrival last, so a record landed again (raw backfill) is
 * never "newer" than itself.
 */
export function sourceOrder(alias: string, arrival: string): string {
  const c = (n: string) => (alias ? `${alias}.${n}` : n);
  return `(coalesce(${c('kafka_ts')}, '-infinity'::TIMESTAMPTZ), ${c('topic')}, ${c('"partition"')}, ${c('"offset"')}, ${c('value')}, ${c('unit')}, -epoch_us(${c(arrival)}))`;
}

/**
 * The batch's bronze rows, typed, as a subquery: only its files, and with a window only the files
 * whose ts_ms stats overlap it and only the rows in it (pushed into the Parquet scan: row groups
 * outside are skipped).
 */
export async function bronzeSource(conn: DuckDBConnection, bronzeDir: string, files: AddAction[], window?: TsWindow): Promise<string> {
  const bronzeStore = openTableStore(bronzeDir);
  const src = await parquetFrom(conn, files.map((a) => dataFileLocation(bronzeStore, a.path)));
  assertColumns(src, BRONZE.fields, `${bronzeDir}: bronze data files`);
  const { from: read, types } = src;
  const arrived = utcTimestamp('arrived_at', types.get('arrived_at')!);
  // Files written before kafka_ts existed read it as NULL (Delta's rule for an added nullable column).
  const kafkaTs = types.has('kafka_ts') ? utcTimestamp('kafka_ts', types.get('kafka_ts')!) : 'NULL::TIMESTAMPTZ';
  const where = window ? `WHERE ts_ms >= ${window.lo} AND ts_ms < ${window.hi}` : '';
  return `(SELECT CAST(sensor_id AS VARCHAR) AS sensor_id, CAST(ts_ms AS BIGINT) AS ts_ms, CAST(value AS DOUBLE) AS value,
                  CAST(unit AS VARCHAR) AS unit, ${arrived} AS arrived_at, ${kafkaTs} AS kafka_ts, CAST(topic AS VARCHAR) AS topic,
                  CAST("partition" AS INTEGER) AS "partition", CAST("offset" AS BIGINT) AS "offset"
           FROM (SELECT * FROM ${read} ${where}))`;
}

/**
 * One row per key of `src` (see the header for the order): the winner's columns and first_at.
 * Most keys come once: they are passed through; only keys with several versions (T.dups, built
 * first by createDups) go through the arg_max over the source order. One aggregate for every key
 * built a struct per row and cost ~40 % more CPU (bench/RESULTS.md).
 */
export function winnersSql(src: string): string {
  return `SELECT s.sensor_id, s.ts_ms, s.value, s.unit, s.arrived_at AS new_at, s.arrived_at AS first_at,
                 s.kafka_ts, s.topic, s."partition", s."offset"
          FROM ${src} s ANTI JOIN ${T.dups} d ON d.sensor_id = s.sensor_id AND d.ts_ms = s.ts_ms
          UNION ALL
          SELECT sensor_id, ts_ms, w.value, w.unit, w.new_at, first_at, w.kafka_ts, w.topic, w."partition", w."offset" FROM (
            SELECT s.sensor_id, s.ts_ms, min(s.arrived_at) AS first_at,
                   arg_max({'value': s.value, 'unit': s.unit, 'new_at': s.arrived_at, 'kafka_ts': s.kafka_ts, 'topic': s.topic, 'partition': s."partition", 'offset': s."offset"},
                           ${sourceOrder('s', 'arrived_at')}) AS w
            FROM ${src} s SEMI JOIN ${T.dups} d ON d.sensor_id = s.sensor_id AND d.ts_ms = s.ts_ms
            GROUP BY s.sensor_id, s.ts_ms)`;
}

export async function createDups(conn: DuckDBConnection, src: string): Promise<void> {
  // Bronze's sensor_id and ts_ms are NOT NULL, so the joins on them match what GROUP BY groups.
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.dups} AS SELECT sensor_id, ts_ms FROM ${src} GROUP BY ALL HAVING count(*) > 1`);
}

/** Loads the batch's (or window's) bronze rows, one row per key, into T.src; returns the key count. */
export async function loadBronzeBatch(conn: DuckDBConnection, bronzeDir: string, files: AddAction[], window?: TsWindow): Promise<number> {
  if (files.length === 0) {
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE ${T.src} (sensor_id VARCHAR, ts_ms BIGINT, value DOUBLE, unit VARCHAR, new_at TIMESTAMPTZ, first_at TIMESTAMPTZ,
        kafka_ts TIMESTAMPTZ, topic VARCHAR, "partition" INTEGER, "offset" BIGINT)`,
    );
    return 0;
  }
  const src = await bronzeSource(conn, bronzeDir, files, window);
  await createDups(conn, src);
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${T.src} AS ${winnersSql(src)}`);
  const r = (await conn.runAndReadAll(`SELECT count(*)::BIGINT AS k FROM ${T.src}`)).getRowObjects()[0];
  return Number(r.k);
}
