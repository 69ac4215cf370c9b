/**
 * Workflow interceptor module (registered by src/worker.ts): every log line of a pipeline
 * workflow (the SDK's own, e.g. "Workflow failed") carries `stage` besides workflowId and type.
 */
import { workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { stageOfWorkflow } from '../stages';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [{ getLogAttributes: (input, next) => next({ ...input, stage: stageOfWorkflow(workflowInfo().workflowType) }) }],
});
