/**
 * Snapshots: the table state at a version (protocol, metadata, live files, tombstones, txn
 * versions), built so that its cost does not grow with the table's age:
 *
 *  - a cold load starts from `_last_checkpoint` and lists only the log files from that version on
 *    (`list(prefix, {startAfter})`); it falls back to a full listing only when the hint is absent,
 *    stale beyond use or points at a checkpoint that is gone;
 *  - each process keeps the latest snapshot per table and advances it from the commits after it
 *    (a listing from its version: a handful of keys), instead of re-reading the checkpoint on every
 *    commit attempt. The cached version's own commit file must still be there with the same size
 *    and mtime, else the table was replaced and the load starts cold.
 *
 * Snapshots are shared between callers: their maps are read-only.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { decodeCommit, type AddAction, type DeltaProtocol, type LogAction, type MetadataAction, type RemoveAction } from './actions';
import { readCheckpointActions, readLastCheckpoint } from './checkpoint';
import { DeltaLogCorruptError, DeltaTableNotFoundError, UnsupportedDeltaFeatureError } from './errors';
import { assertVersion, commitKey, listFromVersion, LOG_PREFIX, parseLogKey } from './log-path';
import { assertReadable } from './protocol';
import { parseSchemaString, type TableMetadata } from './schema';
import { StoreNotFoundError, type StoredObject, type TableStore } from './storage';

export interface Snapshot {
  readonly store: TableStore;
  /** The table root (store.root), for messages and for readers that address the table. */
  readonly root: string;
  readonly version: number;
  readonly protocol: DeltaProtocol;
  readonly metadata: TableMetadata;
  /** Live data files, keyed by the `path` exactly as written in the log. */
  readonly files: ReadonlyMap<string, AddAction>;
  /** Remove tombstones still in the state (for vacuum: files that may be deleted once expired). */
  readonly tombstones: ReadonlyMap<string, RemoveAction>;
  /** appId → version, from `txn` actions (latest wins). */
  readonly appTransactions: ReadonlyMap<string, number>;
}

export interface LoadSnapshotOptions {
  /** Time travel; default the latest version (only the latest is cached). */
  atVersion?: number;
  /** Connection used to read a parquet checkpoint; default: a private in-memory DuckDB. */
  conn?: DuckDBConnection;
}

/** The table state at `opts.atVersion`, default the latest. */
export async function loadSnapshot(store: TableStore, opts: LoadSnapshotOptions = {}): Promise<Snapshot> {
  if (opts.atVersion !== undefined) assertVersion(opts.atVersion);
  if (opts.atVersion === undefined) {
    const advanced = await advanceCached(store);
    if (advanced) return advanced;
  }
  return loadCold(store, opts);
}

// ───────────────────────────────────────── per-process cache ─────────────────────────────────────────

interface Cached {
  snap: Snapshot;
  /** The cached version's commit file as listed when cached: a replaced table shows a different one. */
  commit: StoredObject;
}
const cache = new Map<string, Cached>();
const CACHE_LIMIT = 64;

/** Forgets every cached snapshot (tests and benchmarks that measure cold loads). */
export function clearSnapshotCache(): void {
  cache.clear();
}

/**
 * The cached latest snapshot for a writer, without listing: commit() puts its next version on top
 * of it and put-if-absent tells whether anybody else committed meanwhile (then the transaction
 * loads properly). One small read checks that the cached version's commit is still the one we
 * know (a table deleted and recreated must never get a commit on top of a version it lacks).
 */
export async function cachedSnapshot(store: TableStore): Promise<Snapshot | null> {
  const cached = cache.get(store.root);
  if (!cached) return null;
  const bytes = await store.read(commitKey(cached.snap.version)).catch((e) => {
    if (e instanceof StoreNotFoundError) return null;
    throw e;
  });
  if (!bytes || bytes.length !== cached.commit.size) {
    cache.delete(store.root);
    return null;
  }
  return { ...cached.snap, store };
}

/**
 * Caches the state after a commit this process just made on top of `base` (its actions applied),
 * so the writer's next commit needs no listing. `size` is the commit file's size.
 */
export function rememberCommitted(base: Snapshot, version: number, actions: readonly LogAction[], size: number): void {
  if (version !== base.version + 1) return;
  const st = ReplayState.from(base);
  for (const a of actions) st.apply(base.root, a, `version ${version}`);
  if (!st.protocol || !st.metadata) return;
  const snap: Snapshot = {
    store: base.store,
    root: base.root,
    version,
    protocol: st.protocol,
    metadata: st.metadataWithFields(base.root),
    files: st.files,
    tombstones: st.tombstones,
    appTransactions: st.appTransactions,
  };
  // lastModified unknown (-1): the listing check compares the size only.
  remember(snap, { key: commitKey(version), size, lastModified: -1 });
}

function remember(snap: Snapshot, commit: StoredObject | undefined): void {
  if (!commit) return;
  const had = cache.get(snap.root);
  if (had && had.snap.version > snap.version) return;
  cache.delete(snap.root);
  cache.set(snap.root, { snap, commit });
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value!);
}

async function advanceCached(store: TableStore): Promise<Snapshot | null> {
  const cached = cache.get(store.root);
  if (!cached) return null;
  const from = cached.snap.version;
  const log = parseListing(await store.list(LOG_PREFIX, { startAfter: listFromVersion(from) }), false);
  const own = log.commitObjects.get(from);
  if (!own || own.size !== cached.commit.size || (cached.commit.lastModified >= 0 && own.lastModified !== cached.commit.lastModified)) {
    cache.delete(store.root);
    return null;
  }
  const latest = log.latest!;
  for (let v = from + 1; v <= latest; v++) if (!log.commits.has(v)) return null; // a gap: let the cold load judge
  const snap =
    latest === from
      ? { ...cached.snap, store }
      : await replay(store, ReplayState.from(cached.snap), from + 1, latest);
  remember(snap, log.commitObjects.get(latest));
  return snap;
}

// ───────────────────────────────────────────── cold load ─────────────────────────────────────────────

interface LogListing {
  /** Whether the listing starts at the beginning of the log (not from a checkpoint hint). */
  full: boolean;
  commits: Set<number>;
  commitObjects: Map<number, StoredObject>;
  /** Classic single-file checkpoints, newest first. */
  checkpoints: number[];
  unsupportedCheckpoints: number[];
  /** Newest commit or classic checkpoint; null when there is none. */
  latest: number | null;
}

function parseListing(objects: StoredObject[], full: boolean): LogListing {
  const out: LogListing = { full, commits: new Set(), commitObjects: new Map(), checkpoints: [], unsupportedCheckpoints: [], latest: null };
  for (const o of objects) {
    const f = parseLogKey(o.key);
    if (!f) continue;
    if (f.kind === 'commit') {
      out.commits.add(f.version);
      out.commitObjects.set(f.version, o);
    } else if (f.kind === 'checkpoint') out.checkpoints.push(f.version);
    else out.unsupportedCheckpoints.push(f.version);
    // A loop, not Math.max(...spread): a spread of 130k+ arguments throws RangeError.
    if (f.kind !== 'unsupported-checkpoint' && (out.latest === null || f.version > out.latest)) out.latest = f.version;
  }
  out.checkpoints.sort((a, b) => b - a);
  return out;
}

/** Where replay starts for `target`: a checkpoint version, -1 for "from version 0", or null. */
function chooseStart(log: LogListing, target: number): number | null {
  const commitsPresent = (from: number) => {
    for (let v = from; v <= target; v++) if (!log.commits.has(v)) return false;
    return true;
  };
  for (const cp of log.checkpoints) if (cp <= target && commitsPresent(cp + 1)) return cp;
  return log.full && commitsPresent(0) ? -1 : null;
}

async function loadCold(store: TableStore, opts: LoadSnapshotOptions): Promise<Snapshot> {
  const root = store.root;
  const hint = await readLastCheckpoint(store);
  let log: LogListing | null = null;
  let start: number | null = null;
  let target = -1;
  if (hint && (hint.parts ?? 1) === 1 && (opts.atVersion === undefined || hint.version <= opts.atVersion)) {
    log = parseListing(await store.list(LOG_PREFIX, { startAfter: listFromVersion(hint.version) }), false);
    if (log.latest !== null) {
      target = opts.atVersion ?? log.latest;
      if (target <= log.latest) start = chooseStart(log, target);
    }
  }
  if (start === null) {
    log = parseListing(await store.list(LOG_PREFIX), true);
    if (log.latest === null) {
      if (log.unsupportedCheckpoints.length > 0) {
        throw new UnsupportedDeltaFeatureError(`${root}: the log holds only multi-part or v2 checkpoints, which are not supported`);
      }
      throw new DeltaTableNotFoundError(`${root} is not a Delta table (no commits in its log)`);
    }
    if (opts.atVersion !== undefined && opts.atVersion > log.latest) {
      throw new Error(`${root}: version ${opts.atVersion} does not exist (latest is ${log.latest})`);
    }
    target = opts.atVersion ?? log.latest;
    start = chooseStart(log, target);
    if (start === null) {
      const exotic = log.unsupportedCheckpoints.filter((v) => v <= target);
      if (exotic.length > 0 || (hint?.parts ?? 1) > 1) {
        throw new UnsupportedDeltaFeatureError(
          `${root}: version ${target} can only be reconstructed from a multi-part or v2 checkpoint (versions ${exotic.join(', ')}), which is not supported`,
        );
      }
      throw new DeltaLogCorruptError(`${root}: cannot reconstruct version ${target}: commit files are missing and no usable checkpoint exists`);
    }
  }
  const st = new ReplayState();
  if (start >= 0) for (const a of await readCheckpointActions(store, start, opts.conn)) st.apply(root, a, `checkpoint ${start}`);
  const snap = await replay(store, st, start + 1, target);
  if (opts.atVersion === undefined) remember(snap, log!.commitObjects.get(target));
  return snap;
}

// ────────────────────────────────────────────── replay ──────────────────────────────────────────────

/** Commits read concurrently while replaying (applied strictly in order). */
const READ_AHEAD = 32;

async function replay(store: TableStore, st: ReplayState, from: number, to: number): Promise<Snapshot> {
  const root = store.root;
  for (let lo = from; lo <= to; lo += READ_AHEAD) {
    const hi = Math.min(to, lo + READ_AHEAD - 1);
    const versions = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
    const commits = await Promise.all(versions.map((v) => readCommit(store, v)));
    commits.forEach((actions, i) => {
      for (const a of actions) st.apply(root, a, `version ${versions[i]}`);
    });
  }
  if (!st.protocol) throw new DeltaLogCorruptError(`${root}: no protocol action up to version ${to}`);
  if (!st.metadata) throw new DeltaLogCorruptError(`${root}: no metaData action up to version ${to}`);
  assertReadable(root, st.protocol, st.metadata);
  return {
    store,
    root,
    version: to,
    protocol: st.protocol,
    metadata: st.metadataWithFields(root),
    files: st.files,
    tombstones: st.tombstones,
    appTransactions: st.appTransactions,
  };
}

/** The actions of one commit; a missing file is DeltaLogCorruptError (the listing said it exists). */
export async function readCommit(store: TableStore, version: number): Promise<LogAction[]> {
  const key = commitKey(version);
  let bytes: Buffer;
  try {
    bytes = await store.read(key);
  } catch (e) {
    if (e instanceof StoreNotFoundError) throw new DeltaLogCorruptError(`${store.root}: commit ${version} is missing`);
    throw e;
  }
  return decodeCommit(bytes, `${store.root}/${key}`);
}

class ReplayState {
  protocol?: DeltaProtocol;
  metadata?: MetadataAction;
  private parsed?: TableMetadata;
  files = new Map<string, AddAction>();
  tombstones = new Map<string, RemoveAction>();
  appTransactions = new Map<string, number>();

  /** A copy to advance (the cached snapshot itself stays as it was: others may hold it). */
  static from(snap: Snapshot): ReplayState {
    const st = new ReplayState();
    st.protocol = snap.protocol;
    st.metadata = snap.metadata;
    st.parsed = snap.metadata;
    st.files = new Map(snap.files);
    st.tombstones = new Map(snap.tombstones);
    st.appTransactions = new Map(snap.appTransactions);
    return st;
  }

  apply(root: string, action: LogAction, where: string): void {
    if ('add' in action) {
      this.files.set(action.add.path, action.add);
      this.tombstones.delete(action.add.path);
    } else if ('remove' in action) {
      this.files.delete(action.remove.path);
      this.tombstones.set(action.remove.path, action.remove);
    } else if ('txn' in action) {
      this.appTransactions.set(action.txn.appId, action.txn.version);
    } else if ('protocol' in action) {
      this.protocol = action.protocol;
    } else if ('metaData' in action) {
      this.metadata = action.metaData;
      this.parsed = undefined;
    } else if ('sidecar' in action || 'checkpointMetadata' in action) {
      throw new UnsupportedDeltaFeatureError(`${root}: ${where}: v2 checkpoints (sidecar/checkpointMetadata) are not supported`);
    }
    // commitInfo, cdc, domainMetadata don't affect the snapshot we expose.
  }

  metadataWithFields(root: string): TableMetadata {
    if (!this.parsed) {
      const { fields: _drop, ...raw } = this.metadata as TableMetadata;
      void _drop;
      this.parsed = { ...raw, fields: parseSchemaString(raw.schemaString, root) };
    }
    return this.parsed;
  }
}

/** The commit versions present in the log, ascending (listing; for tools and tests). */
export async function commitVersions(store: TableStore): Promise<number[]> {
  const out: number[] = [];
  for (const o of await store.list(LOG_PREFIX)) {
    const f = parseLogKey(o.key);
    if (f?.kind === 'commit') out.push(f.version);
  }
  return out.sort((a, b) => a - b);
}
