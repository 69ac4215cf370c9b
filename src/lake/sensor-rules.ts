/**
 * Bronze parse/validate rules for sensor readings (seed Job 2, `from_json(raw_payload, SENSOR_SCHEMA)`
 * + the good/bad filter), as ONE rule table and a generator of vectorized DuckDB SQL from it.
 *
 * The generated SELECT parses every payload with DuckDB's built-in `json` extension (yyjson) — no
 * per-row JavaScript. Semantics follow Spark's `from_json` in PERMISSIVE mode (JacksonParser) with
 * the deliberate differences listed in README.md (Parse rules) (kept in sync by a unit test).
 *
 * Cost per well-formed row: one `json_valid` parse, one RE2 scan (suspiciousRe()) and one
 * multi-path `json_extract` parse. Rows the scan flags (possible duplicate keys, `\u00XX`
 * escapes, possible trailing commas) take an exact but slower path (strings stripped; `json_keys`
 * + `json_extract('$.*')` for last-wins duplicate keys).
 */
import { sqlIdent } from './sql';

/** How a JSON value is read into a field (Spark's StringType / DoubleType / LongType). */
export type JsonTypeRule = 'string' | 'double' | 'long';

export interface SensorFieldRule {
  /** JSON key (case-sensitive) and output column name. */
  readonly name: string;
  readonly json: JsonTypeRule;
  /** Absent key or JSON `null` is an error (`missing <name>`) when true. */
  readonly required: boolean;
  /** Inclusive range (Spark `between`); NaN and ±Infinity are always outside. */
  readonly range?: { readonly min: number; readonly max: number };
}

/** THE rule table. Order = schema order = the order in which field errors are reported. */
export const SENSOR_FIELDS = [
  { name: 'sensor_id', json: 'string', required: true },
  { name: 'value', json: 'double', required: true, range: { min: -100, max: 10000 } },
  { name: 'unit', json: 'string', required: true },
  { name: 'ts_ms', json: 'long', required: true },
] as const satisfies readonly SensorFieldRule[];

/** Payload-level reasons, checked before any field, in this order. */
export const PAYLOAD_ERRORS = {
  nullPayload: 'null payload',
  notUtf8: 'not UTF-8',
  invalidJson: 'invalid JSON',
  notObject: 'not an object',
} as const;

export const SQL_TYPES: Readonly<Record<JsonTypeRule, string>> = { string: 'VARCHAR', double: 'DOUBLE', long: 'BIGINT' };

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

interface FieldCheck {
  readonly reason: string;
  /** SQL condition over the field's JSON text `t` (NULL = key absent) and typed column `col`. */
  readonly when: (t: string, col: string) => string;
  /** Index of the field in the rule table. */
  readonly field: number;
}

/**
 * The per-field checks in report order, derived from the rule table: per field in schema order
 * `missing` then `wrong type`, then the range checks. Both the SQL and sensorErrorReasons() use it.
 */
function fieldChecks(fields: readonly SensorFieldRule[]): FieldCheck[] {
  const absent = (t: string) => `(${t} IS NULL OR ${t} = 'null')`;
  const out: FieldCheck[] = [];
  fields.forEach((f, i) => {
    if (f.required) out.push({ field: i, reason: missingError(f.name), when: (t) => absent(t) });
    // a string field accepts any non-null JSON value (as text), so it has no type error
    if (f.json !== 'string') out.push({ field: i, reason: wrongTypeError(f.name), when: (t, col) => `NOT ${absent(t)} AND ${col} IS NULL` });
  });
  fields.forEach((f, i) => {
    const r = f.range;
    // NOT (NaN BETWEEN ..) is true in DuckDB (NaN sorts above every number), as in Spark
    if (r) out.push({ field: i, reason: rangeError(f.name), when: (_t, col) => `${col} IS NOT NULL AND NOT (${col} BETWEEN ${num(r.min)} AND ${num(r.max)})` });
  });
  return out;
}

/** Every `error` value the generated SQL can produce, in check order (first match wins). */
export function sensorErrorReasons(fields: readonly SensorFieldRule[] = SENSOR_FIELDS): string[] {
  validateFields(fields);
  return [...Object.values(PAYLOAD_ERRORS), ...fieldChecks(fields).map((c) => c.reason)];
}

// ---------------------------------------------------------------------------------------------
// SQL generation
// ---------------------------------------------------------------------------------------------

const FIELD_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Columns of the raw input and the output's `error`: a field may not shadow them. */
const RESERVED_NAMES = ['topic', 'partition', 'offset', 'kafka_ts', 'raw_payload', 'raw_payload_bytes', 'arrived_at', 'error'];
const BARE_IDENT_RE = /^[A-Za-z_][A-Za-z0-9_$]*$/;
/** Internal column prefix; removed again by `SELECT * EXCLUDE (...)`. */
const P = '__sr_';
/** JSON whitespace (RFC 8259): space, tab, LF, CR — as an RE2 class body. */
const WS = '[\\t\\n\\r ]*';

function validateFields(fields: readonly SensorFieldRule[]): void {
  if (fields.length === 0) throw new Error('sensor rules: no fields');
  const seen = new Set<string>();
  for (const f of fields) {
    if (!FIELD_NAME_RE.test(f.name)) throw new Error(`sensor rules: bad field name ${JSON.stringify(f.name)}`);
    // SQL identifiers are case-insensitive: `Value` and `value` would be one output column
    const key = f.name.toLowerCase();
    if (key.startsWith(P) || RESERVED_NAMES.includes(key)) throw new Error(`sensor rules: reserved field name ${f.name}`);
    if (seen.has(key)) throw new Error(`sensor rules: duplicate field ${f.name}`);
    seen.add(key);
    if (!(f.json in SQL_TYPES)) throw new Error(`sensor rules: bad JSON type rule for ${f.name}`);
    if (f.range) {
      if (f.json === 'string') throw new Error(`sensor rules: range on string field ${f.name}`);
      const { min, max } = f.range;
      if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) throw new Error(`sensor rules: bad range for ${f.name}`);
    }
  }
}

/** SQL string literal. Only ever used on constants of this module (rule names, reasons, regexes). */
function lit(s: string): string {
  if (s.includes('\0')) throw new Error('sensor rules: NUL in SQL literal');
  return `'${s.replace(/'/g, "''")}'`;
}

function num(n: number): string {
  return `CAST(${lit(String(n))} AS DOUBLE)`;
}

function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error('sensor rules: empty identifier');
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
        if (k < 0) throw new Error(`sensor rules: bad relation ${JSON.stringify(s)}`);
        part += s.slice(j, k);
        if (s[k + 1] === '"') {
          part += '"';
          j = k + 2;
        } else {
          i = k + 1;
          break;
        }
      }
      if (part.length === 0) throw new Error(`sensor rules: bad relation ${JSON.stringify(s)}`);
      parts.push(part);
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(s.slice(i));
      if (!m || !BARE_IDENT_RE.test(m[0])) throw new Error(`sensor rules: bad relation ${JSON.stringify(s)}`);
      parts.push(m[0]);
      i += m[0].length;
    }
    if (i === s.length) break;
    if (s[i] !== '.') throw new Error(`sensor rules: bad relation ${JSON.stringify(s)}`);
    i += 1;
  }
  if (parts.length > 3) throw new Error(`sensor rules: bad relation ${JSON.stringify(s)}`);
  return parts;
}

function checkSubquery(s: string): void {
  const bad = () => new Error(`sensor rules: source subquery must be one parenthesised SELECT: ${JSON.stringify(s.slice(0, 80))}`);
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
 * could spell a field name in a key), or a field key occurring twice. A hit only selects the exact
 * (slower) path; a miss proves none of the three applies.
 */
function suspiciousRe(fields: readonly SensorFieldRule[]): string {
  // field names are [A-Za-z0-9_] (validated), so they need no escaping inside the regex
  const dup = fields.map((f) => `${f.name}"${WS}:[\\s\\S]*"${f.name}`).join('|');
  return `${TRAILING_COMMA_RE}|\\\\u00|"(?:${dup})"${WS}:`;
}

/** SQL: the JSON text of one field (NULL = key absent) -> the typed value, NULL if wrong type/null. */
function typedValueSql(f: SensorFieldRule, t: string): string {
  switch (f.json) {
    case 'string':
      // a JSON string -> its value (unescape only when needed); anything else -> its JSON text
      return `CASE WHEN ${t} = 'null' THEN NULL WHEN ascii(${t}) = 34 THEN (CASE WHEN contains(${t}, '\\') THEN json_extract_string(${t}, '$') ELSE ${t}[2:-2] END) ELSE ${t} END`;
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
      return `CASE WHEN regexp_full_match(${t}, '-?[0-9]+') THEN TRY_CAST(${t} AS BIGINT) END`;
  }
}

/**
 * The parse/validate SELECT: every column of `sourceRelation`, then one typed column per rule-table
 * field (VARCHAR / DOUBLE / BIGINT; NULL when absent, JSON null or of the wrong type), then
 * `error VARCHAR` — NULL for a good row, else the first failing reason (see sensorErrorReasons()).
 * The source must have `raw_payload VARCHAR` and `raw_payload_bytes BLOB` (contract of raw/).
 */
export function parsedSensorSql(sourceRelation: string, fields: readonly SensorFieldRule[] = SENSOR_FIELDS): string {
  validateFields(fields);
  const from = relationSql(sourceRelation);
  const raw = 'raw_payload';
  const rawBytes = 'raw_payload_bytes';
  const v = `${P}v`;
  const st = `${P}st`;
  const t = (i: number) => `${P}t${i}`;
  const paths = `[${fields.map((f) => lit(`$."${f.name}"`)).join(', ')}]`;

  // L0: parse check + pre-filter. v: NULL = null payload or not JSON; true = suspicious; false = clean.
  const l0 = `SELECT ${P}src.*, CASE WHEN ${raw} IS NOT NULL AND json_valid(${raw}) THEN regexp_matches(${raw}, ${lit(suspiciousRe(fields))}) END AS ${v} FROM ${from} AS ${P}src`;

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

  // L3: the JSON text of each field (NULL = absent).
  const l3 = `SELECT *, ${fields
    .map(
      (f, i) =>
        `CAST(CASE WHEN ${v} THEN ${P}vals[len(${P}keys) + 1 - list_position(list_reverse(${P}keys), ${lit(f.name)})] ELSE ${P}j[${i + 1}] END AS VARCHAR) AS ${t(i)}`,
    )
    .join(', ')} FROM (${l2})`;

  // L4: typed values.
  const l4 = `SELECT *, ${fields
    .map((f, i) => `CAST(${typedValueSql(f, t(i))} AS ${SQL_TYPES[f.json]}) AS ${quoteIdent(f.name)}`)
    .join(', ')} FROM (${l3})`;

  // L5: the first failing reason.
  const whens = [
    `WHEN ${st} IS NOT NULL THEN ${st}`,
    ...fieldChecks(fields).map((c) => `WHEN ${c.when(t(c.field), quoteIdent(fields[c.field]?.name ?? ''))} THEN ${lit(c.reason)}`),
  ];
  const internal = [v, st, `${P}j`, `${P}keys`, `${P}vals`, ...fields.map((_, i) => t(i))];
  return `SELECT * EXCLUDE (${internal.join(', ')}), CAST(CASE ${whens.join(' ')} END AS VARCHAR) AS error FROM (${l4})`;
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
};

/** The rule table as markdown: the field table, then the error reasons in check order. */
export function sensorRulesMarkdown(fields: readonly SensorFieldRule[] = SENSOR_FIELDS): string {
  validateFields(fields);
  const lines = [
    '| field | JSON rule | column type | required | range (inclusive) |',
    '|---|---|---|---|---|',
    ...fields.map(
      (f) =>
        `| \`${f.name}\` | ${JSON_RULE_DOC[f.json]} | ${SQL_TYPES[f.json]} | ${f.required ? 'yes (absent key or `null` → missing)' : 'no'} | ${
          f.range ? `${f.range.min} … ${f.range.max}; NaN / ±Infinity are out of range` : '—'
        } |`,
    ),
    '',
    'Error reasons, in check order (a row gets the first that applies; `error IS NULL` = good row):',
    '',
    ...sensorErrorReasons(fields).map((r, i) => `${i + 1}. \`${r}\``),
  ];
  return lines.join('\n');
}
