/**
 * What the generic gold stage (src/lake/gold-cdc.ts) needs from a pipeline definition: its
 * GoldSpec (the delete condition compiled to SQL, the Kafka position as the default sequence) and
 * its tables as the stages address them.
 */
import { validateFields, type DeltaField } from '../delta';
import { expressionSql } from '../lake/expression';
import { DEFAULT_SEQUENCE_BY } from '../lake/gold-cdc';
import type { GoldSpec } from '../lake/gold-scd';
import type { TableDef } from '../lake/tables';
import type { PipelineDefinition } from './definition';
import { pipelineTables, type PlannedTable } from './tables';

export function goldSpecOf(p: PipelineDefinition): GoldSpec {
  const g = p.gold;
  return {
    keys: g.keys,
    columns: g.columns,
    sequenceBy: g.sequenceBy ?? DEFAULT_SEQUENCE_BY,
    scdType: g.scdType,
    ...(g.deleteWhen ? { deleteWhenSql: expressionSql(g.deleteWhen) } : {}),
  };
}

/** One of the pipeline's tables as a TableDef (its types checked as Delta types). */
export function pipelineTableDef(p: PipelineDefinition, role: PlannedTable['role']): TableDef {
  const t = pipelineTables(p).find((x) => x.role === role);
  if (!t) throw new Error(`pipeline ${p.name} has no ${role} table`);
  const fields = t.fields.map((f) => ({ name: f.name, type: f.type, nullable: f.nullable })) as DeltaField[];
  validateFields(fields);
  return { name: t.name, description: t.description, fields };
}
