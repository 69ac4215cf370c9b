/**
 * Profile of stage 3's full-backlog merge (src/lake/gold.ts mergeBronzeIntoGold): where the
 * time goes between loading + deduplicating the bronze batch, pruning gold files by their stats,
 * finding the keys gold holds, building the output rows, and writing Parquet.
 *
 *   npx tsx bench/gold-backlog.ts [--rows 9000000] [--version-rows 900000] [--max-rows-per-batch 1000000] [--explain] [--bronze DIR]
 *
 * Bronze is generated in DuckDB the way the bench's sample stream fills it (src/sample/sensor-data.ts):
 * 1000 sensors, ts_ms = start + 10 ms × i, 5 % duplicates of one of the previous 1000 readings, 5 %
 * out of order by up to 5 minutes; committed in versions of --version-rows rows, as stage 2 writes
 * them. Then one scheduled merge of the whole backlog, timed; every SQL statement the merge runs is
 * timed and attributed to a phase (a proxy around the DuckDB connection). --explain also prints
 * EXPLAIN ANALYZE of the dedupe (as src/lake/gold.ts does it) over the first bronze file.
 * --bronze DIR keeps the bronze table in DIR and reuses it when it is there (same --rows and
 * --version-rows): back-to-back runs of two versions of the merge on identical bronze.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { addAction, commit, createTable, LocalStore, loadSnapshot, recordCountOf, writeParquetDataFile } from '../src/delta';
import { openDuckDB } from '../src/lake/duckdb';
import { mergeBronzeIntoGold } from '../src/lake/gold';
import { BRONZE, GOLD } from '../src/lake/tables';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

const T0 = Date.UTC(2026, 0, 1);

/** Bronze rows [lo, hi) of the sample-like stream. */
function bronzeSql(lo: number, hi: number): string {
  return `WITH g AS (
      SELECT i, hash(i) AS h, hash(i * 31 + 7) AS h2 FROM range(${lo}, ${hi}) r(i)
    ), k AS (
      SELECT i, h, h2,
             CASE WHEN h % 100 < 5 AND i > 1000 THEN i - 1 - (h2 % 1000) ELSE i END AS j,
             h % 100 >= 5 AND h % 100 < 10 AS late
      FROM g
    )
    SELECT 'sensor-' || lpad(CAST(hash(j) % 1000 AS VARCHAR), 6, '0') AS sensor_id,
           round((h2 % 120000) / 1000.0 - 20, 3)::DOUBLE AS value, 'celsius' AS unit,
           (${T0} + j * 10 - CASE WHEN late THEN (h2 % 300000) + 1 ELSE 0 END)::BIGINT AS ts_ms,
           make_timestamptz((${T0} + i * 10 + 500) * 1000) AS arrived_at,
           'sensor_readings' AS topic, CAST(i % 3 AS INTEGER) AS "partition", (i // 3)::BIGINT AS "offset",
           make_timestamptz((${T0} + i * 10 + 400) * 1000) AS kafka_ts
    FROM k`;
}

/** The phase a statement of src/lake/gold.ts belongs to (by the temp table it builds). */
function phaseOf(sql: string): string {
  if (/CREATE OR REPLACE TEMP TABLE __gm_src/.test(sql)) return 'load + dedupe bronze batch';
  if (/CREATE OR REPLACE TEMP TABLE __gm_dups/.test(sql)) return 'find keys with several versions (dedupe, 1st pass)';
  if (/ts_ms \/\/ \d+\)::DOUBLE AS b|min\(ts_ms\)::DOUBLE AS lo/.test(sql)) return 'plan windows (bronze ts_ms histogram)';
  if (/^\s*COPY\b/i.test(sql) && /ANTI JOIN __gm_dups/.test(sql)) return 'new keys: dedupe + sort + write Parquet (one COPY per window)';
  if (/CREATE OR REPLACE TEMP TABLE __gm_files|__gm_files\b/.test(sql)) return 'prune gold files by stats';
  if (/CREATE OR REPLACE TEMP TABLE __gm_hits/.test(sql)) return 'find keys gold holds (read candidates)';
  if (/CREATE OR REPLACE TEMP TABLE __gm_out/.test(sql)) return 'build output rows (rewrite + inserts, cut into files)';
  if (/^\s*COPY\b/i.test(sql)) return 'write Parquet (COPY)';
  if (/DESCRIBE/i.test(sql)) return 'describe inputs';
  return 'other (counts, stats, drops)';
}

/** Times every run / runAndReadAll through the connection, per phase. */
function profiled(conn: DuckDBConnection, phases: Map<string, { ms: number; n: number }>): DuckDBConnection {
  return new Proxy(conn, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if ((prop === 'run' || prop === 'runAndReadAll') && typeof v === 'function') {
        return async (sql: string, ...rest: unknown[]) => {
          const t = performance.now();
          try {
            return await (v as (...a: unknown[]) => Promise<unknown>).call(target, sql, ...rest);
          } finally {
            const p = phaseOf(sql);
            const cur = phases.get(p) ?? { ms: 0, n: 0 };
            cur.ms += performance.now() - t;
            cur.n += 1;
            phases.set(p, cur);
          }
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function main(): Promise<void> {
  const rows = Number(arg('rows', '9000000'));
  const versionRows = Number(arg('version-rows', '900000'));
  const maxRowsPerBatch = Number(arg('max-rows-per-batch', '1000000'));
  const lake = await openDuckDB();
  const conn = lake.connection;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-gold-backlog-'));
  try {
    const keptBronze = arg('bronze', '');
    const bronzeDir = keptBronze ? path.resolve(keptBronze) : path.join(root, 'bronze');
    const goldDir = path.join(root, 'gold');
    await createTable(new LocalStore(goldDir), GOLD.fields);
    let t = performance.now();
    const built = fs.existsSync(path.join(bronzeDir, '_delta_log')) ? await loadSnapshot(new LocalStore(bronzeDir)) : null;
    const builtRows = built ? [...built.files.values()].reduce((s, a) => s + (recordCountOf(a) ?? 0), 0) : 0;
    if (built && builtRows === rows && built.version === Math.ceil(rows / versionRows)) {
      console.log(`bronze: reusing ${bronzeDir} (${rows.toLocaleString('en-US')} rows, ${built.version} versions)`);
    } else {
      if (built) throw new Error(`${bronzeDir} holds ${builtRows} rows in ${built.version} versions, not what --rows/--version-rows ask for`);
      await createTable(new LocalStore(bronzeDir), BRONZE.fields);
      for (let lo = 0; lo < rows; lo += versionRows) {
        const add = await writeParquetDataFile(conn, new LocalStore(bronzeDir), bronzeSql(lo, Math.min(rows, lo + versionRows)), BRONZE.fields);
        await commit({ store: new LocalStore(bronzeDir) }, { plan: async () => ({ actions: [addAction(add!)] }) });
      }
      console.log(`bronze: ${rows.toLocaleString('en-US')} rows in versions of ${versionRows.toLocaleString('en-US')} built in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }

    if (process.argv.includes('--explain')) {
      const snap = await loadSnapshot(new LocalStore(bronzeDir));
      const first = [...snap.files.keys()].sort()[0];
      const plan = await conn.runAndReadAll(`EXPLAIN ANALYZE SELECT count(*), max(w.value), max(first_at) FROM (
        SELECT sensor_id, ts_ms, min(arrived_at) AS first_at,
               arg_max({'value': value, 'unit': unit, 'new_at': arrived_at, 'kafka_ts': kafka_ts, 'topic': topic, 'partition': "partition", 'offset': "offset"},
                       (coalesce(kafka_ts, '-infinity'::TIMESTAMPTZ), topic, "partition", "offset", value, unit, -epoch_us(arrived_at))) AS w
        FROM read_parquet('${path.join(bronzeDir, first)}') GROUP BY sensor_id, ts_ms)`);
      console.log(plan.getRows().map((r) => String(r[1])).join('\n'));
    }

    const phases = new Map<string, { ms: number; n: number }>();
    t = performance.now();
    const cpu0 = process.cpuUsage();
    const r = await mergeBronzeIntoGold(profiled(conn, phases), { bronzeDir, goldDir, mode: { kind: 'incremental' }, maxRowsPerBatch });
    const secs = (performance.now() - t) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSecs = (cpu.user + cpu.system) / 1e6;
    const snap = await loadSnapshot(new LocalStore(goldDir));
    const goldRows = [...snap.files.values()].reduce((s, a) => s + (recordCountOf(a) ?? 0), 0);
    console.log(
      `merge: ${r.rowsIn.toLocaleString('en-US')} bronze rows in ${r.batches} batches → ${goldRows.toLocaleString('en-US')} gold rows in ${secs.toFixed(2)} s ` +
        `(${Math.round(r.rowsIn / secs).toLocaleString('en-US')} rows/s), CPU ${cpuSecs.toFixed(2)} s (all threads; less sensitive to other load than wall time); inserted ${r.inserted}, updated ${r.updated}, skipped ${r.skippedOlder}; ` +
        `files rewritten ${r.filesRewritten}, added ${r.filesAdded}, live ${snap.files.size}; peak RSS of the process ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`,
    );
    const total = [...phases.values()].reduce((s, p) => s + p.ms, 0);
    console.log(`\n| phase | statements | seconds | share of SQL time |\n|:--|--:|--:|--:|`);
    for (const [p, v] of [...phases.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
      console.log(`| ${p} | ${v.n} | ${(v.ms / 1000).toFixed(2)} | ${((100 * v.ms) / total).toFixed(1)} % |`);
    }
    console.log(`| (outside SQL: snapshots, commits, JS) | | ${(secs - total / 1000).toFixed(2)} | |`);
  } finally {
    lake.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
