/**
 * Names inside a table's log, as TableStore keys. The only place that spells the log directory:
 * nothing outside src/delta builds a log key.
 */

export const LOG_PREFIX = '_delta_log/';
export const LAST_CHECKPOINT_KEY = `${LOG_PREFIX}_last_checkpoint`;

const COMMIT_RE = /^(\d{20})\.json$/;
const CLASSIC_CHECKPOINT_RE = /^(\d{20})\.checkpoint\.parquet$/;
const MULTIPART_CHECKPOINT_RE = /^(\d{20})\.checkpoint\.\d{10}\.\d{10}\.parquet$/;
const V2_CHECKPOINT_RE = /^(\d{20})\.checkpoint\.[0-9a-fA-F-]{36}\.(json|parquet)$/;

export function assertVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) throw new Error(`invalid Delta version: ${version}`);
}

/** The version zero-padded to 20 digits: every log file name of that version starts with it. */
export function versionPrefix(version: number): string {
  assertVersion(version);
  return String(version).padStart(20, '0');
}

/** `<version zero-padded to 20 digits>.json` (the file name, without the log directory). */
export function commitFileName(version: number): string {
  return `${versionPrefix(version)}.json`;
}

export function commitKey(version: number): string {
  return LOG_PREFIX + commitFileName(version);
}

export function checkpointKey(version: number): string {
  return `${LOG_PREFIX}${versionPrefix(version)}.checkpoint.parquet`;
}

/**
 * A key to list after (`list(LOG_PREFIX, {startAfter})`) so that the listing begins with the log
 * files of `version` itself: every `<version>.…` sorts after the bare 20-digit prefix.
 */
export function listFromVersion(version: number): string {
  return LOG_PREFIX + versionPrefix(version);
}

export type LogFile =
  | { kind: 'commit'; version: number }
  | { kind: 'checkpoint'; version: number }
  /** Multi-part or v2 checkpoints: recognised so they can be refused, never read. */
  | { kind: 'unsupported-checkpoint'; version: number };

/** What a key under the log is; null for anything else (temp files, `_last_checkpoint`, crc). */
export function parseLogKey(key: string): LogFile | null {
  if (!key.startsWith(LOG_PREFIX)) return null;
  const name = key.slice(LOG_PREFIX.length);
  let m: RegExpExecArray | null;
  if ((m = COMMIT_RE.exec(name))) return { kind: 'commit', version: Number(m[1]) };
  if ((m = CLASSIC_CHECKPOINT_RE.exec(name))) return { kind: 'checkpoint', version: Number(m[1]) };
  if ((m = MULTIPART_CHECKPOINT_RE.exec(name)) || (m = V2_CHECKPOINT_RE.exec(name))) return { kind: 'unsupported-checkpoint', version: Number(m[1]) };
  return null;
}
