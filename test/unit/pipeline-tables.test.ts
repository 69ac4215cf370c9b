/**
 * Tables from a pipeline definition (src/pipelines/tables.ts): the sensor pipeline keeps the
 * code's tables, the orders example gets typed bronze/gold schemas (SCD2 validity columns), and
 * schema evolution adds nullable columns but refuses removals and retypes with what to do.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSnapshot } from '../helpers/delta-dir';
import { ALL_TABLES, ensureTables } from '../../src/lake/tables';
import { loadPipelineFile, parsePipelineFile, pipelineNamed } from '../../src/pipelines/definition';
import { pipelineTables, planEvolution, type PlannedField } from '../../src/pipelines/tables';
import { pipelinesWithExample } from '../helpers/pipelines';

const withExample = pipelinesWithExample();
const f = (name: string, type: string, nullable = true): PlannedField => ({ name, type, nullable });

test('the sensor pipeline plans exactly the tables the code writes', () => {
  const sensor = pipelineNamed(loadPipelineFile(), 'sensor');
  expect(pipelineTables(sensor).map(({ name, fields }) => ({ name, fields }))).toEqual(ALL_TABLES.map(({ name, fields }) => ({ name, fields })));
});

test('an existing sensor lake is up to date for the shipped definition', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-pipeline-tables-'));
  try {
    await ensureTables(root);
    const sensor = pipelineNamed(loadPipelineFile(), 'sensor');
    for (const t of pipelineTables(sensor)) {
      const existing = (await readSnapshot(path.join(root, ...t.name.split('/')))).metadata.fields;
      expect(planEvolution(t.name, existing, t.fields)).toEqual({ add: [], relax: [], refused: [] });
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the orders example: typed bronze, SCD2 gold with validity columns', () => {
  const orders = pipelineNamed(parsePipelineFile(withExample), 'orders');
  const tables = Object.fromEntries(pipelineTables(orders).map((t) => [t.role, t]));
  expect(tables.bronze?.fields.slice(0, 9)).toEqual([
    f('order_id', 'string', false),
    f('op', 'string'),
    f('status', 'string'),
    f('customer_id', 'long'),
    f('country', 'string'),
    f('amount', 'decimal(12,2)'),
    f('updated_at', 'timestamp', false),
    f('order_date', 'date'),
    f('lines', 'string'),
  ]);
  expect(tables.bronze?.fields.map((x) => x.name).slice(9)).toEqual(['arrived_at', 'topic', 'partition', 'offset', 'kafka_ts']);
  expect(tables.gold?.fields).toEqual([
    f('order_id', 'string', false),
    f('status', 'string'),
    f('customer_id', 'long'),
    f('country', 'string'),
    f('amount', 'decimal(12,2)'),
    f('updated_at', 'timestamp'),
    f('__START_AT', 'timestamp'),
    f('__END_AT', 'timestamp'),
    f('__IS_CURRENT', 'boolean', false),
  ]);
  expect(tables.raw?.name).toBe('raw/orders');
  expect(tables.dead_letter?.name).toBe('bronze/orders_dead_letter');
});

describe('schema evolution', () => {
  const table = [f('id', 'string', false), f('amount', 'decimal(12,2)'), f('n', 'long', false)];

  test('an added field becomes a nullable column at the end; a field made optional relaxes NOT NULL', () => {
    expect(planEvolution('bronze/x', table, [f('id', 'string', false), f('note', 'string', false), f('amount', 'decimal(12,2)'), f('n', 'long')])).toEqual({
      add: [f('note', 'string', true)],
      relax: ['n'],
      refused: [],
    });
  });

  test('removing or retyping a column is refused, saying what to do', () => {
    const evo = planEvolution('bronze/x', table, [f('ID', 'string', false), f('amount', 'double')]);
    expect(evo.add).toEqual([]);
    expect(evo.refused).toEqual([
      'bronze/x: column amount is decimal(12,2) in the table but double in the definition — retyping a column is refused (old files keep decimal(12,2)): keep decimal(12,2), or add a field with a new name and stop filling amount',
      'bronze/x: column n (long) is in the table but not in the definition — removing a column is refused (its data would be lost to readers): put the field back (optional: required: false), or give the pipeline a new table path and backfill it',
    ]);
  });
});
