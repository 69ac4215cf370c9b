/**
 * Builds a raw/sensor_readings table directly (no Kafka): each appendRaw() call is one raw Delta
 * version with one data file, written the way stage 1 writes it (same schema, stats, commit).
 */
import { isUtf8 } from 'node:buffer';
import type { DuckDBConnection } from '@duckdb/node-api';
import { addAction, commitWithRetry, writeParquetDataFile } from './delta-dir';
import { sqlString } from '../../src/delta/sql';
import { RAW, tableDir } from '../../src/lake/tables';

export interface RawRow {
  /** string = UTF-8 payload; Buffer = Kafka value bytes (non-UTF-8 ones land in raw_payload_bytes); null = tombstone. */
  value: string | Buffer | null;
  topic?: string;
  partition?: number;
}

const nextOffset = new Map<string, number>();

/** Appends rows as ONE raw version; offsets continue per (lake, topic, partition). Returns the version. */
export async function appendRaw(conn: DuckDBConnection, lakeRoot: string, rows: RawRow[], arrivedAt = new Date()): Promise<number> {
  const dir = tableDir(lakeRoot, RAW);
  await conn.run(`CREATE OR REPLACE TEMP TABLE raw_fixture (topic VARCHAR, "partition" INTEGER, "offset" BIGINT, raw_payload VARCHAR, raw_payload_bytes BLOB)`);
  const app = await conn.createAppender('raw_fixture');
  for (const r of rows) {
    const topic = r.topic ?? 'sensor_readings';
    const partition = r.partition ?? 0;
    const k = `${lakeRoot}\u0001${topic}\u0001${partition}`;
    const offset = nextOffset.get(k) ?? 0;
    nextOffset.set(k, offset + 1);
    app.appendVarchar(topic);
    app.appendInteger(partition);
    app.appendBigInt(BigInt(offset));
    if (r.value === null) {
      app.appendNull();
      app.appendNull();
    } else if (typeof r.value === 'string') {
      app.appendVarchar(r.value);
      app.appendNull();
    } else if (isUtf8(r.value)) {
      app.appendVarchar(r.value.toString('utf8'));
      app.appendNull();
    } else {
      app.appendNull();
      app.appendBlob(r.value);
    }
    app.endRow();
  }
  app.closeSync();
  const add = await writeParquetDataFile(
    conn,
    dir,
    `SELECT topic, "partition", "offset", ${sqlString(arrivedAt.toISOString())}::TIMESTAMPTZ AS kafka_ts, raw_payload, raw_payload_bytes,
            ${sqlString(arrivedAt.toISOString())}::TIMESTAMPTZ AS arrived_at FROM raw_fixture ORDER BY topic, "partition", "offset"`,
    RAW.fields,
  );
  const c = await commitWithRetry(dir, async () => ({ actions: add ? [addAction(add)] : [], commitInfo: { operation: 'WRITE', engineInfo: 'raw fixture' } }));
  await conn.run('DROP TABLE raw_fixture');
  return c!.version;
}
