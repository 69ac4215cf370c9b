/**
 * The object-store implementations of the storage seam (AzureBlobStore on Azurite, S3Store on versitygw), one
 * suite for both: put-if-absent races have exactly one winner, listing from a start key, not-found, deletes, the
 * startup probe (and its refusal of a store that ignores conditional writes), and errors that never carry a secret.
 */
import { generateAccountSASQueryParameters, AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, StorageSharedKeyCredential } from '@azure/storage-blob';
import { StoreNotFoundError, type TableStore } from '../../src/delta/storage';
import { openObjectStore } from '../../src/delta/open-store';
import { probeStore } from '../../src/delta/store-probe';
import { StoreProbeError } from '../../src/delta/object-store';
import { secretsOf, type StoreCredentials } from '../../src/delta/store-config';
import { requiredObjectStoreTargets, type ObjectStoreTarget } from '../helpers/object-stores';

// Loud when a store is not up: a skipped test names it, or the suite fails under STACK_OBJECT_STORES=1.
const targets = requiredObjectStoreTargets();

async function cleanup(store: TableStore): Promise<void> {
  for (const o of await store.list('')) await store.delete(o.key);
}

/** Credentials with every secret replaced by a wrong value of the same shape. */
function wrongCreds(t: ObjectStoreTarget): StoreCredentials {
  if (t.creds.azure?.auth.kind === 'accountKey') {
    return { azure: { ...t.creds.azure, auth: { ...t.creds.azure.auth, accountKey: Buffer.alloc(64, 7).toString('base64') } } };
  }
  return { s3: { ...t.creds.s3!, secretAccessKey: 'wrong-secret-0123456789abcdef0123456789' } };
}

// One describe per store that is up (describe.each refuses an empty table).
for (const t of targets) describe(`${t.name} object store`, () => {
  let store: TableStore;
  beforeEach(() => {
    store = openObjectStore(t.freshRoot('store'), t.creds);
  });
  afterEach(async () => {
    await cleanup(store);
  });

  it('reports its root and locates keys under it', () => {
    expect(store.root).toMatch(new RegExp(`^${t.scheme}://${t.bucket}/tests/store-`));
    expect(store.locate('_delta_log/00000000000000000000.json')).toBe(`${store.root}/_delta_log/00000000000000000000.json`);
  });

  it('put-if-absent has exactly one winner among concurrent writers, and the winner\'s bytes stay', async () => {
    for (let round = 0; round < 5; round++) {
      const key = `_delta_log/${String(round).padStart(20, '0')}.json`;
      const bodies = Array.from({ length: 8 }, (_, i) => Buffer.from(`{"commitInfo":{"writer":${i},"round":${round}}}\n`));
      const won = await Promise.all(bodies.map((b) => store.putIfAbsent(key, b)));
      expect(won.filter(Boolean)).toHaveLength(1);
      expect(await store.read(key)).toEqual(bodies[won.indexOf(true)]);
    }
  });

  it('put-if-absent of our own bytes again counts as ours (a retried PUT whose first answer was lost)', async () => {
    const body = Buffer.from('{"add":{}}\n');
    expect(await store.putIfAbsent('_delta_log/00000000000000000000.json', body)).toBe(true);
    expect(await store.putIfAbsent('_delta_log/00000000000000000000.json', Buffer.from(body))).toBe(true);
    expect(await store.putIfAbsent('_delta_log/00000000000000000000.json', Buffer.from('other\n'))).toBe(false);
  });

  it('lists by prefix in key order, from a start key, with sizes and times', async () => {
    const t0 = Date.now() - 60_000;
    for (const v of [3, 0, 11, 2, 10, 1]) {
      await store.putIfAbsent(`_delta_log/${String(v).padStart(20, '0')}.json`, Buffer.from(`v${v}`));
    }
    await store.put('part-00000-a.parquet', Buffer.from('data'));
    await store.put('_delta_log/_last_checkpoint', Buffer.from('{}'));
    const all = await store.list('_delta_log/');
    expect(all.map((o) => o.key)).toEqual([
      ...[0, 1, 2, 3, 10, 11].map((v) => `_delta_log/${String(v).padStart(20, '0')}.json`),
      '_delta_log/_last_checkpoint',
    ]);
    expect(all[0]!.size).toBe(2);
    expect(all.every((o) => o.lastModified > t0)).toBe(true);
    const after = await store.list('_delta_log/0', { startAfter: `_delta_log/${String(2).padStart(20, '0')}.json` });
    expect(after.map((o) => Number(o.key.slice(11, 31)))).toEqual([3, 10, 11]);
    expect((await store.list('')).map((o) => o.key)).toContain('part-00000-a.parquet');
    expect(await store.list('nothing-here/')).toEqual([]);
  });

  it('reads, overwrites with put, reports a missing key as StoreNotFoundError, deletes idempotently', async () => {
    await expect(store.read('missing.json')).rejects.toBeInstanceOf(StoreNotFoundError);
    await store.put('_delta_log/_last_checkpoint', Buffer.from('{"version":1}'));
    await store.put('_delta_log/_last_checkpoint', Buffer.from('{"version":2}'));
    expect((await store.read('_delta_log/_last_checkpoint')).toString()).toBe('{"version":2}');
    await store.delete('_delta_log/_last_checkpoint');
    await store.delete('_delta_log/_last_checkpoint');
    await expect(store.read('_delta_log/_last_checkpoint')).rejects.toBeInstanceOf(StoreNotFoundError);
  });

  it('passes the startup probe and leaves nothing behind', async () => {
    await probeStore(store);
    expect(await store.list('')).toEqual([]);
  });

  it('the probe refuses a store that ignores the put-if-absent condition', async () => {
    // The same real store, with the condition dropped: what s3rver and some proxies do.
    const ignoring: TableStore = Object.assign(Object.create(Object.getPrototypeOf(store) as object) as TableStore, store, {
      putIfAbsent: async (key: string, body: Buffer) => {
        await store.put(key, body);
        return true;
      },
    });
    await expect(probeStore(ignoring)).rejects.toThrow(StoreProbeError);
    await expect(probeStore(ignoring)).rejects.toThrow(/ignores conditional writes/);
  });

  it('errors from wrong credentials name the operation and location but never a secret', async () => {
    const creds = wrongCreds(t);
    const bad = openObjectStore(store.root, creds);
    const secrets = [...secretsOf(creds), ...secretsOf(t.creds)];
    for (const op of [() => bad.read('x'), () => bad.putIfAbsent('x', Buffer.from('x')), () => bad.list(''), () => probeStore(bad)]) {
      const err = await op().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(Error);
      const text = `${err!.message}\n${err!.stack ?? ''}\n${JSON.stringify(err)}`;
      expect(err!.message).toMatch(/403|Forbidden|Signature|Authoriz/i);
      for (const s of secrets) expect(text.includes(s)).toBe(false);
    }
  });

  if (t.scheme === 'az') {
    it('a rejected SAS token never appears in the error', async () => {
      const auth = t.creds.azure!.auth as { accountName: string; accountKey: string };
      const sas = generateAccountSASQueryParameters(
        {
          expiresOn: new Date(Date.now() + 3_600_000),
          permissions: AccountSASPermissions.parse('r'),
          resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
          services: AccountSASServices.parse('b').toString(),
        },
        // Signed with a wrong key: the server refuses it.
        new StorageSharedKeyCredential(auth.accountName, Buffer.alloc(64, 9).toString('base64')),
      ).toString();
      const creds: StoreCredentials = { azure: { auth: { kind: 'sas', accountName: auth.accountName, sasToken: sas }, endpoint: t.creds.azure!.endpoint } };
      const bad = openObjectStore(store.root, creds);
      const err = (await bad.read('x').catch((e: unknown) => e)) as Error;
      const sig = decodeURIComponent(/sig=([^&]+)/.exec(sas)![1]!);
      expect(err.message).toMatch(/403/);
      expect(err.message.includes(sig) || err.message.includes(encodeURIComponent(sig))).toBe(false);
    });
  }
});
