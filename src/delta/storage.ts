/**
 * The storage seam: every read, list, put-if-absent, put and delete of a Delta table's files goes
 * through a `TableStore`. Nothing above this interface may assume a local filesystem, so the same
 * Delta code runs on local disk, Azure Blob / ADLS (Blob API) and S3.
 *
 * Keys are relative to the table root, '/'-separated, never starting with '/':
 * `_delta_log/00000000000000000012.json`, `part-00000-<uuid>.parquet`.
 *
 * Data files are written by DuckDB itself (`COPY … TO locate(key)`, with the azure/httpfs
 * extensions on object stores), so a store must also say where DuckDB and delta-rs find a key.
 */

/** One listed object. `lastModified` is epoch ms (vacuum and log cleanup compare it with retention). */
export interface StoredObject {
  key: string;
  size: number;
  lastModified: number;
}

export interface TableStore {
  /** The table root as DuckDB / delta-rs / Spark address it: an absolute path, `az://…` or `s3://…`. */
  readonly root: string;
  /** Where DuckDB reads or writes `key` (root + '/' + key, in the store's URL form). */
  locate(key: string): string;
  /** The object's bytes; throws `StoreNotFoundError` when absent. */
  read(key: string): Promise<Buffer>;
  /**
   * Objects whose key starts with `prefix` and sorts strictly after `startAfter` (when given), in
   * ascending byte order of the key. Used to list `_delta_log/` from a checkpoint onwards.
   */
  list(prefix: string, opts?: { startAfter?: string }): Promise<StoredObject[]>;
  /**
   * Writes `body` only if `key` does not exist, atomically: readers never see a partial object.
   * Returns false when the key already existed (a lost race); the existing object is untouched.
   */
  putIfAbsent(key: string, body: Buffer): Promise<boolean>;
  /**
   * Size and modification time of `key`, made durable first. DuckDB writes data files itself
   * through locate() and does not fsync them; a commit must not reference a file a crash could
   * lose. (On object stores an upload is durable once complete: a HEAD.) Throws StoreNotFoundError.
   */
  stat(key: string): Promise<StoredObject>;
  /** Writes (or overwrites) `key`. Only for uniquely named files and hints such as `_last_checkpoint`. */
  put(key: string, body: Buffer): Promise<void>;
  /** Deletes `key`; an absent key is not an error. */
  delete(key: string): Promise<void>;
}

export class StoreNotFoundError extends Error {
  constructor(readonly location: string) {
    super(`not found: ${location}`);
    this.name = 'StoreNotFoundError';
  }
}
