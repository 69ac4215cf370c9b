/**
 * Top frames of a V8 CPU profile (`node --cpu-prof`), optionally only inside a time window — e.g.
 * one stage of `npm run bench`, whose JSON records each stage's `monotonicUs` (the profile's clock):
 *
 *   node --cpu-prof --cpu-prof-dir /tmp/prof --import tsx bench/run.ts --sizes 1000000 --stages 1 --skip-ceilings --out /tmp/b.json
 *   npx tsx bench/cpuprofile-top.ts /tmp/prof/CPU.<...>.0.001.cpuprofile --bench /tmp/b.json --stage 1 [--top 25]
 *
 * Prints the window's wall time split into idle (the thread waits: DuckDB threads, disk, Kafka),
 * GC, native/program and JS; then the top functions by self time and by inclusive time, and
 * self time grouped by package (node_modules/<pkg>, src/..., node:internal).
 */
import * as fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const file = process.argv[2];
if (!file || file.startsWith('--')) {
  console.error('usage: npx tsx bench/cpuprofile-top.ts <file.cpuprofile> [--bench <bench.json> --stage <n> [--size <N>]] [--from <µs> --to <µs>] [--top 25]');
  process.exit(2);
}
const top = Number(arg('top') ?? 25);
let from = arg('from') !== undefined ? Number(arg('from')) : -Infinity;
let to = arg('to') !== undefined ? Number(arg('to')) : Infinity;
const benchFile = arg('bench');
if (benchFile) {
  const bench = JSON.parse(fs.readFileSync(benchFile, 'utf8')) as { results: { n: number; stages: { stage: number; monotonicUs?: [number, number] }[] }[] };
  const size = arg('size') !== undefined ? bench.results.find((r) => r.n === Number(arg('size'))) : bench.results[0];
  const st = size?.stages.find((s) => s.stage === Number(arg('stage') ?? 1));
  if (!st?.monotonicUs) throw new Error('stage window not found in the bench JSON');
  [from, to] = st.monotonicUs;
}

const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const where = (n: ProfileNode) => {
  const u = n.callFrame.url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '');
  return u ? `${u}:${n.callFrame.lineNumber + 1}` : '';
};
const label = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${where(n)}`.trim();
const group = (n: ProfileNode) => {
  const u = n.callFrame.url;
  if (!u) return n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return nm[1];
  if (u.startsWith('node:')) return 'node:internal';
  const src = /\/(src\/[^/]+|bench|test)\//.exec(u);
  return src ? src[1] : u;
};

const self = new Map<string, number>();
const incl = new Map<string, number>();
const groups = new Map<string, number>();
let total = 0;
let t = prof.startTime;
for (let i = 0; i < prof.samples.length; i++) {
  t += prof.timeDeltas[i];
  if (t < from || t > to) continue;
  const dt = prof.timeDeltas[i + 1] ?? 0; // a sample stands for the time until the next one
  const node = byId.get(prof.samples[i])!;
  total += dt;
  self.set(label(node), (self.get(label(node)) ?? 0) + dt);
  groups.set(group(node), (groups.get(group(node)) ?? 0) + dt);
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const l = label(byId.get(id)!);
    if (seen.has(l)) continue;
    seen.add(l);
    incl.set(l, (incl.get(l) ?? 0) + dt);
  }
}

const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const print = (title: string, m: Map<string, number>, n = top) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${ms(v)} ${pct(v)}  ${k}`);
};
console.log(`window ${(total / 1e6).toFixed(2)} s of samples${Number.isFinite(from) ? ` (${from}..${to} µs)` : ''}`);
print('by package (self time)', groups, 15);
print(`top ${top} by self time`, self);
print(`top ${top} by inclusive time`, incl);
