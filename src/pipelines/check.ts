/**
 * Checks of a pipeline definition that need DuckDB or the running code: the generated SQL binds
 * (column types of expectations and delete conditions, regex patterns), and the sensor pipeline's
 * definition still describes what the stages' code does (until the stages read every pipeline
 * from the definition, a sensor definition that drifted from the code must not be applied).
 */
import { createDuckDBInstance } from '../lake/duckdb';
import { expressionSql } from '../lake/expression';
import { parsedSql, sqlTypeOf } from '../lake/parse-rules';
import { SENSOR_FIELDS } from '../lake/sensor-rules';
import { BRONZE, DEAD_LETTER, GOLD, RAW } from '../lake/tables';
import type { PipelineDefinition } from './definition';

/** Problems DuckDB reports when binding the pipeline's SQL against an empty raw batch (none = []). */
export async function bindProblems(p: PipelineDefinition): Promise<string[]> {
  const db = await createDuckDBInstance({ memoryLimit: '256MB' });
  const con = await db.instance.connect();
  const problems: string[] = [];
  try {
    await con.run(`CREATE TABLE raw_batch (topic VARCHAR, partition INTEGER, "offset" BIGINT, kafka_ts TIMESTAMPTZ,
      raw_payload VARCHAR, raw_payload_bytes BLOB, arrived_at TIMESTAMPTZ)`);
    const sql = parsedSql('raw_batch', p.rules, `pipeline ${p.name}`);
    try {
      await con.run(`CREATE TEMP TABLE parsed AS ${sql}`);
    } catch (e) {
      problems.push(`pipeline ${p.name}: schema/expectations do not bind in DuckDB: ${(e as Error).message.split('\n')[0]}`);
      return problems;
    }
    if (p.gold.deleteWhen) {
      try {
        await con.run(`SELECT ${expressionSql(p.gold.deleteWhen)} FROM parsed`);
      } catch (e) {
        problems.push(`pipeline ${p.name}: gold.delete_when does not bind in DuckDB: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  } finally {
    con.closeSync();
    db.close();
  }
  return problems;
}

/**
 * Differences between the sensor pipeline's definition and the sensor stages' code (tables.ts,
 * sensor-rules.ts); [] when they agree. The value range may be the field's `range` in code and an
 * expectation `value BETWEEN -100 AND 10000` named `value out of range` in the definition.
 */
export function sensorDrift(p: PipelineDefinition): string[] {
  const out: string[] = [];
  const want = { raw: RAW.name, bronze: BRONZE.name, deadLetter: DEAD_LETTER.name, gold: GOLD.name };
  for (const k of Object.keys(want) as (keyof typeof want)[]) if (p.tables[k] !== want[k]) out.push(`tables.${k} is ${p.tables[k]}, the code writes ${want[k]}`);
  const fields = (p.rules.fields ?? []).map((f) => `${f.name}:${sqlTypeOf(f)}:${f.required}:${(f.path ?? [f.name]).join('.')}`);
  const code = SENSOR_FIELDS.map((f) => `${f.name}:${sqlTypeOf(f)}:${f.required}:${f.name}`);
  if (fields.join() !== code.join()) out.push(`schema is [${fields.join(', ')}], the code parses [${code.join(', ')}]`);
  const exp = (p.rules.expectations ?? []).map((e) => `${e.name}:${e.action}:${expressionSql(e.expr, (n) => n)}`);
  const codeExp = SENSOR_FIELDS.flatMap((f) => ('range' in f ? [`${f.name} out of range:dead_letter:(${f.name} BETWEEN (- ${-f.range.min}) AND ${f.range.max})`] : []));
  if (exp.join() !== codeExp.join()) out.push(`expectations are [${exp.join(', ')}], the code checks [${codeExp.join(', ')}]`);
  const o = p.rules.options ?? {};
  if (o.singleQuotes || o.trailingContent || o.replaceInvalidUtf8) out.push('parse_options: the sensor stages run with the defaults (all off)');
  if (p.gold.keys.join() !== 'sensor_id,ts_ms' || p.gold.scdType !== 1 || p.gold.deleteWhen || p.gold.sequenceBy) out.push('gold: the sensor stages merge on keys [sensor_id, ts_ms], SCD type 1, no delete condition, Kafka-position order');
  return out;
}
