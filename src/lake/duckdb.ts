/**
 * Opens DuckDB with the delta extension loaded, refusing early and clearly when the extension
 * file was built for another DuckDB version or platform (DuckDB would refuse too, with a less
 * helpful message, and only at LOAD time).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { safeDuckPath, sqlString } from './sql';

/** The DuckDB build that `@duckdb/node-api` 1.5.5-r.N embeds and the delta extension must match. */
export const EXPECTED_DUCKDB_VERSION = 'v1.5.5';

export class LakeSetupError extends Error {
  override name = 'LakeSetupError';
}

export interface ExtensionFooter {
  magic: string;
  platform: string;
  duckdbVersion: string;
  extensionVersion: string;
  abi: string;
}

/**
 * A DuckDB extension ends with 512 bytes: 8 metadata fields of 32 bytes (stored last-first),
 * then a 256-byte signature. See duckdb src/main/extension/extension_load.cpp.
 */
export function readExtensionFooter(file: string): ExtensionFooter {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 512) throw new LakeSetupError(`${file} is too small to be a DuckDB extension`);
    const footer = Buffer.alloc(256);
    fs.readSync(fd, footer, 0, 256, size - 512);
    const field = (i: number) => footer.subarray(256 - 32 * (i + 1), 256 - 32 * i).toString('latin1').replace(/\0+$/, '');
    return { magic: field(0), platform: field(1), duckdbVersion: field(2), extensionVersion: field(3), abi: field(4) };
  } finally {
    fs.closeSync(fd);
  }
}

/** Where the stack installs the extension (see scripts/stack.sh). */
export function defaultExtensionPath(): string {
  return path.resolve(process.env.STACK_DIR ?? '.stack', 'duckdb', EXPECTED_DUCKDB_VERSION, 'delta.duckdb_extension');
}

export interface OpenDuckDBOptions {
  /** The delta extension file; default: env DELTA_EXTENSION_PATH, then the stack's copy. */
  extensionPath?: string;
  /** e.g. '2GB'; DuckDB spills to disk above it. */
  memoryLimit?: string;
  threads?: number;
}

export interface Lake {
  instance: DuckDBInstance;
  connection: DuckDBConnection;
  close(): void;
}

export async function openDuckDB(opts: OpenDuckDBOptions = {}): Promise<Lake> {
  const instance = await DuckDBInstance.create(':memory:', {
    // Never reach for the network: extensions come from the installed, version-checked file.
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    ...(opts.memoryLimit ? { memory_limit: opts.memoryLimit } : {}),
    ...(opts.threads ? { threads: String(opts.threads) } : {}),
  });
  const connection = await instance.connect();
  const close = () => {
    connection.closeSync();
    instance.closeSync();
  };
  try {
    const info = (
      await connection.runAndReadAll('SELECT version() AS version, (SELECT platform FROM pragma_platform()) AS platform')
    ).getRowObjects()[0] as { version: string; platform: string };
    if (info.version !== EXPECTED_DUCKDB_VERSION) {
      throw new LakeSetupError(
        `DuckDB is ${info.version} but the project pins ${EXPECTED_DUCKDB_VERSION} (@duckdb/node-api 1.5.5-r.N); run npm ci`,
      );
    }
    const extensionPath = path.resolve(opts.extensionPath ?? process.env.DELTA_EXTENSION_PATH ?? defaultExtensionPath());
    if (!fs.existsSync(extensionPath)) {
      throw new LakeSetupError(`delta extension not found at ${extensionPath}; run: npm run stack -- up (or set DELTA_EXTENSION_PATH)`);
    }
    const footer = readExtensionFooter(extensionPath);
    if (footer.duckdbVersion !== info.version || footer.platform !== info.platform) {
      throw new LakeSetupError(
        `delta extension ${extensionPath} was built for DuckDB ${footer.duckdbVersion} on ${footer.platform}, ` +
          `but this is DuckDB ${info.version} on ${info.platform}; install duckdb-extension-delta==${info.version.slice(1)}`,
      );
    }
    await connection.run(`LOAD ${sqlString(safeDuckPath(extensionPath))}`);
    return { instance, connection, close };
  } catch (e) {
    close();
    throw e;
  }
}
