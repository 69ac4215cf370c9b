/**
 * Delta log actions (PROTOCOL.md "Actions") as a discriminated union: each action is an object
 * with exactly one key naming its kind. Constructors for the ones tributary writes, the
 * one-version consistency rules, and the commit-file encoding (newline-delimited JSON).
 */
import { DeltaLogCorruptError, UnsupportedDeltaFeatureError } from './errors';

export interface AddAction {
  path: string;
  partitionValues: Record<string, string | null>;
  size: number;
  modificationTime: number;
  dataChange: boolean;
  stats?: string;
  /** Never written by tributary; present only to be refused when read (deletion vectors are unsupported). */
  deletionVector?: unknown;
}

export interface RemoveAction {
  path: string;
  deletionTimestamp?: number;
  dataChange: boolean;
  extendedFileMetadata?: boolean;
  partitionValues?: Record<string, string | null>;
  size?: number;
}

export interface TxnAction {
  appId: string;
  version: number;
  lastUpdated?: number;
}

export interface DeltaProtocol {
  minReaderVersion: number;
  minWriterVersion: number;
  readerFeatures?: string[];
  writerFeatures?: string[];
}

/** `metaData` as stored in the log (the parsed schema lives in TableMetadata, see schema.ts). */
export interface MetadataAction {
  id: string;
  name?: string;
  description?: string;
  format: { provider: string; options: Record<string, string> };
  schemaString: string;
  partitionColumns: string[];
  createdTime?: number;
  configuration: Record<string, string>;
}

/** Provenance of a commit; always the first line of a commit file tributary writes. */
export interface CommitInfo {
  timestamp?: number;
  operation?: string;
  operationParameters?: Record<string, unknown>;
  engineInfo?: string;
  [key: string]: unknown;
}

/** The actions a commit may carry besides commitInfo (which the transaction writes itself). */
export type Action =
  | { add: AddAction }
  | { remove: RemoveAction }
  | { txn: TxnAction }
  | { protocol: DeltaProtocol }
  | { metaData: MetadataAction }
  | { cdc: Record<string, unknown> }
  | { domainMetadata: Record<string, unknown> };

/** An action as read back from a log: also commitInfo (unknown kinds are dropped, as PROTOCOL.md asks). */
export type LogAction = Action | { commitInfo: CommitInfo } | { sidecar: unknown } | { checkpointMetadata: unknown };

const KNOWN_KINDS = new Set(['add', 'remove', 'txn', 'protocol', 'metaData', 'cdc', 'domainMetadata', 'commitInfo', 'sidecar', 'checkpointMetadata']);
const WRITABLE_KINDS = new Set(['add', 'remove', 'txn', 'protocol', 'metaData', 'cdc', 'domainMetadata']);

/** `{txn:{appId, version, lastUpdated}}` – records app progress atomically with the data it wrote. */
export function txnAction(appId: string, version: number): Action {
  if (typeof appId !== 'string' || appId.length === 0) throw new Error('txn appId must be a non-empty string');
  if (!Number.isSafeInteger(version)) throw new Error(`txn version must be a safe integer, got ${version}`);
  return { txn: { appId, version, lastUpdated: Date.now() } };
}

/**
 * `{remove:{…}}` for a live file. dataChange=false is for rewrites that keep the same rows
 * (compaction); copy-on-write updates/deletes keep the default true.
 */
export function removeAction(add: AddAction, opts: { dataChange?: boolean; deletionTimestamp?: number } = {}): Action {
  return {
    remove: {
      path: add.path,
      deletionTimestamp: opts.deletionTimestamp ?? Date.now(),
      dataChange: opts.dataChange ?? true,
      extendedFileMetadata: true,
      partitionValues: add.partitionValues ?? {},
      size: add.size,
    },
  };
}

/** `{add:{…}}` wrapper; dataChange can be overridden (false for compaction output). */
export function addAction(add: AddAction, opts: { dataChange?: boolean } = {}): Action {
  return { add: { ...add, dataChange: opts.dataChange ?? add.dataChange } };
}

/** numRecords from an add's stats (null when the writer wrote no stats). */
export function recordCountOf(add: AddAction): number | null {
  if (!add.stats) return null;
  const n = (JSON.parse(add.stats) as { numRecords?: number }).numRecords;
  return typeof n === 'number' ? n : null;
}

/** PROTOCOL.md "Delta Log Entries": one version must not contain actions that reconcile with each other. */
export function validateActions(actions: readonly Action[]): void {
  const adds = new Set<string>();
  const removes = new Set<string>();
  const apps = new Set<string>();
  let meta = 0;
  let proto = 0;
  for (const a of actions) {
    const keys = Object.keys(a);
    if (keys.length !== 1 || !WRITABLE_KINDS.has(keys[0])) {
      throw new Error(`invalid Delta action ${JSON.stringify(a).slice(0, 200)} (expected one of ${[...WRITABLE_KINDS].join(', ')}; pass commitInfo separately)`);
    }
    if ('add' in a) {
      if (adds.has(a.add.path)) throw new Error(`duplicate add for ${a.add.path} in one commit`);
      adds.add(a.add.path);
    } else if ('remove' in a) {
      if (removes.has(a.remove.path)) throw new Error(`duplicate remove for ${a.remove.path} in one commit`);
      removes.add(a.remove.path);
    } else if ('txn' in a) {
      if (apps.has(a.txn.appId)) throw new Error(`duplicate txn for appId ${a.txn.appId} in one commit`);
      apps.add(a.txn.appId);
    } else if ('metaData' in a && ++meta > 1) throw new Error('more than one metaData action in one commit');
    else if ('protocol' in a && ++proto > 1) throw new Error('more than one protocol action in one commit');
  }
}

/** A commit file's bytes: commitInfo first (as In-Commit Timestamps would require), one action per line. */
export function encodeCommit(commitInfo: CommitInfo, actions: readonly Action[]): Buffer {
  return Buffer.from([{ commitInfo }, ...actions].map((a) => JSON.stringify(a)).join('\n') + '\n', 'utf8');
}

/**
 * Parses a commit file (newline-delimited JSON). Numbers are normalised (size as a number, add
 * partitionValues defaulted); kinds PROTOCOL.md does not define are dropped.
 */
export function decodeCommit(bytes: Buffer | string, where: string): LogAction[] {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
  const out: LogAction[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line);
    } catch (e) {
      throw new DeltaLogCorruptError(`${where}:${i + 1}: invalid JSON: ${(e as Error).message}`);
    }
    const action = normalizeAction(parsed, where);
    if (action) out.push(action);
  }
  return out;
}

/** One action object from a commit line or a checkpoint row, normalised; null for unknown kinds. */
export function normalizeAction(parsed: Record<string, unknown>, where: string): LogAction | null {
  const kind = Object.keys(parsed).find((k) => KNOWN_KINDS.has(k) && parsed[k] !== null && parsed[k] !== undefined);
  if (!kind) return null;
  const body = parsed[kind] as Record<string, unknown>;
  switch (kind) {
    case 'add': {
      if (body.deletionVector) throw new UnsupportedDeltaFeatureError(`${where}: deletion vectors are not supported (file ${String(body.path)})`);
      const add: AddAction = {
        path: String(body.path),
        partitionValues: (body.partitionValues as Record<string, string | null>) ?? {},
        size: Number(body.size),
        modificationTime: Number(body.modificationTime),
        dataChange: body.dataChange !== false,
        ...(body.stats != null ? { stats: String(body.stats) } : {}),
      };
      return { add };
    }
    case 'remove':
      if (body.deletionVector) throw new UnsupportedDeltaFeatureError(`${where}: deletion vectors are not supported (file ${String(body.path)})`);
      return { remove: { ...(body as unknown as RemoveAction), dataChange: body.dataChange !== false } };
    case 'txn':
      return { txn: { ...(body as unknown as TxnAction), version: Number(body.version) } };
    case 'metaData': {
      const m = body as unknown as MetadataAction;
      return {
        metaData: {
          ...m,
          partitionColumns: m.partitionColumns ?? [],
          configuration: m.configuration ?? {},
          format: m.format ?? { provider: 'parquet', options: {} },
        },
      };
    }
    default:
      return { [kind]: body } as LogAction;
  }
}
