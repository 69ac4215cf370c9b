/** Table-root URLs and object-store credentials from the environment (validated; secrets never in messages). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseStoreUrl, redactSecrets, secretsOf, storeCredentialsFromEnv, storeUrl, StoreConfigError } from '../../src/delta/store-config';

describe('parseStoreUrl', () => {
  it('tells local paths, az:// and s3:// roots apart', () => {
    expect(parseStoreUrl('/var/lake/raw')).toEqual({ kind: 'local', path: '/var/lake/raw' });
    expect(parseStoreUrl('./lake')).toEqual({ kind: 'local', path: './lake' });
    expect(parseStoreUrl('az://lake/prod/raw')).toEqual({ kind: 'az', container: 'lake', prefix: 'prod/raw' });
    expect(parseStoreUrl('s3://my.bucket/raw/')).toEqual({ kind: 's3', bucket: 'my.bucket', prefix: 'raw' });
    expect(parseStoreUrl('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
    expect(storeUrl(parseStoreUrl('az://lake/prod/raw'))).toBe('az://lake/prod/raw');
  });

  it('refuses other schemes, bad bucket names and prefixes that would need escaping', () => {
    expect(() => parseStoreUrl('abfss://c@acct.dfs.core.windows.net/x')).toThrow(StoreConfigError);
    expect(() => parseStoreUrl('gs://bucket/x')).toThrow(/unsupported/);
    expect(() => parseStoreUrl('s3://B/x')).toThrow(/bucket/);
    expect(() => parseStoreUrl("s3://bucket/it's")).toThrow(/segments/);
    expect(() => parseStoreUrl('az://lake/a//b')).toThrow(/segments/);
  });
});

describe('storeCredentialsFromEnv', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-config-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads Azure account key and S3 keys from files, with S3 endpoint settings', () => {
    fs.writeFileSync(path.join(dir, 'key'), 'a2V5a2V5a2V5\n');
    fs.writeFileSync(path.join(dir, 'secret'), 'sss-secret\n');
    const creds = storeCredentialsFromEnv({
      AZURE_STORAGE_ACCOUNT_NAME: 'acct1',
      AZURE_STORAGE_ACCOUNT_KEY_FILE: path.join(dir, 'key'),
      AZURE_STORAGE_ENDPOINT: 'http://127.0.0.1:10000/acct1/',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY_FILE: path.join(dir, 'secret'),
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:7070',
      AWS_S3_FORCE_PATH_STYLE: 'true',
    });
    expect(creds.azure).toEqual({ auth: { kind: 'accountKey', accountName: 'acct1', accountKey: 'a2V5a2V5a2V5' }, endpoint: 'http://127.0.0.1:10000/acct1' });
    expect(creds.s3).toEqual({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'sss-secret',
      sessionToken: undefined,
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:7070',
      forcePathStyle: true,
    });
  });

  it('accepts a connection string or a SAS token, and nothing configured means no store block', () => {
    expect(storeCredentialsFromEnv({})).toEqual({});
    expect(storeCredentialsFromEnv({ AZURE_STORAGE_CONNECTION_STRING: 'AccountName=a;AccountKey=k1k1' }).azure?.auth.kind).toBe('connectionString');
    expect(storeCredentialsFromEnv({ AZURE_STORAGE_ACCOUNT_NAME: 'acct1', AZURE_STORAGE_SAS_TOKEN: '?sv=1&sig=abcd' }).azure?.auth).toEqual({
      kind: 'sas',
      accountName: 'acct1',
      sasToken: 'sv=1&sig=abcd',
    });
  });

  it('fails clearly without ever echoing a secret value', () => {
    const secret = 'topsecret-value-123';
    const messages: string[] = [];
    for (const env of [
      { AWS_SECRET_ACCESS_KEY: secret },
      { AZURE_STORAGE_ACCOUNT_KEY: secret },
      { AZURE_STORAGE_ACCOUNT_NAME: 'BAD NAME', AZURE_STORAGE_ACCOUNT_KEY: secret },
      { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: secret, AWS_ENDPOINT_URL_S3: `ftp://${secret}` },
      { AWS_SECRET_ACCESS_KEY_FILE: path.join(dir, 'missing') },
    ]) {
      try {
        storeCredentialsFromEnv(env);
        messages.push('no error');
      } catch (e) {
        expect(e).toBeInstanceOf(StoreConfigError);
        messages.push((e as Error).message);
      }
    }
    expect(messages).not.toContain('no error');
    for (const m of messages) expect(m).not.toContain(secret);
  });

  it('redacts secrets, their URL-encoded forms, and SAS signatures by shape', () => {
    const creds = storeCredentialsFromEnv({ AZURE_STORAGE_CONNECTION_STRING: 'AccountName=a;AccountKey=abc+/def==;EndpointSuffix=x' });
    const text = 'GET ...AccountKey=abc+/def== and abc%2B%2Fdef%3D%3D and ?sv=1&sig=zzz&se=2';
    const out = redactSecrets(text, secretsOf(creds));
    expect(out).not.toMatch(/abc\+|abc%2B|zzz/);
  });
});
