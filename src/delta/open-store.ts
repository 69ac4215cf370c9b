/**
 * Opens the `TableStore` for a table root: a local path, `az://container/prefix` or `s3://bucket/prefix`.
 */
import * as path from 'node:path';
import { AzureBlobStore } from './azure-store';
import { LocalStore } from './local-store';
import { S3Store } from './s3-store';
import type { TableStore } from './storage';
import { parseStoreUrl, storeCredentialsFromEnv, storeUrl, type StoreCredentials } from './store-config';

/** An object-store root (az:// or s3://); a local path is refused here (the local store opens those). */
export function openObjectStore(root: string, creds: StoreCredentials): TableStore {
  const loc = parseStoreUrl(root);
  if (loc.kind === 'az') return new AzureBlobStore(loc.container, loc.prefix, creds.azure);
  if (loc.kind === 's3') return new S3Store(loc.bucket, loc.prefix, creds.s3);
  throw new Error(`${root} is a local path, not an object-store URL`);
}

/** True for az:// and s3:// roots. */
export function isObjectStoreUrl(root: string): boolean {
  return parseStoreUrl(root).kind !== 'local';
}

// Object stores are kept per root and credentials source: each holds an HTTP client with a connection pool.
const objectStores = new Map<string, TableStore>();

/**
 * The store of a table root. Local paths get a LocalStore; az:// and s3:// roots an object store with the
 * credentials from the environment (read when the store is first opened, never passed around), or `creds`.
 */
export function openTableStore(root: string, creds?: StoreCredentials): TableStore {
  if (!isObjectStoreUrl(root)) return new LocalStore(root);
  if (creds) return openObjectStore(root, creds);
  const key = storeUrl(parseStoreUrl(root));
  let store = objectStores.get(key);
  if (!store) {
    store = openObjectStore(key, storeCredentialsFromEnv());
    objectStores.set(key, store);
  }
  return store;
}

/** A table root under a lake root: path join for local lakes, '/' join for object-store URLs. */
export function joinRoot(lakeRoot: string, ...segments: string[]): string {
  if (!isObjectStoreUrl(lakeRoot)) return path.join(lakeRoot, ...segments);
  return [lakeRoot.replace(/\/+$/, ''), ...segments].join('/');
}
