/**
 * One parameterised suite over every kind of lake root: `describe.each(lakeTargets('bronze'))(…, (target) => …)`
 * runs the same tests on local disk, on Azurite (az://) and on versitygw (s3://).
 *
 * A target gives fresh lake roots (removed after the file's tests), a DuckDB that can read and write them, and
 * what the tests used `fs` for, through the table's TableStore (list, exists, delete a table). The stage code under
 * test opens its stores itself with `openTableStore(root)`, so the object stores' credentials go into this test
 * file's environment as a worker's would (`_FILE` variables: no secret in the env).
 *
 * Object stores that are not up are left out loudly (see requiredObjectStoreTargets).
 */
import { openTableStore } from '../../src/delta/open-store';
import type { TableStore } from '../../src/delta/storage';
import { openDuckDB, type InstanceOptions, type Lake } from '../../src/lake/duckdb';
import { requiredObjectStoreTargets, type ObjectStoreTarget } from './object-stores';
import { tempRoots } from './temp-root';

export interface LakeTarget {
  /** 'local disk', 'azurite' or 'versitygw' (the describe title). */
  name: string;
  object?: ObjectStoreTarget;
  /** A fresh, empty lake root for one test. */
  newRoot(): string;
  /** DuckDB with the delta extension and, on an object store, its extension and secret for the whole bucket. */
  openLake(opts?: InstanceOptions): Promise<Lake>;
}

/** Keys of a table's top-level data files (`*.parquet` next to `_delta_log`), sorted. */
export async function dataFileKeys(dir: string): Promise<string[]> {
  return (await openTableStore(dir).list(''))
    .map((o) => o.key)
    .filter((k) => k.endsWith('.parquet') && !k.includes('/'))
    .sort();
}

export async function keyExists(dir: string, key: string): Promise<boolean> {
  return (await openTableStore(dir).list(key)).some((o) => o.key === key);
}

/** Deletes every object of a table (a local directory's files are removed through the same store calls). */
export async function removeTable(dir: string): Promise<void> {
  await deleteAll(openTableStore(dir));
}

async function deleteAll(store: TableStore): Promise<void> {
  const keys = (await store.list('')).map((o) => o.key);
  for (let i = 0; i < keys.length; i += 32) await Promise.all(keys.slice(i, i + 32).map((k) => store.delete(k)));
}

/**
 * Local disk always, then each object store that is up. Call at a test file's top level: it registers the
 * removal of every root it handed out after the file's tests.
 */
export function lakeTargets(prefix: string): LakeTarget[] {
  const objects = requiredObjectStoreTargets();
  for (const o of objects) for (const [k, v] of Object.entries(o.workerEnv)) process.env[k] = v;
  const made: string[] = [];
  afterAll(async () => {
    for (const root of made.splice(0)) await deleteAll(openTableStore(root));
  });
  const newLocalRoot = tempRoots(`tributary-${prefix}`);
  return [
    { name: 'local disk', newRoot: newLocalRoot, openLake: (opts) => openDuckDB(opts) },
    ...objects.map(
      (o): LakeTarget => ({
        name: o.name,
        object: o,
        newRoot: () => {
          const root = o.freshRoot(prefix);
          made.push(root);
          return root;
        },
        openLake: (opts) => openDuckDB({ ...opts, stores: { roots: [`${o.scheme}://${o.bucket}`], creds: o.creds } }),
      }),
    ),
  ];
}
