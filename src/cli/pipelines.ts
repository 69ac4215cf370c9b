/**
 * `npm run pipelines -- validate | list | apply [--dry-run]` over the pipeline definition file
 * (pipelines.yaml at the repo root, or PIPELINES_FILE).
 *
 *   validate  parse and check every pipeline (zod, expressions, DuckDB binding); one line per problem
 *   list      the pipelines: topics, tables, gold merge, schedules
 *   apply     create missing tables and create/update the schedules; --dry-run prints the plan only
 *             (per table: create, add columns, or the refused changes; per stage: the schedule)
 *
 * Until the stages read their tables and rules from the definition (issue 13, stage wiring), apply
 * runs the sensor pipeline only, and only while its definition matches the stages' code.
 */
import { joinRoot, openTableStore } from '../delta/open-store';
import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import { loadEnv } from '../config';
import { DeltaTableNotFoundError, loadSnapshot } from '../delta';
import { ensureTables } from '../lake/tables';
import { expressionSql } from '../lake/expression';
import { bindProblems, sensorDrift } from '../pipelines/check';
import { loadPipelineFile, PipelineDefinitionError, type PipelineDefinition } from '../pipelines/definition';
import { pipelineTables, planEvolution } from '../pipelines/tables';
import { describeOrphans, planSchedules, syncSchedules } from '../schedules';
import { notRunnable } from './runnable';
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
  for (const p of pipelines) if (p.name === 'sensor') problems.push(...sensorDrift(p).map((d) => `pipeline sensor: ${d} (the stages still use the code's sensor rules and tables)`));
  return problems;
}

/** One line per table: created when absent, columns added, or the refused changes. */
async function tablePlan(p: PipelineDefinition, lakeRoot: string): Promise<string[]> {
  const out: string[] = [];
  for (const t of pipelineTables(p)) {
    let existing;
    try {
      existing = (await loadSnapshot(openTableStore(joinRoot(lakeRoot, ...t.name.split('/'))))).metadata.fields;
    } catch (e) {
      if (!(e instanceof DeltaTableNotFoundError)) throw e;
      out.push(`${p.name}: create table ${t.name} (${t.fields.map((f) => `${f.name} ${f.type}${f.nullable ? '' : ' NOT NULL'}`).join(', ')})`);
      continue;
    }
    const evo = planEvolution(t.name, existing, t.fields);
    if (evo.refused.length) out.push(...evo.refused.map((r) => `${p.name}: REFUSED ${r}`));
    else if (evo.add.length || evo.relax.length) {
      out.push(`${p.name}: evolve table ${t.name}: add ${evo.add.map((f) => `${f.name} ${f.type} (nullable)`).join(', ') || 'nothing'}${evo.relax.length ? `; allow NULL in ${evo.relax.join(', ')}` : ''}`);
    } else out.push(`${p.name}: table ${t.name} is up to date`);
  }
  return out;
}

async function apply(pipelines: readonly PipelineDefinition[], opts: { dryRun: boolean; prune: boolean }): Promise<void> {
  const env = loadEnv();
  const refusal = notRunnable(pipelines);
  const schedulesOpts = { pipelines, nearRealTime: env.PIPELINE_NEAR_REAL_TIME };
  if (opts.dryRun) {
    for (const p of pipelines) for (const line of await tablePlan(p, env.LAKE_ROOT)) console.log(line);
    for (const s of planSchedules(schedulesOpts)) {
      console.log(`${s.pipeline ?? 'all'}: create or update schedule ${s.id} (${s.cron}) -> ${s.workflowType} ${JSON.stringify(s.input)}`);
    }
    console.log('schedules of pipelines no longer in the file are reported by apply (deleted with --prune)');
    if (refusal) console.log(`would refuse: ${refusal}`);
    return;
  }
  if (refusal) throw new Error(`${refusal}; nothing applied`);
  const created = await ensureTables(env.LAKE_ROOT);
  console.log(`sensor: tables ready${created.length ? ` (created ${created.join(', ')})` : ''}`);
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
