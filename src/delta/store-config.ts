/**
 * Where a table root lives and how to reach it: `az://container/prefix` (Azure Blob / ADLS Gen2 through the Blob
 * API), `s3://bucket/prefix` (AWS S3 and S3-compatible endpoints), or a local path.
 *
 * Credentials come from the environment or from files it names (`…_FILE`), validated with zod. They live only in
 * the worker process that builds a store: never in workflow or activity arguments, never in a table URL, never in
 * a log line or error message (`redactSecrets` scrubs any error text that leaves a store).
 */
import * as fs from 'node:fs';
import { z } from 'zod';

export type StoreLocation =
  | { kind: 'local'; path: string }
  | { kind: 'az'; container: string; prefix: string }
  | { kind: 's3'; bucket: string; prefix: string };

export class StoreConfigError extends Error {
  override name = 'StoreConfigError';
}

// Azure container names: 3-63 lower-case letters, digits, hyphens. S3 bucket names: 3-63, also dots.
const AZ_CONTAINER = /^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$/;
const S3_BUCKET = /^[a-z0-9](?:[a-z0-9.-]{1,61})[a-z0-9]$/;
// Prefix segments are kept to a safe alphabet: they end up in DuckDB SQL strings and in URLs.
const PREFIX = /^(?:[A-Za-z0-9._=-]+)(?:\/[A-Za-z0-9._=-]+)*$/;

/** Parses a table root (or lake root). A path without a scheme is local; other schemes are refused. */
export function parseStoreUrl(url: string): StoreLocation {
  const m = /^([a-z0-9]+):\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!m) return { kind: 'local', path: url };
  const [, scheme, host, rest] = m;
  const prefix = (rest ?? '').replace(/\/+$/, '');
  if (prefix !== '' && !PREFIX.test(prefix)) {
    throw new StoreConfigError(`${scheme}:// path '${prefix}' must be '/'-separated segments of letters, digits, . _ = -`);
  }
  if (scheme === 'az') {
    if (!AZ_CONTAINER.test(host!)) throw new StoreConfigError(`az:// container '${host}' is not a valid container name`);
    return { kind: 'az', container: host!, prefix };
  }
  if (scheme === 's3') {
    if (!S3_BUCKET.test(host!)) throw new StoreConfigError(`s3:// bucket '${host}' is not a valid bucket name`);
    return { kind: 's3', bucket: host!, prefix };
  }
  throw new StoreConfigError(`unsupported table root scheme '${scheme}://' (use a local path, az://container/prefix or s3://bucket/prefix)`);
}

/** A store URL for a location (inverse of parseStoreUrl for az/s3). */
export function storeUrl(loc: StoreLocation): string {
  if (loc.kind === 'local') return loc.path;
  const host = loc.kind === 'az' ? loc.container : loc.bucket;
  return `${loc.kind}://${host}${loc.prefix ? `/${loc.prefix}` : ''}`;
}

export type AzureAuth =
  | { kind: 'connectionString'; connectionString: string }
  | { kind: 'accountKey'; accountName: string; accountKey: string }
  | { kind: 'sas'; accountName: string; sasToken: string };

export interface AzureCredentials {
  auth: AzureAuth;
  /** Blob service URL, e.g. https://ACCOUNT.blob.core.windows.net or http://127.0.0.1:10000/ACCOUNT (Azurite). */
  endpoint?: string;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
  /** S3-compatible endpoint URL (http://host:port); unset = AWS. */
  endpoint?: string;
  forcePathStyle: boolean;
}

export interface StoreCredentials {
  azure?: AzureCredentials;
  s3?: S3Credentials;
}

const opt = z.string().trim().min(1).optional();
const url = z
  .string()
  .trim()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
  .transform((u) => u.replace(/\/+$/, ''))
  .optional();

const StoreEnvSchema = z.object({
  AZURE_STORAGE_CONNECTION_STRING: opt,
  AZURE_STORAGE_CONNECTION_STRING_FILE: opt,
  AZURE_STORAGE_ACCOUNT_NAME: z.string().regex(/^[a-z0-9]{3,24}$/, '3-24 lower-case letters and digits').optional(),
  AZURE_STORAGE_ACCOUNT_KEY: opt,
  AZURE_STORAGE_ACCOUNT_KEY_FILE: opt,
  AZURE_STORAGE_SAS_TOKEN: opt,
  AZURE_STORAGE_SAS_TOKEN_FILE: opt,
  AZURE_STORAGE_ENDPOINT: url,
  AWS_ACCESS_KEY_ID: opt,
  AWS_ACCESS_KEY_ID_FILE: opt,
  AWS_SECRET_ACCESS_KEY: opt,
  AWS_SECRET_ACCESS_KEY_FILE: opt,
  AWS_SESSION_TOKEN: opt,
  AWS_REGION: z.string().regex(/^[a-z0-9-]{2,32}$/).default('us-east-1'),
  AWS_ENDPOINT_URL_S3: url,
  AWS_S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

/** The value of NAME, or the trimmed content of the file named by NAME_FILE. The message names the variable only. */
function secret(env: Record<string, string | undefined>, name: string): string | undefined {
  if (env[name]) return env[name];
  const file = env[`${name}_FILE`];
  if (!file) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new StoreConfigError(`${name}_FILE: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!text) throw new StoreConfigError(`${name}_FILE: ${file} is empty`);
  return text;
}

/**
 * Object-store credentials from the environment. Each store's block is present only when configured; asking for
 * a store that is not configured fails where the store is built, naming the variables to set.
 */
export function storeCredentialsFromEnv(env: Record<string, string | undefined> = process.env): StoreCredentials {
  const parsed = StoreEnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    // zod messages carry the variable name and the rule, never the value.
    throw new StoreConfigError(`invalid store environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const e = parsed.data;
  const out: StoreCredentials = {};

  const connectionString = secret(env, 'AZURE_STORAGE_CONNECTION_STRING');
  const accountKey = secret(env, 'AZURE_STORAGE_ACCOUNT_KEY');
  const sasToken = secret(env, 'AZURE_STORAGE_SAS_TOKEN');
  if (connectionString) {
    out.azure = { auth: { kind: 'connectionString', connectionString }, endpoint: e.AZURE_STORAGE_ENDPOINT };
  } else if (accountKey || sasToken) {
    const accountName = e.AZURE_STORAGE_ACCOUNT_NAME;
    if (!accountName) throw new StoreConfigError('AZURE_STORAGE_ACCOUNT_KEY / AZURE_STORAGE_SAS_TOKEN need AZURE_STORAGE_ACCOUNT_NAME');
    out.azure = {
      auth: accountKey ? { kind: 'accountKey', accountName, accountKey } : { kind: 'sas', accountName, sasToken: sasToken!.replace(/^\?/, '') },
      endpoint: e.AZURE_STORAGE_ENDPOINT,
    };
  }

  const accessKeyId = secret(env, 'AWS_ACCESS_KEY_ID');
  const secretAccessKey = secret(env, 'AWS_SECRET_ACCESS_KEY');
  if (accessKeyId || secretAccessKey) {
    if (!accessKeyId || !secretAccessKey) throw new StoreConfigError('S3 needs both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE forms)');
    out.s3 = {
      accessKeyId,
      secretAccessKey,
      sessionToken: e.AWS_SESSION_TOKEN,
      region: e.AWS_REGION,
      endpoint: e.AWS_ENDPOINT_URL_S3,
      forcePathStyle: e.AWS_S3_FORCE_PATH_STYLE,
    };
  }
  return out;
}

/** The secret strings in a credentials object (and their URL-encoded forms), for redaction. */
export function secretsOf(creds: StoreCredentials): string[] {
  const raw: string[] = [];
  const a = creds.azure?.auth;
  if (a?.kind === 'connectionString') {
    raw.push(a.connectionString);
    for (const part of a.connectionString.split(';')) {
      const m = /^(AccountKey|SharedAccessSignature)=(.+)$/i.exec(part.trim());
      if (m) raw.push(m[2]!);
    }
  }
  if (a?.kind === 'accountKey') raw.push(a.accountKey);
  if (a?.kind === 'sas') raw.push(a.sasToken, ...a.sasToken.split('&').filter((p) => p.startsWith('sig=')).map((p) => p.slice(4)));
  if (creds.s3) raw.push(creds.s3.secretAccessKey, creds.s3.accessKeyId, ...(creds.s3.sessionToken ? [creds.s3.sessionToken] : []));
  const all = new Set<string>();
  for (const s of raw) {
    if (s.length < 4) continue;
    all.add(s);
    all.add(encodeURIComponent(s));
    try {
      all.add(decodeURIComponent(s));
    } catch {
      /* not URL-encoded */
    }
  }
  // Longest first, so a connection string is replaced whole before its key part.
  return [...all].sort((x, y) => y.length - x.length);
}

/** Replaces every secret in `text` with `***`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  // SAS signatures and account keys that were not ours (e.g. echoed back by a server) are scrubbed by shape too.
  return out.replace(/([?&]sig=)[^&\s"']+/gi, '$1***').replace(/(AccountKey=)[^;\s"']+/gi, '$1***');
}
