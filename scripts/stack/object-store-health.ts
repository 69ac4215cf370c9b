/**
 * Waits until the stack's Azurite and versitygw answer with the generated credentials, creates the lake's
 * container / bucket, and runs the store probe (put-if-absent honoured) on both. Secrets come from the files named
 * by AZURITE_KEY_FILE, VERSITYGW_ACCESS_KEY_FILE, VERSITYGW_SECRET_KEY_FILE (never from argv).
 *
 *   tsx scripts/stack/object-store-health.ts --azure-endpoint URL --azure-account NAME --s3-endpoint URL \
 *     --bucket NAME --timeout-ms N
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { AzureBlobStore, azureServiceClient } from '../../src/delta/azure-store';
import { S3Store, s3Client } from '../../src/delta/s3-store';
import { probeStore } from '../../src/delta/store-probe';
import type { AzureCredentials, S3Credentials } from '../../src/delta/store-config';
import { errorCode } from '../../src/delta/object-store';

const { values } = parseArgs({
  options: {
    'azure-endpoint': { type: 'string' },
    'azure-account': { type: 'string' },
    's3-endpoint': { type: 'string' },
    bucket: { type: 'string' },
    'timeout-ms': { type: 'string', default: '30000' },
  },
});
const file = (env: string) => readFileSync(process.env[env]!, 'utf8').trim();

async function retry<T>(what: string, deadline: number, f: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what} not ready: ${(e as Error).message.split('\n')[0]}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function main(): Promise<void> {
  const deadline = Date.now() + Number(values['timeout-ms']);
  const bucket = values.bucket!;
  const azure: AzureCredentials = {
    auth: { kind: 'accountKey', accountName: values['azure-account']!, accountKey: file('AZURITE_KEY_FILE') },
    endpoint: values['azure-endpoint']!,
  };
  const s3: S3Credentials = {
    accessKeyId: file('VERSITYGW_ACCESS_KEY_FILE'),
    secretAccessKey: file('VERSITYGW_SECRET_KEY_FILE'),
    region: 'us-east-1',
    endpoint: values['s3-endpoint']!,
    forcePathStyle: true,
  };

  await retry('azurite', deadline, () => azureServiceClient(azure).getContainerClient(bucket).createIfNotExists());
  await probeStore(new AzureBlobStore(bucket, '', azure));
  console.log(`azurite healthy at ${azure.endpoint}, container ${bucket}, put-if-absent honoured`);

  const client = s3Client(s3);
  await retry('versitygw', deadline, async () => {
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (e) {
      if (errorCode(e) !== 'BucketAlreadyOwnedByYou' && errorCode(e) !== 'BucketAlreadyExists') throw e;
    }
  });
  client.destroy();
  const store = new S3Store(bucket, '', s3);
  await probeStore(store);
  store.close();
  console.log(`versitygw healthy at ${s3.endpoint}, bucket ${bucket}, put-if-absent honoured`);
}

main().catch((e: unknown) => {
  console.error(`object stores: ${(e as Error).message.split('\n')[0]}`);
  process.exit(1);
});
