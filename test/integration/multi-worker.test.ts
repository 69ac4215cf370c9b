/**
 * Scale-out on an object-store lake (issue 12): three worker processes (src/worker.ts) share one lake on
 * Azurite (az://); the three schedules run, a raw backfill and a bronze backfill run beside them, and the
 * worker running a stage activity is kill -9'd mid-stage — then raw, bronze ∪ dead letter and gold are checked
 * against the producer's truth with delta-rs. It is the chaos driver (scripts/chaos/run.ts) with
 * `--workers 3 --lake-root az://… --backfills on`. Skipped only when the stack's object stores are not
 * configured (`npm run stack -- up --object-stores`; CI starts them).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChaosReport } from '../../scripts/chaos/run';
import { openObjectStore } from '../../src/delta/open-store';
import { requiredObjectStoreTargets } from '../helpers/object-stores';
import { adminKafka } from '../helpers/pipeline';

const REPO = path.resolve(__dirname, '..', '..');
// Loud when Azurite is not up: a skipped test names it, or the suite fails under STACK_OBJECT_STORES=1.
const azurite = requiredObjectStoreTargets().find((t) => t.name === 'azurite');
const MESSAGES = 1500;

let driver: ReturnType<typeof spawn> | undefined;
// A driver still running when the test ends (a timeout) is stopped: on SIGTERM it removes its schedules,
// topic, processes, files and lake prefix before it exits.
afterAll(async () => {
  const d = driver;
  if (d && d.exitCode === null) await new Promise((resolve) => (d.once('close', resolve), d.kill('SIGTERM')));
}, 120_000);

(azurite ? describe : describe.skip)('three workers on one Azurite lake', () => {
  it('schedules + a raw and a bronze backfill at once, one worker kill -9d mid-stage → every layer exact; nothing left behind', async () => {
    const target = azurite!;
    const root = `az://${target.bucket}/tests/multi-worker`;
    const { code, output, report } = await new Promise<{ code: number | null; output: string; report: ChaosReport | undefined }>((resolve, reject) => {
      const args = ['--workers', '3', '--lake-root', root, '--backfills', 'on', '--kills', '1', '--messages', String(MESSAGES), '--seed', '12', '--min-gap', '3', '--max-gap', '5', '--drain-timeout', '240'];
      const child = spawn(process.execPath, ['--import', require.resolve('tsx'), path.join(REPO, 'scripts', 'chaos.ts'), ...args], {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
        // Credentials as the worker reads them (_FILE variables), and where delta-rs / the delta extension find Azurite.
        env: { ...process.env, ...target.workerEnv, ...target.env },
      });
      driver = child;
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (out += b.toString()));
      child.on('error', reject);
      child.on('close', (c) => {
        const line = out.split('\n').find((l) => l.startsWith('chaos-report '));
        resolve({ code: c, output: out, report: line ? (JSON.parse(line.slice('chaos-report '.length)) as ChaosReport) : undefined });
      });
    });
    const shown = output.split('\n').filter((l) => !l.startsWith('chaos-report ')).join('\n');
    if (code !== 0 || !report) throw new Error(`chaos driver exited ${code}:\n${shown}`);
    expect(report).toMatchObject({ ok: true, drained: true, kills: 1, faultsMidActivity: 1, lost: 0, duplicated: 0, wrongGold: 0, wrongOther: 0, workerCrashes: [] });
    expect(report.workerStarts).toBe(4 + report.missedKills); // three, the killed one again, and any kill retried because it hit no activity
    expect(report.backfills).not.toBeNull();
    expect(report.verification!.raw.rows).toBe(MESSAGES);
    expect(report.verification!.bronze.rows).toBe(MESSAGES);
    expect(report.verification!.gold.rows).toBe(report.verification!.truth.keys);

    // Nothing of the run is left: its lake prefix on the store, its local directory, processes and topic.
    expect(await openObjectStore(`${root}/${report.runId}`, target.creds).list('')).toEqual([]);
    expect(fs.existsSync(path.join(os.tmpdir(), 'tributary-chaos', report.runId))).toBe(false);
    const admin = adminKafka().admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).not.toContain(report.runId);
    } finally {
      await admin.disconnect();
    }
  }, 5 * 60_000);
});

if (!azurite) {
  // eslint-disable-next-line no-console
  console.warn('multi-worker test skipped: the object stores are not configured (STACK_OBJECT_STORES=1 npm run stack -- up)');
}
