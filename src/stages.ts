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
