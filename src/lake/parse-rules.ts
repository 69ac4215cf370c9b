/**
 * Bronze parse/validate rules (seed Job 2, `from_json(raw_payload, SCHEMA)` + the good/bad filter)
 * for any JSON payload: a typed field table plus expectations, and a generator of ONE vectorized
 * DuckDB SELECT from them. The sensor pipeline's rules (sensor-rules.ts) are one instance.
 *
 * The generated SELECT parses every payload with DuckDB's built-in `json` extension (yyjson) — no
 * per-row JavaScript. Semantics follow Spark's `from_json` in PERMISSIVE mode (JacksonParser) with
 * the deliberate differences listed in README.md (Parse rules) (kept in sync by a unit test);
 * ParseOptions turns the Spark behaviour back on where we differ.
 *
 * Cost per well-formed row: one `json_valid` parse, one RE2 scan (suspiciousRe()) and one
 * multi-path `json_extract` parse. Rows the scan flags (possible duplicate keys, `\u00XX`
 * escapes, possible trailing commas) take an exact but slower path (strings stripped; `json_keys`
 * + `json_extract('$.*')` for last-wins duplicate keys, level by level for nested paths).
 */
import { expressionSql, type Expr, type ExprType } from './expression';
import { sqlIdent } from '../delta/sql';

/** How a JSON value is read into a field (Spark's data types). */
export type JsonTypeRule = 'string' | 'int' | 'long' | 'double' | 'decimal' | 'boolean' | 'timestamp' | 'date' | 'json';
/** How a timestamp is written in the JSON: ISO-8601 string, or integer seconds / milliseconds since 1970 UTC. */
export type TimestampFormat = 'iso8601' | 'epoch_s' | 'epoch_ms';

interface FieldRuleBase {
  /** Output column name; also the JSON key (case-sensitive) unless `path` is given. */
  readonly name: string;
  /** Keys from the payload's root to the value (`$.customer.id` = ['customer', 'id']); default [name]. */
  readonly path?: readonly string[];
  /** Absent key or JSON `null` is an error (`missing <name>`) when true. */
  readonly required: boolean;
  /** Inclusive range (Spark `between`); NaN and ±Infinity are always outside. Numeric types only. */
  readonly range?: { readonly min: number; readonly max: number };
}

export type FieldRule = FieldRuleBase &
  (
    | { readonly json: 'string' | 'int' | 'long' | 'double' | 'boolean' | 'date' | 'json' }
    | { readonly json: 'decimal'; readonly precision: number; readonly scale: number }
    | { readonly json: 'timestamp'; readonly format: TimestampFormat }
  );
/** The sensor pipeline's name for a field rule (kept for its callers). */
export type SensorFieldRule = FieldRule;

/** What happens to a row that fails an expectation (DLT: expect_or_drop-to-dead-letter / expect_or_fail / expect). */
export type ExpectationAction = 'dead_letter' | 'fail' | 'warn';

export interface ExpectationRule {
  /** Dead-letter `error` value, or the name a failed run / warning count reports. */
  readonly name: string;
  /** A parsed condition (expression.ts). A row fails it when it is FALSE; NULL passes (as a Delta CHECK constraint). */
  readonly expr: Expr;
  readonly action: ExpectationAction;
}

/** Opt-in Spark behaviours where the default deliberately differs (README: "Where we deliberately differ from Spark"). */
export interface ParseOptions {
  /** `'…'` strings and keys are read as JSON strings (Jackson allowSingleQuotes, on in Spark). */
  readonly singleQuotes?: boolean;
  /** Anything after the first complete JSON object is ignored (Spark reads the first value only); payloads ≤ 64 KiB whose object closes within its first 256 `}`. */
  readonly trailingContent?: boolean;
  /** Invalid UTF-8 is decoded with U+FFFD replacement instead of being dead-lettered as `not UTF-8`. */
  readonly replaceInvalidUtf8?: boolean;
}

export interface ParseRules {
  readonly fields: readonly FieldRule[];
  readonly expectations?: readonly ExpectationRule[];
  readonly options?: ParseOptions;
}

/** Payload-level reasons, checked before any field, in this order. */
export const PAYLOAD_ERRORS = {
  nullPayload: 'null payload',
  notUtf8: 'not UTF-8',
  invalidJson: 'invalid JSON',
  notObject: 'not an object',
} as const;

const SQL_TYPES: Readonly<Record<Exclude<JsonTypeRule, 'decimal'>, string>> = {
  string: 'VARCHAR',
  int: 'INTEGER',
  long: 'BIGINT',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMPTZ',
  date: 'DATE',
  json: 'VARCHAR',
};

/** The DuckDB column type of a field. */
export function sqlTypeOf(f: FieldRule): string {
  return f.json === 'decimal' ? `DECIMAL(${f.precision}, ${f.scale})` : SQL_TYPES[f.json];
}

const NUMERIC: ReadonlySet<JsonTypeRule> = new Set<JsonTypeRule>(['int', 'long', 'double', 'decimal']);

/** The value class of a field in expectations (expression.ts). */
export function exprTypeOf(json: JsonTypeRule): ExprType {
  if (NUMERIC.has(json)) return 'number';
  if (json === 'boolean') return 'boolean';
  if (json === 'timestamp' || json === 'date') return 'time';
  return 'string';
}

/** Raw-table columns an expectation may refer to besides the fields (their value classes). */
export const KAFKA_COLUMNS: Readonly<Record<string, ExprType>> = { topic: 'string', partition: 'number', offset: 'number', kafka_ts: 'time' };
/** Extra output columns, present only when the rules have `fail` / `warn` expectations. */
export const FAILED_EXPECTATION_COLUMN = 'failed_expectation';
export const WARNED_EXPECTATIONS_COLUMN = 'warned_expectations';

/**
 * JSON strings that Spark's DoubleType converter turns into non-finite doubles
 * (JacksonParser, `allowNonNumericNumbers` = true by default). They then fail the range rule.
 */
export const NON_FINITE_DOUBLE_STRINGS: Readonly<Record<string, 'NaN' | 'Infinity' | '-Infinity'>> = {
  NaN: 'NaN',
  Infinity: 'Infinity',
  '+Infinity': 'Infinity',
  '+INF': 'Infinity',
  '-Infinity': '-Infinity',
  '-INF': '-Infinity',
};

export const missingError = (field: string): string => `missing ${field}`;
export const wrongTypeError = (field: string): string => `wrong type for ${field}`;
export const rangeError = (field: string): string => `${field} out of range`;

/** A problem with a rule table or source relation; entry points prefix it with their label. */
class RulesError extends Error {}

/** Runs `f`, turning a RulesError into an Error whose message starts with `label: `. */
function labelled<T>(label: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RulesError) throw new Error(`${label}: ${e.message}`);
    throw e;
  }
}

interface RowCheck {
  readonly reason: string;
  /** SQL condition over the field's JSON text `t` (NULL = key absent) and typed column `col`. */
  readonly when: (t: string, col: string) => string;
  /** Index of the field in the rule table. */
  readonly field: number;
}

/**
 * The per-field checks in report order, derived from the rule table: per field in schema order
 * `missing` then `wrong type`, then the range checks. Both the SQL and errorReasons() use it.
 */
function fieldChecks(fields: readonly FieldRule[]): RowCheck[] {
  const absent = (t: string) => `(${t} IS NULL OR ${t} = 'null')`;
  const out: RowCheck[] = [];
  fields.forEach((f, i) => {
    if (f.required) out.push({ field: i, reason: missingError(f.name), when: (t) => absent(t) });
    // string and json fields accept any non-null JSON value (as text), so they have no type error
    if (f.json !== 'string' && f.json !== 'json') out.push({ field: i, reason: wrongTypeError(f.name), when: (t, col) => `NOT ${absent(t)} AND ${col} IS NULL` });
  });
  fields.forEach((f, i) => {
    const r = f.range;
    // NOT (NaN BETWEEN ..) is true in DuckDB (NaN sorts above every number), as in Spark
    if (r) out.push({ field: i, reason: rangeError(f.name), when: (_t, col) => `${col} IS NOT NULL AND NOT (${col} BETWEEN ${num(r.min)} AND ${num(r.max)})` });
  });
  return out;
}

/** SQL: true when the row fails the expectation (FALSE fails, NULL passes). */
function failsSql(e: ExpectationRule): string {
  return `NOT coalesce(${expressionSql(e.expr, quoteIdent)}, TRUE)`;
}

const byAction = (rules: ParseRules, a: ExpectationAction): ExpectationRule[] => (rules.expectations ?? []).filter((e) => e.action === a);

/** Every `error` value the generated SQL can produce, in check order (first match wins). */
export function errorReasons(rules: ParseRules, label = 'parse rules'): string[] {
  return labelled(label, () => {
    validateRules(rules);
    return [...Object.values(PAYLOAD_ERRORS), ...fieldChecks(rules.fields).map((c) => c.reason), ...byAction(rules, 'dead_letter').map((e) => e.name)];
  });
}

// ---------------------------------------------------------------------------------------------
// SQL generation
// ---------------------------------------------------------------------------------------------

const FIELD_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** JSON keys a path may use: they go into a path literal and an RE2 pattern unescaped. */
const PATH_KEY_RE = /^[A-Za-z0-9_-]+$/;
/** Columns of the raw input and the output's extra columns: a field may not shadow them. */
const RESERVED_NAMES = ['topic', 'partition', 'offset', 'kafka_ts', 'raw_payload', 'raw_payload_bytes', 'arrived_at', 'error', FAILED_EXPECTATION_COLUMN, WARNED_EXPECTATIONS_COLUMN];
const BARE_IDENT_RE = /^[A-Za-z_][A-Za-z0-9_$]*$/;
/** Internal column prefix; removed again by `SELECT * EXCLUDE (...)`. */
const P = '__sr_';
/** JSON whitespace (RFC 8259): space, tab, LF, CR — as an RE2 class body. */
const WS = '[\\t\\n\\r ]*';

export const pathOf = (f: FieldRule): readonly string[] => f.path ?? [f.name];

/** Names a field may not take (case-insensitive): the raw input's columns and the output's extras. */
export function isReservedFieldName(name: string): boolean {
  const key = name.toLowerCase();
  return key.startsWith(P) || RESERVED_NAMES.includes(key);
}

function validateRules(rules: ParseRules): void {
  const { fields } = rules;
  if (fields.length === 0) throw new RulesError('no fields');
  const seen = new Set<string>();
  for (const f of fields) {
    if (!FIELD_NAME_RE.test(f.name)) throw new RulesError(`bad field name ${JSON.stringify(f.name)}`);
    // SQL identifiers are case-insensitive: `Value` and `value` would be one output column
    const key = f.name.toLowerCase();
    if (isReservedFieldName(key)) throw new RulesError(`reserved field name ${f.name}`);
    if (seen.has(key)) throw new RulesError(`duplicate field ${f.name}`);
    seen.add(key);
    if (!(f.json in SQL_TYPES) && f.json !== 'decimal') throw new RulesError(`bad JSON type rule for ${f.name}`);
    const p = pathOf(f);
    if (p.length === 0 || p.length > 8 || !p.every((k) => PATH_KEY_RE.test(k))) throw new RulesError(`bad JSON path for ${f.name}`);
    if (f.json === 'decimal') {
      const { precision, scale } = f;
      if (!Number.isInteger(precision) || !Number.isInteger(scale) || precision < 1 || precision > 38 || scale < 0 || scale > precision) {
        throw new RulesError(`bad decimal(${precision}, ${scale}) for ${f.name}: 1 ≤ precision ≤ 38, 0 ≤ scale ≤ precision`);
      }
    }
    if (f.json === 'timestamp' && !['iso8601', 'epoch_s', 'epoch_ms'].includes(f.format)) throw new RulesError(`bad timestamp format for ${f.name}`);
    if (f.range) {
      if (!NUMERIC.has(f.json)) throw new RulesError(`range on ${f.json} field ${f.name}`);
      const { min, max } = f.range;
      if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) throw new RulesError(`bad range for ${f.name}`);
    }
  }
  const names = new Set<string>();
  for (const e of rules.expectations ?? []) {
    if (e.name.length === 0 || e.name.length > 200 || e.name.includes('\0')) throw new RulesError(`bad expectation name ${JSON.stringify(e.name)}`);
    if (names.has(e.name)) throw new RulesError(`duplicate expectation ${e.name}`);
    names.add(e.name);
  }
}

/** SQL string literal. Only ever used on constants of this module and validated names. */
function lit(s: string): string {
  if (s.includes('\0')) throw new RulesError('NUL in SQL literal');
  return `'${s.replace(/'/g, "''")}'`;
}

function num(n: number): string {
  return `CAST(${lit(String(n))} AS DOUBLE)`;
}

function quoteIdent(name: string): string {
  if (name.length === 0) throw new RulesError('empty identifier');
  return sqlIdent(name);
}

/**
 * Accepts `name`, `schema.name`, `db.schema.name` (bare or double-quoted parts), or a parenthesised
 * subquery built by our own code: `( SELECT ... )` with balanced parentheses, no `;` and no
 * comments outside string literals/quoted identifiers. Returns a FROM-clause item.
 */
export function relationSql(sourceRelation: string): string {
  const s = sourceRelation.trim();
  if (s.startsWith('(')) {
    checkSubquery(s);
    return s;
  }
  return splitQualifiedName(s).map(quoteIdent).join('.');
}

function splitQualifiedName(s: string): string[] {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    if (s[i] === '"') {
      let j = i + 1;
      let part = '';
      for (;;) {
        const k = s.indexOf('"', j);
        if (k < 0) throw new RulesError(`bad relation ${JSON.stringify(s)}`);
        part += s.slice(j, k);
        if (s[k + 1] === '"') {
          part += '"';
          j = k + 2;
        } else {
          i = k + 1;
          break;
        }
      }
      if (part.length === 0) throw new RulesError(`bad relation ${JSON.stringify(s)}`);
      parts.push(part);
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(s.slice(i));
      if (!m || !BARE_IDENT_RE.test(m[0])) throw new RulesError(`bad relation ${JSON.stringify(s)}`);
      parts.push(m[0]);
      i += m[0].length;
    }
    if (i === s.length) break;
    if (s[i] !== '.') throw new RulesError(`bad relation ${JSON.stringify(s)}`);
    i += 1;
  }
  if (parts.length > 3) throw new RulesError(`bad relation ${JSON.stringify(s)}`);
  return parts;
}

function checkSubquery(s: string): void {
  const bad = () => new RulesError(`source subquery must be one parenthesised SELECT: ${JSON.stringify(s.slice(0, 80))}`);
  if (!s.endsWith(')') || s.includes('\0')) throw bad();
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "'" || c === '"') {
      const end = s.indexOf(c, i + 1);
      if (end < 0) throw bad();
      i = end; // a doubled quote ('' or "") simply reopens on the next iteration
      continue;
    }
    if (c === ';') throw bad();
    if ((c === '-' && s[i + 1] === '-') || (c === '/' && s[i + 1] === '*')) throw bad();
    if (c === '(') depth++;
    if (c === ')') {
      depth--;
      if (depth < 0 || (depth === 0 && i !== s.length - 1)) throw bad();
    }
  }
  if (depth !== 0) throw bad();
}

/** RE2: a JSON string literal (valid JSON guaranteed by json_valid: no raw control chars). */
const JSON_STRING_RE = '"(?:[^"\\\\]|\\\\.)*"';
/** RE2: a comma directly before a closing bracket (Jackson rejects; yyjson tolerates). */
const TRAILING_COMMA_RE = `,${WS}[\\]}]`;

/**
 * RE2 pre-filter, one linear scan: rows that MAY have a trailing comma, a `\u00XX` escape (which
 * could spell a field name in a key), or a path key occurring twice. A hit only selects the exact
 * (slower) path; a miss proves none of the three applies.
 */
function suspiciousRe(fields: readonly FieldRule[]): string {
  // path keys are [A-Za-z0-9_-] (validated), so they need no escaping inside the regex
  const keys = [...new Set(fields.flatMap(pathOf))];
  const dup = keys.map((k) => `${k}"${WS}:[\\s\\S]*"${k}`).join('|');
  return `${TRAILING_COMMA_RE}|\\\\u00|"(?:${dup})"${WS}:`;
}

/** SQL: the value of a JSON string text `t` (unescaped only when needed). */
const unquoted = (t: string): string => `(CASE WHEN contains(${t}, '\\') THEN json_extract_string(${t}, '$') ELSE ${t}[2:-2] END)`;
/** Java BigDecimal syntax (Spark's decimal parser, after removing `,`). */
const BIG_DECIMAL_RE = '[+-]?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?';
/** ISO-8601 date, optional time with fraction, optional offset (Z, ±hh, ±hhmm, ±hh:mm) after a time. */
const ISO_TS_RE = '[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\\.[0-9]{1,9})?)?(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?';
/** Delta/Parquet readers' timestamp range: 0001-01-01 … 9999-12-31 (UTC), in seconds. */
const EPOCH_S_MIN = -62135596800n;
const EPOCH_S_MAX = 253402300799n;

/** SQL: the JSON text of one field (NULL = key absent) -> the typed value, NULL if wrong type/null. */
function typedValueSql(f: FieldRule, t: string): string {
  const intToken = `regexp_full_match(${t}, '-?[0-9]+')`;
  switch (f.json) {
    case 'string':
      // a JSON string -> its value (unescape only when needed); anything else -> its JSON text
      return `CASE WHEN ${t} = 'null' THEN NULL WHEN ascii(${t}) = 34 THEN (CASE WHEN contains(${t}, '\\') THEN json_extract_string(${t}, '$') ELSE ${t}[2:-2] END) ELSE ${t} END`;
    case 'json':
      // json_extract's text is already minified JSON
      return `CASE WHEN ${t} = 'null' THEN NULL ELSE ${t} END`;
    case 'double': {
      // json_extract re-serialises strings canonically, so the quoted forms compare exactly
      const special = Object.entries(NON_FINITE_DOUBLE_STRINGS)
        .map(([k, v]) => `WHEN ${lit(JSON.stringify(k))} THEN CAST(${lit(v)} AS DOUBLE)`)
        .join(' ');
      // first byte 34 '"', 116 t(rue), 102 f(alse), 123 '{', 91 '[': not numbers (`null` is handled
      // first; `nan`/`NaN` tokens also start with n/N). Any number text, including NaN/inf tokens
      // and overflowing ones (1e400 -> inf), casts to DOUBLE.
      return `CASE WHEN ${t} = 'null' THEN NULL WHEN ascii(${t}) = 34 THEN (CASE ${t} ${special} END) WHEN ascii(${t}) IN (116, 102, 123, 91) THEN NULL ELSE TRY_CAST(${t} AS DOUBLE) END`;
    }
    case 'long':
      // only integer tokens (yyjson prints every float with '.', 'e' or as nan/inf) that fit int64
      return `CASE WHEN ${intToken} THEN TRY_CAST(${t} AS BIGINT) END`;
    case 'int':
      // Jackson's getIntValue: integer tokens that fit int32 (overflow is an error, not a wrap)
      return `CASE WHEN ${intToken} THEN TRY_CAST(${t} AS INTEGER) END`;
    case 'decimal': {
      // Spark: numbers and non-empty strings (`,` removed) via BigDecimal, rounded HALF_UP to the
      // scale; more digits than the precision allows -> error. DuckDB's cast rounds the same way.
      const ty = sqlTypeOf(f);
      const s = `replace(${unquoted(t)}, ',', '')`;
      return `CASE WHEN ascii(${t}) = 34 THEN (CASE WHEN regexp_full_match(${s}, ${lit(BIG_DECIMAL_RE)}) THEN TRY_CAST(${s} AS ${ty}) END) WHEN regexp_full_match(${t}, ${lit(BIG_DECIMAL_RE)}) THEN TRY_CAST(${t} AS ${ty}) END`;
    }
    case 'boolean':
      // Jackson VALUE_TRUE / VALUE_FALSE only: the strings "true"/"false" are the wrong type
      return `CASE ${t} WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE END`;
    case 'date': {
      const s = unquoted(t);
      return `CASE WHEN ascii(${t}) = 34 AND regexp_full_match(${s}, '[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN TRY_CAST(${s} AS DATE) END`;
    }
    case 'timestamp': {
      const n = `TRY_CAST(${t} AS BIGINT)`;
      if (f.format === 'epoch_s') {
        return `CASE WHEN ${intToken} AND ${n} BETWEEN ${EPOCH_S_MIN} AND ${EPOCH_S_MAX} THEN timezone('UTC', make_timestamp(${n} * 1000000)) END`;
      }
      if (f.format === 'epoch_ms') {
        return `CASE WHEN ${intToken} AND ${n} BETWEEN ${EPOCH_S_MIN * 1000n} AND ${EPOCH_S_MAX * 1000n + 999n} THEN timezone('UTC', make_timestamp(${n} * 1000)) END`;
      }
      // ISO-8601: with an offset it is absolute; without one it is UTC (Spark's session time zone
      // is UTC for this pipeline), whatever DuckDB's TimeZone setting is
      const s = unquoted(t);
      return `CASE WHEN ascii(${t}) = 34 AND regexp_full_match(${s}, ${lit(ISO_TS_RE)}) THEN (CASE WHEN regexp_extract(${s}, ${lit(ISO_TS_RE)}, 1) <> '' THEN TRY_CAST(${s} AS TIMESTAMPTZ) ELSE timezone('UTC', TRY_CAST(${s} AS TIMESTAMP)) END) END`;
    }
  }
}

/** RE2 over hex digits, well-formed UTF-8 sequences (RFC 3629 table). */
const UTF8_VALID = [
  '[0-7][0-9A-F]',
  'C[2-9A-F][89AB][0-9A-F]|D[0-9A-F][89AB][0-9A-F]',
  'E0[AB][0-9A-F][89AB][0-9A-F]|E[1-9A-CEF][89AB][0-9A-F][89AB][0-9A-F]|ED[89][0-9A-F][89AB][0-9A-F]',
  'F0[9AB][0-9A-F][89AB][0-9A-F][89AB][0-9A-F]|F[1-3][89AB][0-9A-F][89AB][0-9A-F][89AB][0-9A-F]|F48[0-9A-F][89AB][0-9A-F][89AB][0-9A-F]',
].join('|');
/** …then truncated sequences (one U+FFFD for the maximal ill-formed subpart, as Java decodes), then any byte. */
const UTF8_TOKEN = [
  UTF8_VALID,
  'E0[AB][0-9A-F]|E[1-9A-CEF][89AB][0-9A-F]|ED[89][0-9A-F]',
  'F0[9AB][0-9A-F](?:[89AB][0-9A-F])?|F[1-3][89AB][0-9A-F](?:[89AB][0-9A-F])?|F48[0-9A-F](?:[89AB][0-9A-F])?',
  '[0-9A-F]{2}',
].join('|');

/** SQL: the text the rules parse — raw_payload, or its Spark-compatible repair (ParseOptions). */
function payloadSql(o: ParseOptions): string {
  let p = 'raw_payload';
  if (o.replaceInvalidUtf8) {
    const hexTokens = `regexp_extract_all(hex(raw_payload_bytes), ${lit(UTF8_TOKEN)})`;
    const fixed = `decode(unhex(array_to_string(list_transform(${hexTokens}, x -> CASE WHEN regexp_full_match(x, ${lit(UTF8_VALID)}) THEN x ELSE 'EFBFBD' END), '')))`;
    p = `coalesce(raw_payload, CASE WHEN raw_payload_bytes IS NOT NULL THEN ${fixed} END)`;
  }
  if (o.singleQuotes) {
    // tokens: "…" strings, '…' strings, anything else; a '…' string becomes "…" (\' -> ', " -> \")
    const tok = `"(?:[^"\\\\]|\\\\.)*"|'(?:[^'\\\\]|\\\\.)*'|[^"']+|.`;
    const inner = `array_to_string(list_transform(regexp_extract_all(x[2:-2], '\\\\.|.'), c -> CASE c WHEN '\\''' THEN '''' WHEN '"' THEN '\\"' ELSE c END), '')`;
    const fixed = `array_to_string(list_transform(regexp_extract_all(q, ${lit(tok)}), x -> CASE WHEN x[1] = '''' AND length(x) >= 2 AND x[-1] = '''' THEN '"' || ${inner} || '"' ELSE x END), '')`;
    p = `(SELECT CASE WHEN q IS NOT NULL AND NOT json_valid(q) AND contains(q, '''') THEN ${fixed} ELSE q END FROM (SELECT ${p} AS q))`;
  }
  if (o.trailingContent) {
    // The shortest prefix that ends in `}` and is valid JSON is the first object. Bounded work on
    // this (rare) path: payloads up to 64 KiB, prefixes ending at one of the first 256 `}`.
    const chunks = `regexp_extract_all(q, '[^}]*[}]')[1:256]`;
    const prefixes = `list_transform(range(1, len(${chunks}) + 1), k -> array_to_string(${chunks}[1:k], ''))`;
    const first = `list_filter(${prefixes}, y -> json_valid(y))[1]`;
    p = `(SELECT CASE WHEN q IS NOT NULL AND NOT json_valid(q) AND strlen(q) <= 65536 THEN coalesce(${first}, q) ELSE q END FROM (SELECT ${p} AS q))`;
  }
  return p;
}

/**
 * The parse/validate SELECT: every column of `sourceRelation`, then one typed column per field
 * (NULL when absent, JSON null or of the wrong type), then `error VARCHAR` — NULL for a good row,
 * else the first failing reason (see errorReasons()); then, only when the rules have such
 * expectations, `failed_expectation VARCHAR` (the first `fail` expectation a parsed row breaks)
 * and `warned_expectations VARCHAR[]` (the `warn` expectations a good row breaks).
 * The source must have `raw_payload VARCHAR` and `raw_payload_bytes BLOB` (contract of raw/).
 */
export function parsedSql(sourceRelation: string, rules: ParseRules, label = 'parse rules'): string {
  return labelled(label, () => generate(sourceRelation, rules));
}

function generate(sourceRelation: string, rules: ParseRules): string {
  validateRules(rules);
  const { fields } = rules;
  const options = rules.options ?? {};
  const from = relationSql(sourceRelation);
  const repaired = Boolean(options.replaceInvalidUtf8 || options.singleQuotes || options.trailingContent);
  const raw = repaired ? `${P}p` : 'raw_payload';
  const rawBytes = 'raw_payload_bytes';
  const v = `${P}v`;
  const st = `${P}st`;
  const t = (i: number) => `${P}t${i}`;
  const paths = `[${fields.map((f) => lit('$' + pathOf(f).map((k) => `."${k}"`).join(''))).join(', ')}]`;

  // L0: parse check + pre-filter. v: NULL = null payload or not JSON; true = suspicious; false = clean.
  const src = repaired ? `(SELECT *, ${payloadSql(options)} AS ${raw} FROM ${from})` : from;
  const l0 = `SELECT ${P}src.*, CASE WHEN ${raw} IS NOT NULL AND json_valid(${raw}) THEN regexp_matches(${raw}, ${lit(suspiciousRe(fields))}) END AS ${v} FROM ${src} AS ${P}src`;

  // L1: payload-level status.
  const l1 = `SELECT *, CASE
    WHEN ${raw} IS NULL THEN (CASE WHEN ${rawBytes} IS NULL THEN ${lit(PAYLOAD_ERRORS.nullPayload)} ELSE ${lit(PAYLOAD_ERRORS.notUtf8)} END)
    WHEN ${v} IS NULL THEN ${lit(PAYLOAD_ERRORS.invalidJson)}
    WHEN ${v} AND regexp_matches(regexp_replace(${raw}, ${lit(JSON_STRING_RE)}, '""', 'g'), ${lit(TRAILING_COMMA_RE)}) THEN ${lit(PAYLOAD_ERRORS.invalidJson)}
    WHEN NOT regexp_matches(${raw}, ${lit(`^${WS}\\{`)}) THEN ${lit(PAYLOAD_ERRORS.notObject)}
  END AS ${st} FROM (${l0})`;

  // L2: one parse for all field paths (first occurrence of each key) on the clean path; keys and
  // all top-level values on the suspicious path, for last-wins duplicate keys.
  const l2 = `SELECT *,
    CASE WHEN ${st} IS NULL AND NOT ${v} THEN json_extract(${raw}, ${paths}) END AS ${P}j,
    CASE WHEN ${st} IS NULL AND ${v} THEN json_keys(${raw}) END AS ${P}keys,
    CASE WHEN ${st} IS NULL AND ${v} THEN json_extract(${raw}, '$.*') END AS ${P}vals
  FROM (${l1})`;

  // L3: the JSON text of each field (NULL = absent). Suspicious path: last occurrence of the first
  // key among the root's keys, then of each further key inside that value when it is an object.
  const lastWins = (f: FieldRule): string => {
    const [first, ...rest] = pathOf(f);
    let x = `${P}vals[len(${P}keys) + 1 - list_position(list_reverse(${P}keys), ${lit(first)})]`;
    for (const k of rest) {
      x = `(CASE WHEN json_type(${x}) = 'OBJECT' THEN json_extract(${x}, '$.*')[len(json_keys(${x})) + 1 - list_position(list_reverse(json_keys(${x})), ${lit(k)})] END)`;
    }
    return x;
  };
  const l3 = `SELECT *, ${fields.map((f, i) => `CAST(CASE WHEN ${v} THEN ${lastWins(f)} ELSE ${P}j[${i + 1}] END AS VARCHAR) AS ${t(i)}`).join(', ')} FROM (${l2})`;

  // L4: typed values.
  const l4 = `SELECT *, ${fields.map((f, i) => `CAST(${typedValueSql(f, t(i))} AS ${sqlTypeOf(f)}) AS ${quoteIdent(f.name)}`).join(', ')} FROM (${l3})`;

  // L5: the first failing reason; then the fail / warn expectations.
  const checks = [
    `WHEN ${st} IS NOT NULL THEN ${st}`,
    ...fieldChecks(fields).map((c) => `WHEN ${c.when(t(c.field), quoteIdent(fields[c.field]?.name ?? ''))} THEN ${lit(c.reason)}`),
  ];
  const dead = byAction(rules, 'dead_letter').map((e) => `WHEN ${failsSql(e)} THEN ${lit(e.name)}`);
  const fail = byAction(rules, 'fail');
  const warn = byAction(rules, 'warn');
  const internal = [v, st, `${P}j`, `${P}keys`, `${P}vals`, ...fields.map((_, i) => t(i)), ...(repaired ? [raw] : [])];
  const extra: string[] = [];
  if (fail.length) {
    // checked on every row that parsed (its fields are typed), dead-lettered by an expectation or not
    const parseError = `CASE ${checks.join(' ')} END`;
    extra.push(`CAST(CASE WHEN (${parseError}) IS NULL THEN (CASE ${fail.map((e) => `WHEN ${failsSql(e)} THEN ${lit(e.name)}`).join(' ')} END) END AS VARCHAR) AS ${FAILED_EXPECTATION_COLUMN}`);
  }
  const l5 = `SELECT * EXCLUDE (${internal.join(', ')}), CAST(CASE ${[...checks, ...dead].join(' ')} END AS VARCHAR) AS error${extra.map((x) => `, ${x}`).join('')} FROM (${l4})`;
  if (!warn.length) return l5;
  // counted on the rows that stay good
  const list = `[${warn.map((e) => `CASE WHEN ${failsSql(e)} THEN ${lit(e.name)} END`).join(', ')}]`;
  return `SELECT *, CAST(CASE WHEN error IS NULL THEN list_filter(${list}, x -> x IS NOT NULL) END AS VARCHAR[]) AS ${WARNED_EXPECTATIONS_COLUMN} FROM (${l5})`;
}

// ---------------------------------------------------------------------------------------------
// Documentation (README.md (Parse rules) embeds this output; a unit test keeps them identical)
// ---------------------------------------------------------------------------------------------

const JSON_RULE_DOC: Readonly<Record<JsonTypeRule, string>> = {
  string: 'JSON string → its value (unescaped); number / bool / object / array → its JSON text, minified',
  double: `JSON number, integer or float (\`1e400\` → Infinity); strings ${Object.keys(NON_FINITE_DOUBLE_STRINGS)
    .map((k) => `\`"${k}"\``)
    .join(', ')} → NaN / ±Infinity; any other string, bool, object, array → wrong type`,
  long: 'JSON integer token that fits a signed 64-bit long; float tokens (`1.5`, `1.0`, `1e2`), strings (`"12"`), bool, object, array, overflow → wrong type',
  int: 'JSON integer token that fits a signed 32-bit int; float tokens, strings, bool, object, array, overflow → wrong type',
  decimal:
    'JSON number or numeric string (`,` ignored), rounded half-up to the scale; more integer digits than precision − scale, other strings, bool, object, array → wrong type (float tokens are read through a double: up to 15 significant digits are exact)',
  boolean: 'JSON `true` / `false`; strings (`"true"`), numbers, object, array → wrong type',
  timestamp:
    'iso8601: string `yyyy-MM-dd[(T| )HH:mm[:ss[.fraction]][Z|±hh[:mm]]]`, no offset = UTC; epoch_s / epoch_ms: integer token of seconds / milliseconds since 1970 UTC (years 1–9999); anything else → wrong type',
  date: 'string `yyyy-MM-dd` (a real calendar date); anything else → wrong type',
  json: 'any JSON value → its JSON text, minified',
};

const fieldTypeDoc = (f: FieldRule): string => (f.json === 'decimal' ? `decimal(${f.precision},${f.scale})` : f.json === 'timestamp' ? `timestamp (${f.format})` : f.json);

/** The rule table as markdown: the field table, then the error reasons in check order. */
export function rulesMarkdown(rules: ParseRules, label = 'parse rules'): string {
  const reasons = errorReasons(rules, label);
  const { fields } = rules;
  const nested = fields.some((f) => f.path !== undefined);
  const general = nested || fields.some((f) => !['string', 'double', 'long'].includes(f.json));
  const lines = [
    '| field | JSON rule | column type | required | range (inclusive) |',
    '|---|---|---|---|---|',
    ...fields.map(
      (f) =>
        `| \`${f.name}\`${nested ? ` (\`$.${pathOf(f).join('.')}\`)` : ''} | ${general ? `${fieldTypeDoc(f)}: ` : ''}${JSON_RULE_DOC[f.json]} | ${sqlTypeOf(f)} | ${
          f.required ? 'yes (absent key or `null` → missing)' : 'no'
        } | ${f.range ? `${f.range.min} … ${f.range.max}; NaN / ±Infinity are out of range` : '—'} |`,
    ),
    '',
    'Error reasons, in check order (a row gets the first that applies; `error IS NULL` = good row):',
    '',
    ...reasons.map((r, i) => `${i + 1}. \`${r}\``),
  ];
  const others = (rules.expectations ?? []).filter((e) => e.action !== 'dead_letter');
  if (others.length) {
    lines.push('', 'Other expectations (checked on parsed rows):', '');
    for (const e of others) lines.push(`- \`${e.name}\` (${e.action}): \`${expressionSql(e.expr, (n) => n)}\``);
  }
  return lines.join('\n');
}
