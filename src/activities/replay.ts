import { Context } from '@temporalio/activity';
import { replayDeadLetters } from '../lake/replay';
import { lakeStores, openDuckDB } from '../lake/duckdb';
import { ensureTables } from '../lake/tables';
import { ExpectationFailedError } from '../lake/expectation-outcome';
import { ApplicationFailure } from '@temporalio/common';
import type { ReplayDeadLettersInput, ReplayDeadLettersResult } from '../workflows/replay-input';
import { activityMemoryLimit } from '../config';
import type { ActivityDeps } from './deps';
import { ensureStageTables, resolvePipeline } from './pipeline';

export interface ReplayDeadLettersActivityInput extends ReplayDeadLettersInput {
  replayId: string;
}

/** Dead-letter replay (src/lake/replay.ts): re-parse, move what passes to bronze once. */
export function makeReplayDeadLetters(deps: ActivityDeps) {
  return async function replayDeadLettersToBronze(input: ReplayDeadLettersActivityInput): Promise<ReplayDeadLettersResult> {
    const ctx = Context.current();
    const pipeline = resolvePipeline(deps, input.pipeline);
    await ensureStageTables(deps, pipeline, ['bronze', 'dead_letter']);
    await ensureTables(deps.config.lakeRoot, [pipeline.tables.replayLog]);
    const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: activityMemoryLimit(deps.config.memory, input.duckdbMemoryLimit) });
    try {
      ctx.heartbeat({ replayId: input.replayId });
      const s = await replayDeadLetters(
        lake,
        deps.config.lakeRoot,
        input.replayId,
        { batchIdFrom: input.batchIdFrom, batchIdTo: input.batchIdTo, failedAtFrom: input.failedAtFrom, failedAtTo: input.failedAtTo, errors: input.errors },
        { pipeline, hooks: deps.faults, onProgress: (step) => ctx.heartbeat({ replayId: input.replayId, step }), signal: ctx.cancellationSignal },
      );
      return { stage: 'bronze-replay', ...s };
    } catch (e) {
      if (e instanceof ExpectationFailedError) throw ApplicationFailure.nonRetryable(e.message, e.name);
      throw e;
    } finally {
      lake.close();
    }
  };
}
