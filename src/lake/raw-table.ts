/**
 * Appends Kafka records to raw/sensor_readings through the DuckDB delta extension, with the
 * per-partition "next offset" stored in the same Delta commit as Delta `txn` actions
 * (appId `tributary.raw/<topic>/<partition>`, version = next offset). Rows and offsets become
 * visible together or not at all, so a run that dies anywhere can be retried from the table.
 */
import { isUtf8 } from 'node:buffer';
import type { KafkaRecord } from '../kafka/range-reader';
import { setOffset, type TopicOffsets } from '../kafka/offsets';
import { readSnapshot } from './delta-log';
import { sqlIdent, sqlString, type Lake } from './duckdb';

const RAW_TXN_PREFIX = 'tributary.raw/';

export function rawTxnAppId(topic: string, partition: number): string {
  return `${RAW_TXN_PREFIX}${topic}/${partition}`;
}

/** The committed checkpoint: next offset per topic-partition, from the table's txn actions. */
export async function readRawCheckpoint(tableDir: string): Promise<{ checkpoint: TopicOffsets; version: number }> {
  const snap = await readSnapshot(tableDir);
  const checkpoint: TopicOffsets = {};
  for (const [appId, version] of snap.appTransactions) {
    if (!appId.startsWith(RAW_TXN_PREFIX)) continue;
    const rest = appId.slice(RAW_TXN_PREFIX.length);
    const slash = rest.lastIndexOf('/');
    setOffset(checkpoint, rest.slice(0, slash), Number(rest.slice(slash + 1)), version);
  }
  return { checkpoint, version: snap.version };
}

export class RawTableWriter {
  private constructor(
    private readonly lake: Lake,
    private readonly alias: string,
  ) {}

  /** Attaches the raw table and prepares a staging table for the appender. */
  static async open(lake: Lake, tableDir: string): Promise<RawTableWriter> {
    const alias = 'raw_sensor_readings';
    const c = lake.connection;
    await c.run(`ATTACH ${sqlString(tableDir)} AS ${sqlIdent(alias)} (TYPE delta)`);
    await c.run(`CREATE OR REPLACE TEMP TABLE raw_staging (
      topic VARCHAR, "partition" INTEGER, "offset" BIGINT, kafka_ts_ms BIGINT, raw_payload VARCHAR, raw_payload_bytes BLOB)`);
    return new RawTableWriter(lake, alias);
  }

  /**
   * One Delta commit: the records plus the new positions. `expected` is the checkpoint this writer
   * started from; the extension's compare-and-swap on each txn version makes a concurrent writer
   * of the same partitions (e.g. a backfill) fail this commit instead of duplicating rows.
   */
  async append(records: KafkaRecord[], positions: TopicOffsets, expected: TopicOffsets, arrivedAt: Date): Promise<void> {
    const c = this.lake.connection;
    await c.run('DELETE FROM raw_staging');
    if (records.length > 0) {
      const appender = await c.createAppender('raw_staging');
      for (const r of records) {
        appender.appendVarchar(r.topic);
        appender.appendInteger(r.partition);
        appender.appendBigInt(BigInt(r.offset));
        appender.appendBigInt(BigInt(r.timestampMs));
        if (r.value === null) {
          appender.appendNull();
          appender.appendNull();
        } else if (isUtf8(r.value)) {
          appender.appendVarchar(r.value.toString('utf8'));
          appender.appendNull();
        } else {
          appender.appendNull();
          appender.appendBlob(r.value);
        }
        appender.endRow();
      }
      appender.closeSync();
    }
    const table = sqlIdent(this.alias);
    await c.run('BEGIN TRANSACTION');
    try {
      if (records.length > 0) {
        await c.run(
          `INSERT INTO ${table} SELECT topic, "partition", "offset", make_timestamptz(kafka_ts_ms * 1000), raw_payload, raw_payload_bytes, $arrived::TIMESTAMPTZ FROM raw_staging`,
          { arrived: arrivedAt.toISOString() },
        );
      }
      for (const [topic, parts] of Object.entries(positions)) {
        for (const [partition, next] of Object.entries(parts)) {
          const before = expected[topic]?.[partition];
          await c.run(
            `SELECT * FROM delta_set_transaction_version(${sqlString(this.alias)}, $app, $next::UBIGINT, $expected::UBIGINT)`,
            { app: rawTxnAppId(topic, Number(partition)), next, expected: before ?? null },
          );
        }
      }
      await c.run('COMMIT');
    } catch (e) {
      await c.run('ROLLBACK').catch(() => undefined);
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.lake.connection.run(`DETACH ${sqlIdent(this.alias)}`).catch(() => undefined);
  }
}
