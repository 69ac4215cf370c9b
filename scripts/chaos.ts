/**
 * `npm run chaos -- [--variant worker|kafka|temporal] [--kills 10] [--messages 20000] [--seed 1] ...`
 *
 * Fault injection: runs the three stages through a real worker process on schedules while it
 * kill -9s the worker (or restarts a private Kafka broker / Temporal dev server) at random moments,
 * lets the pipeline drain and checks every table against the truth it sent, with delta-rs.
 * Prints `lost / duplicated / wrong gold / kills` and exits 1 on any loss, duplicate or wrong
 * value (2 when the run itself could not be done). See docs/reliability.md.
 */
import { parseArgs } from '../src/cli/args';
import { ChaosOptions, runChaos, type ChaosReport } from './chaos/run';

const USAGE = `usage: npm run chaos -- [--variant worker|kafka|temporal] [--kills 10] [--messages 20000] [--seed 1]
  [--partitions 3] [--min-gap 2] [--max-gap 12] [--max-down 3] [--commit-size 400] [--every 2]
  [--near-real-time on|off] [--recovery fail-attempts|heartbeat-timeout] [--drain-timeout 900] [--keep]
  [--workers 1] [--lake-root az://container/prefix|s3://bucket/prefix] [--backfills on|off]`;

function summary(r: ChaosReport): string {
  const v = r.verification;
  const layer = (name: string, c: NonNullable<typeof v>['raw']) => `  ${name.padEnd(22)} rows ${c.rows}, lost ${c.lost}, duplicated ${c.duplicated}, wrong ${c.wrong}${c.examples.length ? '\n    ' + c.examples.join('\n    ') : ''}`;
  const hit = Object.entries(r.activitiesHit).map(([t, n]) => `${t} ${n}`).join(', ') || 'none';
  return [
    `faults: ${r.kills} (${r.options.variant}), ${r.faultsMidActivity} while a stage activity ran (${hit}); worker starts ${r.workerStarts}${r.missedKills ? ` (${r.missedKills} kills retried: they hit no activity)` : ''}, worker crashes ${r.workerCrashes.length}${r.workerCrashes.length ? ` (${r.workerCrashes.join(', ')})` : ''}`,
    ...(r.backfills ? [`backfills (beside the schedules): raw wrote ${r.backfills.raw.written}, ${r.backfills.raw.alreadyPresent} already there; bronze wrote ${r.backfills.bronze.written}, ${r.backfills.bronze.alreadyPresent} already there`] : []),
    `time: faults ${r.seconds.faults.toFixed(0)}s, drain ${r.seconds.drain.toFixed(0)}s${r.drained ? '' : ' (NOT drained)'}, total ${r.seconds.total.toFixed(0)}s`,
    ...(v
      ? [
          `truth: ${v.truth.records} records: ${v.truth.good} good (${v.truth.corrections} corrections, ${v.truth.resends} re-sends) over ${v.truth.keys} keys, ${v.truth.malformed} malformed`,
          layer('raw', v.raw),
          layer('bronze ∪ dead letter', v.bronze),
          layer('gold', v.gold),
        ]
      : []),
    ...(r.dataLossReports ? [`stage 1 reported data loss ${r.dataLossReports} time(s) although the topic lost nothing (worker log)`] : []),
    `lost ${r.lost} / duplicated ${r.duplicated} / wrong gold ${r.wrongGold} / kills ${r.kills}${r.wrongOther ? ` (wrong raw/bronze ${r.wrongOther})` : ''} — ${r.ok ? 'OK' : 'FAILED'}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const opts = parseArgs(ChaosOptions, process.argv.slice(2), USAGE);
  const report = await runChaos(opts);
  console.log(summary(report));
  // One machine-readable line for the test and for docs/reliability.md.
  console.log(`chaos-report ${JSON.stringify({ ...report, verification: report.verification && { ...report.verification } })}`);
  process.exitCode = report.ok ? 0 : 1;
}

main().catch((e) => {
  console.error(`chaos run failed: ${e instanceof Error ? e.stack : e}`);
  process.exitCode = 2;
});
