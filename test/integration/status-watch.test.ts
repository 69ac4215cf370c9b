/**
 * `npm run status -- --watch`: refreshes until Ctrl-C, then exits cleanly (status 0); arguments are validated.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempLakeRoot } from '../helpers/pipeline';

// As `npm run status` runs it: node --import tsx (one process, so SIGINT reaches the command itself).
const NODE = [process.execPath, '--import', 'tsx'] as const;
const CLI = path.resolve('src/cli/status.ts');

describe('status --watch', () => {
  it('prints a fresh status every interval and stops cleanly on SIGINT', async () => {
    const lakeRoot = tempLakeRoot();
    try {
      const child = spawn(NODE[0], [...NODE.slice(1), CLI, '--watch', '--every', '1', '--json'], { env: { ...process.env, LAKE_ROOT: lakeRoot }, stdio: ['ignore', 'pipe', 'pipe'] });
      const snapshots: { at: string; tables: unknown[] }[] = [];
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // One JSON object per line; after the third refresh, Ctrl-C.
      let buffer = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          buffer += d.toString();
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            snapshots.push(JSON.parse(buffer.slice(0, nl)));
            buffer = buffer.slice(nl + 1);
            if (snapshots.length === 3) resolve();
          }
        });
        void exited.then((code) => reject(new Error(`status exited early (${code}): ${stderr}`)));
      });
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
      const times = snapshots.map((s) => Date.parse(s.at));
      expect(times[1]).toBeGreaterThan(times[0]);
      expect(times[2]).toBeGreaterThan(times[1]);
      for (const s of snapshots) expect(s.tables).toContainEqual(expect.objectContaining({ table: 'raw/sensor_readings' }));
    } finally {
      fs.rmSync(lakeRoot, { recursive: true, force: true });
    }
  });

  it('rejects bad arguments with the usage line', () => {
    const r = spawnSync(NODE[0], [...NODE.slice(1), CLI, '--watch', '--every', '0'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--every: .*greater than or equal to 1/);
    expect(r.stderr).toMatch(/usage: npm run status/);
  });
});
