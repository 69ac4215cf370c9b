/**
 * Opens DuckDB with the delta extension loaded, refusing early and clearly when the extension
 * file was built for another DuckDB version or platform (DuckDB would refuse too, with a less
 * helpful message, and only at LOAD time).
 *
 * Every instance gets its own spill directory and a memory_limit (createDuckDBInstance):
 * - DuckDB's spill files are named `duckdb_temp_storage_<size>-<n>.tmp`, the same in every
 *   instance, so two instances spilling into one directory overwrite each other's blocks and
 *   crash (SIGSEGV, seen with two stage-2 runs at once). DuckDB's default directory is `.tmp` in
 *   the working directory, which is shared too. So each instance spills into
 *   `<tmpdir>/tributary-duckdb-<pid>-<random>`, removed when the instance closes; directories
 *   left by a killed process (kill -9) are removed by the next instance that starts.
 * - DuckDB's default memory_limit is 80 % of RAM per instance; two activities at once would ask
 *   for 160 %. The worker splits one budget (src/config.ts, memoryShares) and passes each instance
 *   its share; an instance opened without one gets DEFAULT_MEMORY_LIMIT, never DuckDB's default.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { setCheckpointReaderFactory } from '../delta/checkpoint';
import { safeDuckPath, sqlString } from '../delta/sql';
import { duckdbStoreSetup } from '../delta/duckdb-secrets';
import { redactSecrets, secretsOf, storeCredentialsFromEnv, type StoreCredentials } from '../delta/store-config';
import { isObjectStoreUrl } from '../delta/open-store';

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

/** memory_limit of an instance opened without one (a CLI, a test): never DuckDB's 80 % of RAM. */
export const DEFAULT_MEMORY_LIMIT = '1GB';
const SPILL_DIR_PREFIX = 'tributary-duckdb-';

export interface InstanceOptions {
  /** DuckDB size syntax, e.g. '1GB', '512MiB'; DuckDB spills to its own temp directory above it. */
  memoryLimit?: string;
  threads?: number;
}

export interface OpenDuckDBOptions extends InstanceOptions {
  /** The delta extension file; default: env DELTA_EXTENSION_PATH, then the stack's copy. */
  extensionPath?: string;
  /**
   * Lake roots on object stores this instance reads and writes (`az://…`, `s3://…`; local paths are ignored): the
   * azure / httpfs extension is loaded from the delta extension's directory and a secret is created for each.
   */
  stores?: { roots: string[]; creds: StoreCredentials };
}

export interface OwnedInstance {
  instance: DuckDBInstance;
  /** This instance's spill directory (created by DuckDB only when it first spills). */
  spillDir: string;
  /** Closes the instance and removes its spill directory. */
  close(): void;
}

export interface Lake {
  instance: DuckDBInstance;
  connection: DuckDBConnection;
  /** This instance's spill directory (see the module comment). */
  spillDir: string;
  close(): void;
}

/** Removes spill directories of processes that no longer run (a worker killed with -9). */
function removeStaleSpillDirs(tmp: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(tmp);
  } catch {
    return;
  }
  for (const name of names) {
    const m = new RegExp(`^${SPILL_DIR_PREFIX}(\\d+)-`).exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // alive (or not ours to judge: EPERM below)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') continue;
    }
    fs.rmSync(path.join(tmp, name), { recursive: true, force: true });
  }
}

/**
 * A DuckDB in-memory instance with its own spill directory and a memory_limit; no extension
 * autoloading (extensions come from the installed, version-checked file, never the network).
 */
export async function createDuckDBInstance(opts: InstanceOptions = {}): Promise<OwnedInstance> {
  const tmp = os.tmpdir();
  removeStaleSpillDirs(tmp);
  // Not created here: DuckDB creates it on the first spill (most instances never spill).
  const spillDir = path.join(tmp, `${SPILL_DIR_PREFIX}${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    memory_limit: opts.memoryLimit ?? DEFAULT_MEMORY_LIMIT,
    temp_directory: safeDuckPath(spillDir),
    ...(opts.threads ? { threads: String(opts.threads) } : {}),
  });
  let closed = false;
  return {
    instance,
    spillDir,
    close: () => {
      if (closed) return;
      closed = true;
      try {
        instance.closeSync();
      } finally {
        fs.rmSync(spillDir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * The Delta checkpoint reader's share of the worker's memory budget (set before the first read);
 * its spill directory is removed at exit (or, after kill -9, by the next process's first instance).
 */
export function setCheckpointReaderMemoryLimit(limit: string): void {
  setCheckpointReaderFactory(() =>
    createDuckDBInstance({ memoryLimit: limit, threads: 1 }).then((owned) => {
      process.once('exit', () => fs.rmSync(owned.spillDir, { recursive: true, force: true }));
      return owned.instance;
    }),
  );
}

export async function openDuckDB(opts: OpenDuckDBOptions = {}): Promise<Lake> {
  const owned = await createDuckDBInstance(opts);
  const { instance } = owned;
  let connection: DuckDBConnection;
  try {
    connection = await instance.connect();
  } catch (e) {
    owned.close();
    throw e;
  }
  const close = () => {
    try {
      connection.closeSync();
    } finally {
      owned.close();
    }
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
    for (const root of opts.stores?.roots ?? []) {
      await attachStore(connection, root, opts.stores!.creds, path.dirname(extensionPath), info);
    }
    return { instance, connection, spillDir: owned.spillDir, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** `stores` for openDuckDB when the lake is on an object store (credentials from the environment); else none. */
export function lakeStores(lakeRoot: string): OpenDuckDBOptions['stores'] {
  return isObjectStoreUrl(lakeRoot) ? { roots: [lakeRoot], creds: storeCredentialsFromEnv() } : undefined;
}

/**
 * Lets DuckDB read and write a lake root on an object store: loads the azure (az://) or httpfs (s3://) extension
 * from `extensionDir` - checked like the delta extension: same DuckDB version and platform - and creates the
 * store's secret. A local root needs nothing. Errors never carry the secret (DuckDB echoes failing SQL).
 */
export async function attachStore(
  connection: DuckDBConnection,
  root: string,
  creds: StoreCredentials,
  extensionDir: string,
  info?: { version: string; platform: string },
): Promise<void> {
  const setup = duckdbStoreSetup(root, creds);
  if (!setup) return;
  const file = path.join(extensionDir, `${setup.extension}.duckdb_extension`);
  if (!fs.existsSync(file)) {
    throw new LakeSetupError(`${setup.extension} extension not found at ${file} (needed for ${root}); run: npm run stack -- up`);
  }
  const have =
    info ??
    ((await connection.runAndReadAll('SELECT version() AS version, (SELECT platform FROM pragma_platform()) AS platform')).getRowObjects()[0] as {
      version: string;
      platform: string;
    });
  const footer = readExtensionFooter(file);
  if (footer.duckdbVersion !== have.version || footer.platform !== have.platform) {
    throw new LakeSetupError(
      `${setup.extension} extension ${file} was built for DuckDB ${footer.duckdbVersion} on ${footer.platform}, but this is ` +
        `DuckDB ${have.version} on ${have.platform}; install duckdb-extension-${setup.extension}==${have.version.slice(1)}`,
    );
  }
  await connection.run(`LOAD ${sqlString(safeDuckPath(file))}`);
  // The delta extension reads these from the process environment when it scans (Azurite's URL only).
  for (const [k, v] of Object.entries(setup.env)) process.env[k] ??= v;
  try {
    await connection.run(setup.createSecretSql);
  } catch (e) {
    // The echoed SQL has quotes doubled: redact that form of each secret too.
    const secrets = secretsOf(creds).flatMap((x) => [x.replace(/'/g, "''"), x]);
    const first = redactSecrets(String((e as Error).message).split('\n')[0]!, secrets);
    throw new LakeSetupError(`could not configure DuckDB for ${root}: ${first}`);
  }
}
