/**
 * The bench's results: their shape (also the JSON it writes), the targets checked against them,
 * the scaling fit across sizes, and the printed tables.
 */
import type { SampleTruth } from '../src/sample/sensor-data';
import type { DuckDBCeiling, JavaCeiling, KafkajsAlone, MergeGoldReference } from './ceilings';
import type { DeltaWrites } from './lake-writes';
import type { SparkBaseline } from './spark';

export const TARGETS = {
  stage1MsgPerSec: 100_000,
  /** issue 14: stage 1 at a 10M backlog */
  stage1MsgPerSecAt10M: 1_000_000,
  stage1VsJava: 0.5,
  stage2RowsPerSec: 500_000,
  /** issue 14: MERGE of 100k into 10M */
  stage3MergeSeconds: 0.5,
  /** issue 14: gold's full-backlog merge at 10M (9M rows) */
  goldSecondsAt10M: 6,
  goldVsSpark: 5,
  endToEndVsSpark: 10,
  rssBytesAt10M: 1.5 * 1024 ** 3,
};

export interface StageResult {
  stage: number;
  name: string;
  workflow: string;
  what: string;
  available: boolean;
  records?: number;
  seconds?: number;
  recordsPerSec?: number;
  /** CPU time of this process (worker threads and DuckDB's threads included) during the stage. */
  cpuSeconds?: number;
  delta?: DeltaWrites;
  peakRssBytes?: number;
  rssSampledBytes?: number;
  rssHwmBytes?: number | null;
  rssBeforeBytes?: number;
  /** process.hrtime (CLOCK_MONOTONIC, µs) at start and end: the clock of `node --cpu-prof` profiles. */
  monotonicUs?: [number, number];
  result?: unknown;
  error?: string;
}

export interface SizeResult {
  n: number;
  topic: string;
  lakeRoot: string;
  produce: { seconds: number; msgPerSec: number; payloadBytes: number; truth: SampleTruth };
  ceilings: { javaConsumer?: JavaCeiling; kafkajsAlone?: KafkajsAlone; duckdb?: DuckDBCeiling; errors: string[] };
  stages: StageResult[];
  endToEnd?: { from: string; to: string; records: number; seconds: number; recordsPerSec: number; peakRssBytes: number; deltaVersions: number; deltaFiles: number };
  ratios: { stage1VsJava?: number; stage1VsJavaTotal?: number; stage1VsKafkajsAlone?: number; kafkajsAloneVsJava?: number; stage2VsDuckDB?: number };
  /** --vs-spark: the seed's jobs on the same topic, after the stages. */
  spark?: SparkBaseline;
}

/** Spark's seconds ÷ ours per stage and end to end (higher = we are faster); undefined where either is missing. */
export function sparkRatios(r: SizeResult): { rows: { label: string; spark: number; ours: number | undefined; sparkCpu: number | null; oursCpu: number | undefined }[] } | undefined {
  if (!r.spark) return undefined;
  const stage = (n: number) => r.stages.find((s) => s.stage === n && !s.error && s.seconds !== undefined);
  const sp = r.spark.seconds;
  const cpu = r.spark.cpuSeconds;
  const ran = [1, 2, 3].map(stage);
  const sum = (f: (s: StageResult) => number | undefined) => (ran.every((s) => s && f(s) !== undefined) ? ran.reduce((a, s) => a + f(s!)!, 0) : undefined);
  const rows = [
    { label: '1 raw', spark: sp.raw, ours: stage(1)?.seconds, sparkCpu: cpu.raw, oursCpu: stage(1)?.cpuSeconds },
    { label: '2 bronze', spark: sp.bronze, ours: stage(2)?.seconds, sparkCpu: cpu.bronze, oursCpu: stage(2)?.cpuSeconds },
    { label: '3 gold', spark: sp.gold, ours: stage(3)?.seconds, sparkCpu: cpu.gold, oursCpu: stage(3)?.cpuSeconds },
    { label: 'end to end', spark: sp.raw + sp.bronze + sp.gold, ours: sum((s) => s.seconds), sparkCpu: cpu.raw !== null && cpu.bronze !== null && cpu.gold !== null ? cpu.raw + cpu.bronze + cpu.gold : null, oursCpu: sum((s) => s.cpuSeconds) },
  ];
  return { rows };
}

export interface Check {
  target: string;
  n?: number;
  value: string;
  pass: boolean | null;
}

export const fmtInt = (x: number) => Math.round(x).toLocaleString('en-US');
export const mib = (b: number) => `${(b / 1024 ** 2).toFixed(0)} MiB`;
export const shortN = (n: number) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n));

export function evaluate(results: SizeResult[], args: { stages: number[]; with10m: boolean }, mergeGold: MergeGoldReference): Check[] {
  const checks: Check[] = [];
  for (const r of results) {
    const s1 = r.stages.find((s) => s.stage === 1);
    const s2 = r.stages.find((s) => s.stage === 2);
    if (s1?.recordsPerSec !== undefined && !s1.error) {
      checks.push({ target: `stage 1 ≥ ${fmtInt(TARGETS.stage1MsgPerSec)} msg/s`, n: r.n, value: `${fmtInt(s1.recordsPerSec)} msg/s`, pass: s1.recordsPerSec >= TARGETS.stage1MsgPerSec });
      if (r.ratios.stage1VsJava !== undefined) {
        checks.push({ target: `stage 1 ≥ ${TARGETS.stage1VsJava} × Java consumer`, n: r.n, value: `${r.ratios.stage1VsJava.toFixed(3)} ×`, pass: r.ratios.stage1VsJava >= TARGETS.stage1VsJava });
      }
    }
    if (args.stages.includes(2)) {
      if (s2?.available && s2.recordsPerSec !== undefined && !s2.error) {
        checks.push({ target: `stage 2 ≥ ${fmtInt(TARGETS.stage2RowsPerSec)} rows/s`, n: r.n, value: `${fmtInt(s2.recordsPerSec)} rows/s`, pass: s2.recordsPerSec >= TARGETS.stage2RowsPerSec });
      } else {
        checks.push({ target: `stage 2 ≥ ${fmtInt(TARGETS.stage2RowsPerSec)} rows/s`, n: r.n, value: s2?.error ? 'failed' : 'not available', pass: null });
      }
    }
    const sr = sparkRatios(r);
    if (sr) {
      const gold = sr.rows[2];
      const e2e = sr.rows[3];
      if (gold.ours !== undefined) {
        checks.push({ target: `gold ≥ ${TARGETS.goldVsSpark} × Spark`, n: r.n, value: `${(gold.spark / gold.ours).toFixed(2)} × (${gold.spark.toFixed(1)} s vs ${gold.ours.toFixed(2)} s)`, pass: gold.spark / gold.ours >= TARGETS.goldVsSpark });
      }
      if (e2e.ours !== undefined) {
        checks.push({ target: `end to end ≥ ${TARGETS.endToEndVsSpark} × Spark`, n: r.n, value: `${(e2e.spark / e2e.ours).toFixed(2)} × (${e2e.spark.toFixed(1)} s vs ${e2e.ours.toFixed(2)} s)`, pass: e2e.spark / e2e.ours >= TARGETS.endToEndVsSpark });
      }
    }
    if (r.n === 10_000_000) {
      const s3 = r.stages.find((s) => s.stage === 3 && !s.error && s.seconds !== undefined);
      if (s1?.recordsPerSec !== undefined && !s1.error) {
        checks.push({ target: `stage 1 ≥ ${fmtInt(TARGETS.stage1MsgPerSecAt10M)} msg/s at 10M`, n: r.n, value: `${fmtInt(s1.recordsPerSec)} msg/s`, pass: s1.recordsPerSec >= TARGETS.stage1MsgPerSecAt10M });
      }
      if (s3) checks.push({ target: `gold full-backlog merge ≤ ${TARGETS.goldSecondsAt10M} s`, n: r.n, value: `${s3.seconds!.toFixed(2)} s`, pass: s3.seconds! <= TARGETS.goldSecondsAt10M });
      const peak = Math.max(0, ...r.stages.map((s) => s.peakRssBytes ?? 0));
      checks.push({ target: 'worker RSS ≤ 1.5 GiB at a 10M backlog', n: r.n, value: mib(peak), pass: peak > 0 ? peak <= TARGETS.rssBytesAt10M : null });
    }
  }
  if (args.stages.includes(3)) {
    const worst = mergeGold.worstSecondsAt10M;
    checks.push({
      target: `stage 3 merge 100k into 10M ≤ ${TARGETS.stage3MergeSeconds} s`,
      value:
        worst !== undefined
          ? `slowest of ${mergeGold.rounds.filter((x) => x.goldRows === 10_000_000).length} rounds ${worst.toFixed(2)} s (${mergeGold.script})`
          : !mergeGold.present
            ? `not measured (${mergeGold.script} absent)`
            : mergeGold.ran
              ? `${mergeGold.script} failed: ${mergeGold.error?.slice(0, 200)}`
              : `not measured (--no-merge-gold)`,
      pass: worst !== undefined ? worst <= TARGETS.stage3MergeSeconds : null,
    });
  }
  if (!args.with10m) checks.push({ target: 'worker RSS ≤ 1.5 GiB at a 10M backlog', value: 'not measured (needs --with-10m)', pass: null });
  return checks;
}

/**
 * Per stage across the sizes: µs per record at each N, and between consecutive sizes the marginal
 * rate (ΔN / Δseconds) and the fixed cost it implies (workflow + activity start, connections,
 * group join, table snapshots) — the run time at N is ≈ fixed + N / marginal rate.
 */
export interface Scaling {
  stage: string;
  points: { n: number; usPerRecord: number; peakRssBytes: number }[];
  marginal: { fromN: number; toN: number; recordsPerSec: number; fixedSeconds: number }[];
}

export function scaling(results: SizeResult[]): Scaling[] {
  const out: Scaling[] = [];
  const keys = [...new Set(results.flatMap((r) => r.stages.filter((s) => s.records && !s.error).map((s) => `${s.stage} ${s.workflow}`)))];
  const series = (pick: (r: SizeResult) => { records: number; seconds: number; peak: number } | undefined) =>
    results.map((r) => ({ n: r.n, v: pick(r) })).filter((x): x is { n: number; v: { records: number; seconds: number; peak: number } } => !!x.v);
  const build = (stage: string, pts: { n: number; v: { records: number; seconds: number; peak: number } }[]) => {
    if (pts.length === 0) return;
    const sc: Scaling = { stage, points: pts.map((p) => ({ n: p.n, usPerRecord: (p.v.seconds * 1e6) / p.v.records, peakRssBytes: p.v.peak })), marginal: [] };
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1].v;
      const b = pts[i].v;
      const rate = (b.records - a.records) / (b.seconds - a.seconds);
      sc.marginal.push({ fromN: pts[i - 1].n, toN: pts[i].n, recordsPerSec: rate, fixedSeconds: a.seconds - a.records / rate });
    }
    out.push(sc);
  };
  for (const key of keys) {
    build(
      key,
      series((r) => {
        const s = r.stages.find((x) => `${x.stage} ${x.workflow}` === key && x.records && !x.error);
        return s ? { records: s.records!, seconds: s.seconds!, peak: s.peakRssBytes ?? 0 } : undefined;
      }),
    );
  }
  build(
    'end to end',
    series((r) => (r.endToEnd ? { records: r.endToEnd.records, seconds: r.endToEnd.seconds, peak: r.endToEnd.peakRssBytes } : undefined)),
  );
  return out;
}

/** A markdown table; columns whose cells are all numbers/sizes are right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const numeric = rows[0].map((_, i) => rows.slice(1).every((r) => /^(|[\d,.]+( MiB|\/s| s| ×)?)$/.test(r[i] ?? '')));
  const line = (r: string[]) => `| ${r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join('\n');
}

export function printReport(results: SizeResult[], checks: Check[], mergeGold: MergeGoldReference, scales: Scaling[]): void {
  const rows: string[][] = [['N', 'stage', 'records', 'seconds', 'records/s', 'Delta versions', 'Delta files', 'RSS at start', 'peak RSS', 'ceiling', 'ratio']];
  for (const r of results) {
    for (const s of r.stages) {
      const label = `${s.stage} ${s.workflow}`;
      if (!s.available) {
        rows.push([fmtInt(r.n), `${label}: not available`, '', '', '', '', '', '', '', '', '']);
        continue;
      }
      const ceiling =
        s.stage === 1 && r.ceilings.javaConsumer
          ? `Java ${fmtInt(r.ceilings.javaConsumer.fetchMsgPerSec)}/s`
          : s.stage === 2 && r.ceilings.duckdb
            ? `DuckDB ${fmtInt(r.ceilings.duckdb.rowsPerSec)}/s`
            : '';
      const ratio = s.stage === 1 ? r.ratios.stage1VsJava : s.stage === 2 ? r.ratios.stage2VsDuckDB : undefined;
      rows.push([
        fmtInt(r.n),
        s.error ? `${label} (FAILED)` : label,
        fmtInt(s.records ?? 0),
        (s.seconds ?? 0).toFixed(2),
        fmtInt(s.recordsPerSec ?? 0),
        String(s.delta?.versions ?? ''),
        String(s.delta?.filesAdded ?? ''),
        mib(s.rssBeforeBytes ?? 0),
        mib(s.peakRssBytes ?? 0),
        ceiling,
        ratio !== undefined ? ratio.toFixed(3) : '',
      ]);
    }
    if (r.endToEnd) {
      const e = r.endToEnd;
      rows.push([fmtInt(r.n), `end to end (${e.from} → ${e.to})`, fmtInt(e.records), e.seconds.toFixed(2), fmtInt(e.recordsPerSec), String(e.deltaVersions), String(e.deltaFiles), '', mib(e.peakRssBytes), '', '']);
    }
  }
  console.log(`\n${table(rows)}`);

  const sprows: string[][] = [['N', 'stage', 'Spark (s)', 'tributary (s)', 'ratio', 'Spark CPU (s)', 'tributary CPU (s)', 'CPU ratio']];
  const ratio = (a: number, b: number | undefined) => (b !== undefined && b > 0 ? `${(a / b).toFixed(2)} ×` : '');
  for (const r of results) {
    for (const x of sparkRatios(r)?.rows ?? []) {
      sprows.push([
        fmtInt(r.n),
        x.label,
        x.spark.toFixed(2),
        x.ours?.toFixed(2) ?? '',
        ratio(x.spark, x.ours),
        x.sparkCpu?.toFixed(2) ?? '',
        x.oursCpu?.toFixed(2) ?? '',
        x.sparkCpu !== null ? ratio(x.sparkCpu, x.oursCpu) : '',
      ]);
    }
  }
  if (sprows.length > 1) {
    console.log(
      `\nvs the seed's Spark jobs — Spark 3.5.3 + delta-spark 3.3.2, local[2], same topic, run right after ours; ratio = Spark ÷ tributary; ` +
        `Spark's session start not counted; CPU = user+system of the JVM + Python driver vs of the worker process:\n${table(sprows)}`,
    );
  }

  const crows: string[][] = [['N', 'ceiling', 'rate', 'seconds', 'detail']];
  for (const r of results) {
    const j = r.ceilings.javaConsumer;
    if (j) {
      crows.push([fmtInt(r.n), 'Java ConsumerPerformance', `${fmtInt(j.fetchMsgPerSec)} msg/s`, (j.fetchMs / 1000).toFixed(2), `${j.fetchMbPerSec.toFixed(1)} MB/s fetching; ${fmtInt(j.msgPerSec)} msg/s incl. ${j.rebalanceMs} ms group join`]);
    }
    const k = r.ceilings.kafkajsAlone;
    if (k) {
      crows.push([
        fmtInt(r.n),
        'range reader alone',
        `${fmtInt(k.msgPerSec)} msg/s`,
        k.seconds.toFixed(2),
        `reference, not a ceiling: src/kafka/range-reader.ts, no writes; ${(r.ratios.kafkajsAloneVsJava ?? 0).toFixed(3)} × Java; stage 1 = ${(r.ratios.stage1VsKafkajsAlone ?? 0).toFixed(3)} × this`,
      ]);
    }
    const d = r.ceilings.duckdb;
    if (d) crows.push([fmtInt(r.n), 'DuckDB alone', `${fmtInt(d.rowsPerSec)} rows/s`, d.seconds.toFixed(2), `${d.sql}; ${d.threads} threads; child peak RSS ${mib(d.peakRssBytes)}`]);
    for (const e of r.ceilings.errors) crows.push([fmtInt(r.n), 'error', '', '', e.slice(0, 200)]);
  }
  if (crows.length > 1) console.log(`\n${table(crows)}`);
  if (results.length > 1) {
    const srows: string[][] = [['stage', ...results.map((r) => `µs/record @ ${fmtInt(r.n)}`), ...results.slice(1).map((r, i) => `marginal rate ${shortN(results[i].n)}→${shortN(r.n)}`), 'fixed cost']];
    for (const sc of scales) {
      const us = results.map((r) => sc.points.find((p) => p.n === r.n)?.usPerRecord);
      const marg = results.slice(1).map((r) => sc.marginal.find((m) => m.toN === r.n)?.recordsPerSec);
      const last = sc.marginal[sc.marginal.length - 1];
      srows.push([sc.stage, ...us.map((u) => (u === undefined ? '' : u.toFixed(2))), ...marg.map((m) => (m === undefined ? '' : `${fmtInt(m)}/s`)), last ? `${last.fixedSeconds.toFixed(2)} s` : '']);
    }
    console.log(`\nscaling (per-record cost and marginal rate between sizes):\n${table(srows)}`);
  }
  if (mergeGold.rounds.length > 0) {
    const mrows: string[][] = [['gold rows', 'round', 'gold files', 'merged rows', 'seconds']];
    for (const x of mergeGold.rounds) mrows.push([fmtInt(x.goldRows), String(x.round), String(x.goldFiles), fmtInt(x.mergedRows), x.seconds.toFixed(2)]);
    console.log(`\nstage 3 MERGE into a large gold table (${mergeGold.command}):\n${table(mrows)}`);
  }

  console.log('\ntargets:');
  for (const c of checks) {
    const verdict = c.pass === null ? 'n/a ' : c.pass ? 'PASS' : 'MISS';
    console.log(`  ${verdict}  ${c.target}${c.n !== undefined ? ` (N = ${fmtInt(c.n)})` : ''}: ${c.value}`);
  }
}
