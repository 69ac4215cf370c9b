/**
 * Issue 16, findings 5 and 6: every DuckDB instance spills into its own directory (two sharing
 * one crashed with SIGSEGV) that is removed afterwards, and never runs without a memory_limit.
 *
 * Local only by nature: spill directories are POSIX temp directories of the worker, whatever store the lake is on.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_MEMORY_LIMIT, openDuckDB } from '../../src/lake/duckdb';

const repo = path.resolve(__dirname, '../..');

describe('DuckDB spill directories and memory limits', () => {
  it('two stage-2 instances spilling at once do not crash and leave no spill file in the cwd or the temp dir', () => {
    const sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-spill-test-'));
    const cwd = path.join(sandbox, 'cwd');
    const tmp = path.join(sandbox, 'tmp');
    fs.mkdirSync(cwd);
    fs.mkdirSync(tmp);
    try {
      const child = spawnSync(path.join(repo, 'node_modules/.bin/tsx'), [path.join(repo, 'test/helpers/spill-child.ts')], {
        cwd,
        env: { ...process.env, TMPDIR: tmp, STACK_DIR: process.env.STACK_DIR ?? path.join(repo, '.stack') },
        encoding: 'utf8',
        timeout: 110_000,
      });
      expect({ status: child.status, signal: child.signal, stderr: child.stderr.slice(-2000) }).toEqual({ status: 0, signal: null, stderr: '' });
      const { tempFiles } = JSON.parse(child.stdout.trim().split('\n').pop()!) as { tempFiles: number[] };
      // Both really spilled (else this would prove nothing).
      expect(tempFiles.every((n) => n > 0)).toBe(true);
      expect(fs.readdirSync(cwd)).toEqual([]);
      expect(fs.readdirSync(tmp).filter((n) => !n.startsWith('tsx-'))).toEqual([]); // tsx keeps its compile cache there
    } finally {
      fs.rmSync(sandbox, { recursive: true, force: true });
    }
  });

  it('removes the spill directory a killed process left behind, and never uses DuckDB default memory limit', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    const stale = path.join(os.tmpdir(), `tributary-duckdb-${dead}-stale`);
    fs.mkdirSync(stale);
    fs.writeFileSync(path.join(stale, 'duckdb_temp_storage_DEFAULT-0.tmp'), 'x');
    const lake = await openDuckDB();
    try {
      expect(fs.existsSync(stale)).toBe(false);
      const setting = async (name: string) =>
        String((await lake.connection.runAndReadAll(`SELECT current_setting('${name}') AS v`)).getRowObjects()[0]!.v);
      expect(await setting('temp_directory')).toBe(lake.spillDir);
      // DuckDB prints the limit in its own units; 1GB = 953.6 MiB.
      expect(DEFAULT_MEMORY_LIMIT).toBe('1GB');
      expect(await setting('memory_limit')).toBe('953.6 MiB');
    } finally {
      lake.close();
      fs.rmSync(stale, { recursive: true, force: true });
    }
  });
});
