/** The pipeline stage each activity runs: the `stage` on its log lines and metrics. */
export const STAGE_OF_ACTIVITY: Readonly<Record<string, string>> = {
  ingestRaw: 'raw',
  deserialize: 'bronze',
  mergeGold: 'gold',
  replayDeadLettersToBronze: 'replay',
};

export function stageOfActivity(activityType: string): string {
  return STAGE_OF_ACTIVITY[activityType] ?? activityType;
}
