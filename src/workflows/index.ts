// The workflows the worker registers (its `workflowsPath` points here).
export { ingestRawWorkflow } from './ingest-raw';
