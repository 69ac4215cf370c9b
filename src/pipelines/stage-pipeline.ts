/**
 * From a validated pipeline definition to what the stages run (src/lake/pipeline.ts). The sensor
 * pipeline is the code's SENSOR_PIPELINE (its tables and app ids are the ones every existing lake
 * holds) with the definition's source, and only while the definition still says what that code
 * does (sensorDrift); every other pipeline's tables, rules and gold merge come from its definition.
 */
import { expressionSql } from '../lake/expression';
import { KAFKA_POSITION_SEQUENCE, SENSOR_PIPELINE, SENSOR_PIPELINE_NAME, type StagePipeline } from '../lake/pipeline';
import { replayLogOf, stageAppIds, type TableDef } from '../lake/tables';
import { sensorDrift } from './check';
import type { PipelineDefinition } from './definition';
import { pipelineTables, type PlannedTable } from './tables';

/** A definition the stages cannot run (today: a sensor definition that drifted from the code). */
export class PipelineNotRunnableError extends Error {
  override name = 'PipelineNotRunnableError';
}

const sourceOf = (def: PipelineDefinition): StagePipeline['source'] => ({
  ...(def.source.topics ? { topics: def.source.topics } : {}),
  ...(def.source.topicPattern !== undefined ? { topicPattern: def.source.topicPattern } : {}),
  startingOffsets: def.source.startingOffsets,
  failOnDataLoss: def.source.failOnDataLoss,
});

export function stagePipeline(def: PipelineDefinition): StagePipeline {
  if (def.name === SENSOR_PIPELINE_NAME) {
    const drift = sensorDrift(def);
    if (drift.length) throw new PipelineNotRunnableError(`pipeline sensor: the definition differs from the sensor stages' code: ${drift.join('; ')}`);
    return { ...SENSOR_PIPELINE, source: sourceOf(def) };
  }
  const planned = pipelineTables(def);
  const table = (role: PlannedTable['role']): TableDef => {
    const t = planned.find((x) => x.role === role)!;
    return { name: t.name, description: t.description, fields: t.fields.map((f) => ({ name: f.name, type: f.type as TableDef['fields'][number]['type'], nullable: f.nullable })) };
  };
  const bronze = table('bronze');
  const payload = new Set(def.rules.fields.map((f) => f.name));
  return {
    name: def.name,
    source: sourceOf(def),
    tables: {
      raw: table('raw'),
      bronze,
      deadLetter: table('dead_letter'),
      gold: table('gold'),
      replayLog: replayLogOf(bronze, bronze.fields.filter((f) => payload.has(f.name))),
    },
    appIds: stageAppIds(def.name),
    rules: def.rules,
    gold: {
      keys: def.gold.keys,
      columns: def.gold.columns,
      sequenceBy: def.gold.sequenceBy ?? KAFKA_POSITION_SEQUENCE,
      scdType: def.gold.scdType,
      ...(def.gold.deleteWhen ? { deleteWhenSql: expressionSql(def.gold.deleteWhen) } : {}),
    },
  };
}
