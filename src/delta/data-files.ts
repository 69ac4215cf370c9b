/**
 * Data files: Parquet written by DuckDB straight to the store (`COPY … TO locate(key)`), typed and
 * ordered as the table's schema, with the `add` action's stats computed by DuckDB from the file.
 */
import { randomUUID } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { AddAction } from './actions';
import { DeltaLogCorruptError, UnsupportedDeltaFeatureError } from './errors';
import { decimalOf, duckTypeOf, validateFields, type DeltaField } from './schema';
import { safeDuckPath, sqlIdent, sqlString } from './sql';
import type { TableStore } from './storage';

/**
 * The store key of a data file the log references. `path` is an RFC 2396 URI relative to the
 * table root; absolute URIs are refused (we never write them, and following them could make a
 * rewrite or vacuum touch files outside the table).
 */
export function dataFileKey(root: string, addPath: string): string {
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(addPath) || addPath.startsWith('/')) {
    throw new UnsupportedDeltaFeatureError(`${root}: absolute data file path ${addPath} is not supported`);
  }
  const key = decodeURIComponent(addPath);
  if (key.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new DeltaLogCorruptError(`${root}: data file path ${addPath} escapes the table directory`);
  }
  return key;
}

/** Where DuckDB reads a data file the log references (for read_parquet lists). */
export function dataFileLocation(store: TableStore, addPath: string): string {
  return safeDuckPath(store.locate(dataFileKey(store.root, addPath)));
}

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
  // An instant's date is its UTC date (Delta dates have no zone), not the session TimeZone's.
  if (field.type === 'date' && sourceType.toUpperCase() === 'TIMESTAMP WITH TIME ZONE') return `CAST(timezone('UTC', ${col}) AS DATE)`;
  return `CAST(${col} AS ${duckTypeOf(field)})`;
}

/** Delta stats want timestamps as ISO-8601 with milliseconds and 'Z'. */
const ISO_MS = `'%Y-%m-%dT%H:%M:%S.%gZ'`;
/**
 * Date stats are `YYYY-MM-DD` strings (Spark's and delta-rs' encoding, as partition values); only
 * for years 1..9999, which every reader parses (DuckDB also has BC and 5-digit years, and infinity).
 */
const DATE_STATS_RANGE = `DATE '0001-01-01' AND DATE '9999-12-31'`;
/** Spark/Delta cut string stats to a prefix; 32 is Delta Spark's default. */
const STRING_STATS_PREFIX = 32;

/**
 * `COPY (<selectSql>) TO '<table root>/<uuid>.parquet'` with columns cast to the table's types and
 * in the table's order, then the `add` action with stats computed by DuckDB from the written file.
 * The select must produce exactly the table's columns (by name; order free). Returns null (and
 * leaves no file) for 0 rows. Does not commit: put it in a commit() plan.
 *
 * Stats are conservative bounds: timestamp min is truncated down and max rounded UP to the
 * millisecond (PROTOCOL.md truncates to ms; rounding max down could let readers skip a file that
 * holds a match); string max is omitted when longer than the 32-char prefix; doubles with NaN/±Inf
 * get no min/max; dates are `YYYY-MM-DD` (none outside years 1..9999); decimals are exact JSON
 * numbers with the column's scale (`-12.50`, as Spark writes them); binary/boolean get only nullCount.
 */
export async function writeParquetDataFile(
  conn: DuckDBConnection,
  store: TableStore,
  selectSql: string,
  fields: DeltaField[],
): Promise<AddAction | null> {
  validateFields(fields);
  const root = store.root;
  const query = selectSql.trim().replace(/;+\s*$/, '');

  // Bind only (no execution) to learn the source columns.
  const described = (await conn.runAndReadAll(`DESCRIBE ${query}`)).getRowObjects();
  const sourceTypes = new Map(described.map((r) => [String(r.column_name), String(r.column_type)]));
  const missing = fields.filter((f) => !sourceTypes.has(f.name)).map((f) => f.name);
  const extra = [...sourceTypes.keys()].filter((n) => !fields.some((f) => f.name === n));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `writeParquetDataFile(${root}): the query's columns don't match the table` +
        (missing.length ? `; missing: ${missing.join(', ')}` : '') +
        (extra.length ? `; unexpected: ${extra.join(', ')}` : ''),
    );
  }

  const name = `${randomUUID()}.parquet`;
  const file = safeDuckPath(store.locate(name));
  const selectList = fields.map((f) => `${castExpr(f, sourceTypes.get(f.name)!)} AS ${sqlIdent(f.name)}`).join(', ');
  try {
    const copied = (
      await conn.runAndReadAll(`COPY (SELECT ${selectList} FROM (${query}) AS __src) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`)
    ).getRowObjects();
    const count = Number(copied[0]?.Count ?? 0);
    if (count === 0) {
      await store.delete(name);
      return null;
    }
    const stats = await computeStats(conn, file, fields);
    for (const f of fields) {
      if (!f.nullable && stats.nullCount[f.name] > 0) {
        throw new Error(`writeParquetDataFile(${root}): column ${f.name} is NOT NULL but ${stats.nullCount[f.name]} rows are null`);
      }
    }
    // COPY does not fsync; the file must be durable before a commit can reference it.
    const st = await store.stat(name);
    return {
      path: name,
      partitionValues: {},
      size: st.size,
      modificationTime: st.lastModified,
      dataChange: true,
      stats: stats.json,
    };
  } catch (e) {
    await store.delete(name);
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
      case 'date':
        parts.push(
          `CASE WHEN min(${c}) BETWEEN ${DATE_STATS_RANGE} THEN strftime(min(${c}), '%Y-%m-%d') END AS mn${i}`,
          `CASE WHEN max(${c}) BETWEEN ${DATE_STATS_RANGE} THEN strftime(max(${c}), '%Y-%m-%d') END AS mx${i}`,
        );
        break;
      case 'binary':
      case 'boolean':
        break;
      default:
        // decimal(p,s): the exact text of the value (DuckDB prints all `s` digits, never an exponent).
        if (decimalOf(f.type)) parts.push(`min(${c})::VARCHAR AS mn${i}`, `max(${c})::VARCHAR AS mx${i}`);
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
      if (f.type === 'integer' || f.type === 'long' || decimalOf(f.type)) return String(v); // exact number text
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
