import { Context } from '@temporalio/activity';
import { replayDeadLetters } from '../lake/replay';
import { lakeStores, openDuckDB } from '../lake/duckdb';
import { BRONZE, DEAD_LETTER, ensureTables, REPLAY_LOG } from '../lake/tables';
import type { ReplayDeadLettersInput, ReplayDeadLettersResult } from '../workflows/replay-input';
import { activityMemoryLimit } from '../config';
import type { ActivityDeps } from './deps';
import { resolvePipeline, sensorOnly } from './pipeline';

export interface ReplayDeadLettersActivityInput extends ReplayDeadLettersInput {
  replayId: string;
}

/** Dead-letter replay (src/lake/replay.ts): re-parse, move what passes to bronze once. */
export function makeReplayDeadLetters(deps: ActivityDeps) {
  return async function replayDeadLettersToBronze(input: ReplayDeadLettersActivityInput): Promise<ReplayDeadLettersResult> {
    const ctx = Context.current();
    sensorOnly(resolvePipeline(deps, input.pipeline), 'dead-letter replay');
    await ensureTables(deps.config.lakeRoot, [BRONZE, DEAD_LETTER, REPLAY_LOG]);
    const lake = await openDuckDB({ extensionPath: deps.config.deltaExtensionPath, stores: lakeStores(deps.config.lakeRoot), memoryLimit: activityMemoryLimit(deps.config.memory, input.duckdbMemoryLimit) });
    try {
      ctx.heartbeat({ replayId: input.replayId });
      const s = await replayDeadLetters(
        lake,
        deps.config.lakeRoot,
        input.replayId,
        { batchIdFrom: input.batchIdFrom, batchIdTo: input.batchIdTo, failedAtFrom: input.failedAtFrom, failedAtTo: input.failedAtTo, errors: input.errors },
        { hooks: deps.faults, onProgress: (step) => ctx.heartbeat({ replayId: input.replayId, step }), signal: ctx.cancellationSignal },
      );
      return { stage: 'bronze-replay', ...s };
    } finally {
      lake.close();
    }
  };
}
