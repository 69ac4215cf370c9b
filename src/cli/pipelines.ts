/**
 * `npm run pipelines -- validate | list | apply [--dry-run]` over the pipeline definition file
 * (pipelines.yaml at the repo root, or PIPELINES_FILE).
 *
 *   validate  parse and check every pipeline (zod, expressions, DuckDB binding); one line per problem
 *   list      the pipelines: topics, tables, gold merge, schedules
 *   apply     for every pipeline: create its missing tables, add the fields the definition added as
 *             nullable columns (a Delta metaData commit), then create/update its schedules; report
 *             (--prune: delete) the schedules of pipelines no longer in the file. A removed or
 *             retyped column is refused, and then nothing is applied. --dry-run prints the plan only
 *             (per table: create, add columns, or the refused changes; per stage: the schedule).
 */
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { loadEnv } from '../config';
import { SENSOR_PIPELINE_NAME, type StagePipeline } from '../lake/pipeline';
import { expressionSql } from '../lake/expression';
import { bindProblems, sensorDrift } from '../pipelines/check';
import { loadPipelineFile, PipelineDefinitionError, type PipelineDefinition } from '../pipelines/definition';
import { ensurePipelineTables, type TableChange } from '../pipelines/ensure-tables';
import { stagePipeline } from '../pipelines/stage-pipeline';
import type { PlannedField } from '../pipelines/tables';
import { describeOrphans, planSchedules, syncSchedules } from '../schedules';
import { parseArgs } from './args';

const USAGE = 'usage: npm run pipelines -- validate | list | apply [--dry-run] [--prune]   (file: PIPELINES_FILE or ./pipelines.yaml)';
const Args = z
  .object({
    _: z.tuple([z.enum(['validate', 'list', 'apply'])]),
    dryRun: z.boolean().default(false),
    /** Delete the schedules of pipelines no longer in the file (default: report them). */
    prune: z.boolean().default(false),
  })
  .strict();

const sequenceOf = (p: PipelineDefinition): string => (p.gold.sequenceBy ? p.gold.sequenceBy.join(', ') : 'Kafka position');

function describe(p: PipelineDefinition): string[] {
  const src = p.source.topics ? `topics ${p.source.topics.join(', ')}` : `topics matching /${p.source.topicPattern}/`;
  return [
    `${p.name}${p.description ? ` — ${p.description}` : ''}`,
    `  source: ${src} (startingOffsets ${p.source.startingOffsets}, failOnDataLoss ${p.source.failOnDataLoss}, connection ${p.source.connection})`,
    `  tables: raw ${p.tables.raw}, bronze ${p.tables.bronze}, dead letter ${p.tables.deadLetter}, gold ${p.tables.gold}`,
    `  schema: ${p.rules.fields.map((f) => `${f.name}${f.required ? '!' : ''}`).join(', ')}; expectations: ${(p.rules.expectations ?? []).map((e) => `${e.name} (${e.action})`).join(', ') || 'none'}`,
    `  gold: SCD${p.gold.scdType} on ${p.gold.keys.join(', ')}, ordered by ${sequenceOf(p)}${p.gold.deleteWhen ? `, delete when ${expressionSql(p.gold.deleteWhen, (n) => n)}` : ''}`,
    `  schedules: ${p.scheduleIds.raw} (${p.schedules.raw}), ${p.scheduleIds.bronze} (${p.schedules.bronze}), ${p.scheduleIds.gold} (${p.schedules.gold}); near-real-time ${p.nearRealTime ? 'on' : 'off'}`,
  ];
}

async function validate(pipelines: readonly PipelineDefinition[]): Promise<string[]> {
  const problems: string[] = [];
  for (const p of pipelines) problems.push(...(await bindProblems(p)));
  // until the stages read the definition, a sensor definition that differs from their code is a problem
  for (const p of pipelines) if (p.name === SENSOR_PIPELINE_NAME) problems.push(...sensorDrift(p).map((d) => `pipeline ${SENSOR_PIPELINE_NAME}: ${d} (the stages still use the code's sensor rules and tables)`));
  return problems;
}

/** One line per table change: create (with its columns), add columns / allow NULL, up to date, or the refused changes with what to do. */
function describeChange(pipeline: string, c: TableChange, done: boolean): string[] {
  const cols = (fs: readonly PlannedField[]) => fs.map((f) => `${f.name} ${f.type}${f.nullable ? '' : ' NOT NULL'}`).join(', ');
  switch (c.action) {
    case 'create':
      return [`${pipeline}: ${done ? 'created' : 'create'} table ${c.table} (${cols(c.fields)})`];
    case 'evolve':
      return [`${pipeline}: ${done ? 'evolved' : 'evolve'} table ${c.table}: add ${c.add.map((f) => `${f.name} ${f.type} (nullable)`).join(', ') || 'nothing'}${c.relax.length ? `; allow NULL in ${c.relax.join(', ')}` : ''}`];
    case 'none':
      return [`${pipeline}: table ${c.table} is up to date`];
    case 'refused':
      return c.refused.map((r) => `${pipeline}: REFUSED ${r}`);
  }
}

/**
 * apply: every pipeline's tables (created when absent, evolved by adding nullable columns), then
 * every pipeline's schedules. The table changes of all pipelines are planned first: when any is
 * refused (a column removed or retyped), the refusals are printed and nothing at all is applied.
 */
async function apply(pipelines: readonly PipelineDefinition[], opts: { dryRun: boolean; prune: boolean }): Promise<void> {
  const env = loadEnv();
  const staged = pipelines.map((def) => ({ def, stage: stagePipeline(def) }));
  const plans: { name: string; stage: StagePipeline; changes: TableChange[] }[] = [];
  for (const { def, stage } of staged) plans.push({ name: def.name, stage, changes: await ensurePipelineTables(env.LAKE_ROOT, stage, { dryRun: true }) });
  const schedulesOpts = { pipelines, nearRealTime: env.PIPELINE_NEAR_REAL_TIME };
  if (opts.dryRun) {
    for (const p of plans) for (const c of p.changes) for (const line of describeChange(p.name, c, false)) console.log(line);
    for (const s of planSchedules(schedulesOpts)) {
      console.log(`${s.pipeline ?? 'all'}: create or update schedule ${s.id} (${s.cron}) -> ${s.workflowType} ${JSON.stringify(s.input)}`);
    }
    console.log('schedules of pipelines no longer in the file are reported by apply (deleted with --prune)');
    return;
  }
  const refused = plans.flatMap((p) => p.changes.filter((c) => c.action === 'refused').flatMap((c) => describeChange(p.name, c, false)));
  if (refused.length) throw new Error(`${refused.join('\n')}\nnothing applied: fix the definition (or the tables) first`);
  for (const p of plans) {
    const changes = await ensurePipelineTables(env.LAKE_ROOT, p.stage);
    for (const c of changes) for (const line of describeChange(p.name, c, true)) console.log(line);
  }
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  try {
    const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
    const r = await syncSchedules(client, { taskQueue: env.TEMPORAL_TASK_QUEUE, ...schedulesOpts, prune: opts.prune });
    for (const s of r.schedules) console.log(`${s.pipeline ?? 'all'}: ${s.created ? 'created' : 'updated'} schedule ${s.id} (${s.cron})`);
    for (const line of describeOrphans(r)) console.log(line);
  } finally {
    await connection.close();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(Args, process.argv.slice(2), USAGE);
  const file = loadPipelineFile();
  const [command] = args._;
  if (command === 'list') {
    for (const p of file.pipelines) console.log(describe(p).join('\n'));
    return;
  }
  const problems = await validate(file.pipelines);
  if (problems.length) throw new PipelineDefinitionError(file.file, problems);
  if (command === 'validate') {
    console.log(`${file.file}: ${file.pipelines.length} pipeline(s) valid: ${file.pipelines.map((p) => p.name).join(', ')}`);
    return;
  }
  await apply(file.pipelines, { dryRun: args.dryRun, prune: args.prune });
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
