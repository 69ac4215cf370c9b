/**
 * The one way tributary writes a Delta commit. Every writer (raw, raw backfill, bronze, dead
 * letter, replay, replay log, gold) goes through `commit()`, so put-if-absent, retry, txn
 * compare-and-swap, cleanup of unreferenced data files, commitInfo and the checkpoint policy are
 * implemented once.
 *
 * ```
 *   writer                              commit(table, {plan, rebuild?})
 *   ──────                              ───────────────────────────────────────────────────────────
 *   write data files ──► plan(snap) ──► snapshot: this process's cached one (no listing), else load
 *   (parquet + stats)     actions,      assert protocol/features writable
 *                         txns:         txn CAS: snap.appTransactions[appId] === expected ?
 *                         appId:           no ──► ConcurrentWriterError (nothing committed)
 *                         expected→next remove targets still live ?
 *                                       observer.beforeCommit
 *                                       putIfAbsent(_delta_log/<snap.version+1>.json)
 *                                          lost ──► observer.lostRace, reload snapshot,
 *                                                   rebuild(snap) or re-check the same plan, retry
 *                                          won  ──► delete files of lost attempts
 *                                                   observer.afterCommit
 *                                                   checkpoint if version % delta.checkpointInterval == 0
 * ```
 *
 * The txn check and the put-if-absent use the very same snapshot version, so two writers that
 * both expect `appId = E` can never both commit: the second either sees the first's txn or loses
 * the version race and sees it on the retry.
 */
import { encodeCommit, txnAction, validateActions, type Action, type AddAction, type CommitInfo } from './actions';
import { checkpointInterval, isCheckpointDue, type Checkpointer } from './checkpoint';
import { dataFileKey } from './data-files';
import { ConcurrentWriterError, DeltaCommitConflictError, DeltaLogCorruptError } from './errors';
import { checkpointKey, commitKey, listFromVersion } from './log-path';
import { assertWritable } from './protocol';
import { cachedSnapshot, loadSnapshot, rememberCommitted, type Snapshot } from './snapshot';
import type { TableStore } from './storage';

/** Compare-and-swap of one application's checkpoint: commit only if `appId` is still at `expected`. */
export interface TxnUpdate {
  appId: string;
  /** The version the writer planned from; undefined = the app id must never have been set. */
  expected: number | undefined;
  next: number;
}

export interface CommitPlan {
  /** add / remove / metaData / … (txn actions come from `txns`; commitInfo from `commitInfo`). */
  actions: Action[];
  txns?: TxnUpdate[];
  /** Merged over {timestamp, engineInfo: 'tributary', operation: 'WRITE'}. */
  commitInfo?: CommitInfo;
}

/** Builds a plan from the snapshot the commit will go on top of; null = nothing to commit. */
export type PlanBuilder = (snap: Snapshot) => Promise<CommitPlan | null>;

export interface CommitEvent {
  root: string;
  /** The version this attempt writes (its snapshot's version + 1). */
  version: number;
  /** 1 for the first attempt, +1 after each lost version race. */
  attempt: number;
  commitInfo: CommitInfo;
  actions: readonly Action[];
}

/**
 * Sees every commit a table handle makes: for logging, and for fault injection in tests (throwing
 * from beforeCommit is a crash before the commit, from afterCommit a crash after it; either leaves
 * the written data files where they are, as a real crash would).
 */
export interface CommitObserver {
  beforeCommit?(e: CommitEvent): void | Promise<void>;
  afterCommit?(e: CommitEvent): void | Promise<void>;
  lostRace?(e: CommitEvent): void | Promise<void>;
  checkpointed?(e: { root: string; version: number }): void | Promise<void>;
}

/** A table as writers address it: where it is stored, and who checkpoints and observes its commits. */
export interface DeltaTable {
  store: TableStore;
  /** Writes checkpoints when the policy says so; absent = this handle never checkpoints. */
  checkpointer?: Checkpointer;
  /** Overrides the table's `delta.checkpointInterval` (tests, benchmarks); 0 = never. */
  checkpointInterval?: number;
  observer?: CommitObserver;
}

export interface CommitRequest {
  /** The first attempt's plan. Any data files its adds name count as written by this transaction. */
  plan: PlanBuilder;
  /**
   * For writers whose plan depends on the snapshot (gold's MERGE, raw backfill's anti-join): called
   * after a lost race with the new snapshot. Without it the first plan is committed again, after
   * re-checking its txns and removes against the new snapshot.
   */
  rebuild?: PlanBuilder;
  /**
   * Data files written for this commit before it started (when the plan builder may throw before
   * returning them, e.g. a txn check): deleted like the plan's own when no commit references them.
   */
  written?: AddAction[];
  maxAttempts?: number;
}

export interface Committed {
  version: number;
  attempts: number;
  /** The actions of the commit that landed (txns included). */
  actions: Action[];
  /** Version of the checkpoint written after this commit, if the policy asked for one. */
  checkpoint: number | null;
}

/** Thrown by an observer: the transaction stops as a crash would (no cleanup). */
class ObserverCrash {
  constructor(readonly error: unknown) {}
}

/** Commits `req.plan` with optimistic concurrency; null when the plan says there is nothing to do. */
export async function commit(table: DeltaTable, req: CommitRequest): Promise<Committed | null> {
  const { store, observer } = table;
  const maxAttempts = req.maxAttempts ?? 10;
  const written = new Map<string, AddAction>((req.written ?? []).map((a) => [a.path, a]));
  let plan: CommitPlan | null = null;
  try {
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      // First attempt on this process's cached snapshot (no listing); after a lost race, load.
      const snap = (attempt === 1 ? await cachedSnapshot(store) : null) ?? (await loadSnapshot(store));
      assertWritable(snap);
      if (attempt === 1 || req.rebuild) {
        plan = await (attempt === 1 ? req.plan : req.rebuild!)(snap);
        if (plan === null) {
          await deleteUnreferenced(store, written, new Set());
          return null;
        }
        for (const a of plan.actions) if ('add' in a) written.set(a.add.path, a.add);
      }
      const actions = checkedActions(snap, plan!);
      const event: CommitEvent = {
        root: store.root,
        version: snap.version + 1,
        attempt,
        commitInfo: { timestamp: Date.now(), engineInfo: 'tributary', operation: 'WRITE', ...plan!.commitInfo },
        actions,
      };
      await notify(() => observer?.beforeCommit?.(event));
      const body = encodeCommit(event.commitInfo, actions);
      if (!(await store.putIfAbsent(commitKey(event.version), body))) {
        await notify(() => observer?.lostRace?.(event));
        // Small jittered pause so that several losers don't collide again in lockstep.
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20 * attempt)));
        continue;
      }
      rememberCommitted(snap, event.version, actions, body.length);
      const kept = new Set(actions.flatMap((a) => ('add' in a ? [a.add.path] : [])));
      await deleteFiles(store, [...written.keys()].filter((p) => !kept.has(p)));
      written.clear();
      await notify(() => observer?.afterCommit?.(event));
      let checkpoint: number | null = null;
      const meta = actions.find((a): a is Extract<Action, { metaData: unknown }> => 'metaData' in a)?.metaData ?? snap.metadata;
      if (table.checkpointer && isCheckpointDue(event.version, table.checkpointInterval ?? checkpointInterval(meta))) {
        checkpoint = await table.checkpointer(store);
        await notify(() => observer?.checkpointed?.({ root: store.root, version: checkpoint! }));
      }
      return { version: event.version, attempts: attempt, actions, checkpoint };
    }
    throw new ConcurrentWriterError(`${store.root}: lost the commit race ${maxAttempts} times in a row`);
  } catch (e) {
    if (e instanceof ObserverCrash) throw e.error;
    // Whatever failed, files no committed version references are garbage (a put that failed
    // uncertainly may still have landed: the snapshot tells).
    await deleteUnreferenced(store, written).catch(() => undefined);
    throw e;
  }
}

/** The plan's actions + txns, checked against the snapshot they go on top of. */
function checkedActions(snap: Snapshot, plan: CommitPlan): Action[] {
  const txns = plan.txns ?? [];
  const moved = txns.filter((t) => snap.appTransactions.get(t.appId) !== t.expected);
  if (moved.length > 0) {
    const what = moved.map((t) => `${t.appId}: expected ${t.expected ?? 'none'}, found ${snap.appTransactions.get(t.appId) ?? 'none'}`);
    throw new ConcurrentWriterError(`${snap.root}: another writer moved ${what.join('; ')}`);
  }
  const actions = [...plan.actions, ...txns.map((t) => txnAction(t.appId, t.next))];
  validateActions(actions);
  assertWritable(snap, actions);
  // A remove of a file that is no longer live means the plan was built from another snapshot.
  for (const a of actions) {
    if ('remove' in a && !snap.files.has(a.remove.path)) {
      throw new ConcurrentWriterError(`${snap.root}: commit at version ${snap.version + 1} removes ${a.remove.path}, which is not a live file of version ${snap.version}`);
    }
  }
  return actions;
}

async function notify(f: () => void | Promise<void>): Promise<void> {
  try {
    await f();
  } catch (e) {
    throw new ObserverCrash(e);
  }
}

/** Deletes those of `written` that the latest snapshot neither holds nor ever removed. */
async function deleteUnreferenced(store: TableStore, written: Map<string, AddAction>, referenced?: Set<string>): Promise<void> {
  if (written.size === 0) return;
  let live = referenced;
  if (!live) {
    const snap = await loadSnapshot(store);
    live = new Set([...written.keys()].filter((p) => snap.files.has(p) || snap.tombstones.has(p)));
  }
  await deleteFiles(store, [...written.keys()].filter((p) => !live!.has(p)));
  written.clear();
}

async function deleteFiles(store: TableStore, paths: string[]): Promise<void> {
  for (const p of paths) await store.delete(dataFileKey(store.root, p));
}

/**
 * The primitive under commit(): writes version `version` if nobody has, else throws
 * DeltaCommitConflictError. It does not read the table (no protocol, txn or remove checks; commit()
 * does them) but refuses a gap: version - 1 must exist. For table creation and tests.
 */
export async function writeCommit(store: TableStore, version: number, actions: Action[], commitInfo: CommitInfo = {}): Promise<void> {
  validateActions(actions);
  if (version > 0) {
    const prev = await store.list(listFromVersion(version - 1));
    if (!prev.some((o) => o.key === commitKey(version - 1) || o.key === checkpointKey(version - 1))) {
      throw new DeltaLogCorruptError(`${store.root}: refusing to commit version ${version}: version ${version - 1} does not exist`);
    }
  }
  const info = { timestamp: Date.now(), engineInfo: 'tributary', operation: 'WRITE', ...commitInfo };
  if (!(await store.putIfAbsent(commitKey(version), encodeCommit(info, actions)))) throw new DeltaCommitConflictError(store.root, version);
}
