/**
 * What the object-store implementations of `TableStore` (AzureBlobStore, S3Store) share: key <-> object name
 * mapping under the root's prefix, the lost-race rule of put-if-absent, and errors that never carry a secret.
 *
 * Put-if-absent on an object store is one conditional PUT (`If-None-Match: *`): the server either creates the
 * object or refuses because it exists (Azure 409, S3 412; S3 may also answer 409 ConditionalRequestConflict while
 * another conditional write to the key is in flight). Commits never rely on rename (Azure's Blob API has none).
 * A refusal is a lost race - unless the object holds exactly our bytes: an SDK retry of our own PUT whose first
 * response was lost also ends in "exists", and must count as our success (the NFS EEXIST case of the local store).
 */
import { StoreNotFoundError, type StoredObject, type TableStore } from './storage';
import { redactSecrets } from './store-config';

export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    message: string,
    /** HTTP status when the server answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Thrown by the startup probe for a store that does not honour conditional writes (or refuses our credentials). */
export class StoreProbeError extends Error {
  override name = 'StoreProbeError';
}

/** Joins the root prefix and a key ('' prefix = bucket/container root). */
export function objectName(prefix: string, key: string): string {
  if (key.startsWith('/') || key.split('/').includes('..')) throw new StoreError(`invalid key '${key}'`);
  return prefix ? `${prefix}/${key}` : key;
}

/** The key of an object name listed under the prefix. */
export function keyOf(prefix: string, name: string): string {
  return prefix ? name.slice(prefix.length + 1) : name;
}

/** Ascending byte order of UTF-8 keys (what S3 guarantees and Delta log listing needs). */
export function byKey(a: { key: string }, b: { key: string }): number {
  return Buffer.compare(Buffer.from(a.key), Buffer.from(b.key));
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  Code?: string;
}

export function httpStatus(e: unknown): number | undefined {
  const x = e as SdkErrorShape;
  return x?.statusCode ?? x?.$metadata?.httpStatusCode;
}

export function errorCode(e: unknown): string | undefined {
  const x = e as SdkErrorShape;
  return x?.code ?? x?.Code ?? x?.name;
}

/**
 * Wraps an SDK error into a StoreError naming the operation and location, with the server's code and status and a
 * redacted first line of its message. SDK errors can carry request URLs (a SAS in the query string) and headers;
 * none of that is kept.
 */
export function storeError(op: string, location: string, e: unknown, secrets: readonly string[]): StoreError {
  if (e instanceof StoreError || e instanceof StoreNotFoundError) return e;
  const status = httpStatus(e);
  const code = errorCode(e);
  const first = String((e as SdkErrorShape)?.message ?? e).split('\n')[0]!.slice(0, 300);
  const detail = redactSecrets([code, status ? `HTTP ${status}` : undefined, first].filter(Boolean).join(', '), secrets);
  return new StoreError(`${op} ${location} failed: ${detail}`, status);
}

/** After a refused conditional PUT: true when the existing object is our own body (our retried PUT won earlier). */
export async function existingIsOurs(read: () => Promise<Buffer>, body: Buffer): Promise<boolean> {
  try {
    return (await read()).equals(body);
  } catch (e) {
    // Deleted again in between (log cleanup): not ours either way.
    if (e instanceof StoreNotFoundError) return false;
    throw e;
  }
}

/**
 * `stat` for object stores: an upload is durable once it completed, so only the listing's size and mtime are
 * needed (one LIST by the key as prefix; the exact key among what it returns).
 */
export async function statByListing(store: TableStore, key: string): Promise<StoredObject> {
  const found = (await store.list(key)).find((o) => o.key === key);
  if (!found) throw new StoreNotFoundError(store.locate(key));
  return found;
}
