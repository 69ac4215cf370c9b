/**
 * Activities are thin adapters: they open what they need (Kafka, DuckDB), call src/kafka and
 * src/lake, heartbeat, and return counts and offsets — never rows.
 */
import type { ActivityDeps } from './deps';
import { makeIngestRaw } from './ingest-raw';
import { makeDeserialize } from './deserialize';
import { makeReplayDeadLetters } from './replay-dead-letters';

export type { ActivityDeps, FaultHooks } from './deps';

export function createActivities(deps: ActivityDeps) {
  return {
    ingestRaw: makeIngestRaw(deps),
    mergeGold: (require('./merge-gold') as typeof import('./merge-gold')).makeMergeGold(deps),
    deserialize: makeDeserialize(deps),
    replayDeadLettersToBronze: makeReplayDeadLetters(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
