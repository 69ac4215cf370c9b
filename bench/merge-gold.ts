/**
 * Benchmark of the stage 3 MERGE (src/lake/gold.ts) into large gold tables.
 *
 *   npx tsx bench/merge-gold.ts [--sizes 1000000,10000000] [--target-rows 500000] [--recent 200000] [--rounds 3] [--keep]
 *
 * For each size N: builds a gold table the way a sensor stream fills it — 1000 sensors, one
 * reading per sensor per second (increasing ts_ms), files of --target-rows rows sorted by
 * (ts_ms, sensor_id), i.e. the layout the merge itself writes. Then, for each of --rounds rounds, a
 * bronze version of 100k rows — 10k late corrections of random keys among the latest --recent
 * gold rows and 90k readings of the next 90 seconds (new keys) — and one timed scheduled merge run
 * (snapshot, change feed, dedup, pruning, copy-on-write, commit). Prints seconds and files
 * read/rewritten/added per round. Gold is built directly with writeParquetDataFile (one commit).
 * The first merge in the process is a warm-up on a small table and is not reported.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { addAction, commit, createTable, LocalStore, loadSnapshot, recordCountOf, writeParquetDataFile, type AddAction } from '../src/delta';
import { openDuckDB } from '../src/lake/duckdb';
import { DEFAULT_GOLD_LAYOUT, mergeBronzeIntoGold } from '../src/lake/gold';
import { BRONZE, GOLD } from '../src/lake/tables';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

const SENSORS = 1000;
const T0 = Date.UTC(2026, 0, 1);
const MERGE_ROWS = 100_000;
const UPDATES = 10_000;
const RECENT = Number(arg('recent', '200000'));
const ROUNDS = Number(arg('rounds', '3'));

/** Row i of the stream: sensor i % 1000 at second i / 1000. */
const rowSql = (i: string) => `
  's-' || lpad(CAST(${i} % ${SENSORS} AS VARCHAR), 4, '0') AS sensor_id,
  round(20 + 10 * sin(${i} / 7919.0), 3)::DOUBLE AS value,
  'celsius' AS unit,
  (${T0} + (${i} // ${SENSORS}) * 1000)::BIGINT AS ts_ms`;

async function buildGold(conn: DuckDBConnection, dir: string, n: number, targetRows: number): Promise<void> {
  await createTable(new LocalStore(dir), GOLD.fields);
  const adds: AddAction[] = [];
  for (let lo = 0; lo < n; lo += targetRows) {
    const hi = Math.min(n, lo + targetRows);
    const add = await writeParquetDataFile(
      conn,
      new LocalStore(dir),
      `SELECT ${rowSql('i')}, make_timestamptz((${T0} + (i // ${SENSORS}) * 1000 + 2000) * 1000) AS arrived_at,
              make_timestamptz((${T0} + (i // ${SENSORS}) * 1000 + 2000) * 1000) AS updated_at,
              make_timestamptz((${T0} + (i // ${SENSORS}) * 1000 + 2000) * 1000) AS source_kafka_ts, 'sensor_readings' AS source_topic,
              0::INTEGER AS source_partition, i::BIGINT AS source_offset
       FROM range(${lo}, ${hi}) r(i) ORDER BY ts_ms, sensor_id`,
      GOLD.fields,
    );
    adds.push(add!);
  }
  await commit({ store: new LocalStore(dir) }, { plan: async () => ({ actions: adds.map((a) => addAction(a)), commitInfo: { operation: 'WRITE' } }) });
}

/** Round r (1-based) after `base` stream rows: 10k corrections of the latest RECENT rows + the next 90k rows. */
async function appendBronzeRound(conn: DuckDBConnection, dir: string, base: number, r: number): Promise<void> {
  const arrived = `make_timestamptz((${T0} + (${base} // ${SENSORS}) * 1000 + 60000) * 1000)`;
  const add = await writeParquetDataFile(
    conn,
    new LocalStore(dir),
    `WITH src AS (
       SELECT * FROM (SELECT i FROM range(${base - RECENT}, ${base}) r(i)) USING SAMPLE ${UPDATES} ROWS (reservoir, ${42 + r})
       UNION ALL
       SELECT i FROM range(${base}, ${base + MERGE_ROWS - UPDATES}) r(i)
     )
     SELECT sensor_id, value + ${r} / 2 AS value, unit, ts_ms, ${arrived} AS arrived_at,
            'sensor_readings' AS topic, (hash(i) % 6)::INTEGER AS "partition", (${r * MERGE_ROWS} + row_number() OVER ())::BIGINT AS "offset",
            ${arrived} AS kafka_ts
     FROM (SELECT i, ${rowSql('i')} FROM src)`,
    BRONZE.fields,
  );
  await commit({ store: new LocalStore(dir) }, { plan: async () => ({ actions: [addAction(add!)] }) });
}

async function main(): Promise<void> {
  const sizes = arg('sizes', '1000000,10000000').split(',').map(Number);
  const targetRows = Number(arg('target-rows', String(DEFAULT_GOLD_LAYOUT.targetRowsPerFile)));
  const keep = process.argv.includes('--keep');
  const lake = await openDuckDB();
  const conn = lake.connection;
  const threads = (await conn.runAndReadAll(`SELECT current_setting('threads') AS t`)).getRowObjectsJson()[0]?.t;
  console.log(`DuckDB threads=${threads}; ${SENSORS} sensors @1 Hz; gold files of ${targetRows} rows; merge ${MERGE_ROWS} rows (${UPDATES} updates of the latest ${RECENT} rows)`);
  const lines: string[] = [];
  try {
    // The first merge in a process pays one-time costs (code loading, DuckDB caches): warm up on a
    // small table, not reported.
    for (const [i, n] of [RECENT, ...sizes].entries()) {
      const warmUp = i === 0;
      const root = fs.mkdtempSync(path.join(os.tmpdir(), `tributary-bench-gold-${n}-`));
      const goldDir = path.join(root, 'gold');
      const bronzeDir = path.join(root, 'bronze');
      try {
        let t = performance.now();
        await buildGold(conn, goldDir, n, targetRows);
        await createTable(new LocalStore(bronzeDir), BRONZE.fields);
        const filesBefore = (await loadSnapshot(new LocalStore(goldDir))).files.size;
        console.log(`  ${n.toLocaleString('en-US')} rows: gold built in ${((performance.now() - t) / 1000).toFixed(1)} s (${filesBefore} files)`);

        let rows = n;
        for (let round = 1; round <= (warmUp ? 1 : ROUNDS); round++) {
          await appendBronzeRound(conn, bronzeDir, rows, round);
          const files = (await loadSnapshot(new LocalStore(goldDir))).files.size;
          t = performance.now();
          const cpu0 = process.cpuUsage();
          const r = await mergeBronzeIntoGold(conn, { bronzeDir, goldDir, mode: { kind: 'incremental' }, layout: { targetRowsPerFile: targetRows } });
          const secs = (performance.now() - t) / 1000;
          const cpu = process.cpuUsage(cpu0);
          rows += MERGE_ROWS - UPDATES;

          const snap = await loadSnapshot(new LocalStore(goldDir));
          const total = [...snap.files.values()].reduce((s, a) => s + (recordCountOf(a) ?? 0), 0);
          if (r.inserted !== MERGE_ROWS - UPDATES || r.updated !== UPDATES || total !== rows) {
            throw new Error(`unexpected result: ${JSON.stringify({ inserted: r.inserted, updated: r.updated, total, expected: rows })}`);
          }
          const line =
            `gold ${n.toLocaleString('en-US').padStart(10)} rows, round ${round} (${String(files).padStart(3)} files): merge ${MERGE_ROWS} rows in ${secs.toFixed(2)} s — ` +
            `files read ${r.perBatch[0].candidateFiles}, rewritten ${r.filesRewritten}, added ${r.filesAdded}; inserted ${r.inserted}, updated ${r.updated}; gold version ${r.goldVersion}; ` +
            `CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s`;
          console.log(`  ${warmUp ? '(warm-up) ' : ''}${line}`);
          if (!warmUp) lines.push(line);
        }
      } finally {
        if (!keep) fs.rmSync(root, { recursive: true, force: true });
        else console.log(`  kept ${root}`);
      }
    }
  } finally {
    lake.close();
  }
  console.log('\n' + lines.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
