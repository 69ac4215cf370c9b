/**
 * Gold as a pure function of bronze: the SQL that turns all events of some keys into their gold
 * rows, SCD type 1 (one row per key: the latest version) or type 2 (every version as a history row
 * with `__START_AT` / `__END_AT` validity and `__IS_CURRENT`, as DLT's AUTO CDC), with deletes.
 *
 * "Latest" is decided by the sequence columns (a pipeline's `sequence_by`, by default the Kafka
 * position), never by the time a row was landed; ties are broken by (topic, partition, offset), so
 * the result depends only on the SET of events: the order and the number of times they arrive do
 * not matter. That is what lets the gold stage re-derive the affected keys from bronze on every
 * run (out-of-order updates, replays and backfills included) and a re-run change nothing:
 *
 *   affected keys = keys of the bronze rows since the checkpoint
 *   new gold rows of those keys = goldRowsSql(all bronze rows of those keys)
 *   commit: remove those keys' old gold rows, add the new ones
 *
 * SCD2 versions: the events of a key in sequence order; an event that is not a delete starts a new
 * version unless it repeats the values of the version open before it (a duplicate or a no-op
 * update); a delete closes the open version. `__END_AT` = the start of the next version or the
 * delete's sequence value; NULL while current. `__START_AT` / `__END_AT` hold the FIRST sequence
 * column's value (the full sequence still orders the events).
 */
import { sqlIdent } from '../delta/sql';

export interface GoldSpec {
  /** Merge keys (columns of the events). */
  readonly keys: readonly string[];
  /** Gold's columns, keys included, in output order. */
  readonly columns: readonly string[];
  /** Ordering of a key's versions, ascending = later; NULL sorts first. */
  readonly sequenceBy: readonly string[];
  readonly scdType: 1 | 2;
  /** SQL condition over the events marking a delete (already validated, e.g. expressionSql()); NULL = not a delete. */
  readonly deleteWhenSql?: string;
}

/** Columns SCD type 2 adds (DLT's names, plus a current flag). */
export const SCD2_COLUMNS = { startAt: '__START_AT', endAt: '__END_AT', isCurrent: '__IS_CURRENT' } as const;
/** Tie-breakers after the sequence: the event's Kafka identity (unique per bronze row). */
const TIE_BREAK = ['topic', 'partition', 'offset'];

function check(spec: GoldSpec): void {
  if (spec.keys.length === 0) throw new Error('gold: no keys');
  if (spec.sequenceBy.length === 0) throw new Error('gold: no sequence columns');
  for (const k of spec.keys) if (!spec.columns.includes(k)) throw new Error(`gold: key ${k} is not among the columns`);
}

/**
 * SQL: the gold rows of every key present in `eventsSql` (a parenthesised SELECT or a relation
 * name built by our code) — SCD1: `columns`; SCD2: `columns`, __START_AT, __END_AT, __IS_CURRENT.
 * The events need the key, column and sequence columns plus topic, partition and offset.
 */
export function goldRowsSql(spec: GoldSpec, eventsSql: string): string {
  check(spec);
  const q = sqlIdent;
  const keys = spec.keys.map(q).join(', ');
  const cols = spec.columns.map(q).join(', ');
  const asc = [...spec.sequenceBy.map((c) => `${q(c)} ASC NULLS FIRST`), ...TIE_BREAK.map((c) => `${q(c)} ASC`)].join(', ');
  const desc = [...spec.sequenceBy.map((c) => `${q(c)} DESC NULLS LAST`), ...TIE_BREAK.map((c) => `${q(c)} DESC`)].join(', ');
  const del = spec.deleteWhenSql ? `coalesce((${spec.deleteWhenSql}), FALSE)` : 'FALSE';
  const ev = `SELECT *, ${del} AS __del FROM ${eventsSql} AS __e`;

  if (spec.scdType === 1) {
    return `SELECT ${cols} FROM (SELECT *, row_number() OVER (PARTITION BY ${keys} ORDER BY ${desc}) AS __rn FROM (${ev})) WHERE __rn = 1 AND NOT __del`;
  }

  const values = spec.columns.filter((c) => !spec.keys.includes(c));
  const vals = values.length ? `row(${values.map(q).join(', ')})` : 'NULL';
  const seq0 = q(spec.sequenceBy[0] ?? '');
  const { startAt, endAt, isCurrent } = SCD2_COLUMNS;
  // the open version before each event: NULL after a delete, else the previous non-delete event's values
  const w = `(PARTITION BY ${keys} ORDER BY ${asc})`;
  const marked = `SELECT *, lag(__del) OVER ${w} AS __pdel, lag(${vals}) OVER ${w} AS __pvals, row_number() OVER ${w} AS __rn FROM (${ev})`;
  const starts = `SELECT *, (NOT __del AND (__rn = 1 OR __pdel OR __pvals IS DISTINCT FROM ${vals})) AS __start FROM (${marked})`;
  // current = no later boundary (not "no end value": the next boundary's sequence may be NULL)
  const bw = `(PARTITION BY ${keys} ORDER BY ${asc})`;
  const bounds = `SELECT *, lead(${seq0}) OVER ${bw} AS __next, lead(TRUE, 1, FALSE) OVER ${bw} AS __closed FROM (${starts}) WHERE __start OR __del`;
  return `SELECT ${cols}, ${seq0} AS ${q(startAt)}, __next AS ${q(endAt)}, NOT __closed AS ${q(isCurrent)} FROM (${bounds}) WHERE __start`;
}
