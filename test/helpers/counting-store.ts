/**
 * A TableStore wrapper that records which keys were read, listed and handed to DuckDB, so tests
 * can assert what a snapshot load touched.
 */
import type { StoredObject, TableStore } from '../../src/delta';

export class CountingStore implements TableStore {
  readonly reads: string[] = [];
  readonly listed: string[] = [];
  readonly located: string[] = [];
  readonly lists: { prefix: string; startAfter?: string }[] = [];

  constructor(private readonly inner: TableStore) {}

  get root(): string {
    return this.inner.root;
  }
  locate(key: string): string {
    this.located.push(key);
    return this.inner.locate(key);
  }
  read(key: string): Promise<Buffer> {
    this.reads.push(key);
    return this.inner.read(key);
  }
  async list(prefix: string, opts?: { startAfter?: string }): Promise<StoredObject[]> {
    this.lists.push({ prefix, ...(opts?.startAfter !== undefined ? { startAfter: opts.startAfter } : {}) });
    const out = await this.inner.list(prefix, opts);
    for (const o of out) this.listed.push(o.key);
    return out;
  }
  putIfAbsent(key: string, body: Buffer): Promise<boolean> {
    return this.inner.putIfAbsent(key, body);
  }
  put(key: string, body: Buffer): Promise<void> {
    return this.inner.put(key, body);
  }
  stat(key: string): Promise<StoredObject> {
    return this.inner.stat(key);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  /** Every key this store was asked about (read, listed or located). */
  touched(): string[] {
    return [...this.reads, ...this.listed, ...this.located];
  }
  reset(): void {
    for (const a of [this.reads, this.listed, this.located, this.lists]) a.length = 0;
  }
}
