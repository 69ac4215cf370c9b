/**
 * The sensor pipeline's bronze rules (seed Job 2, `from_json(raw_payload, SENSOR_SCHEMA)` + the
 * good/bad filter): one instance of the general typed rules in parse-rules.ts. The seed's value
 * range is a `range` here, which generates exactly the check the sensor pipeline's expectation
 * `value out of range` (pipelines.yaml) generates; a unit test holds the two to the same output.
 */
import { errorReasons, parsedSql, rulesMarkdown, type FieldRule } from './parse-rules';

export {
  PAYLOAD_ERRORS,
  NON_FINITE_DOUBLE_STRINGS,
  missingError,
  wrongTypeError,
  rangeError,
  relationSql,
  type JsonTypeRule,
  type SensorFieldRule,
} from './parse-rules';

/** THE rule table. Order = schema order = the order in which field errors are reported. */
export const SENSOR_FIELDS = [
  { name: 'sensor_id', json: 'string', required: true },
  { name: 'value', json: 'double', required: true, range: { min: -100, max: 10000 } },
  { name: 'unit', json: 'string', required: true },
  { name: 'ts_ms', json: 'long', required: true },
] as const satisfies readonly FieldRule[];

const LABEL = 'sensor rules';

/** Every `error` value the generated SQL can produce, in check order (first match wins). */
export function sensorErrorReasons(fields: readonly FieldRule[] = SENSOR_FIELDS): string[] {
  return errorReasons({ fields }, LABEL);
}

/**
 * The parse/validate SELECT: every column of `sourceRelation`, then one typed column per rule-table
 * field (VARCHAR / DOUBLE / BIGINT; NULL when absent, JSON null or of the wrong type), then
 * `error VARCHAR` — NULL for a good row, else the first failing reason (see sensorErrorReasons()).
 * The source must have `raw_payload VARCHAR` and `raw_payload_bytes BLOB` (contract of raw/).
 */
export function parsedSensorSql(sourceRelation: string, fields: readonly FieldRule[] = SENSOR_FIELDS): string {
  return parsedSql(sourceRelation, { fields }, LABEL);
}

/** The rule table as markdown: the field table, then the error reasons in check order. */
export function sensorRulesMarkdown(fields: readonly FieldRule[] = SENSOR_FIELDS): string {
  return rulesMarkdown({ fields }, LABEL);
}
