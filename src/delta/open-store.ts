/**
 * Opens the `TableStore` for a table root: a local path, `az://container/prefix` or `s3://bucket/prefix`.
 */
import { AzureBlobStore } from './azure-store';
import { S3Store } from './s3-store';
import type { TableStore } from './storage';
import { parseStoreUrl, type StoreCredentials } from './store-config';

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
