/**
 * The Prometheus text exposition format (version 0.0.4), just what the worker needs: counters and
 * gauges with labels. Small enough that a client library would add more than it saves.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */

export type Labels = Record<string, string>;
type Kind = 'counter' | 'gauge';

interface Family {
  name: string;
  help: string;
  kind: Kind;
  samples: Map<string, { labels: Labels; value: number }>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`)
    .join(',');
}

/** A set of metric families: counters only go up; gauges are set (or the whole family replaced at scrape time). */
export class MetricSet {
  private readonly families = new Map<string, Family>();

  private family(name: string, kind: Kind, help: string): Family {
    let f = this.families.get(name);
    if (!f) {
      if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
      f = { name, help, kind, samples: new Map() };
      this.families.set(name, f);
    } else if (f.kind !== kind) {
      throw new Error(`metric ${name} is a ${f.kind}, not a ${kind}`);
    }
    return f;
  }

  private sample(f: Family, labels: Labels): { labels: Labels; value: number } {
    for (const k of Object.keys(labels)) if (!LABEL.test(k) || k.startsWith('__')) throw new Error(`bad label name ${k} on ${f.name}`);
    const key = labelKey(labels);
    let s = f.samples.get(key);
    if (!s) {
      s = { labels: { ...labels }, value: 0 };
      f.samples.set(key, s);
    }
    return s;
  }

  /** Declares a family so that it is listed (HELP/TYPE) even before its first sample. */
  declare(name: string, kind: Kind, help: string): void {
    this.family(name, kind, help);
  }

  inc(name: string, help: string, labels: Labels, by = 1): void {
    if (!(by >= 0)) throw new Error(`counter ${name} cannot go down (${by})`);
    this.sample(this.family(name, 'counter', help), labels).value += by;
  }

  set(name: string, help: string, labels: Labels, value: number): void {
    this.sample(this.family(name, 'gauge', help), labels).value = value;
  }

  /** Drops a family's samples (a scrape-time gauge whose label values may disappear, e.g. a deleted topic). */
  clear(name: string): void {
    this.families.get(name)?.samples.clear();
  }

  render(): string {
    const out: string[] = [];
    for (const f of this.families.values()) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.kind}`);
      for (const s of f.samples.values()) {
        const key = labelKey(s.labels);
        out.push(`${f.name}${key ? `{${key}}` : ''} ${formatValue(s.value)}`);
      }
    }
    return out.join('\n') + '\n';
  }
}

/** Parses exposition text into samples (for tests and for checking what the SDK exporter serves). */
export function parseExposition(text: string): { name: string; labels: Labels; value: number }[] {
  const out: { name: string; labels: Labels; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) continue;
    const labels: Labels = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const v = m[3]!;
    out.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}
