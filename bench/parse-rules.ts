/**
 * Micro-benchmark of the bronze parse/validate SQL (src/lake/sensor-rules.ts).
 *
 *   npx tsx bench/parse-rules.ts [rows=1000000] [runs=3]
 *
 * Generates `rows` ~150-byte payloads in DuckDB (10% malformed, mixed kinds), then times
 * parse + route into two temp tables (good / dead letter) the way the bronze stage does it:
 * materialise the parsed relation once, then split it. Prints rows/s per run and peak RSS.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { parsedSensorSql } from '../src/lake/sensor-rules';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const RUNS = Number(process.argv[3] ?? 3);

/** Malformed kinds, each ~1% of rows (i % 100 = kind index); the other 90% are good. */
const BAD_KINDS = [
  `NULL`, // null payload (tombstone); raw_payload_bytes stays NULL
  `'{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts || ',"site":"plant-07","firmwa'`, // truncated
  `'[{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts || ',"site":"plant-07"}]'`, // not an object
  `'{"sensor_id":"s-' || id || '","unit":"celsius","ts_ms":' || ts || ',"site":"plant-07","firmware":"v2.3.1","seq":' || i || '}'`, // missing value
  `'{"sensor_id":"s-' || id || '","value":"' || v || '","unit":"celsius","ts_ms":' || ts || ',"site":"plant-07","seq":' || i || '}'`, // string value
  `'{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts || '.5,"site":"plant-07","seq":' || i || '}'`, // float ts_ms
  `'{"sensor_id":"s-' || id || '","value":' || (v + 20000) || ',"unit":"celsius","ts_ms":' || ts || ',"site":"plant-07","seq":' || i || '}'`, // out of range
  `'{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts || ',"site":"plant-07","tags":[1,2,],"seq":' || i || '}'`, // trailing comma
  `'{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts || ',"value":' || (v + 20000) || ',"seq":' || i || '}'`, // duplicate key (last wins -> out of range)
  `NULL`, // not UTF-8 (raw_payload_bytes set below)
];

async function main(): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const threads = (await con.runAndReadAll(`SELECT current_setting('threads') AS t`)).getRowObjectsJson()[0]?.t;

  let t0 = performance.now();
  await con.run(`
    CREATE TEMP TABLE src AS
    WITH g AS (
      SELECT i, i % 100 AS k, lpad(CAST(hash(i) % 5000 AS VARCHAR), 6, '0') AS id,
             round((hash(i * 7) % 1000000) / 100.0 - 50, 3) AS v, 1712000000000 + i AS ts
      FROM range(${ROWS}) t(i)
    )
    SELECT 'sensor_readings' AS topic, CAST(i % 6 AS INTEGER) AS partition, i AS "offset",
           now() AS kafka_ts,
           CASE ${BAD_KINDS.map((e, n) => `WHEN k = ${n} THEN ${e}`).join(' ')}
                ELSE '{"sensor_id":"s-' || id || '","value":' || v || ',"unit":"celsius","ts_ms":' || ts ||
                     ',"site":"plant-07","line":"hall-3/b","firmware":"v2.3.1","seq":' || i || '}' END AS raw_payload,
           CASE WHEN k = ${BAD_KINDS.length - 1} THEN from_hex('7b2273656e736f725f6964223a22ff227d') END AS raw_payload_bytes,
           now() AS arrived_at
    FROM g`);
  const gen = (await con.runAndReadAll(`SELECT count(*) AS n, avg(strlen(raw_payload)) AS avg_len FROM src`)).getRowObjectsJson()[0];
  console.log(`generated ${gen?.n} rows (avg payload ${Number(gen?.avg_len).toFixed(0)} B) in ${((performance.now() - t0) / 1000).toFixed(2)} s; DuckDB threads=${threads}`);
  const rssAfterGen = process.resourceUsage().maxRSS / 1024;

  const sql = parsedSensorSql('src');
  for (let run = 1; run <= RUNS; run++) {
    await con.run(`DROP TABLE IF EXISTS parsed; DROP TABLE IF EXISTS good; DROP TABLE IF EXISTS bad`);
    t0 = performance.now();
    await con.run(`CREATE TEMP TABLE parsed AS ${sql}`);
    const tParse = performance.now();
    await con.run(`CREATE TEMP TABLE good AS SELECT sensor_id, value, unit, ts_ms, arrived_at, topic, partition, "offset" FROM parsed WHERE error IS NULL`);
    await con.run(`CREATE TEMP TABLE bad AS SELECT raw_payload, topic, partition, "offset", arrived_at, now() AS failed_at, CAST(1 AS BIGINT) AS batch_id, error FROM parsed WHERE error IS NOT NULL`);
    const t1 = performance.now();
    const secs = (t1 - t0) / 1000;
    console.log(
      `run ${run}: parse ${((tParse - t0) / 1000).toFixed(2)} s + route ${((t1 - tParse) / 1000).toFixed(2)} s = ${secs.toFixed(2)} s -> ${Math.round(ROWS / secs).toLocaleString('en-US')} rows/s`,
    );
  }
  const counts = await con.runAndReadAll(`SELECT coalesce(error, '(good)') AS error, count(*) AS n FROM parsed GROUP BY ALL ORDER BY n DESC`);
  const byError = counts.getRowObjectsJson();
  console.table(byError);
  const good = Number(byError.find((r) => r.error === '(good)')?.n ?? 0);
  const expectedGood = Array.from({ length: ROWS }, (_, i) => i % 100 >= BAD_KINDS.length).filter(Boolean).length;
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (${rssAfterGen.toFixed(0)} MiB after generating the input)`);
  if (good !== expectedGood) throw new Error(`expected ${expectedGood} good rows, got ${good}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
