/**
 * README "Add your own topic": the pipeline definition it shows is complete, at most 20 lines,
 * valid on its own and next to the shipped sensor pipeline, and binds in DuckDB; the workflow
 * inputs of its CLI lines pass the workflows' input schemas. Read from README.md itself, so the
 * example cannot rot.
 */
import * as fs from 'node:fs';
import { bindProblems } from '../../src/pipelines/check';
import { DEFAULT_PIPELINES_FILE, parsePipelineFile, pipelineNamed } from '../../src/pipelines/definition';
import { pipelineTables } from '../../src/pipelines/tables';
import { planSchedules } from '../../src/schedules';
import { DeserializeInput } from '../../src/workflows/bronze-input';
import { MergeGoldInput } from '../../src/workflows/gold-input';
import { IngestRawInput } from '../../src/workflows/inputs';
import { readmeExample } from '../helpers/pipelines';

const { section, block } = readmeExample();

test('the README has the section and its example block', () => {
  expect(section).not.toBe('');
  expect(block).not.toBe('');
  expect(block.trimEnd().split('\n').length).toBeLessThanOrEqual(20);
});

test('the example is a complete, valid pipeline on its own and next to the sensor pipeline', async () => {
  const alone = parsePipelineFile(`pipelines:\n${block}`, 'README.md');
  expect(alone.pipelines.map((p) => p.name)).toEqual(['clicks']);
  const shipped = fs.readFileSync(DEFAULT_PIPELINES_FILE, 'utf8');
  const file = parsePipelineFile(`${shipped.trimEnd()}\n${block}`, 'pipelines.yaml');
  expect(file.pipelines.map((p) => p.name)).toEqual(['sensor', 'clicks']);
  const clicks = pipelineNamed(file, 'clicks');
  expect(await bindProblems(clicks)).toEqual([]);
  expect(pipelineTables(clicks).map((t) => t.name)).toEqual(['raw/clicks', 'bronze/clicks', 'bronze/clicks_dead_letter', 'gold/clicks']);
  // the schedules the section names, with the pipeline in their input
  const schedules = planSchedules({ env: {}, pipelines: [clicks], maintenance: false });
  expect(schedules.map((s) => [s.id, s.input])).toEqual(['clicks-raw-ingest', 'clicks-deserialize', 'clicks-merge-gold'].map((id) => [id, { pipeline: 'clicks' }]));
  for (const s of schedules) expect(section).toContain(s.id);
});

test('every workflow input in the section passes its workflow\'s schema', () => {
  const schemas: Record<string, { safeParse(v: unknown): { success: boolean; error?: unknown } }> = {
    ingestRawWorkflow: IngestRawInput,
    deserializeWorkflow: DeserializeInput,
    mergeGoldWorkflow: MergeGoldInput,
  };
  const starts = [...section.replace(/\\\n\s*/g, '').matchAll(/temporal workflow start --type (\w+) .*?--input '([^']*)'/g)];
  expect(starts.length).toBeGreaterThanOrEqual(3);
  for (const [, type, input] of starts) {
    const parsed = schemas[type!]!.safeParse(JSON.parse(input!));
    expect([type, input, parsed.success ? 'ok' : parsed.error]).toEqual([type, input, 'ok']);
    expect(JSON.parse(input!)).toMatchObject({ pipeline: 'clicks' });
  }
});

test('the commands it shows are the CLI\'s', () => {
  for (const cmd of ['npm run pipelines -- validate', 'npm run pipelines -- apply --dry-run', 'npm run pipelines -- apply', 'npm run status -- --pipeline clicks']) expect(section).toContain(cmd);
});
