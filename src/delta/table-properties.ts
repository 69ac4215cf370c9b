/**
 * The Delta table properties that drive maintenance (`metaData.configuration`, the names Spark and
 * delta-rs use), with Delta's defaults, and Delta's duration syntax (`interval 7 days`).
 *
 *   delta.deletedFileRetentionDuration  how long a removed data file stays for time travel and
 *                                       slow readers before VACUUM may delete it (default 7 days)
 *   delta.logRetentionDuration          how long commits and checkpoints stay (default 30 days)
 *   delta.enableExpiredLogCleanup       'false' turns log cleanup off (default true)
 *   delta.checkpointInterval            see checkpoint.ts
 *   delta.targetFileSize                compaction's output size in bytes (Databricks' name)
 */
import type { TableMetadata } from './schema';

export const DAY_MS = 86_400_000;
export const DEFAULT_DELETED_FILE_RETENTION_MS = 7 * DAY_MS;
export const DEFAULT_LOG_RETENTION_MS = 30 * DAY_MS;

const UNIT_MS: Record<string, number> = {
  week: 7 * DAY_MS,
  day: DAY_MS,
  hour: 3_600_000,
  minute: 60_000,
  second: 1000,
  millisecond: 1,
  microsecond: 0.001,
};

export class InvalidTablePropertyError extends Error {
  override name = 'InvalidTablePropertyError';
}

/**
 * Parses Spark's CalendarInterval text as Delta stores durations: `interval 7 days`,
 * `interval 1 week 12 hours`, `168 hours` (the keyword is optional, units singular or plural,
 * case-insensitive). Months and years are refused, as Delta does for these properties (their length
 * varies). Returns milliseconds.
 */
export function parseInterval(text: string, property = 'interval'): number {
  const words = text.trim().toLowerCase().split(/\s+/);
  if (words[0] === 'interval') words.shift();
  if (words.length === 0 || words.length % 2 !== 0) throw new InvalidTablePropertyError(`${property}: cannot parse ${JSON.stringify(text)} (expected e.g. "interval 7 days")`);
  let ms = 0;
  for (let i = 0; i < words.length; i += 2) {
    const n = Number(words[i]);
    const unit = words[i + 1].replace(/s$/, '');
    if (!/^\d+$/.test(words[i]) || !Number.isSafeInteger(n)) throw new InvalidTablePropertyError(`${property}: ${JSON.stringify(words[i])} in ${JSON.stringify(text)} is not a whole number`);
    if (unit === 'month' || unit === 'year') throw new InvalidTablePropertyError(`${property}: months and years are not allowed (${JSON.stringify(text)}); use days`);
    const per = UNIT_MS[unit];
    if (per === undefined) throw new InvalidTablePropertyError(`${property}: unknown unit ${JSON.stringify(words[i + 1])} in ${JSON.stringify(text)}`);
    ms += n * per;
  }
  return Math.floor(ms);
}

type Config = Pick<TableMetadata, 'configuration'>;

function duration(meta: Config, key: string, fallback: number): number {
  const v = meta.configuration[key];
  return v === undefined ? fallback : parseInterval(v, key);
}

export function deletedFileRetentionMs(meta: Config): number {
  return duration(meta, 'delta.deletedFileRetentionDuration', DEFAULT_DELETED_FILE_RETENTION_MS);
}

export function logRetentionMs(meta: Config): number {
  return duration(meta, 'delta.logRetentionDuration', DEFAULT_LOG_RETENTION_MS);
}

export function expiredLogCleanupEnabled(meta: Config): boolean {
  return meta.configuration['delta.enableExpiredLogCleanup'] !== 'false';
}

/** `delta.targetFileSize` in bytes (plain number, or with a b/kb/mb/gb suffix), else undefined. */
export function targetFileSizeOf(meta: Config): number | undefined {
  const v = meta.configuration['delta.targetFileSize'];
  if (v === undefined) return undefined;
  const m = /^\s*(\d+)\s*(b|kb|mb|gb)?\s*$/i.exec(v);
  if (!m) throw new InvalidTablePropertyError(`delta.targetFileSize: cannot parse ${JSON.stringify(v)} (bytes, or e.g. "128mb")`);
  const mult = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b'];
  const n = Number(m[1]) * mult;
  if (!(n >= 1024)) throw new InvalidTablePropertyError(`delta.targetFileSize: ${v} is below 1 kb`);
  return n;
}

/** Validates the properties maintenance reads, so a typo fails when it is set, not days later. */
export function validateMaintenanceProperties(configuration: Record<string, string>, where: string): void {
  const meta = { configuration };
  try {
    deletedFileRetentionMs(meta);
    logRetentionMs(meta);
    targetFileSizeOf(meta);
    const ci = configuration['delta.checkpointInterval'];
    if (ci !== undefined && !/^[1-9]\d*$/.test(ci.trim())) throw new InvalidTablePropertyError(`delta.checkpointInterval: ${JSON.stringify(ci)} is not a positive integer`);
    const el = configuration['delta.enableExpiredLogCleanup'];
    if (el !== undefined && el !== 'true' && el !== 'false') throw new InvalidTablePropertyError(`delta.enableExpiredLogCleanup: ${JSON.stringify(el)} is not true/false`);
  } catch (e) {
    if (e instanceof InvalidTablePropertyError) throw new InvalidTablePropertyError(`${where}: ${e.message}`);
    throw e;
  }
}
