/**
 * Checks that the cached delta extension loads into the DuckDB embedded in @duckdb/node-api (the versions must
 * match exactly), with autoinstall/autoload off so nothing is fetched from the network.
 *
 *   npx tsx scripts/stack/check-delta-extension.ts /abs/path/delta.duckdb_extension
 */
import { DuckDBInstance } from '@duckdb/node-api';

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path) throw new Error('usage: check-delta-extension.ts <path/to/delta.duckdb_extension>');
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const conn = await instance.connect();
  try {
    await conn.run(`LOAD '${path.replace(/'/g, "''")}'`);
    const reader = await conn.runAndReadAll(
      "SELECT version() AS duckdb, extension_version AS delta FROM duckdb_extensions() WHERE extension_name = 'delta' AND loaded",
    );
    const rows = reader.getRowObjects();
    if (rows.length !== 1) throw new Error('delta extension did not report as loaded');
    console.log(`delta extension ${String(rows[0]!.delta)} loads into duckdb ${String(rows[0]!.duckdb)}`);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

main().catch((err: unknown) => {
  console.error(`check-delta-extension: ${(err as Error).message.split('\n')[0]}`);
  process.exit(1);
});
