/**
 * Benchmark of stage 2's batch path (src/lake/bronze.ts): raw Delta table → parse → bronze +
 * dead-letter Delta commits.
 *
 *   npx tsx bench/deserialize.ts [rows=1000000] [runs=3] [maxRowsPerBatch=1000000] [memoryLimit=1GB]
 *
 * The parent builds raw/sensor_readings directly (DuckDB + writeParquetDataFile, 4 raw versions like
 * stage 1's 250k-row commits; ~150-byte payloads, 10% bad of ten kinds). A fresh child process
 * then runs `runBronze` `runs` times on empty bronze tables, so its peak RSS is the stage-2 path's
 * alone (not the generator's). Prints rows/s per run and the child's peak RSS, and checks the counts.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBronze } from '../src/lake/bronze';
import { addAction, commit, LocalStore, writeParquetDataFile } from '../src/delta';
import { openDuckDB } from '../src/lake/duckdb';
import { BRONZE, DEAD_LETTER, ensureTables, RAW, tableDir } from '../src/lake/tables';
import { goodRowsIn, rawRowsSql } from './synthetic-raw';

const MEASURE = process.argv[2] === '--measure';
const ROWS = Number((MEASURE ? process.argv[7] : process.argv[2]) ?? 1_000_000);
const RAW_VERSIONS = 4;


async function buildRaw(root: string, rows: number): Promise<void> {
  await ensureTables(root, [RAW]);
  const lake = await openDuckDB();
  try {
    const c = lake.connection;
    const per = Math.ceil(rows / RAW_VERSIONS);
    for (let v = 0; v < RAW_VERSIONS; v++) {
      const lo = v * per;
      const hi = Math.min(rows, lo + per);
      const add = await writeParquetDataFile(
        c,
        new LocalStore(tableDir(root, RAW)),
        `${rawRowsSql(lo, hi)} ORDER BY "partition", "offset"`,
        RAW.fields,
      );
      await commit({ store: new LocalStore(tableDir(root, RAW)) }, { plan: async () => ({ actions: [addAction(add!)] }) });
    }
    const r = (
      await c.runAndReadAll(`SELECT count(*)::BIGINT AS n, avg(strlen(raw_payload))::INT AS len FROM read_parquet('${tableDir(root, RAW)}/*.parquet')`)
    ).getRowObjectsJson()[0];
    console.log(`raw table: ${r?.n} rows in ${RAW_VERSIONS} versions, avg payload ${r?.len} B`);
  } finally {
    lake.close();
  }
}

async function measure(root: string, runs: number, maxRowsPerBatch: number, memoryLimit: string): Promise<void> {
  const lake = await openDuckDB({ memoryLimit });
  try {
    const threads = (await lake.connection.runAndReadAll(`SELECT current_setting('threads') AS t`)).getRowObjectsJson()[0]?.t;
    console.log(`stage 2: maxRowsPerBatch=${maxRowsPerBatch}, DuckDB memory_limit=${memoryLimit}, threads=${threads}`);
    for (let run = 1; run <= runs; run++) {
      for (const t of [BRONZE, DEAD_LETTER]) fs.rmSync(tableDir(root, t), { recursive: true, force: true });
      await ensureTables(root, [BRONZE, DEAD_LETTER]);
      const t0 = performance.now();
      const phases = { parse: 0, bronze: 0, deadLetter: 0 };
      const s = await runBronze(lake, root, {
        maxRowsPerBatch,
        onBatch: (b) => {
          for (const k of Object.keys(phases) as (keyof typeof phases)[]) phases[k] += b.timingsMs[k];
        },
      });
      const secs = (performance.now() - t0) / 1000;
      console.log(
        `run ${run}: ${s.recordsIn} raw rows in ${s.batches} batch(es) → ${s.recordsOut} bronze + ${s.deadLetters} dead letters in ${secs.toFixed(2)} s ` +
          `→ ${Math.round(s.recordsIn / secs).toLocaleString('en-US')} rows/s ` +
          `(read+parse ${(phases.parse / 1000).toFixed(2)} s, bronze file+commit ${(phases.bronze / 1000).toFixed(2)} s, dead letter ${(phases.deadLetter / 1000).toFixed(2)} s)`,
      );
      const expectedBad = ROWS - goodRowsIn(ROWS);
      if (s.recordsIn !== ROWS || s.deadLetters !== expectedBad || s.recordsOut !== ROWS - expectedBad) {
        throw new Error(`wrong counts: ${JSON.stringify(s)}`);
      }
      if (run === runs) console.table(s.deadLettersByError);
    }
    console.log(`peak RSS of the stage-2 process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  } finally {
    lake.close();
  }
}

async function main(): Promise<void> {
  if (MEASURE) {
    const [root, runs, batch, mem] = process.argv.slice(3);
    await measure(root!, Number(runs), Number(batch), mem!);
    return;
  }
  const runs = Number(process.argv[3] ?? 3);
  const maxRowsPerBatch = Number(process.argv[4] ?? 1_000_000);
  const memoryLimit = process.argv[5] ?? '1GB';
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-deserialize-'));
  try {
    const t0 = performance.now();
    await buildRaw(root, ROWS);
    console.log(`built in ${((performance.now() - t0) / 1000).toFixed(1)} s at ${root}`);
    await new Promise<void>((resolve, reject) => {
      const child = fork(__filename, ['--measure', root, String(runs), String(maxRowsPerBatch), memoryLimit, String(ROWS)], { stdio: 'inherit' });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`measuring process exited with ${code}`))));
    });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
