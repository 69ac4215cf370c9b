/**
 * Where this jest process's temporary lakes go: one directory per process, so that the global teardown
 * (test/helpers/global-teardown.ts, run in the same process under --runInBand) removes exactly what this run
 * made — also what a failed test left — and nothing of another run going on at the same time.
 */
import * as os from 'node:os';
import * as path from 'node:path';

export function testTempRoot(): string {
  return path.join(os.tmpdir(), 'tributary-test', String(process.pid));
}
