// The workflows the worker registers (its `workflowsPath` points here).
export { ingestRawWorkflow } from './ingest-raw';
export { deserializeWorkflow } from './deserialize';
export { replayDeadLettersWorkflow } from './replay-dead-letters';
export { mergeGoldWorkflow } from './merge-gold';
export { maintainTablesWorkflow } from './maintain-tables';
