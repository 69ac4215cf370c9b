import {
  ActivityFailure,
  ApplicationFailure,
  ParentClosePolicy,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { InvalidInputError } from './inputs';
import { DEFAULT_PIPELINE } from '../pipelines/name';

/**
 * Error types (the `name` of errors thrown by activities) that no retry can fix: bad
 * credentials, a missing topic, lost data with failOnDataLoss, bad config, a wrong extension.
 */
export const NON_RETRYABLE_ERROR_TYPES = [
  'PermanentKafkaError',
  'DataLossError',
  'ConfigError',
  'LakeSetupError',
  'StartingOffsetsError',
  'UnsupportedDeltaFeatureError',
  'InvalidInputError',
  'GoldCheckpointError',
  'UpstreamTableChangedError',
  'RulesChangedError',
  'VacuumRetentionError',
  'InvalidTablePropertyError',
  'ChangeFeedExpiredError',
  'ExpectationFailedError',
  'UnknownPipelineError',
  'PipelineNotRunnableError',
  'PipelineTablesRefusedError',
];

/** Retries of a stage activity: a few, backing off; errors no retry can fix fail at once. */
export const STAGE_RETRY = { maximumAttempts: 5, initialInterval: '2s', backoffCoefficient: 2, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES } as const;

/** Another run of the same stage committed first (its compare-and-swap, or the Delta version race). */
export const COLLISION_ERROR_TYPES = ['ConcurrentWriterError', 'DeltaCommitConflictError'];

/**
 * A near-real-time follow-up does not retry a collision: the run it collided with (usually the
 * scheduled one) is doing the same work, and whatever it leaves is picked up by the next run.
 */
export const FOLLOW_UP_RETRY = { ...STAGE_RETRY, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES, ...COLLISION_ERROR_TYPES] };

/** Whether this run is the near-real-time follow-up of its stage for `pipeline` (its fixed id, see startNextStage). */
export function isFollowUp(pipeline: string): boolean {
  const { workflowId, taskQueue, workflowType } = workflowInfo();
  return workflowId === followUpWorkflowId(taskQueue, workflowType, pipeline);
}

/** The message of a collision (see COLLISION_ERROR_TYPES) that failed an activity, else null. */
export function collision(e: unknown): string | null {
  const cause = e instanceof ActivityFailure ? e.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type && COLLISION_ERROR_TYPES.includes(cause.type) ? cause.message : null;
}

/** Runs input validation; a bad input fails the workflow at once instead of retrying its task. */
export function validated<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof InvalidInputError) throw ApplicationFailure.nonRetryable(e.message, 'InvalidInputError');
    throw e;
  }
}

/**
 * Near-real-time mode: once a stage has committed new data, start the next stage right away
 * instead of waiting for its schedule. The follow-up is an abandoned child with a fixed id, so at
 * most one runs per stage; if one is already running it is left alone (the tables' checkpoints
 * make every run pick up whatever is new, so nothing is lost — data committed meanwhile waits for
 * the next commit upstream or the schedule).
 */
export async function startNextStage(workflowType: string, input: { pipeline: string; [key: string]: unknown }): Promise<'started' | 'already running'> {
  try {
    await startChild(workflowType, {
      workflowId: followUpWorkflowId(workflowInfo().taskQueue, workflowType, input.pipeline),
      args: [input],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary: `near-real-time follow-up of ${workflowInfo().workflowType} ${workflowInfo().workflowId}`,
    });
    return 'started';
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) return 'already running';
    throw e;
  }
}

/**
 * One follow-up per stage, pipeline and task queue: `sensor-pipeline/deserializeWorkflow-nrt` for the
 * sensor pipeline (its id from before pipelines existed), `sensor-pipeline/orders/deserializeWorkflow-nrt`
 * for pipeline orders — so one pipeline's follow-up never makes another's wait.
 */
export function followUpWorkflowId(taskQueue: string, workflowType: string, pipeline: string = DEFAULT_PIPELINE): string {
  return pipeline === DEFAULT_PIPELINE ? `${taskQueue}/${workflowType}-nrt` : `${taskQueue}/${pipeline}/${workflowType}-nrt`;
}
