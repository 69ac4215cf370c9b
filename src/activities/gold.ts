import { Context } from '@temporalio/activity';
import { lakeStores, openDuckDB } from '../lake/duckdb';
import { ApplicationFailure } from '@temporalio/common';
import { ChangeFeedExpiredError, explainExpiredFeed } from '../lake/maintenance';
import { mergeBronzeIntoGold, type GoldResult } from '../lake/gold';
import { tableDir } from '../lake/tables';
import type { MergeGoldInput } from '../workflows/gold-input';
import type { VersionCheckpoint } from '../stages';
import type { ActivityDeps } from './deps';
import { ensureStageTables, resolvePipeline, sensorOnly } from './pipeline';

export interface MergeGoldActivityInput extends MergeGoldInput {
  /** The bronze version the workflow carries from its previous run (the table's txn wins). */
  workflowCheckpoint?: VersionCheckpoint;
}

export function makeMergeGold(deps: ActivityDeps) {
  return async function mergeGold(input: MergeGoldActivityInput): Promise<GoldResult> {
    const ctx = Context.current();
    const pipeline = resolvePipeline(deps, input.pipeline);
    sensorOnly(pipeline, 'stage 3 (gold)');
    const root = deps.config.lakeRoot;
    await ensureStageTables(deps, pipeline, ['bronze', 'gold']);
    const bronzeDir = tableDir(root, pipeline.tables.bronze);
    const goldDir = tableDir(root, pipeline.tables.gold);

    // A backfill resumes after the last batch an earlier attempt finished (heartbeat details);
    // re-merging would be harmless, just slower.
    const resumed = input.backfill ? (ctx.info.heartbeatDetails as { backfillDone?: number } | undefined)?.backfillDone : undefined;
    // Heartbeats come from progress only (batch start, commit attempt, batch end), never from a
    // timer: a query that hangs stops them, and the heartbeat timeout ends the attempt.
    const progress = { batch: 0, bronzeVersion: undefined as number | undefined, backfillDone: resumed, commitAttempt: 0 };
    let commits = 0;
    const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: deps.config.memory.perActivity });
    try {
      const run = await mergeBronzeIntoGold(lake.connection, {
        bronzeDir,
        goldDir,
        mode: input.backfill
          ? { kind: 'backfill', afterVersion: Math.max(input.backfill.fromVersion - 1, resumed ?? -1), toVersion: input.backfill.toVersion }
          : { kind: 'incremental' },
        workflowCheckpoint: input.workflowCheckpoint,
        maxRowsPerBatch: input.maxRowsPerBatch,
        layout: { targetRowsPerFile: input.targetRowsPerFile },
        signal: ctx.cancellationSignal,
        beforeCommitAttempt: async (attempt) => {
          progress.commitAttempt = attempt;
          ctx.heartbeat(progress);
        },
        beforeBatch: (n, batch) => {
          progress.batch = n;
          ctx.heartbeat(progress);
          if (batch.files.length > 0) deps.faults?.beforeCommit?.('gold', commits + 1);
        },
        afterBatch: (_n, r) => {
          progress.bronzeVersion = r.toVersion;
          if (input.backfill) progress.backfillDone = r.toVersion;
          ctx.heartbeat(progress);
          if (r.goldVersion !== null) {
            commits += 1;
            deps.faults?.afterCommit?.('gold', commits);
          }
        },
      });
      if (run.checkpointDisagreement) {
        ctx.log.warn('workflow checkpoint differs from the gold table; using the table', { ...run.checkpointDisagreement });
      }
      const { perBatch: _detail, ...result } = run; // per-batch file lists stay out of the workflow's history
      return result;
    } catch (e) {
      // Log cleanup (or a person) removed bronze commits this stage still had to read.
      const expired = await explainExpiredFeed(e, root, 'gold');
      if (expired instanceof ChangeFeedExpiredError) throw ApplicationFailure.nonRetryable(expired.message, expired.name);
      throw e;
    } finally {
      lake.close();
    }
  };
}
