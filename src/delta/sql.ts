/**
 * Quoting for the few values our code must paste into DuckDB SQL (paths, aliases, literal
 * timestamps it generated). User-supplied values go in as bound parameters instead.
 */
import * as path from 'node:path';

/** SQL string literal: single quotes doubled; NUL can't be represented, so it is refused. */
export function sqlString(value: string): string {
  if (value.includes('\0')) throw new Error('SQL string literal contains a NUL character');
  return `'${value.replace(/'/g, "''")}'`;
}

/** SQL identifier: double quotes doubled. */
export function sqlIdent(name: string): string {
  if (name.includes('\0')) throw new Error('SQL identifier contains a NUL character');
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Paths go into DuckDB SQL (COPY TO / read_parquet / delta_scan). Quoting handles `'`, but
 * read_parquet also expands globs, so a path containing glob characters could read other files:
 * refuse those, and control characters, outright. Returns the absolute path, or an object-store
 * URL (`az://…`, `s3://…`, as a TableStore locates keys) unchanged.
 */
export function safeDuckPath(p: string): string {
  const abs = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(p) ? p : path.resolve(p);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f*?[\]{}]/.test(abs)) {
    throw new Error(`path ${JSON.stringify(abs)} contains control or glob characters; refusing to use it in DuckDB SQL`);
  }
  return abs;
}
