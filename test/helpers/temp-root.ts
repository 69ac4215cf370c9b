/**
 * Where this jest process's temporary lakes go: one directory per process, so that the global teardown
 * (test/helpers/global-teardown.ts, run in the same process under --runInBand) removes exactly what this run
 * made — also what a failed test left — and nothing of another run going on at the same time.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function testTempRoot(): string {
  return path.join(os.tmpdir(), 'tributary-test', String(process.pid));
}

/**
 * For a test file: `newRoot()` makes a fresh directory `<tmp>/<prefix>-XXXXXX`; every one is removed after the
 * file's tests (registered here, at the file's top level).
 */
export function tempRoots(prefix: string): () => string {
  const roots: string[] = [];
  afterAll(() => {
    for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
  });
  return () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    roots.push(root);
    return root;
  };
}
