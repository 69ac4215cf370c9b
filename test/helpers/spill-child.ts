/**
 * Child process of test/lake/duckdb-spill.test.ts (run with its own cwd and TMPDIR): two DuckDB
 * instances opened the way stage 2 opens them, with a small memory_limit, spill at the same time.
 * Prints one JSON line: how many temp files each instance had while spilling.
 */
import { openDuckDB } from '../../src/lake/duckdb';

async function spill(): Promise<number> {
  const lake = await openDuckDB({ memoryLimit: '64MB', threads: 1 });
  try {
    const c = lake.connection;
    await c.run(`CREATE TEMP TABLE t AS SELECT i, md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS s FROM range(3000000) r(i)`);
    await c.run(`CREATE TEMP TABLE sorted AS SELECT * FROM t ORDER BY s`);
    return Number((await c.runAndReadAll('SELECT count(*)::INT AS n FROM duckdb_temporary_files()')).getRowObjects()[0]!.n);
  } finally {
    lake.close();
  }
}

Promise.all([spill(), spill()]).then(
  (tempFiles) => console.log(JSON.stringify({ tempFiles })),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
