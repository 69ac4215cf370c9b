/** LocalStore, the local-filesystem TableStore: put-if-absent, listing order and startAfter, keys. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalStore, StoreNotFoundError } from '../../src/delta';

const dirs: string[] = [];
function store(): LocalStore {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-store-'));
  dirs.push(d);
  return new LocalStore(path.join(d, 'table'));
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('LocalStore', () => {
  test('putIfAbsent writes once; a second writer with other bytes loses and leaves the first untouched', async () => {
    const s = store();
    await expect(s.putIfAbsent('_delta_log/00000000000000000000.json', Buffer.from('mine\n'))).resolves.toBe(true);
    await expect(s.putIfAbsent('_delta_log/00000000000000000000.json', Buffer.from('theirs\n'))).resolves.toBe(false);
    expect((await s.read('_delta_log/00000000000000000000.json')).toString()).toBe('mine\n');
    expect(fs.readdirSync(path.join(s.root, '_delta_log'))).toEqual(['00000000000000000000.json']); // no temp leftovers
  });

  test('EEXIST for a file holding exactly our bytes is our own link (an NFS retransmit), not a conflict', async () => {
    const s = store();
    const body = Buffer.from('{"commitInfo":{"timestamp":1}}\n{"txn":{"appId":"a","version":7}}\n');
    // The first LINK landed but its reply was lost; the client's retransmit then reports EEXIST.
    fs.mkdirSync(path.join(s.root, '_delta_log'), { recursive: true });
    fs.writeFileSync(path.join(s.root, '_delta_log', '00000000000000000003.json'), body);
    await expect(s.putIfAbsent('_delta_log/00000000000000000003.json', body)).resolves.toBe(true);
    // One byte different: somebody else's commit, a real conflict.
    await expect(s.putIfAbsent('_delta_log/00000000000000000003.json', Buffer.concat([body, Buffer.from('\n')]))).resolves.toBe(false);
  });

  test('list: prefix, ascending key order, startAfter is exclusive; sizes and mtimes', async () => {
    const s = store();
    for (const k of ['_delta_log/00000000000000000002.json', '_delta_log/00000000000000000001.json', '_delta_log/00000000000000000002.checkpoint.parquet', 'a.parquet']) {
      await s.put(k, Buffer.from(k));
    }
    const all = await s.list('_delta_log/');
    expect(all.map((o) => o.key)).toEqual([
      '_delta_log/00000000000000000001.json',
      '_delta_log/00000000000000000002.checkpoint.parquet',
      '_delta_log/00000000000000000002.json',
    ]);
    expect(all[0].size).toBe('_delta_log/00000000000000000001.json'.length);
    expect(all[0].lastModified).toBeGreaterThan(0);
    expect((await s.list('_delta_log/', { startAfter: '_delta_log/00000000000000000002' })).map((o) => o.key)).toEqual([
      '_delta_log/00000000000000000002.checkpoint.parquet',
      '_delta_log/00000000000000000002.json',
    ]);
    expect((await s.list('_delta_log/', { startAfter: '_delta_log/00000000000000000002.json' })).map((o) => o.key)).toEqual([]);
    expect((await s.list('')).map((o) => o.key)).toContain('a.parquet');
    expect(await s.list('nothing/')).toEqual([]);
  });

  test('read of an absent key is StoreNotFoundError; delete of one is not an error; keys cannot escape the root', async () => {
    const s = store();
    await expect(s.read('missing')).rejects.toBeInstanceOf(StoreNotFoundError);
    await expect(s.delete('missing')).resolves.toBeUndefined();
    expect(() => s.locate('../x')).toThrow(/invalid table key/);
    expect(() => s.locate('/etc/passwd')).toThrow(/invalid table key/);
  });

  test('put overwrites atomically; stat reports the size', async () => {
    const s = store();
    await s.put('_delta_log/_last_checkpoint', Buffer.from('{"version":1}'));
    await s.put('_delta_log/_last_checkpoint', Buffer.from('{"version":22}'));
    expect((await s.read('_delta_log/_last_checkpoint')).toString()).toBe('{"version":22}');
    expect((await s.stat('_delta_log/_last_checkpoint')).size).toBe(14);
    await expect(s.stat('nope')).rejects.toBeInstanceOf(StoreNotFoundError);
  });
});
