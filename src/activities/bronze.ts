import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { CheckpointAheadOfRawError, runBronze, type BronzeResult } from '../lake/bronze';
import { lakeStores, openDuckDB } from '../lake/duckdb';
import { ChangeFeedExpiredError, explainExpiredFeed } from '../lake/maintenance';
import { ExpectationFailedError } from '../lake/expectation-outcome';
import { isBackfill, type DeserializeInput } from '../workflows/bronze-input';
import { activityMemoryLimit } from '../config';
import type { VersionCheckpoint } from '../stages';
import type { ActivityDeps } from './deps';
import { ensureStageTables, resolvePipeline } from './pipeline';

export interface DeserializeActivityInput extends DeserializeInput {
  /** The checkpoint the workflow carries (its previous run's result); the tables' txn wins. */
  workflowCheckpoint?: VersionCheckpoint;
}

/** Stage 2: raw → bronze + dead letter (src/lake/bronze.ts). Reads raw, never writes it. */
export function makeDeserialize(deps: ActivityDeps) {
  return async function deserialize(input: DeserializeActivityInput): Promise<BronzeResult> {
    const ctx = Context.current();
    const pipeline = resolvePipeline(deps, input.pipeline);
    await ensureStageTables(deps, pipeline, ['bronze', 'dead_letter']);
    const backfill = isBackfill(input)
      ? { fromExclusive: (input.fromRawVersion ?? 0) - 1, toInclusive: input.toRawVersion ?? Number.MAX_SAFE_INTEGER }
      : undefined;
    const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: activityMemoryLimit(deps.config.memory, input.duckdbMemoryLimit) });
    try {
      ctx.heartbeat({ phase: 'planning' });
      const s = await runBronze(lake, deps.config.lakeRoot, {
        pipeline,
        maxRowsPerBatch: input.maxRowsPerBatch,
        backfill,
        workflowCheckpoint: input.workflowCheckpoint,
        hooks: deps.faults,
        // The heartbeat after each batch also delivers a cancellation, which stops the run before the next batch.
        onBatch: (b, totals) => ctx.heartbeat({ rawVersion: b.to, totals }),
        signal: ctx.cancellationSignal,
      });
      if (s.checkpointDisagreement) ctx.log.warn('workflow checkpoint differs from the bronze tables; using the tables', s.checkpointDisagreement);
      if (s.repaired) ctx.log.warn(`completed a batch an earlier attempt had committed to one table only (${s.repaired} caught up)`);
      return s;
    } catch (e) {
      // The raw table was recreated (or the lake root is wrong): no retry can fix that.
      // A row broke a `fail` expectation: the data must change (or the expectation), not the attempt.
      if (e instanceof ExpectationFailedError) throw ApplicationFailure.nonRetryable(e.message, e.name);
      if (e instanceof CheckpointAheadOfRawError) throw ApplicationFailure.nonRetryable(e.message, e.name);
      // Log cleanup (or a person) removed raw commits this stage still had to read.
      const expired = await explainExpiredFeed(e, deps.config.lakeRoot, 'bronze', pipeline);
      if (expired instanceof ChangeFeedExpiredError) throw ApplicationFailure.nonRetryable(expired.message, expired.name);
      throw e;
    } finally {
      lake.close();
    }
  };
}
