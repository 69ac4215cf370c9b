/**
 * DuckDB secrets for tables on object stores, so `COPY … TO`, `read_parquet` and the delta extension's
 * `delta_scan` reach `az://` (azure extension) and `s3://` (httpfs extension) with the store's credentials.
 *
 * The statements carry secrets: they are built here, run once per DuckDB instance, and never logged; an error
 * from running one must go through `redactSecrets` (DuckDB echoes the failing SQL in its messages). Secrets are
 * TEMPORARY (in memory, gone with the instance) and SCOPEd to the container / bucket.
 *
 * Azurite: the delta extension hands Azure settings to delta-kernel-rs (object_store), which talks to an emulator
 * only for the account name `devstoreaccount1`, at the URL in the process environment's AZURITE_BLOB_STORAGE_URL
 * (default http://127.0.0.1:10000); the azure extension itself uses the connection string's BlobEndpoint. So an
 * emulator endpoint also sets AZURITE_BLOB_STORAGE_URL (the delta extension reads it at scan time).
 */
import { sqlString } from './sql';
import { parseStoreUrl, type AzureCredentials, type S3Credentials, type StoreCredentials, StoreConfigError } from './store-config';

export type StoreExtension = 'azure' | 'httpfs';

export interface DuckDBStoreSetup {
  /** The DuckDB extension to LOAD first. */
  extension: StoreExtension;
  /** CREATE SECRET statement: holds secrets, never log it. */
  createSecretSql: string;
  /** Process environment the delta extension needs (Azurite's URL), set before the first scan. */
  env: Record<string, string>;
}

const EMULATOR_ACCOUNT = 'devstoreaccount1';

function azureConnectionString(c: AzureCredentials): { connectionString: string; emulatorUrl?: string } {
  const a = c.auth;
  if (a.kind === 'connectionString') {
    const endpoint = /(?:^|;)\s*BlobEndpoint=([^;]+)/i.exec(a.connectionString)?.[1];
    const account = /(?:^|;)\s*AccountName=([^;]+)/i.exec(a.connectionString)?.[1];
    return { connectionString: a.connectionString, emulatorUrl: account === EMULATOR_ACCOUNT && endpoint ? new URL(endpoint).origin : undefined };
  }
  const endpoint = c.endpoint ?? `https://${a.accountName}.blob.core.windows.net`;
  const protocol = endpoint.startsWith('http://') ? 'http' : 'https';
  const credential = a.kind === 'accountKey' ? `AccountName=${a.accountName};AccountKey=${a.accountKey}` : `AccountName=${a.accountName};SharedAccessSignature=${a.sasToken}`;
  return {
    connectionString: `DefaultEndpointsProtocol=${protocol};${credential};BlobEndpoint=${endpoint};`,
    emulatorUrl: a.accountName === EMULATOR_ACCOUNT && c.endpoint ? new URL(c.endpoint).origin : undefined,
  };
}

function s3SecretOptions(c: S3Credentials): string[] {
  const opts = [
    `KEY_ID ${sqlString(c.accessKeyId)}`,
    `SECRET ${sqlString(c.secretAccessKey)}`,
    `REGION ${sqlString(c.region)}`,
  ];
  if (c.sessionToken) opts.push(`SESSION_TOKEN ${sqlString(c.sessionToken)}`);
  if (c.endpoint) {
    const u = new URL(c.endpoint);
    // httpfs wants host[:port] and USE_SSL separately.
    opts.push(`ENDPOINT ${sqlString(u.host)}`, `USE_SSL ${u.protocol === 'https:' ? 'true' : 'false'}`);
  }
  opts.push(`URL_STYLE ${sqlString(c.forcePathStyle ? 'path' : 'vhost')}`);
  return opts;
}

/** What to run in DuckDB for a table root on an object store; undefined for a local root. */
export function duckdbStoreSetup(root: string, creds: StoreCredentials): DuckDBStoreSetup | undefined {
  const loc = parseStoreUrl(root);
  if (loc.kind === 'local') return undefined;
  if (loc.kind === 'az') {
    if (!creds.azure) throw new StoreConfigError(`${root}: no Azure credentials configured (AZURE_STORAGE_*)`);
    const { connectionString, emulatorUrl } = azureConnectionString(creds.azure);
    return {
      extension: 'azure',
      createSecretSql:
        `CREATE OR REPLACE TEMPORARY SECRET ${secretName('az', loc.container)} ` +
        `(TYPE azure, CONNECTION_STRING ${sqlString(connectionString)}, SCOPE ${sqlString(`az://${loc.container}/`)})`,
      env: emulatorUrl ? { AZURITE_BLOB_STORAGE_URL: emulatorUrl } : {},
    };
  }
  if (!creds.s3) throw new StoreConfigError(`${root}: no S3 credentials configured (AWS_*)`);
  return {
    extension: 'httpfs',
    createSecretSql:
      `CREATE OR REPLACE TEMPORARY SECRET ${secretName('s3', loc.bucket)} ` +
      `(TYPE s3, ${s3SecretOptions(creds.s3).join(', ')}, SCOPE ${sqlString(`s3://${loc.bucket}/`)})`,
    env: {},
  };
}

function secretName(kind: string, bucket: string): string {
  return `tributary_${kind}_${bucket.replace(/[^a-z0-9]/g, '_')}`;
}
