/**
 * Data files: Parquet written by DuckDB straight to the store (`COPY … TO locate(key)`), typed and
 * ordered as the table's schema, with the `add` action's stats from the statistics DuckDB gathered
 * while writing them (the Parquet footer's), not from a second read of the file.
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

/** Spark/Delta cut string stats to a prefix; 32 is Delta Spark's default. */
const STRING_STATS_PREFIX = 32;

/**
 * `COPY (<selectSql>) TO '<table root>/<uuid>.parquet'` with columns cast to the table's types and
 * in the table's order, then the `add` action with stats taken from what the COPY itself gathered
 * for the Parquet footer (`RETURN_STATS`: per-column min, max, null count, NaN seen): no second
 * read of the file. The select must produce exactly the table's columns (by name; order free).
 * Returns null (and leaves no file) for 0 rows. Does not commit: put it in a commit() plan.
 *
 * Stats are conservative bounds: timestamp min is truncated down and max rounded UP to the
 * millisecond (PROTOCOL.md truncates to ms; rounding max down could let readers skip a file that
 * holds a match); string max is omitted when longer than the 32-char prefix; doubles with NaN/±Inf
 * get no min/max; dates are `YYYY-MM-DD` (none outside years 1..9999); decimals are exact JSON
 * numbers with the column's scale (`-12.50`, as Spark writes them); binary/boolean get only
 * nullCount (see deltaStats).
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
      await conn.runAndReadAll(
        `COPY (SELECT ${selectList} FROM (${query}) AS __src) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd, RETURN_STATS true)`,
      )
    ).getRowObjectsJson()[0] as unknown as CopyStatsRow | undefined;
    const count = Number(copied?.count ?? 0);
    if (count === 0) {
      await store.delete(name);
      return null;
    }
    const stats = deltaStats(root, count, copied!.column_statistics, fields);
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

/** A row of `COPY … (RETURN_STATS true)`, as JSON: column_statistics maps "quoted name" → {stat → text}. */
interface CopyStatsRow {
  count: string | number;
  column_statistics: { key: string; value: { key: string; value: string | null }[] }[] | null;
}

/**
 * Delta stats JSON (numbers kept exact as text) from the statistics DuckDB's Parquet writer
 * gathered during the COPY — the footer's values, printed by DuckDB:
 * - integers: exact; doubles: shortest round-trip text (`0.30000000000000004`, `1e+21`, `inf`),
 *   `has_nan` when a NaN was seen (the footer's min/max leave NaN out);
 * - strings: byte order (as DuckDB's min/max); a value over 256 bytes is cut to a 256-byte prefix
 *   in min and rounded UP (last byte incremented) in max — so a cut max is never ≤ 32 characters
 *   and is omitted below, and a cut min still starts with the true min's 32-character prefix;
 * - timestamps: UTC text `YYYY-MM-DD HH:MM:SS[.ffffff]+00`, `(BC)` before year 1, `infinity`;
 * - dates: `YYYY-MM-DD` (`(BC)`, 5-digit years, `infinity` otherwise): Spark's and delta-rs'
 *   encoding, as partition values; decimals: exact text with all `s` digits, never an exponent.
 * Anything else (a stat missing, BC, infinity, a year past 9999) gets no min/max: stats are
 * optional, a wrong bound is not — and years outside 1..9999 are what readers misparse.
 */
function deltaStats(
  root: string,
  numRecords: number,
  columnStats: CopyStatsRow['column_statistics'],
  fields: DeltaField[],
): { json: string; nullCount: Record<string, number> } {
  const byColumn = new Map<string, Map<string, string | null>>();
  for (const { key, value } of columnStats ?? []) byColumn.set(key, new Map(value.map((e) => [e.key, e.value])));
  const minV: string[] = [];
  const maxV: string[] = [];
  const nulls: string[] = [];
  const nullCount: Record<string, number> = {};
  for (const f of fields) {
    const s = byColumn.get(sqlIdent(f.name));
    const nc = s?.get('null_count');
    // Every column of the COPY has an entry with its null count; without it the NOT NULL check
    // and nullCount would be guesses.
    if (s === undefined || nc == null || !/^\d+$/.test(nc)) {
      throw new Error(`${root}: DuckDB returned no null count for column ${f.name} of a written data file`);
    }
    const key = JSON.stringify(f.name);
    nulls.push(`${key}:${nc}`);
    nullCount[f.name] = Number(nc);
    const [mn, mx] = bounds(f, s);
    if (mn !== null) minV.push(`${key}:${mn}`);
    if (mx !== null) maxV.push(`${key}:${mx}`);
  }
  const json = `{"numRecords":${numRecords},"minValues":{${minV.join(',')}},"maxValues":{${maxV.join(',')}},"nullCount":{${nulls.join(',')}}}`;
  return { json, nullCount };
}

/** [min, max] of one column as JSON text (null = leave out). */
function bounds(f: DeltaField, s: Map<string, string | null>): [string | null, string | null] {
  const min = s.get('min') ?? null;
  const max = s.get('max') ?? null;
  if (min === null || max === null) return [null, null]; // all NULL, or no stats kept
  switch (f.type) {
    case 'integer':
    case 'long':
      return /^-?\d+$/.test(min) && /^-?\d+$/.test(max) ? [min, max] : [null, null]; // exact integer text
    case 'double': {
      // JSON has no NaN/Infinity, and a finite bound would be wrong if the column holds them.
      const a = Number(min);
      const b = Number(max);
      if (s.get('has_nan') !== 'false' || !Number.isFinite(a) || !Number.isFinite(b)) return [null, null];
      return [JSON.stringify(a), JSON.stringify(b)];
    }
    case 'string': {
      const prefix = Array.from(min).slice(0, STRING_STATS_PREFIX).join('');
      return [JSON.stringify(prefix), Array.from(max).length <= STRING_STATS_PREFIX ? JSON.stringify(max) : null];
    }
    case 'timestamp': {
      const a = isoMillis(min, 'down');
      const b = isoMillis(max, 'up');
      return [a === null ? null : JSON.stringify(a), b === null ? null : JSON.stringify(b)];
    }
    case 'date': {
      const ok = (d: string) => DATE.test(d) && !d.startsWith('0000');
      return [ok(min) ? JSON.stringify(min) : null, ok(max) ? JSON.stringify(max) : null];
    }
    case 'binary':
    case 'boolean':
      return [null, null];
    default:
      // decimal(p,s): the exact number text.
      if (decimalOf(f.type) && DECIMAL_TEXT.test(min) && DECIMAL_TEXT.test(max)) return [min, max];
      return [null, null];
  }
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DECIMAL_TEXT = /^-?\d+(\.\d+)?$/;

const UTC_TS = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\+00$/;

/** DuckDB's UTC timestamp text → `YYYY-MM-DDTHH:MM:SS.mmmZ`, truncated down or rounded up to the millisecond. */
function isoMillis(text: string, round: 'down' | 'up'): string | null {
  const m = UTC_TS.exec(text);
  if (!m || m[1] === '0000') return null;
  const frac = (m[7] ?? '').padEnd(6, '0');
  let ms = Number(frac.slice(0, 3));
  if (round === 'up' && Number(frac.slice(3)) > 0) ms += 1;
  const d = new Date(0);
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), ms);
  const iso = d.toISOString();
  return /^\d{4}-/.test(iso) ? iso : null; // rounded past 9999-12-31
}
