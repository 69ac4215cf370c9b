/**
 * `TableStore` on Azure Blob Storage (and ADLS Gen2 accounts, through their Blob API): `az://container/prefix`.
 *
 * Commits are a conditional upload (`If-None-Match: *`, a lost race answers 409 BlobAlreadyExists); nothing
 * relies on rename, which the Blob API lacks. Listing has no server-side "start after" in the Blob API, so keys
 * are filtered after a prefix listing (delta-rs' object_store does the same); the prefix narrows it to the log.
 */
import { BlobServiceClient, ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { StoreNotFoundError, type StoredObject, type TableStore } from './storage';
import { byKey, existingIsOurs, httpStatus, keyOf, objectName, statByListing, storeError } from './object-store';
import { secretsOf, storeUrl, StoreConfigError, type AzureCredentials } from './store-config';

export function azureServiceClient(creds: AzureCredentials): BlobServiceClient {
  const a = creds.auth;
  if (a.kind === 'connectionString') return BlobServiceClient.fromConnectionString(a.connectionString);
  const endpoint = creds.endpoint ?? `https://${a.accountName}.blob.core.windows.net`;
  if (a.kind === 'accountKey') return new BlobServiceClient(endpoint, new StorageSharedKeyCredential(a.accountName, a.accountKey));
  return new BlobServiceClient(`${endpoint}?${a.sasToken}`);
}

export class AzureBlobStore implements TableStore {
  readonly root: string;
  private readonly container: ContainerClient;
  private readonly secrets: string[];

  constructor(
    readonly containerName: string,
    readonly prefix: string,
    creds: AzureCredentials | undefined,
  ) {
    if (!creds) {
      throw new StoreConfigError(
        'az:// needs Azure credentials: AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with ' +
          'AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN (each also as a _FILE)',
      );
    }
    this.root = storeUrl({ kind: 'az', container: containerName, prefix });
    this.secrets = secretsOf({ azure: creds });
    this.container = azureServiceClient(creds).getContainerClient(containerName);
  }

  locate(key: string): string {
    return key === '' ? this.root : `${this.root}/${key}`;
  }

  private blob(key: string) {
    return this.container.getBlockBlobClient(objectName(this.prefix, key));
  }

  async read(key: string): Promise<Buffer> {
    try {
      // One GET: downloadToBuffer() asks for the size first (a HEAD per read), doubling the requests of every log read.
      const res = await this.blob(key).download();
      const chunks: Buffer[] = [];
      for await (const c of res.readableStreamBody!) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    } catch (e) {
      if (httpStatus(e) === 404) throw new StoreNotFoundError(this.locate(key));
      throw storeError('read', this.locate(key), e, this.secrets);
    }
  }

  async list(prefix: string, opts: { startAfter?: string } = {}): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    try {
      for await (const item of this.container.listBlobsFlat({ prefix: objectName(this.prefix, prefix) })) {
        const key = keyOf(this.prefix, item.name);
        if (opts.startAfter !== undefined && Buffer.compare(Buffer.from(key), Buffer.from(opts.startAfter)) <= 0) continue;
        out.push({ key, size: item.properties.contentLength ?? 0, lastModified: item.properties.lastModified.getTime() });
      }
    } catch (e) {
      throw storeError('list', this.locate(prefix), e, this.secrets);
    }
    return out.sort(byKey);
  }

  async putIfAbsent(key: string, body: Buffer): Promise<boolean> {
    try {
      await this.blob(key).upload(body, body.length, { conditions: { ifNoneMatch: '*' } });
      return true;
    } catch (e) {
      // 409 BlobAlreadyExists is the documented answer; 412 ConditionNotMet is accepted from emulators/proxies.
      const status = httpStatus(e);
      if (status === 409 || status === 412) return existingIsOurs(() => this.read(key), body);
      throw storeError('put-if-absent', this.locate(key), e, this.secrets);
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    try {
      await this.blob(key).upload(body, body.length);
    } catch (e) {
      throw storeError('put', this.locate(key), e, this.secrets);
    }
  }

  stat(key: string): Promise<StoredObject> {
    return statByListing(this, key);
  }

  async delete(key: string): Promise<void> {
    try {
      await this.blob(key).deleteIfExists();
    } catch (e) {
      throw storeError('delete', this.locate(key), e, this.secrets);
    }
  }
}
