/**
 * The object stores of the local stack (`npm run stack -- up --object-stores`: Azurite and versitygw), as test
 * targets: credentials read from the stack's secret files, endpoints from .stack/stack.env. A store that is not up
 * is simply not a target; .ci/run and the README's test command start both, so CI always runs them.
 */
import * as fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { readStackEnv } from '../../src/config';
import type { StoreCredentials } from '../../src/delta/store-config';

export interface ObjectStoreTarget {
  name: 'azurite' | 'versitygw';
  scheme: 'az' | 's3';
  /** The container / bucket the stack created. */
  bucket: string;
  creds: StoreCredentials;
  /** A fresh root under the bucket for one test: az://bucket/tests/<name>-<uuid>. */
  freshRoot(name: string): string;
  /** Environment that DuckDB's delta extension (and delta-rs) need besides the secret (Azurite's URL). */
  env: Record<string, string>;
  /**
   * The worker environment for a lake on this store (credentials as _FILE variables: no secret in the env):
   * what a deployment sets, and what the stages read through storeCredentialsFromEnv.
   */
  workerEnv: Record<string, string>;
  /** delta-rs (Python deltalake) storage options for this store, given the emulator endpoint. */
  deltalake: { options: Record<string, string>; env: Record<string, string> };
}

function env(): Record<string, string> {
  const merged: Record<string, string> = { ...readStackEnv() };
  for (const [k, v] of Object.entries(process.env)) if (v) merged[k] = v;
  return merged;
}

const readSecret = (file: string) => fs.readFileSync(file, 'utf8').trim();

export function objectStoreTargets(): ObjectStoreTarget[] {
  const e = env();
  const out: ObjectStoreTarget[] = [];
  if (e.AZURITE_BLOB_ENDPOINT && e.AZURITE_ACCOUNT_KEY_FILE && e.AZURITE_CONTAINER) {
    const bucket = e.AZURITE_CONTAINER;
    out.push({
      name: 'azurite',
      scheme: 'az',
      bucket,
      creds: {
        azure: {
          auth: { kind: 'accountKey', accountName: e.AZURITE_ACCOUNT ?? 'devstoreaccount1', accountKey: readSecret(e.AZURITE_ACCOUNT_KEY_FILE) },
          endpoint: e.AZURITE_BLOB_ENDPOINT,
        },
      },
      freshRoot: (name) => `az://${bucket}/tests/${name}-${randomUUID()}`,
      workerEnv: {
        AZURE_STORAGE_ACCOUNT_NAME: e.AZURITE_ACCOUNT ?? 'devstoreaccount1',
        AZURE_STORAGE_ACCOUNT_KEY_FILE: e.AZURITE_ACCOUNT_KEY_FILE,
        AZURE_STORAGE_ENDPOINT: e.AZURITE_BLOB_ENDPOINT,
      },
      env: e.AZURITE_BLOB_STORAGE_URL ? { AZURITE_BLOB_STORAGE_URL: e.AZURITE_BLOB_STORAGE_URL } : {},
      deltalake: {
        options: {
          azure_storage_account_name: e.AZURITE_ACCOUNT ?? 'devstoreaccount1',
          azure_storage_account_key: readSecret(e.AZURITE_ACCOUNT_KEY_FILE),
          azure_storage_use_emulator: 'true',
        },
        env: e.AZURITE_BLOB_STORAGE_URL ? { AZURITE_BLOB_STORAGE_URL: e.AZURITE_BLOB_STORAGE_URL } : {},
      },
    });
  }
  if (e.VERSITYGW_ENDPOINT && e.VERSITYGW_ACCESS_KEY_FILE && e.VERSITYGW_SECRET_KEY_FILE && e.VERSITYGW_BUCKET) {
    const bucket = e.VERSITYGW_BUCKET;
    out.push({
      name: 'versitygw',
      scheme: 's3',
      bucket,
      creds: {
        s3: {
          accessKeyId: readSecret(e.VERSITYGW_ACCESS_KEY_FILE),
          secretAccessKey: readSecret(e.VERSITYGW_SECRET_KEY_FILE),
          region: 'us-east-1',
          endpoint: e.VERSITYGW_ENDPOINT,
          forcePathStyle: true,
        },
      },
      freshRoot: (name) => `s3://${bucket}/tests/${name}-${randomUUID()}`,
      workerEnv: {
        AWS_ACCESS_KEY_ID_FILE: e.VERSITYGW_ACCESS_KEY_FILE,
        AWS_SECRET_ACCESS_KEY_FILE: e.VERSITYGW_SECRET_KEY_FILE,
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_S3: e.VERSITYGW_ENDPOINT,
        AWS_S3_FORCE_PATH_STYLE: 'true',
      },
      env: {},
      deltalake: {
        options: {
          aws_access_key_id: readSecret(e.VERSITYGW_ACCESS_KEY_FILE),
          aws_secret_access_key: readSecret(e.VERSITYGW_SECRET_KEY_FILE),
          aws_region: 'us-east-1',
          aws_endpoint_url: e.VERSITYGW_ENDPOINT,
          aws_allow_http: 'true',
        },
        env: {},
      },
    });
  }
  return out;
}

/**
 * Whether the object stores were asked for: CI and `npm test` (scripts/test.sh) set STACK_OBJECT_STORES=1 and
 * start them. Then a store that is not up fails the suites that need it instead of skipping them.
 */
const objectStoresRequired = () => process.env.STACK_OBJECT_STORES === '1';

let warned = false;
/**
 * The object stores to run on, loudly: when STACK_OBJECT_STORES=1 and one is not up this throws (the suite
 * fails); otherwise a store that is not up is left out with a warning on stderr, and a skipped test names it.
 */
export function requiredObjectStoreTargets(): ObjectStoreTarget[] {
  const up = objectStoreTargets();
  const missing = (['azurite', 'versitygw'] as const).filter((n) => !up.some((t) => t.name === n));
  if (missing.length === 0) return up;
  const what = `${missing.join(' and ')} not up: the az:// / s3:// runs of this suite are SKIPPED (start them: npm run stack -- up --object-stores)`;
  if (objectStoresRequired()) throw new Error(`STACK_OBJECT_STORES=1 but ${what.replace(/: the.*SKIPPED/, '')}`);
  if (!warned) {
    warned = true;
    process.stderr.write(`\nWARNING: ${what}\n`);
  }
  it.skip(`${what}`, () => undefined);
  return up;
}
