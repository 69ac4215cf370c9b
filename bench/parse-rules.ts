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
import { goodRowsIn, rawRowsSql } from './synthetic-raw';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const RUNS = Number(process.argv[3] ?? 3);


async function main(): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const threads = (await con.runAndReadAll(`SELECT current_setting('threads') AS t`)).getRowObjectsJson()[0]?.t;

  let t0 = performance.now();
  await con.run(`
    CREATE TEMP TABLE src AS
    ${rawRowsSql(0, ROWS)}`);
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
  const expectedGood = goodRowsIn(ROWS);
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (${rssAfterGen.toFixed(0)} MiB after generating the input)`);
  if (good !== expectedGood) throw new Error(`expected ${expectedGood} good rows, got ${good}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
