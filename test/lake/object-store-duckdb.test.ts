/**
 * DuckDB on object-store lakes: with the azure / httpfs extension and a secret from the store's credentials,
 * `COPY … TO` writes uniquely named Parquet files on az:// and s3://, the `_delta_log` commits go only through the
 * store's put-if-absent, and the table reads back identically through `delta_scan` and delta-rs (given the
 * emulator endpoint). Wrong credentials fail without the secret in the message.
 */
import { randomUUID } from 'node:crypto';
import { openDuckDB, type Lake } from '../../src/lake/duckdb';
import { openObjectStore } from '../../src/delta/open-store';
import { secretsOf } from '../../src/delta/store-config';
import type { TableStore } from '../../src/delta/storage';
import { readWithDeltalake, readWithDeltaScan } from '../helpers/deltalake-reader';
import { requiredObjectStoreTargets } from '../helpers/object-stores';

// Loud when a store is not up: a skipped test names it, or the suite fails under STACK_OBJECT_STORES=1.
const targets = requiredObjectStoreTargets();

const FIELDS = [
  { name: 'id', type: 'long' as const, nullable: false },
  { name: 'name', type: 'string' as const, nullable: true },
  { name: 'value', type: 'double' as const, nullable: true },
  { name: 'ts', type: 'timestamp' as const, nullable: true },
];
const SCHEMA = JSON.stringify({ type: 'struct', fields: FIELDS.map((f) => ({ ...f, metadata: {} })) });

/** One commit's NDJSON: version 0 also carries protocol and metadata. */
function commit(version: number, adds: { path: string; size: number; numRecords: number }[]): Buffer {
  const actions: object[] = [{ commitInfo: { timestamp: Date.now(), operation: 'WRITE', engineInfo: 'tributary-test' } }];
  if (version === 0) {
    actions.push(
      { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
      { metaData: { id: randomUUID(), format: { provider: 'parquet', options: {} }, schemaString: SCHEMA, partitionColumns: [], configuration: {}, createdTime: Date.now() } },
    );
  }
  for (const a of adds) {
    actions.push({ add: { path: a.path, partitionValues: {}, size: a.size, modificationTime: Date.now(), dataChange: true, stats: JSON.stringify({ numRecords: a.numRecords }) } });
  }
  return Buffer.from(actions.map((a) => JSON.stringify(a)).join('\n') + '\n');
}

const logKey = (v: number) => `_delta_log/${String(v).padStart(20, '0')}.json`;

// One describe per store that is up (describe.each refuses an empty table).
for (const t of targets) describe(`DuckDB on a ${t.name} lake`, () => {
  let lake: Lake;
  let store: TableStore;
  let root: string;

  beforeAll(async () => {
    root = t.freshRoot('duckdb');
    store = openObjectStore(root, t.creds);
    lake = await openDuckDB({ stores: { roots: [root], creds: t.creds } });
  });
  afterAll(async () => {
    lake?.close();
    for (const o of await store.list('')) await store.delete(o.key);
  });

  /** COPY … TO a uniquely named data file on the store; returns its add. */
  async function writeFile(from: number, n: number): Promise<{ path: string; size: number; numRecords: number }> {
    const name = `part-00000-${randomUUID()}-c000.snappy.parquet`;
    await lake.connection.run(
      `COPY (SELECT range::BIGINT AS id, 'sensor-' || range AS name, range / 4.0 AS value,
                    TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(range) AS ts
             FROM range(${from}, ${from + n}))
       TO '${store.locate(name)}' (FORMAT parquet)`,
    );
    const [obj] = await store.list(name);
    return { path: name, size: obj!.size, numRecords: n };
  }

  it('writes Parquet with COPY, commits through put-if-absent, and both readers agree', async () => {
    expect(await store.putIfAbsent(logKey(0), commit(0, [await writeFile(0, 100)]))).toBe(true);
    const second = commit(1, [await writeFile(100, 50), await writeFile(150, 25)]);
    expect(await store.putIfAbsent(logKey(1), second)).toBe(true);
    // A competing writer of version 1 loses and leaves the winner's commit as it was.
    expect(await store.putIfAbsent(logKey(1), commit(1, [await writeFile(1000, 1)]))).toBe(false);
    expect(await store.read(logKey(1))).toEqual(second);

    const duck = await readWithDeltaScan(lake.connection, root, FIELDS);
    const py = await readWithDeltalake(root, { storage: t.deltalake });
    expect(duck.numRows).toBe(175);
    expect(py.version).toBe(1);
    expect(py.numRows).toBe(175);
    expect(py.rows).toEqual(duck.rows);
    expect(py.files).toHaveLength(3);
    expect(py.protocol).toMatchObject({ minReaderVersion: 1, minWriterVersion: 2 });
    const sum = (await lake.connection.runAndReadAll(`SELECT sum(id)::BIGINT AS s FROM delta_scan('${root}')`)).getRowObjectsJson();
    expect(sum).toEqual([{ s: String((174 * 175) / 2) }]);
  });

  it('time travel by version reads the same on object storage', async () => {
    const v0 = (await lake.connection.runAndReadAll(`SELECT count(*)::INT AS n FROM delta_scan('${root}', version => 0)`)).getRowObjects();
    expect(v0).toEqual([{ n: 100 }]);
    const py = await readWithDeltalake(root, { version: 0, storage: t.deltalake });
    expect(py.numRows).toBe(100);
  });

  it('wrong credentials fail in DuckDB without the secret in the error', async () => {
    const wrong =
      t.scheme === 'az'
        ? { azure: { ...t.creds.azure!, auth: { ...(t.creds.azure!.auth as { kind: 'accountKey'; accountName: string; accountKey: string }), accountKey: Buffer.alloc(64, 3).toString('base64') } } }
        : { s3: { ...t.creds.s3!, secretAccessKey: 'not-the-secret-0123456789abcdefghij' } };
    const bad = await openDuckDB({ stores: { roots: [root], creds: wrong } });
    try {
      const err = (await bad.connection.run(`SELECT count(*) FROM read_parquet('${root}/*.parquet')`).then(
        () => undefined,
        (e: unknown) => e,
      )) as Error | undefined;
      // DuckDB's errors come from another realm: not `instanceof Error` here, but with a message.
      expect(typeof err?.message).toBe('string');
      for (const s of [...secretsOf(wrong), ...secretsOf(t.creds)]) expect(err!.message.includes(s)).toBe(false);
    } finally {
      bad.close();
    }
  });
});
