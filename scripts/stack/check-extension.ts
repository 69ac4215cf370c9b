/**
 * Checks that a cached DuckDB extension file (delta, azure, httpfs) loads into the DuckDB embedded in
 * @duckdb/node-api (the versions must match exactly), with autoinstall/autoload off so nothing is fetched from the
 * network. The extension's name is the file's (DuckDB derives the init symbol from it, so it must not be renamed).
 *
 *   npx tsx scripts/stack/check-extension.ts /abs/path/azure.duckdb_extension
 */
import { basename } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path) throw new Error('usage: check-extension.ts <path/to/NAME.duckdb_extension>');
  const name = basename(path).replace(/\.duckdb_extension$/, '');
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const conn = await instance.connect();
  try {
    await conn.run(`LOAD '${path.replace(/'/g, "''")}'`);
    const reader = await conn.runAndReadAll(
      `SELECT version() AS duckdb, extension_version AS ext FROM duckdb_extensions() WHERE extension_name = '${name.replace(/'/g, "''")}' AND loaded`,
    );
    const rows = reader.getRowObjects();
    if (rows.length !== 1) throw new Error(`${name} extension did not report as loaded`);
    console.log(`${name} extension ${String(rows[0]!.ext)} loads into duckdb ${String(rows[0]!.duckdb)}`);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

main().catch((err: unknown) => {
  console.error(`check-extension: ${(err as Error).message.split('\n')[0]}`);
  process.exit(1);
});
