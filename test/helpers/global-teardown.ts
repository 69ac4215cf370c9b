/** jest globalTeardown: removes this run's temporary lakes (test/helpers/temp-root.ts). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { testTempRoot } from './temp-root';

export default function globalTeardown(): void {
  const root = testTempRoot();
  fs.rmSync(root, { recursive: true, force: true });
  // The parent directory goes too once no other run is using it.
  try {
    fs.rmdirSync(path.dirname(root));
  } catch {
    // another run's lakes are still there, or it is already gone
  }
}
