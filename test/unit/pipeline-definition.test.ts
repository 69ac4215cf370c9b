/**
 * The pipeline definition file (src/pipelines/definition.ts): the shipped pipelines.yaml, its
 * commented orders example, the expression grammar's refusals, and one clear error per problem
 * with its place in the file.
 */
import * as path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { ExpressionError, expressionSql, parseExpression } from '../../src/lake/expression';
import { parsedSql } from '../../src/lake/parse-rules';
import { parsedSensorSql } from '../../src/lake/sensor-rules';
import { bindProblems, sensorDrift } from '../../src/pipelines/check';
import { pipelinesWithExample } from '../helpers/pipelines';
import { DEFAULT_PIPELINES_FILE, loadPipelineFile, parsePipelineFile, PipelineDefinitionError, pipelineNamed, pipelinesFilePath } from '../../src/pipelines/definition';

const withExample = pipelinesWithExample();

/** The problems a definition text produces ([] if it is valid). */
function problemsOf(text: string): string[] {
  try {
    parsePipelineFile(text, 'p.yaml');
    return [];
  } catch (e) {
    if (e instanceof PipelineDefinitionError) return [...e.problems];
    throw e;
  }
}

describe('the shipped pipelines.yaml', () => {
  test('holds the sensor pipeline only, with the historical schedule ids and tables', () => {
    const file = loadPipelineFile();
    expect(file.pipelines.map((p) => p.name)).toEqual(['sensor']);
    const sensor = pipelineNamed(file, 'sensor');
    expect(sensor.scheduleIds).toEqual({ raw: 'sensor-raw-ingest', bronze: 'sensor-deserialize', gold: 'sensor-merge-gold' });
    expect(sensor.source).toEqual({ topics: ['sensor_readings'], startingOffsets: 'latest', failOnDataLoss: false, connection: 'default' });
    expect(sensor.schedules).toEqual({ raw: '*/5 * * * *', bronze: '*/15 * * * *', gold: '*/30 * * * *' });
    expect(sensorDrift(sensor)).toEqual([]);
  });

  test('the sensor definition (range as an expectation) parses exactly like the sensor rules in code', async () => {
    const sensor = pipelineNamed(loadPipelineFile(), 'sensor');
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    try {
      const payloads = [
        '{"sensor_id":"s1","value":21.5,"unit":"C","ts_ms":1}',
        '{"sensor_id":"s1","value":-100,"unit":"C","ts_ms":1}',
        '{"sensor_id":"s1","value":10000.000001,"unit":"C","ts_ms":1}',
        '{"sensor_id":"s1","value":"NaN","unit":"C","ts_ms":1}',
        '{"sensor_id":"s1","value":-1e400,"unit":"C","ts_ms":1}',
        '{"sensor_id":"s1","value":99999,"ts_ms":1}',
        '{"sensor_id":"s1","value":99999,"unit":"C","ts_ms":1.5}',
        '{"sensor_id":"s1","value":5,"unit":"C","ts_ms":1,"value":20000}',
        '{"value":"x"}',
        'nope',
      ];
      const values = payloads.map((p, i) => `(${i}, '${p.replace(/'/g, "''")}')`).join(', ');
      await con.run(`CREATE TABLE raw_batch AS SELECT 't' AS topic, 0 AS partition, CAST(i AS BIGINT) AS "offset", NULL::TIMESTAMPTZ AS kafka_ts,
        p AS raw_payload, NULL::BLOB AS raw_payload_bytes, NULL::TIMESTAMPTZ AS arrived_at FROM (VALUES ${values}) AS u(i, p)`);
      const rows = async (sql: string) => (await con.runAndReadAll(`SELECT * FROM (${sql}) ORDER BY "offset"`)).getRowObjectsJson();
      const code = await rows(parsedSensorSql('raw_batch'));
      expect(code.filter((r) => r.error === 'value out of range')).toHaveLength(4);
      expect(await rows(parsedSql('raw_batch', sensor.rules))).toEqual(code);
    } finally {
      con.closeSync();
      db.closeSync();
    }
  });

  test('the commented orders example is valid, binds in DuckDB, and runs next to the sensor pipeline', async () => {
    const file = parsePipelineFile(withExample, 'pipelines.yaml');
    expect(file.pipelines.map((p) => p.name)).toEqual(['sensor', 'orders']);
    const orders = pipelineNamed(file, 'orders');
    expect(orders.gold).toMatchObject({ keys: ['order_id'], sequenceBy: ['updated_at'], scdType: 2 });
    expect(expressionSql(orders.gold.deleteWhen!, (n) => n)).toBe("(op = 'd')");
    expect(orders.rules.fields.find((f) => f.name === 'amount')).toMatchObject({ json: 'decimal', precision: 12, scale: 2 });
    expect(orders.rules.fields.find((f) => f.name === 'country')).toMatchObject({ path: ['customer', 'address', 'country'] });
    expect(orders.scheduleIds.raw).toBe('orders-raw-ingest');
    for (const p of file.pipelines) expect(await bindProblems(p)).toEqual([]);
  });

  test('PIPELINES_FILE chooses another file', () => {
    expect(pipelinesFilePath({})).toBe(DEFAULT_PIPELINES_FILE);
    expect(pipelinesFilePath({ PIPELINES_FILE: 'x/y.yaml' })).toBe(path.resolve('x/y.yaml'));
  });
});

describe('invalid definitions: one clear error per problem, with its place', () => {
  const valid = (over = '') => `pipelines:
  - name: orders
    source: { topics: [orders] }
    tables: { raw: raw/orders, bronze: bronze/orders, dead_letter: bronze/orders_dl, gold: gold/orders }
    schema:
      - { name: id, type: string, required: true }
      - { name: amount, type: 'decimal(10,2)' }
${over}    gold: { keys: [id] }
`;

  test('a valid minimal definition gets every default', () => {
    const [p] = parsePipelineFile(valid()).pipelines;
    expect(p).toMatchObject({ source: { startingOffsets: 'latest', failOnDataLoss: false }, nearRealTime: false, gold: { scdType: 1, columns: ['id', 'amount'] } });
    expect(p?.rules.options).toEqual({ singleQuotes: false, trailingContent: false, replaceInvalidUtf8: false });
  });

  test('schema, type, expectation and gold problems are all reported, each at its line', () => {
    const text = `pipelines:
  - name: Orders
    source: { topics: [orders], pattern: x }
    tables: { raw: ../raw, bronze: bronze/orders, dead_letter: bronze/orders_dl, gold: gold/orders }
    schema:
      - { name: id, type: varchar, required: true }
      - { name: amount, type: 'decimal(40,2)' }
    gold: { keys: [id], scd_type: 3 }
    schedules: { raw: 'every 5 minutes' }
`;
    expect(problemsOf(text)).toEqual([
      'p.yaml:2:11 pipelines[0].name: lower-case letters, digits, _ and -, starting with a letter (≤ 40)',
      "p.yaml:3:13 pipelines[0].source: Unrecognized key(s) in object: 'pattern'",
      'p.yaml:4:20 pipelines[0].tables.raw: a relative path like bronze/orders (letters, digits, _ and -)',
      'p.yaml:6:27 pipelines[0].schema[0].type: one of string, int, long, double, decimal(p,s), boolean, timestamp, date, json',
      'p.yaml:7:31 pipelines[0].schema[1].type: decimal(40,2): need 1 ≤ precision ≤ 38 and scale ≤ precision',
      'p.yaml:8:35 pipelines[0].gold.scd_type: Invalid input',
      'p.yaml:9:23 pipelines[0].schedules.raw: expected a 5-field cron expression',
    ]);
  });

  test('cross-field problems: unknown columns, bad expressions, duplicates, optional keys', () => {
    const text = valid(`    expectations:
      - { name: e1, expect: "amount > 0; DROP TABLE x" }
      - { name: e2, expect: "amonut > 0" }
      - { name: e3, expect: "id > 5" }
      - { name: e4, expect: "read_csv('/etc/passwd') IS NULL" }
      - { name: e4, expect: "amount" }
`).replace('gold: { keys: [id] }', "gold: { keys: [id, amount], sequence_by: [nope], delete_when: \"op = 'd'\" }");
    expect(problemsOf(text)).toEqual([
      'p.yaml:9:29 pipelines[0].expectations[0].expect: unexpected ";" at 11 (only columns, literals, comparisons, AND/OR/NOT, arithmetic, BETWEEN, IN, IS NULL, LIKE and abs, ceil, floor, round, isnan, isfinite, coalesce, length, lower, upper, trim, substr, starts_with, ends_with, contains, regexp_matches, year, month, day are allowed)',
      'p.yaml:10:29 pipelines[0].expectations[1].expect: unknown column "amonut" (columns: topic, partition, offset, kafka_ts, id, amount)',
      'p.yaml:11:29 pipelines[0].expectations[2].expect: cannot compare string id with number 5',
      'p.yaml:12:29 pipelines[0].expectations[3].expect: function read_csv is not allowed (allowed: abs, ceil, floor, round, isnan, isfinite, coalesce, length, lower, upper, trim, substr, starts_with, ends_with, contains, regexp_matches, year, month, day)',
      'p.yaml:13:17 pipelines[0].expectations[4].name: duplicate expectation name e4',
      'p.yaml:13:29 pipelines[0].expectations[4].expect: the expression must be a condition (true/false), not a number',
      'p.yaml:14:47 pipelines[0].gold.sequence_by[0]: unknown column nope (schema fields: id, amount)',
      'p.yaml:14:67 pipelines[0].gold.delete_when: unknown column "op" (columns: topic, partition, offset, kafka_ts, id, amount)',
      'p.yaml:14:24 pipelines[0].gold.keys[1]: key column amount must be required: true',
    ]);
  });

  test('YAML syntax errors and duplicate keys are reported with their line', () => {
    expect(problemsOf('pipelines:\n  - name: a\n    name: b\n')[0]).toMatch(/^p\.yaml:3:5 Map keys must be unique/);
    expect(problemsOf('pipelines: [\n')[0]).toMatch(/^p\.yaml:\d+:\d+ /);
    expect(problemsOf('')).toEqual(['p.yaml the file is empty: expected a `pipelines:` list']);
  });

  test('two pipelines may not share a name or a table', () => {
    const one = valid().replace('pipelines:\n', '');
    expect(problemsOf(`pipelines:\n${one}${one}`)).toEqual([
      'p.yaml:9:11 pipelines[1].name: duplicate pipeline name orders',
      'p.yaml:11:20 pipelines[1].tables.raw: table raw/orders is already used by orders.tables.raw',
      'p.yaml:11:40 pipelines[1].tables.bronze: table bronze/orders is already used by orders.tables.bronze',
      'p.yaml:11:68 pipelines[1].tables.dead_letter: table bronze/orders_dl is already used by orders.tables.dead_letter',
      'p.yaml:11:92 pipelines[1].tables.gold: table gold/orders is already used by orders.tables.gold',
      'p.yaml:11:40 pipelines[1].tables.bronze: its replay log bronze/orders_replay_log is already used by the replay log of orders',
    ]);
    // a table may not be another pipeline's replay log (<bronze>_replay_log) either
    const other = one.replace('name: orders', 'name: other').replace(/raw\/orders|bronze\/orders_dl|gold\/orders/g, (t) => `${t}_2`).replace('bronze/orders,', 'bronze/orders_replay_log,');
    expect(problemsOf(`pipelines:\n${one}${other}`)).toEqual(['p.yaml:4:40 pipelines[0].tables.bronze: its replay log bronze/orders_replay_log is already used by other.tables.bronze']);
  });

  test('a name may not start another pipeline\'s schedule ids (status would credit it that pipeline\'s runs)', () => {
    const one = valid().replace('pipelines:\n', '');
    const named = (n: string) => one.replace('name: orders', `name: ${n}`).replace(/(raw|bronze|gold)\/orders(_dl)?/g, (t) => `${t}_${n.replace(/-/g, '_')}`);
    // orders-raw- starts orders-raw-ingest, sensor-merge- starts sensor-merge-gold, x-maintain- starts x-maintain-tables
    expect(problemsOf(`pipelines:\n${one}${named('orders-raw')}`)).toEqual([
      'p.yaml:9:11 pipelines[1].name: pipeline name orders-raw would take the runs of pipeline orders (the runs of its schedule orders-raw-ingest have ids starting orders-raw-): choose another name',
    ]);
    expect(problemsOf(`pipelines:\n${named('sensor-merge')}${named('sensor')}`)).toEqual([
      'p.yaml:2:11 pipelines[0].name: pipeline name sensor-merge would take the runs of pipeline sensor (the runs of its schedule sensor-merge-gold have ids starting sensor-merge-): choose another name',
    ]);
    expect(problemsOf(`pipelines:\n${one}${named('orders-maintain')}`)).toHaveLength(1);
    expect(problemsOf(`pipelines:\n${one}${named('orders-deserialize')}`)).toHaveLength(1);
    // a longer name that starts none of them keeps its own runs (status: the longer name wins)
    expect(problemsOf(`pipelines:\n${one}${named('orders-eu')}${named('sensor-eu')}${named('sensor')}`)).toEqual([]);
  });
});

describe('expression grammar: only whitelisted SQL', () => {
  const cols = { a: 'number', s: 'string', ts: 'time', ok: 'boolean' } as const;
  const sql = (e: string) => expressionSql(parseExpression(e, cols));

  test('accepted forms print as parenthesised, quoted SQL', () => {
    expect(sql('a BETWEEN -1 AND 1e3')).toBe('("a" BETWEEN (- 1) AND 1e3)');
    expect(sql("s NOT IN ('x', 'it''s') OR s IS NULL")).toBe(`(("s" NOT IN ('x', 'it''s')) OR ("s" IS NULL))`);
    expect(sql("NOT ok AND ts >= '2024-01-01' AND lower(s) LIKE 'a%' AND abs(a * 2 + 1) % 3 <> 0")).toBe(
      `((((NOT "ok") AND ("ts" >= '2024-01-01')) AND (lower("s") LIKE 'a%')) AND ((abs((("a" * 2) + 1)) % 3) <> 0))`,
    );
    expect(sql('"A" != 2')).toBe('("a" <> 2)');
  });

  test.each([
    ['a > 0; DELETE FROM t', /unexpected ";"/],
    ['a > 0 -- comment', /unknown column "comment"/],
    ['a > (SELECT 1)', /unknown column "SELECT"/],
    ["s = 'x' UNION SELECT 1", /unexpected "UNION"/],
    ['getenv(s) IS NULL', /function getenv is not allowed/],
    ['constructor(a) IS NULL', /function constructor is not allowed/],
    ['s = 1', /cannot compare string s with number 1/],
    ['a + s > 1', /\+ needs a number/],
    ['regexp_matches(s, s)', /string literal as its pattern/],
    ['a', /must be a condition/],
    ['(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((a > 1)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))', /nested deeper/],
    ["s = 'unterminated", /unterminated string/],
    ['', /empty expression/],
  ])('%s is refused', (e, msg) => {
    expect(() => parseExpression(e, cols)).toThrow(ExpressionError);
    expect(() => parseExpression(e, cols)).toThrow(msg);
  });
});
