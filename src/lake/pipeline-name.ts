/**
 * The sensor pipeline's name: the seed's pipeline, the one every input defaults to, whose tables,
 * app ids and schedule ids are the historical ones. Defined once, here, in a module without imports:
 * the stages need it (app ids, tables) and so does the workflow bundle (through src/pipelines/name.ts),
 * which must not load the rest of src/lake.
 */
export const SENSOR_PIPELINE_NAME = 'sensor';
