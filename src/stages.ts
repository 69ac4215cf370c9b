/**
 * The pipeline stage of each activity and workflow: the `stage` on their log lines and metrics.
 * Plain constants, so that workflow code may import them too.
 */
export const STAGE_OF_ACTIVITY: Readonly<Record<string, string>> = {
  ingestRaw: 'raw',
  deserialize: 'bronze',
  mergeGold: 'gold',
  replayDeadLettersToBronze: 'replay',
  maintainTable: 'maintenance',
};

export const STAGE_OF_WORKFLOW: Readonly<Record<string, string>> = {
  ingestRawWorkflow: 'raw',
  deserializeWorkflow: 'bronze',
  mergeGoldWorkflow: 'gold',
  replayDeadLettersWorkflow: 'replay',
  maintainTablesWorkflow: 'maintenance',
};

export function stageOfActivity(activityType: string): string {
  return STAGE_OF_ACTIVITY[activityType] ?? activityType;
}

export function stageOfWorkflow(workflowType: string): string {
  return STAGE_OF_WORKFLOW[workflowType] ?? workflowType;
}

/**
 * A stage's checkpoint: the upstream Delta version it has processed through, or NO_CHECKPOINT
 * (`null`) when it has processed nothing yet. Bronze, gold and their workflows' results all spell
 * "nothing yet" this way. (Stage 1's checkpoint is a Kafka offset map instead: `{}` = nothing yet.)
 */
export type VersionCheckpoint = number | null;
export const NO_CHECKPOINT: VersionCheckpoint = null;

/** The exclusive lower bound of the next read: versions after the checkpoint (all of them when there is none). */
export const readsAfter = (c: VersionCheckpoint): number => c ?? -1;

/** The checkpoint for an exclusive lower bound (`readsAfter`'s inverse): -1 means nothing processed. */
export const checkpointOf = (after: number): VersionCheckpoint => (after < 0 ? NO_CHECKPOINT : after);

/**
 * The checkpoint a previous run's result carries (`workflowInfo().lastResult`, user-visible JSON).
 * Accepts the older shapes too: results before NO_CHECKPOINT said -1 (bronze) or left it out.
 */
export function carriedCheckpoint(value: unknown): VersionCheckpoint {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : NO_CHECKPOINT;
}
