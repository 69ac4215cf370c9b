/**
 * The Delta tables a pipeline definition asks for, and how an existing table would have to change
 * to match it (schema evolution). Pure planning: creating tables and writing the metadata commit
 * that adds columns belong to the Delta layer.
 *
 * - raw and dead letter have the same schema for every pipeline (Kafka record / failed record);
 * - bronze = the schema's fields (required → NOT NULL), then the Kafka metadata bronze carries;
 * - gold = the gold columns (keys NOT NULL), plus __START_AT / __END_AT / __IS_CURRENT for SCD2;
 * - the sensor pipeline keeps exactly the tables the code has always written (tables.ts).
 *
 * Evolution: a field added to the definition becomes a nullable column appended to the table (old
 * rows read NULL); a column the definition no longer has, or has with another type, is refused
 * with what to do instead — Delta readers would otherwise lose data or fail on old files.
 */
import { SCD2_COLUMNS } from '../lake/gold-scd';
import type { FieldRule } from '../lake/parse-rules';
import { SENSOR_PIPELINE_NAME } from '../lake/pipeline';
import { SENSOR_FIELDS } from '../lake/sensor-rules';
import { BRONZE, DEAD_LETTER, GOLD, RAW } from '../lake/tables';
import type { PipelineDefinition } from './definition';

/** A column as Delta's schemaString spells its type (`long`, `decimal(12,2)`, `date`, …). */
export interface PlannedField {
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
}

export interface PlannedTable {
  readonly role: 'raw' | 'bronze' | 'dead_letter' | 'gold';
  /** Path under the lake root. */
  readonly name: string;
  readonly description: string;
  readonly fields: readonly PlannedField[];
}

export function deltaTypeOf(f: FieldRule): string {
  switch (f.json) {
    case 'string':
    case 'json':
      return 'string';
    case 'int':
      return 'integer';
    case 'decimal':
      return `decimal(${f.precision},${f.scale})`;
    default:
      return f.json; // long, double, boolean, timestamp, date: Delta's own names
  }
}

const sensorNames = new Set<string>(SENSOR_FIELDS.map((f) => f.name));
/** What bronze carries besides the payload's fields (the code's bronze table minus the sensor fields). */
const BRONZE_METADATA = BRONZE.fields.filter((f) => !sensorNames.has(f.name));

export function pipelineTables(p: PipelineDefinition): PlannedTable[] {
  if (p.name === SENSOR_PIPELINE_NAME) {
    return [
      { role: 'raw', ...RAW },
      { role: 'bronze', ...BRONZE },
      { role: 'dead_letter', ...DEAD_LETTER },
      { role: 'gold', ...GOLD },
    ];
  }
  const { fields } = p.rules;
  const byName = new Map(fields.map((f) => [f.name, f]));
  const typeOf = (col: string): string => {
    const f = byName.get(col);
    if (!f) throw new Error(`pipeline ${p.name}: gold column ${col} is not a schema field`);
    return deltaTypeOf(f);
  };
  const gold: PlannedField[] = p.gold.columns.map((c) => ({ name: c, type: typeOf(c), nullable: !p.gold.keys.includes(c) }));
  if (p.gold.scdType === 2) {
    // validity holds the first sequence column's value; the default sequence starts with the Kafka timestamp
    const seqType = p.gold.sequenceBy?.[0] !== undefined ? typeOf(p.gold.sequenceBy[0]) : 'timestamp';
    gold.push({ name: SCD2_COLUMNS.startAt, type: seqType, nullable: true }, { name: SCD2_COLUMNS.endAt, type: seqType, nullable: true }, { name: SCD2_COLUMNS.isCurrent, type: 'boolean', nullable: false });
  }
  return [
    { role: 'raw', name: p.tables.raw, description: `Kafka records as landed (pipeline ${p.name}, stage 1)`, fields: RAW.fields },
    {
      role: 'bronze',
      name: p.tables.bronze,
      description: `Parsed and validated records (pipeline ${p.name}, stage 2)`,
      fields: [...fields.map((f) => ({ name: f.name, type: deltaTypeOf(f), nullable: !f.required })), ...BRONZE_METADATA],
    },
    { role: 'dead_letter', name: p.tables.deadLetter, description: `Records that failed parsing or an expectation (pipeline ${p.name}, stage 2)`, fields: DEAD_LETTER.fields },
    { role: 'gold', name: p.tables.gold, description: `SCD type ${p.gold.scdType} on ${p.gold.keys.join(', ')} (pipeline ${p.name}, stage 3)`, fields: gold },
  ];
}

export interface Evolution {
  /** Columns to append (all nullable: rows already written read NULL). */
  readonly add: readonly PlannedField[];
  /** Existing NOT NULL columns the definition now allows to be NULL (a metadata change). */
  readonly relax: readonly string[];
  /** Changes that are refused, each saying what to do instead. Non-empty = apply nothing to this table. */
  readonly refused: readonly string[];
}

/** How `existing` (a table's schema) must change to hold what `wanted` describes. */
export function planEvolution(table: string, existing: readonly PlannedField[], wanted: readonly PlannedField[]): Evolution {
  const have = new Map(existing.map((f) => [f.name.toLowerCase(), f]));
  const want = new Map(wanted.map((f) => [f.name.toLowerCase(), f]));
  const add: PlannedField[] = [];
  const relax: string[] = [];
  const refused: string[] = [];
  for (const f of wanted) {
    const e = have.get(f.name.toLowerCase());
    if (!e) add.push({ ...f, nullable: true });
    else if (e.type !== f.type) {
      refused.push(
        `${table}: column ${e.name} is ${e.type} in the table but ${f.type} in the definition — retyping a column is refused (old files keep ${e.type}): keep ${e.type}, or add a field with a new name and stop filling ${e.name}`,
      );
    } else if (!e.nullable && f.nullable) relax.push(e.name);
  }
  for (const e of existing) {
    if (!want.has(e.name.toLowerCase())) {
      refused.push(
        `${table}: column ${e.name} (${e.type}) is in the table but not in the definition — removing a column is refused (its data would be lost to readers): put the field back (optional: required: false), or give the pipeline a new table path and backfill it`,
      );
    }
  }
  return { add, relax, refused };
}
