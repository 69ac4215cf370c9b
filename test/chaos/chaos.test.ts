/**
 * CI's short chaos round: `npm run chaos` (scripts/chaos.ts) with a few faults per variant — the
 * worker process kill -9'd, a private Kafka broker kill -9'd and restarted, a private Temporal dev
 * server kill -9'd and restarted — and the lake checked against the sent truth with delta-rs. The
 * long runs (hundreds of faults) are recorded in docs/reliability.md.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChaosReport } from '../../scripts/chaos/run';
import { adminKafka } from '../helpers/pipeline';

const REPO = path.resolve(__dirname, '..', '..');

const drivers = new Set<ReturnType<typeof spawn>>();

// A driver still running when the tests end (a timeout) is stopped: on SIGTERM it removes its
// schedules, topic, processes and files before it exits.
afterAll(async () => {
  await Promise.all(
    [...drivers].map(
      (d) =>
        new Promise((resolve) => {
          d.once('close', resolve);
          d.kill('SIGTERM');
        }),
    ),
  );
}, 120_000);

function chaos(args: string[]): Promise<{ code: number | null; output: string; report: ChaosReport | undefined }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', require.resolve('tsx'), path.join(REPO, 'scripts', 'chaos.ts'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    drivers.add(child);
    child.on('close', (code) => {
      drivers.delete(child);
      const line = output.split('\n').find((l) => l.startsWith('chaos-report '));
      resolve({ code, output, report: line ? (JSON.parse(line.slice('chaos-report '.length)) as ChaosReport) : undefined });
    });
  });
}

/** Processes whose command line or working directory names the text. */
function processesNaming(text: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      // The broker's and server's command lines name the run's directory; the worker runs in it.
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text) || fs.readlinkSync(`/proc/${pid}/cwd`).includes(text)) out.push(`${pid}: ${cmd.slice(0, 200)}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const VARIANTS = [
  { variant: 'worker', kills: 3, args: ['--kills', '3', '--min-gap', '1', '--max-gap', '5'] },
  { variant: 'kafka', kills: 2, args: ['--kills', '2', '--min-gap', '1', '--max-gap', '4', '--max-down', '1'] },
  { variant: 'temporal', kills: 2, args: ['--kills', '2', '--min-gap', '1', '--max-gap', '4', '--max-down', '1'] },
] as const;

describe('chaos (npm run chaos), a short round of each variant', () => {
  // The three runs share nothing (own topic, queue, schedules, lake; the restarted broker and server
  // are private), so they run at once and the round costs about as long as its slowest run.
  const runs = new Map<string, ReturnType<typeof chaos>>();
  beforeAll(() => {
    for (const v of VARIANTS) runs.set(v.variant, chaos(['--variant', v.variant, '--messages', '1500', '--seed', '7', '--drain-timeout', '300', ...v.args]));
  });

  it.each(VARIANTS)('$variant: $kills faults, nothing lost, duplicated or wrong; nothing of the run left behind', async ({ variant, kills }) => {
    const { code, output, report } = await runs.get(variant)!;
    const shown = output.split('\n').filter((l) => !l.startsWith('chaos-report ')).join('\n');
    if (code !== 0 || !report) throw new Error(`npm run chaos -- --variant ${variant} exited ${code}:\n${shown}`);
    expect(report).toMatchObject({ ok: true, drained: true, kills, lost: 0, duplicated: 0, wrongGold: 0, wrongOther: 0, dataLossReports: 0 });
    expect(report.verification!.raw.rows).toBe(1500);
    expect(report.verification!.bronze.rows).toBe(1500);
    expect(report.verification!.gold.rows).toBe(report.verification!.truth.keys);
    expect(shown).toContain(`lost 0 / duplicated 0 / wrong gold 0 / kills ${kills}`);
    // Its lake, logs, spill files and private broker / server data are gone, and so are its
    // processes (their command lines name the run's directory) and its topic on the shared broker.
    expect(fs.existsSync(path.join(os.tmpdir(), 'tributary-chaos', report.runId))).toBe(false);
    expect(processesNaming(report.runId)).toEqual([]);
    const admin = adminKafka().admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).not.toContain(report.runId);
    } finally {
      await admin.disconnect();
    }
  }, 8 * 60_000);
});
