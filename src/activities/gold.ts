import { Context } from '@temporalio/activity';
import { lakeStores, openDuckDB } from '../lake/duckdb';
import { ApplicationFailure } from '@temporalio/common';
import { ChangeFeedExpiredError, explainExpiredFeed } from '../lake/maintenance';
import { mergeBronzeIntoGold, type BatchMergeResult, type BronzeBatch, type GoldResult, type GoldRun } from '../lake/gold';
import { GoldSpecError, mergeBronzeIntoGoldCdc } from '../lake/gold-cdc';
import { isSensorPipeline } from '../lake/pipeline';
import { tableDir } from '../lake/tables';
import type { MergeGoldInput } from '../workflows/gold-input';
import type { VersionCheckpoint } from '../stages';
import type { ActivityDeps } from './deps';
import { ensureStageTables, resolvePipeline } from './pipeline';

export interface MergeGoldActivityInput extends MergeGoldInput {
  /** The bronze version the workflow carries from its previous run (the table's txn wins). */
  workflowCheckpoint?: VersionCheckpoint;
}

export function makeMergeGold(deps: ActivityDeps) {
  return async function mergeGold(input: MergeGoldActivityInput): Promise<GoldResult> {
    const ctx = Context.current();
    const pipeline = resolvePipeline(deps, input.pipeline);
    const root = deps.config.lakeRoot;
    await ensureStageTables(deps, pipeline, ['bronze', 'gold']);
    const bronzeDir = tableDir(root, pipeline.tables.bronze);
    const goldDir = tableDir(root, pipeline.tables.gold);

    // A backfill resumes after the last batch an earlier attempt finished (heartbeat details);
    // re-merging would be harmless, just slower.
    const resumed = input.backfill ? (ctx.info.heartbeatDetails as { backfillDone?: number } | undefined)?.backfillDone : undefined;
    // Heartbeats come from progress only (batch start, commit attempt, batch end), never from a
    // timer: a query that hangs stops them, and the heartbeat timeout ends the attempt.
    const progress = { batch: 0, window: 0, bronzeVersion: undefined as number | undefined, backfillDone: resumed, commitAttempt: 0 };
    let commits = 0;
    const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: deps.config.memory.perActivity });
    const shared = {
      mode: input.backfill
        ? ({ kind: 'backfill', afterVersion: Math.max(input.backfill.fromVersion - 1, resumed ?? -1), toVersion: input.backfill.toVersion } as const)
        : ({ kind: 'incremental' } as const),
      workflowCheckpoint: input.workflowCheckpoint,
      maxRowsPerBatch: input.maxRowsPerBatch,
      signal: ctx.cancellationSignal,
      beforeCommitAttempt: async (attempt: number) => {
        progress.commitAttempt = attempt;
        ctx.heartbeat(progress);
      },
      beforeBatch: (n: number, batch: BronzeBatch) => {
        progress.batch = n;
        ctx.heartbeat(progress);
        if (batch.files.length > 0) deps.faults?.beforeCommit?.('gold', commits + 1);
      },
      afterBatch: (_n: number, r: BatchMergeResult) => {
        progress.bronzeVersion = r.toVersion;
        if (input.backfill) progress.backfillDone = r.toVersion;
        ctx.heartbeat(progress);
        if (r.goldVersion !== null) {
          commits += 1;
          deps.faults?.afterCommit?.('gold', commits);
        }
      },
    };
    try {
      // The sensor pipeline keeps its optimized MERGE (gold.ts, the seed's columns); every other
      // pipeline re-derives the affected keys with its SCD1/SCD2 spec (gold-cdc.ts).
      const run: GoldRun = isSensorPipeline(pipeline)
        ? await mergeBronzeIntoGold(lake.connection, {
            ...shared,
            bronzeDir,
            goldDir,
            layout: { targetRowsPerFile: input.targetRowsPerFile },
            // A backlog batch is merged window by window before its one commit: each window is progress.
            afterWindow: (n, done) => {
              progress.batch = n;
              progress.window = done;
              ctx.heartbeat(progress);
            },
          })
        : await mergeBronzeIntoGoldCdc(lake.connection, {
            ...shared,
            lakeRoot: root,
            bronze: pipeline.tables.bronze,
            gold: pipeline.tables.gold,
            spec: pipeline.gold,
            checkpointAppId: pipeline.appIds.gold,
            upstreamStage: pipeline.appIds.goldStage,
            targetRowsPerFile: input.targetRowsPerFile,
          });
      if (run.checkpointDisagreement) {
        ctx.log.warn('workflow checkpoint differs from the gold table; using the table', { ...run.checkpointDisagreement });
      }
      const { perBatch: _detail, ...result } = run; // per-batch file lists stay out of the workflow's history
      return result;
    } catch (e) {
      if (e instanceof GoldSpecError) throw ApplicationFailure.nonRetryable(e.message, e.name);
      // Log cleanup (or a person) removed bronze commits this stage still had to read.
      const expired = await explainExpiredFeed(e, root, 'gold', pipeline);
      if (expired instanceof ChangeFeedExpiredError) throw ApplicationFailure.nonRetryable(expired.message, expired.name);
      throw e;
    } finally {
      lake.close();
    }
  };
}
