// The workflows the worker registers (its `workflowsPath` points here).
export { ingestRawWorkflow } from './raw';
export { deserializeWorkflow } from './bronze';
export { replayDeadLettersWorkflow } from './replay';
export { mergeGoldWorkflow } from './gold';
export { maintainTablesWorkflow } from './maintain-tables';
