/**
 * Schema evolution of a pipeline's tables (issue 13 acceptance): tables created from a definition
 * by `npm run pipelines -- apply`, rows landed by the stages; a field added to the definition →
 * `apply` adds a nullable column with one Delta metaData commit; old rows read NULL, new rows are
 * filled, and DuckDB's delta_scan and delta-rs agree; removing or retyping a field is refused with
 * the message, by `apply` (nothing applied) and by a stage run (non-retryable, nothing written).
 * Real Kafka, Temporal worker and CLI processes.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { loadPipelineFile } from '../../src/pipelines/definition';
import { deserializeWorkflow, ingestRawWorkflow } from '../../src/workflows';
import type { BronzeResult } from '../../src/lake/bronze';
import { readCommit, readSnapshot } from '../helpers/delta-dir';
import { expectReadersAgree, loadDeltaExtension, readWithDeltalake } from '../helpers/deltalake-reader';
import { closeConnections, createTopic, execute, produce, rootFailure, tempLakeRoot, testConfig, testWorker, uniqueName } from '../helpers/pipeline';

afterAll(closeConnections);

/** A one-pipeline definition file (no sensor pipeline: apply then creates only this pipeline's schedules). */
function writeDefinition(file: string, name: string, topic: string, fields: string): void {
  fs.writeFileSync(
    file,
    `pipelines:
  - name: ${name}
    source: { topics: [${topic}], startingOffsets: earliest }
    tables: { raw: raw/${name}, bronze: bronze/${name}, dead_letter: bronze/${name}_dead_letter, gold: gold/${name} }
    schema:
      - { name: id, type: string, required: true }
${fields}    gold: { keys: [id] }
`,
  );
}

/** `npm run pipelines -- <args>` as a user runs it, on this lake and definition file, on a task queue nothing polls. */
function pipelinesCli(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.resolve('src/cli/pipelines.ts'), ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('schema evolution', () => {
  it('a field added to the definition becomes a nullable column (metaData commit): old rows NULL, new rows filled, both readers agree; removing or retyping is refused', async () => {
    const name = uniqueName('evo');
    const topic = uniqueName('evo-topic');
    await createTopic(topic, 1);
    const lakeRoot = tempLakeRoot();
    const file = path.join(lakeRoot, 'pipelines.yaml');
    const env = { PIPELINES_FILE: file, LAKE_ROOT: lakeRoot, TEMPORAL_TASK_QUEUE: uniqueName('tq-unpolled') };
    const bronzeDir = path.join(lakeRoot, 'bronze', name);
    const goldDir = path.join(lakeRoot, 'gold', name);
    const appId = `tributary.${name}.bronze/raw-version`;
    const db = await DuckDBInstance.create(':memory:');
    const con: DuckDBConnection = await db.connect();
    await loadDeltaExtension(con);
    const run = async (stage: (i?: unknown) => Promise<unknown>) => {
      const w = await testWorker(testConfig(lakeRoot), undefined, loadPipelineFile(file));
      return w.run(() => execute(w, stage, { pipeline: name }));
    };
    const landAndParse = async () => {
      await run(ingestRawWorkflow);
      return (await run(deserializeWorkflow)) as BronzeResult;
    };
    const client = (await testWorker(testConfig(lakeRoot))).client;
    try {
      // v1: id, n — apply creates the four tables and the schedules
      writeDefinition(file, name, topic, `      - { name: n, type: long }\n`);
      const dry = pipelinesCli(['apply', '--dry-run'], env);
      expect(dry.stderr).toBe('');
      expect(dry.stdout).toContain(`${name}: create table bronze/${name} (id string NOT NULL, n long, arrived_at timestamp NOT NULL, topic string NOT NULL`);
      expect(dry.stdout).toContain(`${name}: create or update schedule ${name}-raw-ingest (*/5 * * * *) -> ingestRawWorkflow {"pipeline":"${name}"}`);
      expect(fs.existsSync(bronzeDir)).toBe(false); // a dry run changes nothing
      const applied = pipelinesCli(['apply'], env);
      expect([applied.status, applied.stderr]).toEqual([0, '']);
      expect(applied.stdout).toContain(`${name}: created table bronze/${name}`);
      expect(applied.stdout).toContain(`${name}: created schedule ${name}-merge-gold (*/30 * * * *)`);
      expect(applied.stdout).not.toContain('sensor-maintain-tables');

      await produce(topic, [{ value: JSON.stringify({ id: 'a', n: 1 }) }, { value: JSON.stringify({ id: 'b', n: 2, note: 'ignored until declared' }) }]);
      expect(await landAndParse()).toMatchObject({ recordsIn: 2, recordsOut: 2, deadLetters: 0 });
      const v1 = await readSnapshot(bronzeDir);

      // v2: + note — apply adds it to bronze and gold as a nullable column, in one metaData commit each
      writeDefinition(file, name, topic, `      - { name: n, type: long }\n      - { name: note, type: string }\n`);
      const plan = pipelinesCli(['apply', '--dry-run'], env);
      expect(plan.stdout).toContain(`${name}: evolve table bronze/${name}: add note string (nullable)`);
      expect(plan.stdout).toContain(`${name}: evolve table gold/${name}: add note string (nullable)`);
      expect(plan.stdout).toContain(`${name}: table raw/${name} is up to date`);
      const evolved = pipelinesCli(['apply'], env);
      expect([evolved.status, evolved.stderr]).toEqual([0, '']);
      expect(evolved.stdout).toContain(`${name}: evolved table bronze/${name}: add note string (nullable)`);
      const v2 = await readSnapshot(bronzeDir);
      expect(v2.version).toBe(v1.version + 1);
      const commit = await readCommit(bronzeDir, v2.version);
      expect(commit.filter((a) => !('commitInfo' in a)).map((a) => Object.keys(a)[0])).toEqual(['metaData']); // no data rewritten
      expect(v2.files).toEqual(v1.files);
      // in the definition's order, after the fields before it (readers match columns by name)
      expect(v2.metadata.fields.map((f) => `${f.name}:${f.type}:${f.nullable}`).slice(0, 4)).toEqual(['id:string:false', 'n:long:true', 'note:string:true', 'arrived_at:timestamp:false']);
      expect((await readSnapshot(goldDir)).metadata.fields.map((f) => f.name)).toEqual(['id', 'n', 'note']);

      await produce(topic, [{ value: JSON.stringify({ id: 'c', n: 3, note: 'new' }) }, { value: JSON.stringify({ id: 'd', n: 4 }) }]);
      expect(await landAndParse()).toMatchObject({ recordsIn: 2, recordsOut: 2, deadLetters: 0 });
      // every column through our snapshot, DuckDB's delta_scan and delta-rs: the same rows
      const { rows } = await expectReadersAgree(con, bronzeDir, (await readSnapshot(bronzeDir)).metadata.fields, appId);
      expect(rows.map(({ id, n, note, offset }) => ({ id, n, note, offset }))).toEqual([
        { id: 'a', n: '1', note: null, offset: '0' }, // old rows read NULL (b's note was not declared when it was parsed)
        { id: 'b', n: '2', note: null, offset: '1' },
        { id: 'c', n: '3', note: 'new', offset: '2' },
        { id: 'd', n: '4', note: null, offset: '3' },
      ]);
      expect((await readWithDeltalake(goldDir)).schema.map((f) => [f.name, f.type, f.nullable])).toEqual([
        ['id', 'string', false],
        ['n', 'long', true],
        ['note', 'string', true],
      ]);

      // v3: n retyped, note removed — refused with what to do, by apply (nothing applied) and by a stage run
      writeDefinition(file, name, topic, `      - { name: n, type: double }\n`);
      const refusedPlan = pipelinesCli(['apply', '--dry-run'], env);
      expect(refusedPlan.stdout).toContain(
        `${name}: REFUSED bronze/${name}: column n is long in the table but double in the definition — retyping a column is refused (old files keep long): keep long, or add a field with a new name and stop filling n`,
      );
      expect(refusedPlan.stdout).toContain(
        `${name}: REFUSED bronze/${name}: column note (string) is in the table but not in the definition — removing a column is refused (its data would be lost to readers): put the field back (optional: required: false), or give the pipeline a new table path and backfill it`,
      );
      const before = await readSnapshot(bronzeDir);
      const refused = pipelinesCli(['apply'], env);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain(`${name}: REFUSED bronze/${name}: column n is long in the table but double in the definition`);
      expect(refused.stderr).toContain('nothing applied');
      expect((await readSnapshot(bronzeDir)).version).toBe(before.version);
      await produce(topic, [{ value: JSON.stringify({ id: 'e', n: 5.5 }) }]);
      await run(ingestRawWorkflow); // raw's schema is the same for every pipeline: it goes on landing
      const failure = rootFailure(await run(deserializeWorkflow).catch((e: unknown) => e));
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toContain(`column n is long in the table but double in the definition`);
      expect((await readSnapshot(bronzeDir)).version).toBe(before.version);
    } finally {
      con.closeSync();
      db.closeSync();
      for (const id of ['raw-ingest', 'deserialize', 'merge-gold']) await client.schedule.getHandle(`${name}-${id}`).delete().catch(() => undefined);
    }
  });
});
