/**
 * Activities are thin adapters: they open what they need (Kafka, DuckDB), call src/kafka and
 * src/lake, heartbeat, and return counts and offsets — never rows.
 */
import type { ActivityDeps } from './deps';
import { makeIngestRaw, makeListRawPartitions } from './raw';
import { makeDeserialize } from './bronze';
import { makeReplayDeadLetters } from './replay';
import { makeMergeGold } from './gold';
import { makeMaintainTable } from './maintain-tables';
import { pipelineFileOf } from './pipeline';

export type { ActivityDeps, FaultHooks } from './deps';

export function createActivities(deps: ActivityDeps) {
  // loaded now, not at the first run: a bad definition file stops the worker from starting
  pipelineFileOf(deps);
  return {
    ingestRaw: makeIngestRaw(deps),
    listRawPartitions: makeListRawPartitions(deps),
    deserialize: makeDeserialize(deps),
    replayDeadLettersToBronze: makeReplayDeadLetters(deps),
    mergeGold: makeMergeGold(deps),
    maintainTable: makeMaintainTable(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
