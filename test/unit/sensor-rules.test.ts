/**
 * Bronze parse/validate rules: a table of payloads -> expected good/bad, parsed values and error
 * reason, run through the generated SQL in this file's own in-memory DuckDB.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  SENSOR_FIELDS,
  SensorFieldRule,
  parsedSensorSql,
  relationSql,
  sensorErrorReasons,
  sensorRulesMarkdown,
} from '../../src/lake/sensor-rules';

interface Case {
  name: string;
  /** raw_payload; null with `bytes` = not UTF-8, null without = tombstone. */
  payload: string | null;
  bytes?: Uint8Array;
  error: string | null;
  sensor_id?: string | null;
  value?: number | null;
  unit?: string | null;
  ts_ms?: bigint | null;
}

type Field = 'sensor_id' | 'value' | 'unit' | 'ts_ms';
const BASE: Record<Field, string> = { sensor_id: '"s1"', value: '21.5', unit: '"C"', ts_ms: '1700000000000' };
/** A payload built from raw JSON tokens; a field set to undefined is left out. */
function rec(over: Partial<Record<Field, string | undefined>> = {}, extra?: string): string {
  const m: Record<string, string | undefined> = { ...BASE, ...over };
  const parts = Object.entries(m)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `"${k}":${v}`);
  if (extra !== undefined) parts.push(extra);
  return `{${parts.join(',')}}`;
}
const GOOD = { sensor_id: 's1', value: 21.5, unit: 'C', ts_ms: 1700000000000n } as const;
const NONE = { sensor_id: null, value: null, unit: null, ts_ms: null } as const;

const MB = 1024 * 1024;
const DEEP = 10_000;
const deepArray = '['.repeat(DEEP) + ']'.repeat(DEEP);
const deepObject = '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP);
const bigId = 'x'.repeat(MB);

const CASES: Case[] = [
  // --- good rows and plain JSON forms
  { name: 'good', payload: rec(), error: null, ...GOOD },
  { name: 'extra fields ignored', payload: rec({}, '"site":"p7","tags":[1,{"a":null}],"value2":"x"'), error: null, ...GOOD },
  { name: 'keys in another order', payload: '{"ts_ms":1700000000000,"unit":"C","value":21.5,"sensor_id":"s1"}', error: null, ...GOOD },
  { name: 'whitespace around and inside JSON', payload: ' \t\r\n{ "sensor_id" : "s1" ,\n "value" :21.5,"unit":"C",\t"ts_ms": 1700000000000 }\r\n ', error: null, ...GOOD },
  { name: 'integer value', payload: rec({ value: '42' }), error: null, value: 42 },
  { name: 'exponent value 1e2', payload: rec({ value: '1e2' }), error: null, value: 100 },
  { name: 'exponent value 1E+2', payload: rec({ value: '1E+2' }), error: null, value: 100 },
  { name: 'exponent value -1.5e-3', payload: rec({ value: '-1.5e-3' }), error: null, value: -0.0015 },
  { name: 'negative zero int value -0', payload: rec({ value: '-0' }), error: null, value: 0 },
  { name: 'negative zero float value -0.0', payload: rec({ value: '-0.0' }), error: null, value: -0 },
  { name: 'NaN token in an ignored field', payload: rec({}, '"x":NaN'), error: null, ...GOOD },

  // --- range: inclusive bounds
  { name: 'value = -100 (lower bound)', payload: rec({ value: '-100' }), error: null, value: -100 },
  { name: 'value = 10000 (upper bound)', payload: rec({ value: '10000' }), error: null, value: 10000 },
  { name: 'value = -1E2 (lower bound, exponent form)', payload: rec({ value: '-1E2' }), error: null, value: -100 },
  { name: 'value = 1.0000e+04 (upper bound, exponent form)', payload: rec({ value: '1.0000e+04' }), error: null, value: 10000 },
  { name: 'value just below -100', payload: rec({ value: '-100.000001' }), error: 'value out of range', value: -100.000001 },
  { name: 'value just above 10000', payload: rec({ value: '10000.000001' }), error: 'value out of range', value: 10000.000001 },
  { name: 'value -101', payload: rec({ value: '-101' }), error: 'value out of range', value: -101 },
  { name: 'value 10001', payload: rec({ value: '10001' }), error: 'value out of range', value: 10001 },
  { name: 'value 1e400 overflows to Infinity', payload: rec({ value: '1e400' }), error: 'value out of range', value: Infinity },
  { name: 'value huge integer', payload: rec({ value: '123456789012345678901234567890' }), error: 'value out of range', value: 1.2345678901234568e29 },

  // --- non-finite doubles
  { name: 'value "NaN" string', payload: rec({ value: '"NaN"' }), error: 'value out of range', value: NaN },
  { name: 'value "Infinity" string', payload: rec({ value: '"Infinity"' }), error: 'value out of range', value: Infinity },
  { name: 'value "+INF" string', payload: rec({ value: '"+INF"' }), error: 'value out of range', value: Infinity },
  { name: 'value "-Infinity" string', payload: rec({ value: '"-Infinity"' }), error: 'value out of range', value: -Infinity },
  { name: 'value "-INF" string', payload: rec({ value: '"-INF"' }), error: 'value out of range', value: -Infinity },
  { name: 'value "nan" string (not a Spark form)', payload: rec({ value: '"nan"' }), error: 'wrong type for value', value: null },
  { name: 'value NaN token', payload: rec({ value: 'NaN' }), error: 'value out of range', value: NaN },
  { name: 'value Infinity token', payload: rec({ value: 'Infinity' }), error: 'value out of range', value: Infinity },
  { name: 'value -Infinity token', payload: rec({ value: '-Infinity' }), error: 'value out of range', value: -Infinity },

  // --- value wrong type / missing
  { name: 'value "12.5" string', payload: rec({ value: '"12.5"' }), error: 'wrong type for value', value: null, sensor_id: 's1', unit: 'C', ts_ms: 1700000000000n },
  { name: 'value empty string', payload: rec({ value: '""' }), error: 'wrong type for value', value: null },
  { name: 'value true', payload: rec({ value: 'true' }), error: 'wrong type for value', value: null },
  { name: 'value object', payload: rec({ value: '{}' }), error: 'wrong type for value', value: null },
  { name: 'value array', payload: rec({ value: '[1]' }), error: 'wrong type for value', value: null },
  { name: 'value null', payload: rec({ value: 'null' }), error: 'missing value', value: null },
  { name: 'value absent', payload: rec({ value: undefined }), error: 'missing value', value: null, sensor_id: 's1' },
  { name: '{"value":{}} alone: first reason is sensor_id', payload: '{"value":{}}', error: 'missing sensor_id', ...NONE },
  { name: 'value 10,000-level nested array', payload: rec({ value: deepArray }), error: 'wrong type for value', value: null },

  // --- ts_ms: integer tokens that fit a long only
  { name: 'ts_ms max long', payload: rec({ ts_ms: '9223372036854775807' }), error: null, ts_ms: 9223372036854775807n },
  { name: 'ts_ms min long', payload: rec({ ts_ms: '-9223372036854775808' }), error: null, ts_ms: -9223372036854775808n },
  { name: 'ts_ms -0', payload: rec({ ts_ms: '-0' }), error: null, ts_ms: 0n },
  { name: 'ts_ms max long + 1', payload: rec({ ts_ms: '9223372036854775808' }), error: 'wrong type for ts_ms', ts_ms: null },
  { name: 'ts_ms min long - 1', payload: rec({ ts_ms: '-9223372036854775809' }), error: 'wrong type for ts_ms', ts_ms: null },
  { name: 'ts_ms 2^64 (beyond unsigned)', payload: rec({ ts_ms: '18446744073709551616' }), error: 'wrong type for ts_ms', ts_ms: null },
  { name: 'ts_ms 30 digits', payload: rec({ ts_ms: '123456789012345678901234567890' }), error: 'wrong type for ts_ms', ts_ms: null },
  { name: 'ts_ms 1.5', payload: rec({ ts_ms: '1.5' }), error: 'wrong type for ts_ms', ts_ms: null },
  { name: 'ts_ms 1.0', payload: rec({ ts_ms: '1.0' }), error: 'wrong type for ts_ms', ts_ms: null },
  { name: 'ts_ms 1e2', payload: rec({ ts_ms: '1e2' }), error: 'wrong type for ts_ms', ts_ms: null },
  { name: 'ts_ms "12" string', payload: rec({ ts_ms: '"12"' }), error: 'wrong type for ts_ms', ts_ms: null },
  { name: 'ts_ms true', payload: rec({ ts_ms: 'true' }), error: 'wrong type for ts_ms', ts_ms: null },
  { name: 'ts_ms NaN token', payload: rec({ ts_ms: 'NaN' }), error: 'wrong type for ts_ms', ts_ms: null },
  { name: 'ts_ms null', payload: rec({ ts_ms: 'null' }), error: 'missing ts_ms', ts_ms: null },
  { name: 'ts_ms leading zero (invalid JSON)', payload: rec({ ts_ms: '01' }), error: 'invalid JSON', ...NONE },
  { name: 'ts_ms leading + (invalid JSON)', payload: rec({ ts_ms: '+1' }), error: 'invalid JSON', ...NONE },

  // --- string fields keep non-string JSON as text
  { name: 'sensor_id number', payload: rec({ sensor_id: '123' }), error: null, sensor_id: '123' },
  { name: 'sensor_id float 1.50', payload: rec({ sensor_id: '1.50' }), error: null, sensor_id: '1.5' },
  { name: 'sensor_id true', payload: rec({ sensor_id: 'true' }), error: null, sensor_id: 'true' },
  { name: 'sensor_id object (minified text)', payload: rec({ sensor_id: '{ "a" : [1, 2] }' }), error: null, sensor_id: '{"a":[1,2]}' },
  { name: 'unit array (text)', payload: rec({ unit: '["C", "F"]' }), error: null, unit: '["C","F"]' },
  { name: 'sensor_id empty string is present', payload: rec({ sensor_id: '""' }), error: null, sensor_id: '' },
  { name: 'sensor_id "null" string is present', payload: rec({ sensor_id: '"null"' }), error: null, sensor_id: 'null' },
  { name: 'sensor_id null', payload: rec({ sensor_id: 'null' }), error: 'missing sensor_id', sensor_id: null },
  { name: 'unit absent', payload: rec({ unit: undefined }), error: 'missing unit', unit: null },
  { name: 'sensor_id with \\u0000 escape', payload: rec({ sensor_id: '"a\\u0000b"' }), error: null, sensor_id: 'a\u0000b' },
  { name: 'sensor_id with escapes', payload: rec({ sensor_id: '"q\\"b\\\\s\\/t\\tn\\n"' }), error: null, sensor_id: 'q"b\\s/t\tn\n' },
  { name: 'unicode sensor_id (raw UTF-8)', payload: rec({ sensor_id: '"温度-センサー-Ω-😀"' }), error: null, sensor_id: '温度-センサー-Ω-😀' },
  { name: 'unicode sensor_id (\\u escapes, surrogate pair)', payload: rec({ sensor_id: '"\\u00e9\\ud83d\\ude00"' }), error: null, sensor_id: 'é😀' },
  { name: 'sensor_id starting with a combining mark', payload: rec({ sensor_id: '"\u0301a\u0301"' }), error: null, sensor_id: '\u0301a\u0301' },
  { name: 'lone surrogate escape (invalid JSON here)', payload: rec({ sensor_id: '"\\ud800"' }), error: 'invalid JSON', ...NONE },
  { name: 'raw NUL byte inside a string (invalid JSON)', payload: rec({ sensor_id: '"a\u0000b"' }), error: 'invalid JSON', ...NONE },
  { name: 'raw control char inside a string (invalid JSON)', payload: rec({ sensor_id: '"a\u0001b"' }), error: 'invalid JSON', ...NONE },

  // --- keys: case-sensitive, escaped, duplicated (last wins)
  { name: 'keys are case-sensitive', payload: rec({ sensor_id: undefined }, '"Sensor_id":"s1"'), error: 'missing sensor_id', sensor_id: null },
  { name: 'escaped key spells a field', payload: '{"sensor_id":"s1","valu\\u0065":7,"unit":"C","ts_ms":1}', error: null, value: 7, ts_ms: 1n },
  { name: 'duplicate value: last wins (in range)', payload: rec({}, '"value":7'), error: null, value: 7 },
  { name: 'duplicate value: last wins (out of range)', payload: rec({}, '"value":99999'), error: 'value out of range', value: 99999 },
  { name: 'duplicate value: last of three', payload: '{"value":1,"sensor_id":"s1","value":2,"unit":"C","value":3,"ts_ms":1}', error: null, value: 3 },
  { name: 'duplicate value: wrong type then number', payload: rec({ value: '"x"' }, '"value":5'), error: null, value: 5 },
  { name: 'duplicate value: number then wrong type', payload: rec({ value: '5' }, '"value":"x"'), error: 'wrong type for value', value: null },
  { name: 'duplicate value: number then null', payload: rec({ value: '5' }, '"value":null'), error: 'missing value', value: null },
  { name: 'duplicate sensor_id, escaped second', payload: rec({}, '"sensor\\u005fid":"s2"'), error: null, sensor_id: 's2' },
  { name: 'duplicate key inside a nested object is not a duplicate', payload: rec({}, '"meta":{"value":1,"value":2}'), error: null, value: 21.5 },
  { name: 'exact path with a field absent', payload: '{"sensor_id":"s1","valu\\u0065":7,"ts_ms":1}', error: 'missing unit', value: 7, unit: null },
  { name: 'exact path on a non-object', payload: '["\\u0041", 1, ]', error: 'invalid JSON', ...NONE },
  { name: 'exact path on a non-object (valid JSON)', payload: '["\\u0041"]', error: 'not an object', ...NONE },
  { name: 'field name as a string value is not a duplicate', payload: rec({ unit: '"value"' }, '"x":"value"'), error: null, unit: 'value', value: 21.5 },

  // --- payload-level reasons
  { name: 'null payload (tombstone)', payload: null, error: 'null payload', ...NONE },
  { name: 'not UTF-8', payload: null, bytes: Uint8Array.from([0x7b, 0x22, 0x73, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), error: 'not UTF-8', ...NONE },
  { name: 'empty string', payload: '', error: 'invalid JSON', ...NONE },
  { name: 'whitespace only', payload: ' \n\t ', error: 'invalid JSON', ...NONE },
  { name: 'truncated', payload: rec().slice(0, -5), error: 'invalid JSON', ...NONE },
  { name: 'trailing garbage', payload: rec() + ' x', error: 'invalid JSON', ...NONE },
  { name: 'two objects', payload: rec() + rec(), error: 'invalid JSON', ...NONE },
  { name: 'trailing comma in the object', payload: rec({}, ' '), error: 'invalid JSON', ...NONE },
  { name: 'trailing comma in an ignored array', payload: rec({}, '"tags":[1,2 ,\n]'), error: 'invalid JSON', ...NONE },
  { name: 'comma + bracket inside a string is fine', payload: rec({}, '"note":"a,}b,]c\\",]"'), error: null, ...GOOD },
  { name: 'single-quoted strings (invalid JSON here)', payload: "{'sensor_id':'s1','value':1,'unit':'C','ts_ms':1}", error: 'invalid JSON', ...NONE },
  { name: 'unquoted key', payload: '{sensor_id:"s1"}', error: 'invalid JSON', ...NONE },
  { name: 'comment', payload: '/* c */' + rec(), error: 'invalid JSON', ...NONE },
  { name: 'byte order mark', payload: '\ufeff' + rec(), error: 'invalid JSON', ...NONE },
  { name: 'JSON null', payload: 'null', error: 'not an object', ...NONE },
  { name: 'empty array', payload: '[]', error: 'not an object', ...NONE },
  { name: 'array of a good record', payload: `[${rec()}]`, error: 'not an object', ...NONE },
  { name: 'number', payload: '42', error: 'not an object', ...NONE },
  { name: 'string', payload: '"{}"', error: 'not an object', ...NONE },
  { name: 'bool with whitespace', payload: ' true ', error: 'not an object', ...NONE },
  { name: 'empty object', payload: '{}', error: 'missing sensor_id', ...NONE },

  // --- size and depth
  { name: '1 MB payload (large ignored field)', payload: rec({}, `"pad":"${'p'.repeat(MB)}"`), error: null, ...GOOD },
  { name: '1 MB sensor_id', payload: rec({ sensor_id: `"${bigId}"` }), error: null, sensor_id: bigId },
  { name: '10,000-level nesting in an ignored field', payload: rec({}, `"deep":${deepArray}`), error: null, ...GOOD },
  { name: '10,000-level nested object as sensor_id (kept as text)', payload: rec({ sensor_id: deepObject }), error: null, sensor_id: deepObject },
  { name: '10,000-level nested array at the root', payload: deepArray, error: 'not an object', ...NONE },
  { name: '10,000-level unbalanced nesting', payload: rec({}, `"deep":${'['.repeat(DEEP)}`), error: 'invalid JSON', ...NONE },

  // --- order of reasons
  { name: 'missing sensor_id before wrong type for value', payload: '{"value":"x","unit":"C","ts_ms":1}', error: 'missing sensor_id' },
  { name: 'wrong type for value before missing unit', payload: '{"sensor_id":"s1","value":"x","ts_ms":1}', error: 'wrong type for value' },
  { name: 'missing ts_ms before out of range', payload: '{"sensor_id":"s1","value":99999,"unit":"C"}', error: 'missing ts_ms', value: 99999 },
  { name: 'wrong type for ts_ms before out of range', payload: rec({ value: '-500', ts_ms: '1.5' }), error: 'wrong type for ts_ms', value: -500 },
];

async function loadCases(con: DuckDBConnection, table: string, cases: Case[]): Promise<void> {
  await con.run(`CREATE TABLE ${table} (topic VARCHAR, partition INTEGER, "offset" BIGINT, kafka_ts TIMESTAMPTZ,
    raw_payload VARCHAR, raw_payload_bytes BLOB, arrived_at TIMESTAMPTZ)`);
  const app = await con.createAppender(table);
  cases.forEach((c, i) => {
    app.appendVarchar('sensor_readings');
    app.appendInteger(i % 3);
    app.appendBigInt(BigInt(i));
    app.appendNull();
    if (c.payload === null) app.appendNull();
    else app.appendVarchar(c.payload);
    if (c.bytes) app.appendBlob(c.bytes);
    else app.appendNull();
    app.appendNull();
    app.endRow();
  });
  app.flushSync();
  app.closeSync();
}

type Row = Record<string, unknown>;
const short = (v: unknown): unknown => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 40)}…(${v.length} chars)` : v);

describe('bronze parse/validate rules (generated DuckDB SQL)', () => {
  let instance: DuckDBInstance;
  let con: DuckDBConnection;
  const rows = new Map<bigint, Row>();

  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    con = await instance.connect();
    await loadCases(con, 'raw_batch', CASES);
    const reader = await con.runAndReadAll(`SELECT *, strlen(raw_payload) AS raw_len FROM (${parsedSensorSql('raw_batch')})`);
    for (const r of reader.getRowObjectsJS()) rows.set(r.offset as bigint, r);
  });

  afterAll(() => {
    con?.closeSync();
    instance?.closeSync();
  });

  test('output columns: every input column, then the rule-table fields, then error', async () => {
    const reader = await con.runAndReadAll(`DESCRIBE ${parsedSensorSql('raw_batch')}`);
    const cols = reader.getRowObjectsJS().map((r) => `${String(r.column_name)} ${String(r.column_type)}`);
    expect(cols).toEqual([
      'topic VARCHAR',
      'partition INTEGER',
      'offset BIGINT',
      'kafka_ts TIMESTAMP WITH TIME ZONE',
      'raw_payload VARCHAR',
      'raw_payload_bytes BLOB',
      'arrived_at TIMESTAMP WITH TIME ZONE',
      'sensor_id VARCHAR',
      'value DOUBLE',
      'unit VARCHAR',
      'ts_ms BIGINT',
      'error VARCHAR',
    ]);
  });

  test.each(CASES.map((c, i) => [c.name, i, c] as const))('%s', (_name, i, c) => {
    const row = rows.get(BigInt(i));
    expect(row).toBeDefined();
    const r = row as Row;
    expect(r.error).toBe(c.error);
    // the input columns pass through unchanged (node-api's string decoding drops a leading BOM,
    // so compare the byte length too)
    expect(r.raw_len).toBe(c.payload === null ? null : BigInt(Buffer.byteLength(c.payload)));
    if (!c.payload?.startsWith('\ufeff')) expect(r.raw_payload).toBe(c.payload);
    for (const f of ['sensor_id', 'unit'] as const) {
      const want = c[f];
      if (want !== undefined) expect({ [f]: short(r[f]) }).toEqual({ [f]: short(want) });
      if (want !== undefined) expect(r[f] === want).toBe(true);
    }
    if (c.value !== undefined) {
      if (c.value === null) expect(r.value).toBeNull();
      else expect(Object.is(r.value, c.value) || (Number.isNaN(c.value) && Number.isNaN(r.value as number))).toBe(true);
      if (c.value !== null && !Number.isNaN(c.value)) expect(Object.is(r.value, c.value)).toBe(true);
    }
    if (c.ts_ms !== undefined) expect(r.ts_ms).toBe(c.ts_ms);
  });

  test('routing: good rows have all fields set, bad rows have a reason from the fixed list', async () => {
    const sql = parsedSensorSql('raw_batch');
    await con.run(`CREATE TEMP TABLE parsed AS ${sql}`);
    const reader = await con.runAndReadAll(`SELECT
        count(*) FILTER (WHERE error IS NULL) AS good,
        count(*) FILTER (WHERE error IS NULL AND (sensor_id IS NULL OR value IS NULL OR unit IS NULL OR ts_ms IS NULL
                                               OR NOT value BETWEEN -100 AND 10000)) AS good_but_incomplete,
        count(*) FILTER (WHERE error IS NOT NULL) AS bad,
        list(DISTINCT error) FILTER (WHERE error IS NOT NULL) AS reasons
      FROM parsed`);
    const [r] = reader.getRowObjectsJS();
    expect(r?.good).toBe(BigInt(CASES.filter((c) => c.error === null).length));
    expect(r?.good_but_incomplete).toBe(0n);
    expect(r?.bad).toBe(BigInt(CASES.filter((c) => c.error !== null).length));
    for (const reason of r?.reasons as string[]) expect(sensorErrorReasons()).toContain(reason);
  });

  test('a parenthesised subquery works as the source relation', async () => {
    const reader = await con.runAndReadAll(
      `SELECT count(*) AS n FROM (${parsedSensorSql(`(SELECT * FROM raw_batch WHERE "offset" < 3 AND topic <> ')')`)})`,
    );
    expect(reader.getRowObjectsJS()[0]?.n).toBe(3n);
  });

  test('a custom rule table generates its own checks (optional field, long range)', async () => {
    const fields: SensorFieldRule[] = [
      { name: 'id', json: 'string', required: true },
      { name: 'n', json: 'long', required: false, range: { min: 0, max: 10 } },
    ];
    const custom: Case[] = [
      { name: 'ok', payload: '{"id":"a","n":3}', error: null },
      { name: 'optional absent', payload: '{"id":"a"}', error: null },
      { name: 'optional null', payload: '{"id":"a","n":null}', error: null },
      { name: 'optional wrong type', payload: '{"id":"a","n":1.5}', error: 'wrong type for n' },
      { name: 'range', payload: '{"id":"a","n":11}', error: 'n out of range' },
      { name: 'duplicate', payload: '{"id":"a","n":11,"n":2}', error: null },
      { name: 'missing id', payload: '{"n":2}', error: 'missing id' },
    ];
    await loadCases(con, 'custom_batch', custom);
    const reader = await con.runAndReadAll(`SELECT "offset", id, n, error FROM (${parsedSensorSql('custom_batch', fields)}) ORDER BY "offset"`);
    expect(reader.getRowObjectsJS().map((r) => r.error)).toEqual(custom.map((c) => c.error));
    expect(sensorErrorReasons(fields)).toEqual(['null payload', 'not UTF-8', 'invalid JSON', 'not an object', 'missing id', 'wrong type for n', 'n out of range']);
  });
});

describe('rule table and generator guards', () => {
  test('error reasons in the fixed order', () => {
    expect(sensorErrorReasons()).toEqual([
      'null payload',
      'not UTF-8',
      'invalid JSON',
      'not an object',
      'missing sensor_id',
      'missing value',
      'wrong type for value',
      'missing unit',
      'missing ts_ms',
      'wrong type for ts_ms',
      'value out of range',
    ]);
  });

  test('the rule table is the seed schema', () => {
    expect(SENSOR_FIELDS.map((f) => `${f.name}:${f.json}:${f.required}`)).toEqual([
      'sensor_id:string:true',
      'value:double:true',
      'unit:string:true',
      'ts_ms:long:true',
    ]);
    expect(SENSOR_FIELDS[1]).toMatchObject({ range: { min: -100, max: 10000 } });
  });

  test('source relation: identifiers are quoted, anything else is refused', () => {
    expect(relationSql('raw_batch')).toBe('"raw_batch"');
    expect(relationSql('main.raw_batch')).toBe('"main"."raw_batch"');
    expect(relationSql('"my ""odd"" table"')).toBe('"my ""odd"" table"');
    expect(relationSql('(SELECT * FROM t)')).toBe('(SELECT * FROM t)');
    for (const bad of [
      '',
      'raw_batch; DROP TABLE x',
      'a.b.c.d',
      'a b',
      '"unterminated',
      "(SELECT 1); DROP TABLE x; (SELECT 1)",
      '(SELECT 1) UNION (SELECT 2)',
      '(SELECT 1 -- comment\n)',
      "(SELECT ')' ",
      'raw_batch)',
    ]) {
      expect(() => parsedSensorSql(bad)).toThrow(/sensor rules/);
    }
  });

  test('bad rule tables are refused', () => {
    const bad: SensorFieldRule[][] = [
      [],
      [{ name: "x'); DROP TABLE t; --", json: 'string', required: true }],
      [{ name: 'a-b', json: 'double', required: true }],
      [{ name: 'a', json: 'string', required: true }, { name: 'A', json: 'long', required: true }],
      [{ name: 'raw_payload', json: 'string', required: true }],
      [{ name: 'a', json: 'string', required: true }, { name: 'a', json: 'long', required: true }],
      [{ name: 'a', json: 'string', required: true, range: { min: 0, max: 1 } }],
      [{ name: 'a', json: 'double', required: true, range: { min: 2, max: 1 } }],
      [{ name: 'a', json: 'double', required: true, range: { min: NaN, max: 1 } }],
      [{ name: 'error', json: 'string', required: true }],
    ];
    for (const fields of bad) expect(() => parsedSensorSql('t', fields)).toThrow(/sensor rules/);
  });

  test('README.md embeds the generated rules table verbatim', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const m = /<!-- rules:begin[^>]*-->\n([\s\S]*?)\n<!-- rules:end -->/.exec(doc);
    expect(m?.[1]).toBe(sensorRulesMarkdown());
  });
});
