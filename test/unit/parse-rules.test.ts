/**
 * The general typed rules (src/lake/parse-rules.ts): each type's from_json semantics, nested
 * paths, the three expectation actions and the Spark-compat parse options, run through the
 * generated SQL in this file's own in-memory DuckDB.
 */
import { ExpectationFailedError, expectationOutcome } from '../../src/lake/expectation-outcome';
import { parseExpression } from '../../src/lake/expression';
import { exprTypeOf, KAFKA_COLUMNS, parsedSql, type FieldRule, type ParseRules } from '../../src/lake/parse-rules';
import { memoryDuckDB } from '../helpers/pipelines';

const db = memoryDuckDB();
let n = 0;

type Payload = string | null | { bytes: number[] };

/** Runs `payloads` through the rules; returns one object per row (values as JSON-able text). */
async function run(rules: ParseRules, payloads: Payload[]): Promise<Record<string, unknown>[]> {
  const table = `batch_${n++}`;
  await db.con().run(`CREATE TABLE ${table} (topic VARCHAR, partition INTEGER, "offset" BIGINT, kafka_ts TIMESTAMPTZ,
    raw_payload VARCHAR, raw_payload_bytes BLOB, arrived_at TIMESTAMPTZ)`);
  const app = await db.con().createAppender(table);
  payloads.forEach((p, i) => {
    app.appendVarchar('t');
    app.appendInteger(0);
    app.appendBigInt(BigInt(i));
    app.appendNull();
    if (p === null || typeof p === 'object') app.appendNull();
    else app.appendVarchar(p);
    if (p !== null && typeof p === 'object') app.appendBlob(Uint8Array.from(p.bytes));
    else app.appendNull();
    app.appendNull();
    app.endRow();
  });
  app.flushSync();
  app.closeSync();
  const cols = rules.fields.map((f) => `CAST("${f.name}" AS VARCHAR) AS "${f.name}"`).join(', ');
  const reader = await db.con().runAndReadAll(`SELECT ${cols}, * EXCLUDE (topic, partition, "offset", kafka_ts, raw_payload, raw_payload_bytes, arrived_at, ${rules.fields.map((f) => `"${f.name}"`).join(', ')}) FROM (${parsedSql(table, rules)}) ORDER BY "offset"`);
  return reader.getRowObjectsJson() as Record<string, unknown>[];
}

/** One field `x` of the given rule; returns [value, error] per JSON token. */
async function one(rule: { json: FieldRule['json']; required?: boolean; [k: string]: unknown }, tokens: string[]): Promise<[unknown, unknown][]> {
  const f = { name: 'x', required: false, ...rule } as unknown as FieldRule;
  const rows = await run({ fields: [f] }, tokens.map((t) => `{"x":${t}}`));
  return rows.map((r) => [r.x, r.error]);
}

const WRONG = 'wrong type for x';

describe('field types (Spark from_json PERMISSIVE semantics)', () => {
  test('int: integer tokens that fit 32 bits; overflow, floats, strings are the wrong type', async () => {
    expect(await one({ json: 'int' }, ['0', '-2147483648', '2147483647', '2147483648', '-2147483649', '1.0', '1e2', '"5"', 'true', 'null'])).toEqual([
      ['0', null],
      ['-2147483648', null],
      ['2147483647', null],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
      [null, null],
    ]);
  });

  test('decimal(p,s): numbers and numeric strings, half-up rounding, too many digits is the wrong type', async () => {
    const dec = { json: 'decimal', precision: 6, scale: 2 } as const;
    expect(await one(dec, ['12.5', '1234.565', '-1234.565', '9999.994', '9999.995', '10000', '"12.50"', '"1,234.5"', '1e2', '"abc"', '""', 'true', '[1]', 'NaN'])).toEqual([
      ['12.50', null],
      ['1234.57', null],
      ['-1234.57', null],
      ['9999.99', null],
      [null, WRONG], // rounds to 10000.00: 7 digits do not fit decimal(6,2)
      [null, WRONG],
      ['12.50', null],
      ['1234.50', null],
      ['100.00', null],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
    ]);
  });

  test('boolean: only the JSON tokens true/false', async () => {
    expect(await one({ json: 'boolean' }, ['true', 'false', '"true"', '1', '0', '{}'])).toEqual([
      ['true', null],
      ['false', null],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
    ]);
  });

  test('timestamp iso8601: offsets, Z, fractions, no offset = UTC; bad strings and numbers are the wrong type', async () => {
    const ts = { json: 'timestamp', format: 'iso8601' } as const;
    expect(
      await one(ts, [
        '"2024-03-01T10:00:00+02:00"',
        '"2024-03-01T10:00:00Z"',
        '"2024-03-01T10:00:00.123456-0530"',
        '"2024-03-01 10:00"',
        '"2024-03-01T10:00:00"',
        '"2024-03-01"',
        '"2024-02-30T10:00:00Z"',
        '"2024-03-01T25:00:00Z"',
        '"yesterday"',
        '1709287200',
        '"2024-03-01+02:00"',
      ]),
    ).toEqual([
      ['2024-03-01 08:00:00+00', null],
      ['2024-03-01 10:00:00+00', null],
      ['2024-03-01 15:30:00.123456+00', null],
      ['2024-03-01 10:00:00+00', null],
      ['2024-03-01 10:00:00+00', null],
      ['2024-03-01 00:00:00+00', null],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
    ]);
  });

  test('timestamp epoch_s / epoch_ms: integer tokens within years 1..9999', async () => {
    expect(await one({ json: 'timestamp', format: 'epoch_s' }, ['1709287200', '-1', '253402300800', '1.5', '"1709287200"'])).toEqual([
      ['2024-03-01 10:00:00+00', null],
      ['1969-12-31 23:59:59+00', null],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
    ]);
    expect(await one({ json: 'timestamp', format: 'epoch_ms' }, ['1709287200123', '253402300800000', '9223372036854775808'])).toEqual([
      ['2024-03-01 10:00:00.123+00', null],
      [null, WRONG],
      [null, WRONG],
    ]);
  });

  test('date: yyyy-MM-dd strings that are real dates', async () => {
    expect(await one({ json: 'date' }, ['"2024-02-29"', '"2023-02-29"', '"2024-3-1"', '"2024-03-01T00:00:00"', '20240301'])).toEqual([
      ['2024-02-29', null],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
      [null, WRONG],
    ]);
  });

  test('json: any value kept as minified JSON text; null is absent', async () => {
    expect(await one({ json: 'json', required: true }, ['{ "a" : [1, 2] }', '"s"', '1.50', 'null'])).toEqual([
      ['{"a":[1,2]}', null],
      ['"s"', null],
      ['1.5', null],
      [null, 'missing x'],
    ]);
  });

  test('nested paths: clean and duplicate-key (last wins) paths agree; a non-object parent is absent', async () => {
    const fields: FieldRule[] = [
      { name: 'id', json: 'string', required: true },
      { name: 'customer_id', path: ['customer', 'id'], json: 'long', required: true },
      { name: 'country', path: ['customer', 'address', 'country'], json: 'string', required: false },
    ];
    const rows = await run({ fields }, [
      '{"id":"o1","customer":{"id":7,"address":{"country":"DE"}}}',
      '{"id":"o2","customer":{"id":7,"id":8,"address":{"country":"DE","country":"FR"}}}',
      '{"id":"o3","customer":{"id":1},"customer":{"id":9}}',
      '{"id":"o4","customer":[{"id":1}]}',
      '{"id":"o5","customer":{"id":"7"}}',
      '{"id":"o6","customer":{"i\\u0064":5}}',
    ]);
    expect(rows.map((r) => [r.id, r.customer_id, r.country, r.error])).toEqual([
      ['o1', '7', 'DE', null],
      ['o2', '8', 'FR', null],
      ['o3', '9', null, null],
      ['o4', null, null, 'missing customer_id'],
      ['o5', null, null, 'wrong type for customer_id'],
      ['o6', '5', null, null],
    ]);
  });
});

describe('expectations', () => {
  const fields: FieldRule[] = [
    { name: 'id', json: 'string', required: true },
    { name: 'amount', json: 'decimal', precision: 10, scale: 2, required: false },
    { name: 'status', json: 'string', required: false },
  ];
  const cols = { ...KAFKA_COLUMNS, id: exprTypeOf('string'), amount: exprTypeOf('decimal'), status: exprTypeOf('string') };
  const rules: ParseRules = {
    fields,
    expectations: [
      { name: 'negative amount', expr: parseExpression('amount >= 0', cols), action: 'dead_letter' },
      { name: 'id too long', expr: parseExpression('length(id) <= 3', cols), action: 'fail' },
      { name: 'unknown status', expr: parseExpression("status IN ('a', 'b')", cols), action: 'warn' },
      { name: 'no amount', expr: parseExpression('amount IS NOT NULL', cols), action: 'warn' },
    ],
  };

  test('dead_letter names the expectation; fail and warn mark rows; NULL passes', async () => {
    const rows = await run(rules, [
      '{"id":"a","amount":1,"status":"a"}',
      '{"id":"b","amount":-1,"status":"a"}',
      '{"id":"c","status":"z"}',
      '{"id":"dddd","amount":2,"status":"b"}',
      '{"id":"eeee","amount":-2}',
      '{"amount":1}',
    ]);
    expect(rows.map((r) => [r.id, r.error, r.failed_expectation, r.warned_expectations])).toEqual([
      ['a', null, null, []],
      ['b', 'negative amount', null, null],
      ['c', null, null, ['unknown status', 'no amount']],
      ['dddd', null, 'id too long', []],
      // fail is checked on every parsed row, dead-lettered by an expectation or not
      ['eeee', 'negative amount', 'id too long', null],
      // a row that did not parse is only dead-lettered
      [null, 'missing id', null, null],
    ]);
  });

  test('the batch outcome: a fail expectation stops the run naming it and the first offending offset; warn counts kept rows', async () => {
    const table = `batch_${n}`;
    await run(rules, ['{"id":"a","amount":1,"status":"z"}', '{"id":"bbbb","amount":1}', '{"id":"cccc","amount":1}', '{"id":"d","status":"z"}']);
    await db.con().run(`CREATE TEMP TABLE parsed_fail AS ${parsedSql(table, rules)}`);
    const failed = await expectationOutcome(db.con(), 'parsed_fail', rules).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ExpectationFailedError);
    expect(failed).toMatchObject({ expectation: 'id too long', example: { topic: 't', partition: 0, offset: 1n }, rows: 2n });
    expect((failed as Error).message).toMatch(/^expectation "id too long" failed .* first at t\/0@1; nothing was committed/);

    await db.con().run(`CREATE TEMP TABLE parsed_ok AS SELECT * FROM parsed_fail WHERE failed_expectation IS NULL`);
    expect(await expectationOutcome(db.con(), 'parsed_ok', rules)).toEqual({ warnings: { 'unknown status': 2, 'no amount': 1 } });
  });

  test('without fail/warn expectations the extra columns are absent', async () => {
    const rows = await run({ fields, expectations: [rules.expectations![0]] }, ['{"id":"a"}']);
    expect(Object.keys(rows[0] ?? {})).toEqual(['id', 'amount', 'status', 'error']);
  });
});

describe('Spark-compat parse options (default off)', () => {
  const fields: FieldRule[] = [{ name: 's', json: 'string', required: true }];
  const inputs: Payload[] = [
    "{'s':'it''s'}",
    "{'s':'say \"hi\" \\' ok'}",
    '{"s":"a"} trailing',
    '{"s":"}"}{"s":"b"}',
    `{"s":"${'}'.repeat(300)}"} x`,
    `{"s":"${'x'.repeat(70_000)}"} x`,
    { bytes: [0x7b, 0x22, 0x73, 0x22, 0x3a, 0x22, 0x61, 0xff, 0xe2, 0x82, 0x62, 0x22, 0x7d] },
  ];

  test('off: single quotes, trailing content and invalid UTF-8 are dead-lettered', async () => {
    const rows = await run({ fields }, inputs);
    expect(rows.map((r) => r.error)).toEqual(['invalid JSON', 'invalid JSON', 'invalid JSON', 'invalid JSON', 'invalid JSON', 'invalid JSON', 'not UTF-8']);
  });

  test('on: Spark reads them', async () => {
    const rows = await run({ fields, options: { singleQuotes: true, trailingContent: true, replaceInvalidUtf8: true } }, inputs);
    expect(rows.map((r) => [r.s, r.error])).toEqual([
      // Jackson ends a single-quoted string at the second quote: {'s':'it''s'} is not valid even for Spark
      [null, 'invalid JSON'],
      ['say "hi" \' ok', null],
      ['a', null],
      ['}', null],
      // bounded work: the object does not close within the first 256 `}`; the payload is over 64 KiB
      [null, 'invalid JSON'],
      [null, 'invalid JSON'],
      // one U+FFFD per invalid byte / truncated sequence, as Java's decoder
      ['a\ufffd\ufffdb', null],
    ]);
  });
});
