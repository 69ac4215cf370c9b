/**
 * `TableStore` on S3 and S3-compatible endpoints: `s3://bucket/prefix`.
 *
 * Commits are `PutObject` with `If-None-Match: *` (S3 since 2024-08). A lost race answers 412 PreconditionFailed,
 * or 409 ConditionalRequestConflict while a competing conditional write is in flight - either way someone else
 * is writing that version, so the commit loop re-reads and retries. Endpoints that ignore the header (s3rver)
 * are refused by the startup probe (probeStore). Listing uses the server-side StartAfter.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { StoreNotFoundError, type StoredObject, type TableStore } from './storage';
import { byKey, errorCode, existingIsOurs, httpStatus, keyOf, objectName, statByListing, storeError } from './object-store';
import { secretsOf, storeUrl, StoreConfigError, type S3Credentials } from './store-config';

export function s3Client(creds: S3Credentials): S3Client {
  return new S3Client({
    region: creds.region,
    endpoint: creds.endpoint,
    forcePathStyle: creds.forcePathStyle,
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken },
    // Checksums only where S3 requires them: several S3-compatible servers reject the SDK's default CRC trailers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export class S3Store implements TableStore {
  readonly root: string;
  private readonly client: S3Client;
  private readonly secrets: string[];

  constructor(
    readonly bucket: string,
    readonly prefix: string,
    creds: S3Credentials | undefined,
  ) {
    if (!creds) {
      throw new StoreConfigError(
        's3:// needs S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE forms), ' +
          'AWS_REGION, and for S3-compatible servers AWS_ENDPOINT_URL_S3 and AWS_S3_FORCE_PATH_STYLE=true',
      );
    }
    this.root = storeUrl({ kind: 's3', bucket, prefix });
    this.secrets = secretsOf({ s3: creds });
    this.client = s3Client(creds);
  }

  locate(key: string): string {
    return key === '' ? this.root : `${this.root}/${key}`;
  }

  async read(key: string): Promise<Buffer> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectName(this.prefix, key) }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (e) {
      if (httpStatus(e) === 404 || errorCode(e) === 'NoSuchKey') throw new StoreNotFoundError(this.locate(key));
      throw storeError('read', this.locate(key), e, this.secrets);
    }
  }

  async list(prefix: string, opts: { startAfter?: string } = {}): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const res: ListObjectsV2CommandOutput = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: objectName(this.prefix, prefix),
            StartAfter: opts.startAfter !== undefined && !token ? objectName(this.prefix, opts.startAfter) : undefined,
            ContinuationToken: token,
          }),
        );
        for (const o of res.Contents ?? []) {
          const key = keyOf(this.prefix, o.Key!);
          // StartAfter is applied by the server; the check keeps servers that ignore it correct.
          if (opts.startAfter !== undefined && Buffer.compare(Buffer.from(key), Buffer.from(opts.startAfter)) <= 0) continue;
          out.push({ key, size: o.Size ?? 0, lastModified: o.LastModified?.getTime() ?? 0 });
        }
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw storeError('list', this.locate(prefix), e, this.secrets);
    }
    return out.sort(byKey);
  }

  async putIfAbsent(key: string, body: Buffer): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: objectName(this.prefix, key), Body: body, IfNoneMatch: '*' }),
      );
      return true;
    } catch (e) {
      const status = httpStatus(e);
      if (status === 412 || (status === 409 && errorCode(e) === 'ConditionalRequestConflict')) {
        return existingIsOurs(() => this.read(key), body);
      }
      throw storeError('put-if-absent', this.locate(key), e, this.secrets);
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: objectName(this.prefix, key), Body: body }));
    } catch (e) {
      throw storeError('put', this.locate(key), e, this.secrets);
    }
  }

  stat(key: string): Promise<StoredObject> {
    return statByListing(this, key);
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectName(this.prefix, key) }));
    } catch (e) {
      if (httpStatus(e) === 404) return;
      throw storeError('delete', this.locate(key), e, this.secrets);
    }
  }

  /** Closes the HTTP connection pool (tests, short-lived CLIs). */
  close(): void {
    this.client.destroy();
  }
}
