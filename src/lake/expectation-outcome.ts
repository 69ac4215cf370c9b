/**
 * What a parsed batch means for the `fail` and `warn` expectations (parse-rules.ts), read from the
 * batch's parsed temp table: the first row (by topic, partition, offset) that broke a `fail`
 * expectation, and per `warn` expectation how many kept rows broke it. `dead_letter`
 * expectations need nothing here: they are the rows' `error`.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { FAILED_EXPECTATION_COLUMN, WARNED_EXPECTATIONS_COLUMN, type ParseRules } from './parse-rules';
import { sqlIdent } from '../delta/sql';

/** A row broke a `fail` expectation: the stage must fail without committing, non-retryably. */
export class ExpectationFailedError extends Error {
  override name = 'ExpectationFailedError';
  constructor(
    readonly expectation: string,
    readonly example: { topic: string; partition: number; offset: bigint },
    /** Rows of the batch that broke any `fail` expectation. */
    readonly rows: bigint,
  ) {
    super(
      `expectation "${expectation}" failed (${rows} row(s) of the batch broke a fail expectation), first at ${example.topic}/${example.partition}@${example.offset}; nothing was committed — fix the producer or the expectation (action: dead_letter or warn), then re-run`,
    );
  }
}

export interface ExpectationOutcome {
  /** Per `warn` expectation: kept rows that broke it (0 when none did). */
  readonly warnings: Readonly<Record<string, number>>;
}

/**
 * Reads the outcome from `parsedTable` (the materialised parsedSql() of the batch); throws
 * ExpectationFailedError when a `fail` expectation was broken.
 */
export async function expectationOutcome(con: DuckDBConnection, parsedTable: string, rules: ParseRules): Promise<ExpectationOutcome> {
  const fail = (rules.expectations ?? []).filter((e) => e.action === 'fail');
  const warn = (rules.expectations ?? []).filter((e) => e.action === 'warn');
  const warnings: Record<string, number> = Object.fromEntries(warn.map((e) => [e.name, 0]));
  const t = sqlIdent(parsedTable);
  if (fail.length) {
    const col = sqlIdent(FAILED_EXPECTATION_COLUMN);
    // the first failing row by (topic, partition, offset), and how many rows failed any fail expectation
    const reader = await con.runAndReadAll(
      `SELECT ${col} AS name, topic, "partition", "offset", count(*) OVER () AS n FROM ${t} WHERE ${col} IS NOT NULL ORDER BY topic, "partition", "offset" LIMIT 1`,
    );
    const [row] = reader.getRowObjectsJS();
    if (row) {
      const ex = { topic: String(row.topic), partition: Number(row.partition), offset: row.offset as bigint };
      throw new ExpectationFailedError(String(row.name), ex, row.n as bigint);
    }
  }
  if (warn.length) {
    const reader = await con.runAndReadAll(
      `SELECT w AS name, count(*) AS n FROM (SELECT unnest(${sqlIdent(WARNED_EXPECTATIONS_COLUMN)}) AS w FROM ${t} WHERE error IS NULL) GROUP BY ALL`,
    );
    for (const r of reader.getRowObjectsJS()) warnings[String(r.name)] = Number(r.n);
  }
  return { warnings };
}
