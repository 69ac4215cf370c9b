import * as fs from 'node:fs';
import * as path from 'node:path';
import { MetricSet, parseExposition } from '../../src/metrics/exposition';
import { METRICS, PipelineMetrics } from '../../src/metrics/pipeline';
import { loadEnv, loadWorkerConfig } from '../../src/config';
import { SENSOR_STATUS, type StatusPipeline } from '../../src/status';

/** A pipeline as the metrics read it, with only names and table paths given. */
function statusLike(p: { name: string; tables: Record<'raw' | 'bronze' | 'deadLetter' | 'gold', string> }): StatusPipeline {
  const def = (name: string) => ({ name, description: '', fields: [] });
  const t = p.tables;
  return {
    ...SENSOR_STATUS,
    name: p.name,
    tables: { raw: def(t.raw), bronze: def(t.bronze), deadLetter: def(t.deadLetter), gold: def(t.gold), replayLog: def(`${t.bronze}_replay_log`) },
  };
}

describe('Prometheus exposition', () => {
  it('renders HELP/TYPE per family, sorted escaped labels, and parses back', () => {
    const m = new MetricSet();
    m.declare('x_total', 'counter', 'declared first');
    m.inc('x_total', 'declared first', { stage: 'raw', error: 'say "hi"\\n\nnext' }, 2);
    m.inc('x_total', 'declared first', { error: 'say "hi"\\n\nnext', stage: 'raw' });
    m.set('y_seconds', 'a gauge', {}, 1.5);
    m.set('y_seconds', 'a gauge', {}, Infinity);
    const text = m.render();
    expect(text).toBe(
      [
        '# HELP x_total declared first',
        '# TYPE x_total counter',
        'x_total{error="say \\"hi\\"\\\\n\\nnext",stage="raw"} 3',
        '# HELP y_seconds a gauge',
        '# TYPE y_seconds gauge',
        'y_seconds +Inf',
        '',
      ].join('\n'),
    );
    expect(parseExposition(text)).toEqual([
      { name: 'x_total', labels: { error: 'say "hi"\\n\nnext', stage: 'raw' }, value: 3 },
      { name: 'y_seconds', labels: {}, value: Infinity },
    ]);
  });

  it('refuses decreasing counters, bad names and a family used as two types', () => {
    const m = new MetricSet();
    expect(() => m.inc('c_total', 'h', {}, -1)).toThrow(/cannot go down/);
    expect(() => m.set('bad-name', 'h', {}, 1)).toThrow(/bad metric name/);
    expect(() => m.set('g', 'h', { 'bad-label': 'x' }, 1)).toThrow(/bad label name/);
    m.set('g', 'h', {}, 1);
    expect(() => m.inc('g', 'h', {})).toThrow(/is a gauge/);
  });

  it('pipeline metric names follow the conventions and the README documents every one', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    for (const [name, [kind]] of Object.entries(METRICS)) {
      expect(name).toMatch(/^tributary_[a-z_]+$/);
      if (kind === 'counter') expect(name).toMatch(/_total$/);
      else expect(name).not.toMatch(/_total$/);
      expect(readme).toContain(`\`${name}\``);
    }
  });

  it("the README's labels are the metrics' and every pipeline metric has a pipeline label", () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    for (const [name, [kind, labels]] of Object.entries(METRICS)) {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row?.split(' | ').slice(1, 3)).toEqual([kind, labels.split(', ').map((l) => `\`${l}\``).join(', ')]);
      expect(labels.split(', ')).toContain('pipeline');
    }
  });

  it('the Grafana dashboard charts every pipeline metric and no unknown one', () => {
    const dashboard = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../docs/grafana-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/tributary_[a-z_]+/g) ?? [])));
    expect([...used].sort()).toEqual(Object.keys(METRICS).sort());
    // each pipeline its own series, filtered by the dashboard's pipeline variable
    for (const expr of dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).filter((e) => e.includes('tributary_'))) {
      expect(expr).toContain('{pipeline=~"$pipeline"}');
      if (expr.includes(' by (')) expect(expr).toMatch(/ by \(pipeline, /);
    }
  });

  it("counts each pipeline's runs under its own pipeline label and tables (default: the sensor pipeline)", () => {
    const orders = { name: 'orders', tables: { raw: 'raw/orders', bronze: 'bronze/orders', deadLetter: 'bronze/orders_dead_letter', gold: 'gold/orders' } };
    const m = new PipelineMetrics(loadWorkerConfig(loadEnv({ KAFKA_BROKERS: '127.0.0.1:9092' }, {})), undefined, undefined, [SENSOR_STATUS, statusLike(orders)]);
    const bronze = { recordsIn: 5, recordsOut: 3, deadLetters: 2, deadLettersByError: { 'negative amount': 2 } };
    m.observeSuccess('deserialize', bronze, 10, 1_000_000);
    m.observeSuccess('deserialize', bronze, 20, 2_000_000, 'orders');
    m.observeFailure('deserialize', 'orders');
    const gold = { rowsIn: 9, inserted: 4, updated: 2, deleted: 3, skippedOlder: 0 };
    m.observeSuccess('mergeGold', gold, 30, 3_000_000, 'orders');
    const s = parseExposition(m.render());
    const of = (name: string) => s.filter((x) => x.name === name).map((x) => [x.labels, x.value]);
    expect(of('tributary_records_out_total')).toEqual(
      expect.arrayContaining([
        [{ pipeline: 'sensor', stage: 'bronze', table: 'bronze/sensor_readings' }, 3],
        [{ pipeline: 'sensor', stage: 'bronze', table: 'bronze/sensor_readings_dead_letter' }, 2],
        [{ pipeline: 'orders', stage: 'bronze', table: 'bronze/orders' }, 3],
        [{ pipeline: 'orders', stage: 'bronze', table: 'bronze/orders_dead_letter' }, 2],
        [{ pipeline: 'orders', stage: 'gold', table: 'gold/orders' }, 6],
      ]),
    );
    // a run of one pipeline does not refresh another's staleness
    expect(of('tributary_stage_last_success_timestamp_seconds')).toEqual(
      expect.arrayContaining([
        [{ pipeline: 'sensor', stage: 'bronze' }, 1000],
        [{ pipeline: 'orders', stage: 'bronze' }, 2000],
      ]),
    );
    expect(of('tributary_stage_last_run_duration_seconds')).toContainEqual([{ pipeline: 'sensor', stage: 'bronze' }, 0.01]);
    expect(of('tributary_stage_runs_total')).toEqual(
      expect.arrayContaining([
        [{ outcome: 'success', pipeline: 'sensor', stage: 'bronze' }, 1],
        [{ outcome: 'success', pipeline: 'orders', stage: 'bronze' }, 1],
        [{ outcome: 'failure', pipeline: 'orders', stage: 'bronze' }, 1],
      ]),
    );
    expect(of('tributary_dead_letters_total')).toEqual([
      [{ error: 'negative amount', pipeline: 'sensor', stage: 'bronze' }, 2],
      [{ error: 'negative amount', pipeline: 'orders', stage: 'bronze' }, 2],
    ]);
    // the generic gold stage's deletes are counted
    expect(of('tributary_gold_merge_rows_total')).toEqual([
      [{ action: 'inserted', pipeline: 'orders' }, 4],
      [{ action: 'updated', pipeline: 'orders' }, 2],
      [{ action: 'deleted', pipeline: 'orders' }, 3],
    ]);
    // every per-stage or per-table sample names its pipeline
    for (const x of s) if ('stage' in x.labels || 'table' in x.labels || 'action' in x.labels) expect(x.labels.pipeline).toBeDefined();
  });
});
