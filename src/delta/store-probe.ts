/**
 * The startup probe of a table store: the credentials work and conditional writes are honoured. Every Delta
 * commit is a put-if-absent; a store that silently overwrites (s3rver, some gateways and proxies) would let two
 * writers both "win" a version and lose one commit's data, so such a store is refused before anything is written.
 *
 * The probe writes a scratch key twice under `_tributary_probe/` (outside `_delta_log`, ignored by Delta readers):
 * the first put-if-absent must win, the second (different bytes) must lose, and the object must still hold the
 * first bytes. Then it deletes the key.
 */
import { randomUUID } from 'node:crypto';
import { StoreProbeError } from './object-store';
import type { TableStore } from './storage';

export const PROBE_PREFIX = '_tributary_probe/';

export async function probeStore(store: TableStore): Promise<void> {
  const key = `${PROBE_PREFIX}${randomUUID()}`;
  const first = Buffer.from(`probe ${key} first`);
  const second = Buffer.from(`probe ${key} second`);
  let written = false;
  try {
    if (!(await store.putIfAbsent(key, first))) {
      throw new StoreProbeError(`${store.root}: put-if-absent of a new scratch key reported it as existing`);
    }
    written = true;
    if (await store.putIfAbsent(key, second)) {
      throw new StoreProbeError(
        `${store.root}: the store ignores conditional writes (If-None-Match) - a second put-if-absent of the same ` +
          'key succeeded; Delta commits on it would overwrite each other, refusing it',
      );
    }
    const stored = await store.read(key);
    if (!stored.equals(first)) {
      throw new StoreProbeError(`${store.root}: a refused put-if-absent still replaced the object; refusing the store`);
    }
  } finally {
    if (written) await store.delete(key);
  }
}
