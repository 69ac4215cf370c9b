/**
 * Table schemas: the primitive column types tributary reads and writes, their DuckDB types, the
 * `schemaString` encoding, and the checks that refuse schemas it could not honour faithfully.
 * Types are spelled as in schemaString (PROTOCOL.md "Primitive Types"): `decimal(p,s)` is a
 * template-literal type, so a field's type is the very string the log holds.
 */
import type { MetadataAction } from './actions';
import { DeltaLogCorruptError, UnsupportedDeltaFeatureError } from './errors';

/** `decimal(p,s)` as the schemaString spells it: precision 1..38, scale 0..p (Spark's DecimalType). */
export type DeltaDecimal = `decimal(${number},${number})`;

export type DeltaPrimitive = 'string' | 'integer' | 'long' | 'double' | 'timestamp' | 'date' | 'binary' | 'boolean' | DeltaDecimal;

export interface DeltaField {
  name: string;
  type: DeltaPrimitive;
  nullable: boolean;
}

/** `metaData` with its schemaString parsed. */
export interface TableMetadata extends MetadataAction {
  /** Only the primitive types listed in DeltaPrimitive are accepted. */
  fields: DeltaField[];
}

/** Spark's DecimalType bound (and Delta's, and Parquet's 16-byte decimals). */
export const MAX_DECIMAL_PRECISION = 38;

const DECIMAL = /^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$/;

/**
 * Precision and scale of a `decimal(p,s)` type (whitespace inside the parentheses allowed, as
 * Spark's parser does); null for any other type name. Throws when p or s is out of Spark's range.
 */
export function decimalOf(type: string): { precision: number; scale: number } | null {
  const m = DECIMAL.exec(type);
  if (!m) return null;
  const precision = Number(m[1]);
  const scale = Number(m[2]);
  if (precision < 1 || precision > MAX_DECIMAL_PRECISION || scale > precision) {
    throw new Error(`${type}: a decimal needs 1 <= precision <= ${MAX_DECIMAL_PRECISION} and 0 <= scale <= precision`);
  }
  return { precision, scale };
}

/** The canonical spelling of a decimal type, as Spark writes it: `decimal(12,2)`. */
export function decimalType(precision: number, scale: number): DeltaDecimal {
  const t: DeltaDecimal = `decimal(${precision},${scale})`;
  decimalOf(t); // validates
  return t;
}

/** The type name as written to schemaString, or null when tributary does not support it. */
function canonicalType(type: unknown): DeltaPrimitive | null {
  if (typeof type !== 'string') return null;
  if (PRIMITIVES.has(type)) return type as DeltaPrimitive;
  const d = decimalOf(type);
  return d ? decimalType(d.precision, d.scale) : null;
}

/** Delta primitive type → DuckDB type used for data files (timestamp = µs, UTC-adjusted). */
export function duckTypeOf(field: DeltaField | DeltaPrimitive): string {
  const t = typeof field === 'string' ? field : field.type;
  switch (t) {
    case 'string':
      return 'VARCHAR';
    case 'integer':
      return 'INTEGER';
    case 'long':
      return 'BIGINT';
    case 'double':
      return 'DOUBLE';
    case 'timestamp':
      return 'TIMESTAMPTZ';
    case 'binary':
      return 'BLOB';
    case 'boolean':
      return 'BOOLEAN';
    case 'date':
      return 'DATE';
    default: {
      const d = decimalOf(t);
      if (!d) throw new Error(`unsupported Delta type ${JSON.stringify(t)}`);
      return `DECIMAL(${d.precision},${d.scale})`;
    }
  }
}

/** The type names without parameters; decimal(p,s) is recognised by decimalOf. */
const PRIMITIVES: ReadonlySet<string> = new Set<DeltaPrimitive>([
  'string',
  'integer',
  'long',
  'double',
  'timestamp',
  'date',
  'binary',
  'boolean',
]);

/** Characters Delta forbids in column names unless column mapping is on (parquet limitation). */
const INVALID_COLUMN_CHARS = /[ ,;{}()\n\t=]/;

export function validateFields(fields: DeltaField[]): void {
  if (!Array.isArray(fields) || fields.length === 0) throw new Error('a Delta table needs at least one column');
  const seen = new Set<string>();
  for (const f of fields) {
    if (typeof f.name !== 'string' || f.name.length === 0) throw new Error('column names must be non-empty strings');
    if (INVALID_COLUMN_CHARS.test(f.name)) {
      throw new Error(`column name ${JSON.stringify(f.name)} contains a character Delta forbids (" ,;{}()\\n\\t=")`);
    }
    // Delta column names are case-insensitive: "Id" and "id" would collide for readers.
    const key = f.name.toLowerCase();
    if (seen.has(key)) throw new Error(`duplicate column name ${JSON.stringify(f.name)} (Delta names are case-insensitive)`);
    seen.add(key);
    let canonical: DeltaPrimitive | null;
    try {
      canonical = canonicalType(f.type);
    } catch (e) {
      throw new Error(`column ${f.name}: ${(e as Error).message}`);
    }
    if (canonical === null) throw new Error(`column ${f.name}: unsupported type ${JSON.stringify(f.type)}`);
    // One spelling per type: schema comparisons are string comparisons.
    if (canonical !== f.type) throw new Error(`column ${f.name}: write the type as ${canonical}, not ${JSON.stringify(f.type)}`);
    if (typeof f.nullable !== 'boolean') throw new Error(`column ${f.name}: nullable must be a boolean`);
  }
}

export function schemaStringOf(fields: DeltaField[]): string {
  return JSON.stringify({
    type: 'struct',
    fields: fields.map((f) => ({ name: f.name, type: f.type, nullable: f.nullable, metadata: {} })),
  });
}

/** Parses a schemaString; refuses anything this module can't read/write faithfully. */
export function parseSchemaString(schemaString: string, tableDir = '?'): DeltaField[] {
  let schema: { type?: unknown; fields?: unknown };
  try {
    schema = JSON.parse(schemaString);
  } catch (e) {
    throw new DeltaLogCorruptError(`${tableDir}: metaData.schemaString is not JSON: ${(e as Error).message}`);
  }
  if (schema.type !== 'struct' || !Array.isArray(schema.fields)) {
    throw new DeltaLogCorruptError(`${tableDir}: metaData.schemaString is not a struct schema`);
  }
  return schema.fields.map((raw: { name?: unknown; type?: unknown; nullable?: unknown; metadata?: unknown }) => {
    const name = String(raw.name);
    let type: DeltaPrimitive | null;
    try {
      type = canonicalType(raw.type);
    } catch (e) {
      throw new DeltaLogCorruptError(`${tableDir}: column ${name}: ${(e as Error).message}`);
    }
    if (type === null) {
      throw new UnsupportedDeltaFeatureError(
        `${tableDir}: column ${name} has type ${JSON.stringify(raw.type)}; tributary supports only ${[...PRIMITIVES].join(', ')}, decimal(p,s)`,
      );
    }
    const meta = (raw.metadata ?? {}) as Record<string, unknown>;
    const special = Object.keys(meta).filter(
      (k) =>
        k.startsWith('delta.columnMapping') ||
        k === 'delta.invariants' ||
        k === 'delta.generationExpression' ||
        k.startsWith('delta.identity'),
    );
    if (special.length > 0) {
      throw new UnsupportedDeltaFeatureError(`${tableDir}: column ${name} uses ${special.join(', ')}, which tributary does not implement`);
    }
    return { name, type, nullable: raw.nullable !== false };
  });
}

/** Human-readable differences between two schemas ('' when equal). Compares name, type, nullability, order. */
export function describeSchemaDifference(existing: DeltaField[], wanted: DeltaField[]): string {
  const diffs: string[] = [];
  const byName = (fs_: DeltaField[]) => new Map(fs_.map((f) => [f.name, f]));
  const a = byName(existing);
  const b = byName(wanted);
  for (const f of wanted) {
    const e = a.get(f.name);
    if (!e) diffs.push(`column ${f.name} (${f.type}) is missing from the existing table`);
    else {
      if (e.type !== f.type) diffs.push(`column ${f.name} is ${e.type} in the table but ${f.type} requested`);
      if (e.nullable !== f.nullable) {
        diffs.push(`column ${f.name} is ${e.nullable ? 'nullable' : 'NOT NULL'} in the table but ${f.nullable ? 'nullable' : 'NOT NULL'} requested`);
      }
    }
  }
  for (const e of existing) if (!b.has(e.name)) diffs.push(`the table has extra column ${e.name} (${e.type})`);
  if (diffs.length === 0 && existing.map((f) => f.name).join('\u0001') !== wanted.map((f) => f.name).join('\u0001')) {
    diffs.push(`column order differs: table (${existing.map((f) => f.name).join(', ')}) vs requested (${wanted.map((f) => f.name).join(', ')})`);
  }
  return diffs.join('; ');
}
