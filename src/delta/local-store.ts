/**
 * TableStore on a local (or NFS-mounted) filesystem. Put-if-absent is a temp file + link(2):
 * link fails with EEXIST when the name is taken, so a commit never overwrites another (rename
 * would), and readers never see a partial file (the temp name parses as no version).
 */
import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { StoreNotFoundError, type StoredObject, type TableStore } from './storage';

export class LocalStore implements TableStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  locate(key: string): string {
    if (key === '') return this.root;
    if (key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '.' || p === '')) {
      throw new Error(`invalid table key ${JSON.stringify(key)}`);
    }
    return path.join(this.root, ...key.split('/'));
  }

  async read(key: string): Promise<Buffer> {
    const file = this.locate(key);
    try {
      return await fsp.readFile(file);
    } catch (e) {
      if (isCode(e, 'ENOENT') || isCode(e, 'ENOTDIR')) throw new StoreNotFoundError(file);
      throw e;
    }
  }

  async list(prefix: string, opts: { startAfter?: string } = {}): Promise<StoredObject[]> {
    const keys: string[] = [];
    // Walk only the directories the prefix can reach (the log: one readdir).
    const walk = async (dirKey: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fsp.readdir(dirKey === '' ? this.root : this.locate(dirKey.slice(0, -1)), { withFileTypes: true });
      } catch (e) {
        if (isCode(e, 'ENOENT') || isCode(e, 'ENOTDIR')) return;
        throw e;
      }
      for (const ent of entries) {
        const key = dirKey + ent.name;
        if (ent.isDirectory()) {
          const sub = key + '/';
          if (sub.startsWith(prefix) || prefix.startsWith(sub)) await walk(sub);
        } else if (ent.isFile() && key.startsWith(prefix) && (opts.startAfter === undefined || key > opts.startAfter)) {
          keys.push(key);
        }
      }
    };
    const slash = prefix.lastIndexOf('/');
    await walk(slash < 0 ? '' : prefix.slice(0, slash + 1));
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out: StoredObject[] = [];
    for (let i = 0; i < keys.length; i += 256) {
      const chunk = await Promise.all(keys.slice(i, i + 256).map((k) => this.statOrNull(k)));
      for (const o of chunk) if (o) out.push(o);
    }
    return out;
  }

  async putIfAbsent(key: string, body: Buffer): Promise<boolean> {
    const target = this.locate(key);
    const dir = path.dirname(target);
    await fsp.mkdir(dir, { recursive: true });
    const tmp = path.join(dir, `.${path.basename(target)}.${randomUUID()}.tmp`);
    await writeDurably(tmp, body, 'wx');
    try {
      await fsp.link(tmp, target);
    } catch (e) {
      if (!isCode(e, 'EEXIST')) throw e;
      // NFS: a retransmitted LINK whose first try succeeded reports EEXIST for our own file. The
      // bytes tell: a commit's content is unique to its writer (timestamps, txn, file names).
      const existing = await fsp.readFile(target).catch(() => null);
      if (!existing || !existing.equals(body)) return false;
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    await fsyncDir(dir);
    return true;
  }

  async put(key: string, body: Buffer): Promise<void> {
    const target = this.locate(key);
    const dir = path.dirname(target);
    await fsp.mkdir(dir, { recursive: true });
    const tmp = path.join(dir, `.${path.basename(target)}.${randomUUID()}.tmp`);
    try {
      await writeDurably(tmp, body, 'wx');
      await fsp.rename(tmp, target);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    await fsyncDir(dir);
  }

  async stat(key: string): Promise<StoredObject> {
    const file = this.locate(key);
    let h: fsp.FileHandle;
    try {
      h = await fsp.open(file, 'r');
    } catch (e) {
      if (isCode(e, 'ENOENT')) throw new StoreNotFoundError(file);
      throw e;
    }
    try {
      await h.sync();
      const st = await h.stat();
      await fsyncDir(path.dirname(file));
      return { key, size: st.size, lastModified: Math.floor(st.mtimeMs) };
    } finally {
      await h.close();
    }
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.locate(key), { force: true });
  }

  private async statOrNull(key: string): Promise<StoredObject | null> {
    try {
      const st = await fsp.stat(this.locate(key));
      return { key, size: st.size, lastModified: Math.floor(st.mtimeMs) };
    } catch (e) {
      if (isCode(e, 'ENOENT')) return null; // deleted between readdir and stat
      throw e;
    }
  }
}

function isCode(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException)?.code === code;
}

async function writeDurably(file: string, body: Buffer, flag: string): Promise<void> {
  const h = await fsp.open(file, flag);
  try {
    await h.writeFile(body);
    await h.sync();
  } finally {
    await h.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(dir, 'r');
    await h.sync();
  } catch (e) {
    // Some filesystems refuse fsync on directories (EINVAL/EISDIR); the link itself is still atomic.
    if (!isCode(e, 'EINVAL') && !isCode(e, 'EISDIR') && !isCode(e, 'EPERM')) throw e;
  } finally {
    await h?.close();
  }
}
