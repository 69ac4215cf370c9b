/**
 * Stage 2's repair of a half-written batch (a crash between the batch's bronze and dead-letter
 * commits; src/lake/bronze.ts's header): what the first commit recorded about the batch, whether
 * the dead-letter file it names is still there, and whether the parse rules still allow the range
 * to be re-derived. runBronze decides with these; BronzeBatchWriter commits the repair.
 */
import { loadSnapshot, readCommit, type LogAction } from '../delta';
import { dataFileKey } from '../delta/data-files';
import { openTableStore } from '../delta/open-store';
import { RulesChangedError, type FirstCommitInfo, type PendingDeadLetter } from './bronze-plan';

/**
 * The commitInfo.tributary of the commit that moved the table's scheduled txn (`stageAppId`) to
 * `to` (searched from the latest version back); null when that commit is not found (e.g. log files
 * cleaned up).
 */
export async function firstCommitOf(dir: string, stageAppId: string, to: number): Promise<FirstCommitInfo | null> {
  const snap = await loadSnapshot(openTableStore(dir));
  for (let v = snap.version; v > Math.max(0, snap.version - 1000); v--) {
    let actions: LogAction[];
    try {
      actions = await readCommit(openTableStore(dir), v);
    } catch {
      return null;
    }
    const moved = actions.some((a) => 'txn' in a && a.txn.appId === stageAppId && a.txn.version === to);
    if (!moved) continue;
    const info = actions.flatMap((a) => ('commitInfo' in a ? [a.commitInfo as { tributary?: FirstCommitInfo }] : []))[0];
    return info?.tributary ?? {};
  }
  return null;
}

/** Whether the dead-letter file a first attempt wrote (and bronze's commit names) is still in the table's directory. */
export async function pendingFileExists(deadLetterDir: string, p: PendingDeadLetter): Promise<boolean> {
  if (p.add === null) return true;
  // Through the store (local disk or object storage), not fs.
  const key = dataFileKey(deadLetterDir, p.add.path);
  return (await openTableStore(deadLetterDir).list(key)).some((o) => o.key === key);
}

/** Re-deriving (after, to] for the lagging table is exact only under the rules it was first derived with (`rulesNow`: the fingerprint). */
export function assertSameRules(first: FirstCommitInfo | null, rulesNow: string, after: number, to: number): void {
  if (first?.rules === undefined || first.rules === rulesNow) return;
  throw new RulesChangedError(
    `raw versions ${after + 1}..${to} were committed to one output table under parse rules ${first.rules}, and the rules are now ${rulesNow}; ` +
      `finishing the batch under other rules would put rows in neither table or in both. Nothing was written. Run stage 2 once with ` +
      `the previous rules (the earlier deployment) to finish this batch, then deploy the new ones.`,
  );
}
