import * as fs from 'node:fs';
import * as path from 'node:path';
import { MetricSet, parseExposition } from '../../src/metrics/exposition';
import { METRICS, PipelineMetrics } from '../../src/metrics/pipeline';
import { loadEnv, loadWorkerConfig } from '../../src/config';

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

  it('the Grafana dashboard charts every pipeline metric and no unknown one', () => {
    const dashboard = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../docs/grafana-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/tributary_[a-z_]+/g) ?? [])));
    expect([...used].sort()).toEqual(Object.keys(METRICS).sort());
  });

  it('counts a stage result under the tables of the pipeline it ran (default: the sensor pipeline\'s)', () => {
    const m = new PipelineMetrics(loadWorkerConfig(loadEnv({ KAFKA_BROKERS: '127.0.0.1:9092' }, {})));
    const bronze = { recordsIn: 5, recordsOut: 3, deadLetters: 2, deadLettersByError: { 'negative amount': 2 } };
    m.observeSuccess('deserialize', bronze, 10);
    m.observeSuccess('deserialize', bronze, 10, Date.now(), { raw: 'raw/orders', bronze: 'bronze/orders', deadLetter: 'bronze/orders_dead_letter', gold: 'gold/orders' });
    const out = parseExposition(m.render()).filter((s) => s.name === 'tributary_records_out_total');
    expect(out.map((s) => [s.labels.table, s.value]).sort()).toEqual([
      ['bronze/orders', 3],
      ['bronze/orders_dead_letter', 2],
      ['bronze/sensor_readings', 3],
      ['bronze/sensor_readings_dead_letter', 2],
    ]);
  });
});
