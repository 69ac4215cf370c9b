/**
 * Checks the lake against the truth with an independent reader (delta-rs, the Python `deltalake`
 * package; not the project's Delta code, not DuckDB):
 *  - raw holds every sent (partition, offset) exactly once, with the exact payload;
 *  - bronze ∪ dead letter = raw, disjoint: each record once, good ones in bronze with their
 *    fields, malformed ones in the dead letter with the right error;
 *  - gold holds one row per good key, with the value and unit of the key's latest record.
 */
import { isObjectStoreUrl, joinRoot } from '../../src/delta/open-store';
import { storeCredentialsFromEnv, type StoreCredentials } from '../../src/delta/store-config';
import { readWithDeltalake, type NormalizedRow } from '../../test/helpers/deltalake-reader';
import { goldKey, goldTruth, type SentRecord } from './truth';

export interface LayerCheck {
  rows: number;
  /** Truth records (or gold keys) with no row. */
  lost: number;
  /** Rows beyond one per record (or key), including rows for records that were never sent. */
  duplicated: number;
  /** Rows in the right place with the wrong content (payload, fields, error, table, gold value). */
  wrong: number;
  /** A few examples of each problem, for the report. */
  examples: string[];
}

export interface Verification {
  raw: LayerCheck;
  bronze: LayerCheck;
  gold: LayerCheck;
  truth: ReturnType<typeof goldTruth>['counts'];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function newCheck(): LayerCheck {
  return { rows: 0, lost: 0, duplicated: 0, wrong: 0, examples: [] };
}

function note(c: LayerCheck, what: 'lost' | 'duplicated' | 'wrong', n: number, example: string): void {
  c[what] += n;
  if (c.examples.length < 10) c.examples.push(`${what}: ${example}`);
}

/** Groups rows by (partition, offset) of the chaos topic. */
function byPosition(rows: NormalizedRow[], topic: string, check: LayerCheck): Map<string, NormalizedRow[]> {
  const out = new Map<string, NormalizedRow[]>();
  for (const r of rows) {
    if (r.topic !== topic) {
      note(check, 'duplicated', 1, `row of another topic ${String(r.topic)}`);
      continue;
    }
    const k = `${r.partition}/${r.offset}`;
    out.set(k, [...(out.get(k) ?? []), r]);
  }
  return out;
}

function expectedPayload(value: Buffer | null): { text: string | null; hex: string | null } {
  if (value === null) return { text: null, hex: null };
  try {
    return { text: utf8.decode(value), hex: null };
  } catch {
    return { text: null, hex: value.toString('hex') };
  }
}

export async function verifyLake(lakeRoot: string, topic: string, records: SentRecord[]): Promise<Verification> {
  const storage = isObjectStoreUrl(lakeRoot) ? deltalakeStorage(storeCredentialsFromEnv()) : undefined;
  const read = async (table: string) => (await readWithDeltalake(joinRoot(lakeRoot, ...table.split('/')), { storage })).rows;
  const [raw, bronze, deadLetter, gold] = [await read('raw/sensor_readings'), await read('bronze/sensor_readings'), await read('bronze/sensor_readings_dead_letter'), await read('gold/sensor_readings')];
  const sent = new Map(records.map((r) => [`${r.partition}/${r.offset}`, r]));
  const result: Verification = { raw: newCheck(), bronze: newCheck(), gold: newCheck(), truth: goldTruth(records).counts };

  // raw: every offset once, exact payload.
  result.raw.rows = raw.length;
  const rawAt = byPosition(raw, topic, result.raw);
  for (const [pos, r] of sent) {
    const rows = rawAt.get(pos) ?? [];
    if (rows.length === 0) note(result.raw, 'lost', 1, `offset ${pos}`);
    if (rows.length > 1) note(result.raw, 'duplicated', rows.length - 1, `offset ${pos} x${rows.length}`);
    const want = expectedPayload(r.value);
    if (rows.length > 0 && (rows[0].raw_payload !== want.text || rows[0].raw_payload_bytes !== want.hex)) note(result.raw, 'wrong', 1, `offset ${pos} payload differs`);
  }
  for (const [pos, rows] of rawAt) if (!sent.has(pos)) note(result.raw, 'duplicated', rows.length, `offset ${pos} was never sent`);

  // bronze ∪ dead letter = raw, disjoint; each record in the right table with the right content.
  result.bronze.rows = bronze.length + deadLetter.length;
  const goodAt = byPosition(bronze, topic, result.bronze);
  const badAt = byPosition(deadLetter, topic, result.bronze);
  for (const [pos, r] of sent) {
    const good = goodAt.get(pos) ?? [];
    const bad = badAt.get(pos) ?? [];
    const n = good.length + bad.length;
    if (n === 0) note(result.bronze, 'lost', 1, `offset ${pos} in neither bronze nor the dead letter`);
    if (n > 1) note(result.bronze, 'duplicated', n - 1, `offset ${pos}: ${good.length} in bronze, ${bad.length} in the dead letter`);
    if (n === 0) continue;
    if (r.reading) {
      const b = good[0];
      const ok = b && b.sensor_id === r.reading.sensor_id && b.value === r.reading.value && b.unit === r.reading.unit && b.ts_ms === String(r.reading.ts_ms);
      if (!ok) note(result.bronze, 'wrong', 1, `offset ${pos}: good record ${b ? `with fields ${JSON.stringify(b)}` : `dead-lettered as ${String(bad[0]?.error)}`}`);
    } else if (!bad[0] || bad[0].error !== r.error) {
      note(result.bronze, 'wrong', 1, `offset ${pos}: expected dead letter '${r.error}', got ${bad[0] ? `'${String(bad[0].error)}'` : 'a bronze row'}`);
    }
  }
  for (const [pos, rows] of [...goodAt, ...badAt]) if (!sent.has(pos)) note(result.bronze, 'duplicated', rows.length, `offset ${pos} was never sent`);

  // gold: one row per good key, latest value.
  result.gold.rows = gold.length;
  const { latest } = goldTruth(records);
  const goldAt = new Map<string, NormalizedRow[]>();
  for (const g of gold) {
    const k = goldKey(String(g.sensor_id), String(g.ts_ms));
    goldAt.set(k, [...(goldAt.get(k) ?? []), g]);
  }
  for (const [k, want] of latest) {
    const rows = goldAt.get(k) ?? [];
    const shown = k.replace('\u0000', ' @ ');
    if (rows.length === 0) note(result.gold, 'lost', 1, `key ${shown}`);
    if (rows.length > 1) note(result.gold, 'duplicated', rows.length - 1, `key ${shown} x${rows.length}`);
    if (rows.length > 0 && (rows[0].value !== want.value || rows[0].unit !== want.unit)) note(result.gold, 'wrong', 1, `key ${shown}: value ${String(rows[0].value)}, latest sent ${want.value}`);
  }
  for (const [k, rows] of goldAt) if (!latest.has(k)) note(result.gold, 'duplicated', rows.length, `key ${k.replace('\u0000', ' @ ')} is no good key`);
  return result;
}

/**
 * delta-rs storage options for an object-store lake, from the credentials the worker reads (env or
 * secret files); an http:// endpoint on this host is an emulator (Azurite / an S3 gateway).
 */
function deltalakeStorage(creds: StoreCredentials): { options: Record<string, string>; env: Record<string, string> } {
  const local = (url?: string) => !!url && /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(url);
  const env: Record<string, string> = {};
  if (process.env.AZURITE_BLOB_STORAGE_URL) env.AZURITE_BLOB_STORAGE_URL = process.env.AZURITE_BLOB_STORAGE_URL;
  const options: Record<string, string> = {};
  const az = creds.azure;
  if (az?.auth.kind === 'accountKey') Object.assign(options, { azure_storage_account_name: az.auth.accountName, azure_storage_account_key: az.auth.accountKey });
  if (az?.auth.kind === 'sas') Object.assign(options, { azure_storage_account_name: az.auth.accountName, azure_storage_sas_token: az.auth.sasToken });
  if (az?.auth.kind === 'connectionString') options.azure_storage_connection_string = az.auth.connectionString;
  if (az && local(az.endpoint)) options.azure_storage_use_emulator = 'true';
  const s3 = creds.s3;
  if (s3) {
    Object.assign(options, { aws_access_key_id: s3.accessKeyId, aws_secret_access_key: s3.secretAccessKey, aws_region: s3.region });
    if (s3.sessionToken) options.aws_session_token = s3.sessionToken;
    if (s3.endpoint) options.aws_endpoint_url = s3.endpoint;
    if (s3.endpoint?.startsWith('http://')) options.aws_allow_http = 'true';
  }
  return { options, env };
}
