/**
 * The pipeline definition file (`pipelines.yaml` at the repo root, or PIPELINES_FILE): one or
 * more pipelines, each declaring its Kafka source, tables, payload schema, expectations, gold
 * merge and schedules. Read with `yaml`, validated with zod into the exported types, then checked
 * across fields (names, expressions, keys). Every problem is reported at once, each with its place
 * in the file (`pipelines.yaml:12:9 pipelines[0].schema[1].type: ...`).
 *
 * Secrets never live here: `source.connection` names the worker's Kafka settings (KAFKA_* env).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { ExpressionError, parseExpression, type Expr, type ExprType } from '../lake/expression';
import { replayLogPath } from '../lake/tables';
import { exprTypeOf, isReservedFieldName, KAFKA_COLUMNS, type ExpectationRule, type FieldRule, type ParseRules } from '../lake/parse-rules';
import { CRON_EXPRESSION, maintenanceScheduleId, PipelineName } from './name';

/** Repo root (this file is src/pipelines/definition.ts). */
const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const DEFAULT_PIPELINES_FILE = path.join(REPO_ROOT, 'pipelines.yaml');

const name = PipelineName;
const columnName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and _, not starting with a digit');
const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'not a legal Kafka topic name');
/** Table paths under the lake root: `layer/name`, plain segments only (no `..`, no absolute paths). */
const tablePath = z.string().regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, 'a relative path like bronze/orders (letters, digits, _ and -)');
const cron = CRON_EXPRESSION;

/** `$.a.b` (keys: letters, digits, _ and -). */
const jsonPath = z
  .string()
  .regex(/^\$(\.[A-Za-z0-9_-]+){1,8}$/, 'a JSON path like $.customer.id (keys: letters, digits, _ and -; at most 8 levels)')
  .transform((p) => p.slice(2).split('.'));

const FIELD_TYPE_RE = /^(string|int|long|double|boolean|date|json|timestamp|decimal\((\d{1,2}),\s*(\d{1,2})\))$/;
const fieldType = z
  .string()
  .regex(FIELD_TYPE_RE, 'one of string, int, long, double, decimal(p,s), boolean, timestamp, date, json')
  .superRefine((t, ctx) => {
    const m = FIELD_TYPE_RE.exec(t);
    if (m?.[2] !== undefined) {
      const p = Number(m[2]);
      const s = Number(m[3]);
      if (p < 1 || p > 38 || s > p) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `decimal(${p},${s}): need 1 ≤ precision ≤ 38 and scale ≤ precision` });
    }
  });

const Field = z
  .object({
    name: columnName,
    /** Default `$.<name>`. */
    path: jsonPath.optional(),
    type: fieldType,
    /** timestamp only: how the JSON writes it. */
    format: z.enum(['iso8601', 'epoch_s', 'epoch_ms']).optional(),
    required: z.boolean().default(false),
  })
  .strict();

const Expectation = z
  .object({
    name: z.string().trim().min(1).max(200),
    /** Boolean SQL expression over the parsed columns (expression.ts grammar). */
    expect: z.string().min(1),
    action: z.enum(['dead_letter', 'fail', 'warn']).default('dead_letter'),
  })
  .strict();

const Gold = z
  .object({
    keys: z.array(columnName).min(1),
    /** Columns ordering versions of a key (last wins); absent = the Kafka position (timestamp, partition, offset). */
    sequence_by: z.array(columnName).min(1).optional(),
    scd_type: z.union([z.literal(1), z.literal(2)]).default(1),
    /** A row matching this condition deletes its key (SCD1) or closes its history (SCD2). */
    delete_when: z.string().min(1).optional(),
    /** Columns kept in gold (default: every schema field). Keys are always kept. */
    columns: z.array(columnName).min(1).optional(),
  })
  .strict();

const Pipeline = z
  .object({
    name,
    description: z.string().max(500).optional(),
    source: z
      .object({
        topics: z.array(topicName).min(1).optional(),
        /** Java-style regex over topic names (Spark's subscribePattern). */
        topic_pattern: z.string().min(1).max(500).optional(),
        startingOffsets: z.enum(['earliest', 'latest']).default('latest'),
        failOnDataLoss: z.boolean().default(false),
        /** Which Kafka connection: `default` = the worker's KAFKA_* environment. */
        connection: z.literal('default').default('default'),
      })
      .strict(),
    tables: z.object({ raw: tablePath, bronze: tablePath, dead_letter: tablePath, gold: tablePath }).strict(),
    schema: z.array(Field).min(1),
    expectations: z.array(Expectation).default([]),
    /** Opt-in Spark behaviours (see README "Where we deliberately differ from Spark"). */
    parse_options: z
      .object({ single_quotes: z.boolean().default(false), trailing_content: z.boolean().default(false), replace_invalid_utf8: z.boolean().default(false) })
      .strict()
      .default({}),
    gold: Gold,
    schedules: z.object({ raw: cron.default('*/5 * * * *'), bronze: cron.default('*/15 * * * *'), gold: cron.default('*/30 * * * *') }).strict().default({}),
    near_real_time: z.boolean().default(false),
  })
  .strict();

const DefinitionFile = z.object({ pipelines: z.array(Pipeline).min(1) }).strict();

type PipelineInput = z.infer<typeof Pipeline>;

/** One validated pipeline, with its rules compiled for the stages. */
export interface PipelineDefinition {
  readonly name: string;
  readonly description?: string;
  readonly source: {
    readonly topics?: readonly string[];
    readonly topicPattern?: string;
    readonly startingOffsets: 'earliest' | 'latest';
    readonly failOnDataLoss: boolean;
    readonly connection: 'default';
  };
  readonly tables: { readonly raw: string; readonly bronze: string; readonly deadLetter: string; readonly gold: string };
  /** Fields, expectations and parse options, ready for parsedSql(). */
  readonly rules: ParseRules;
  readonly gold: {
    readonly keys: readonly string[];
    /** Undefined = the Kafka position. */
    readonly sequenceBy?: readonly string[];
    readonly scdType: 1 | 2;
    readonly deleteWhen?: Expr;
    readonly columns: readonly string[];
  };
  readonly schedules: { readonly raw: string; readonly bronze: string; readonly gold: string };
  readonly nearRealTime: boolean;
  /** Temporal schedule ids of the three stages (the sensor pipeline keeps its historical ids). */
  readonly scheduleIds: { readonly raw: string; readonly bronze: string; readonly gold: string };
}

export interface PipelineFile {
  readonly file: string;
  readonly pipelines: readonly PipelineDefinition[];
}

/** A definition file with problems: `problems` holds one line per problem, with its place. */
export class PipelineDefinitionError extends Error {
  override name = 'PipelineDefinitionError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${path.basename(file)}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

type Path = readonly (string | number)[];
const showPath = (p: Path): string => p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${k}`)).join('');

/** The definition file's path: PIPELINES_FILE (relative to the working directory) or the repo's pipelines.yaml. */
export function pipelinesFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const v = z.string().trim().min(1).optional().parse(env.PIPELINES_FILE || undefined);
  return v ? path.resolve(v) : DEFAULT_PIPELINES_FILE;
}

export function loadPipelineFile(file: string = pipelinesFilePath()): PipelineFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new PipelineDefinitionError(file, [`cannot read the file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`]);
  }
  return parsePipelineFile(text, file);
}

/** Parses and validates definition text; `file` only names it in messages. */
export function parsePipelineFile(text: string, file = 'pipelines.yaml'): PipelineFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const base = path.basename(file);
  const at = (offset: number | undefined): string => {
    if (offset === undefined) return base;
    const { line, col } = lines.linePos(offset);
    return `${base}:${line}:${col}`;
  };
  if (doc.errors.length) throw new PipelineDefinitionError(file, doc.errors.map((e) => `${at(e.pos[0])} ${e.message.split('\n')[0]}`));
  // the deepest node that exists on the way to `p` (a missing key is reported at its parent)
  const place = (p: Path): string => {
    for (let n = p.length; n >= 0; n--) {
      const node = doc.getIn(p.slice(0, n), true) as YamlNode | undefined;
      if (node && typeof node === 'object' && 'range' in node && node.range) return at(node.range[0]);
      if (n === 0 && doc.contents?.range) return at(doc.contents.range[0]);
    }
    return base;
  };
  const problems: string[] = [];
  const report = (p: Path, msg: string): void => {
    problems.push(`${place(p)} ${p.length ? `${showPath(p)}: ` : ''}${msg}`);
  };

  const raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) throw new PipelineDefinitionError(file, [`${base} the file is empty: expected a \`pipelines:\` list`]);
  const parsed = DefinitionFile.safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) report(i.path, i.message);
    throw new PipelineDefinitionError(file, problems);
  }

  const pipelines = parsed.data.pipelines.map((p, i) => checkPipeline(p, ['pipelines', i], report));
  const seen = new Map<string, string>();
  parsed.data.pipelines.forEach((p, i) => {
    if (seen.has(p.name)) report(['pipelines', i, 'name'], `duplicate pipeline name ${p.name}`);
    seen.set(p.name, p.name);
  });
  // Status credits a run to a pipeline by its workflow id: a schedule's runs are `<schedule id>-<time>`, and
  // an id claimed by two names (`<name>-`) goes to the longer name. So a name `<other>-<s>` where `<s>-` starts
  // one of other's schedule ids followed by `-` (orders-raw, sensor-merge, sensor-raw-ingest, …) would take other's runs: refused. Longer names
  // that start no such id (orders-eu) are fine. Near-real-time follow-ups (`<task queue>/<name>/…`) end the
  // name at a `/`, which no name contains, so they never collide.
  pipelines.forEach((b, j) => {
    for (const a of pipelines) {
      // a shorter name's prefix starts every id of a longer one (orders-, orders-eu-raw-ingest): status gives those to the longer
      if (b.name.length <= a.name.length) continue;
      const taken = [...Object.values(a.scheduleIds), maintenanceScheduleId(a.name)].find((id) => `${id}-`.startsWith(`${b.name}-`)); // runs: `<id>-<time>`
      if (taken === undefined) continue;
      report(['pipelines', j, 'name'], `pipeline name ${b.name} would take the runs of pipeline ${a.name} (the runs of its schedule ${taken} have ids starting ${b.name}-): choose another name`);
      return;
    }
  });
  const tableOwner = new Map<string, string>();
  parsed.data.pipelines.forEach((p, i) =>
    (['raw', 'bronze', 'dead_letter', 'gold'] as const).forEach((t) => {
      const key = p.tables[t].toLowerCase();
      const other = tableOwner.get(key);
      if (other) report(['pipelines', i, 'tables', t], `table ${p.tables[t]} is already used by ${other}`);
      else tableOwner.set(key, `${p.name}.tables.${t}`);
    }),
  );
  // each pipeline's dead-letter replay log lives next to its bronze table
  parsed.data.pipelines.forEach((p, i) => {
    const log = replayLogPath(p.tables.bronze);
    const other = tableOwner.get(log.toLowerCase());
    if (other) report(['pipelines', i, 'tables', 'bronze'], `its replay log ${log} is already used by ${other}`);
    else tableOwner.set(log.toLowerCase(), `the replay log of ${p.name}`);
  });
  if (problems.length) throw new PipelineDefinitionError(file, problems);
  return { file, pipelines: pipelines as PipelineDefinition[] };
}

/** Cross-field checks of one pipeline and its compiled form (undefined parts when a check failed). */
function checkPipeline(p: PipelineInput, at: Path, report: (p: Path, msg: string) => void): PipelineDefinition {
  if (!p.source.topics === !p.source.topic_pattern) report([...at, 'source'], 'give exactly one of topics or topic_pattern');
  if (p.source.topic_pattern !== undefined) {
    try {
      new RegExp(p.source.topic_pattern);
    } catch {
      report([...at, 'source', 'topic_pattern'], 'not a valid regular expression');
    }
  }

  const fields: FieldRule[] = [];
  const seen = new Set<string>();
  p.schema.forEach((f, i) => {
    const fa = [...at, 'schema', i];
    const key = f.name.toLowerCase();
    if (isReservedFieldName(key)) report([...fa, 'name'], `${f.name} is reserved (a raw or dead-letter column)`);
    if (seen.has(key)) report([...fa, 'name'], `duplicate field ${f.name} (column names are case-insensitive)`);
    seen.add(key);
    if (f.format !== undefined && f.type !== 'timestamp') report([...fa, 'format'], 'format applies to timestamp fields only');
    const base = { name: f.name, required: f.required, ...(f.path ? { path: f.path } : {}) };
    const dec = /^decimal\((\d+),\s*(\d+)\)$/.exec(f.type);
    if (dec) fields.push({ ...base, json: 'decimal', precision: Number(dec[1]), scale: Number(dec[2]) });
    else if (f.type === 'timestamp') fields.push({ ...base, json: 'timestamp', format: f.format ?? 'iso8601' });
    else fields.push({ ...base, json: f.type as 'string' | 'int' | 'long' | 'double' | 'boolean' | 'date' | 'json' });
  });

  const columnTypes: Record<string, ExprType> = { ...KAFKA_COLUMNS };
  for (const f of fields) columnTypes[f.name] = exprTypeOf(f.json);
  const expr = (src: string, where: Path): Expr | undefined => {
    try {
      return parseExpression(src, columnTypes);
    } catch (e) {
      if (e instanceof ExpressionError) report(where, e.message);
      else throw e;
      return undefined;
    }
  };

  const expectations: ExpectationRule[] = [];
  const names = new Set<string>();
  p.expectations.forEach((e, i) => {
    const ea = [...at, 'expectations', i];
    if (names.has(e.name)) report([...ea, 'name'], `duplicate expectation name ${e.name}`);
    names.add(e.name);
    const parsed = expr(e.expect, [...ea, 'expect']);
    if (parsed) expectations.push({ name: e.name, expr: parsed, action: e.action });
  });

  const fieldNames = new Map(fields.map((f) => [f.name.toLowerCase(), f.name]));
  const columnsOf = (list: readonly string[], where: Path): string[] =>
    list.map((c, i) => {
      const n = fieldNames.get(c.toLowerCase());
      if (n === undefined) report([...where, i], `unknown column ${c} (schema fields: ${fields.map((f) => f.name).join(', ')})`);
      return n ?? c;
    });
  const ga = [...at, 'gold'];
  const keys = columnsOf(p.gold.keys, [...ga, 'keys']);
  if (new Set(keys).size !== keys.length) report([...ga, 'keys'], 'a key column is listed twice');
  const sequenceBy = p.gold.sequence_by ? columnsOf(p.gold.sequence_by, [...ga, 'sequence_by']) : undefined;
  const columns = p.gold.columns ? columnsOf(p.gold.columns, [...ga, 'columns']) : fields.map((f) => f.name);
  for (const k of keys) if (!columns.includes(k)) columns.unshift(k);
  const deleteWhen = p.gold.delete_when !== undefined ? expr(p.gold.delete_when, [...ga, 'delete_when']) : undefined;
  // a key that may be NULL would merge all NULL-keyed rows into one: keys must be required
  p.gold.keys.forEach((k, i) => {
    const f = fields.find((x) => x.name.toLowerCase() === k.toLowerCase());
    if (f && !f.required) report([...ga, 'keys', i], `key column ${f.name} must be required: true`);
  });

  const stageIds = { raw: `${p.name}-raw-ingest`, bronze: `${p.name}-deserialize`, gold: `${p.name}-merge-gold` };
  return {
    name: p.name,
    ...(p.description !== undefined ? { description: p.description } : {}),
    source: {
      ...(p.source.topics ? { topics: p.source.topics } : {}),
      ...(p.source.topic_pattern !== undefined ? { topicPattern: p.source.topic_pattern } : {}),
      startingOffsets: p.source.startingOffsets,
      failOnDataLoss: p.source.failOnDataLoss,
      connection: p.source.connection,
    },
    tables: { raw: p.tables.raw, bronze: p.tables.bronze, deadLetter: p.tables.dead_letter, gold: p.tables.gold },
    rules: {
      fields,
      expectations,
      options: { singleQuotes: p.parse_options.single_quotes, trailingContent: p.parse_options.trailing_content, replaceInvalidUtf8: p.parse_options.replace_invalid_utf8 },
    },
    gold: { keys, ...(sequenceBy ? { sequenceBy } : {}), scdType: p.gold.scd_type, ...(deleteWhen ? { deleteWhen } : {}), columns },
    schedules: p.schedules,
    nearRealTime: p.near_real_time,
    scheduleIds: stageIds,
  };
}

/** The named pipeline of a file, or a message listing the names it has. */
export function pipelineNamed(file: PipelineFile, pipelineName: string): PipelineDefinition {
  const p = file.pipelines.find((x) => x.name === pipelineName);
  if (!p) throw new Error(`no pipeline ${JSON.stringify(pipelineName)} in ${file.file} (it has: ${file.pipelines.map((x) => x.name).join(', ')})`);
  return p;
}
