/**
 * jest globalSetup, run in the parent process before any test: environment that native code (DuckDB's delta
 * extension) must see in the real process environment, which a test's sandboxed `process.env` does not reach.
 *  - AZURITE_BLOB_STORAGE_URL: where the delta extension (delta-kernel-rs) finds Azurite, from .stack/stack.env.
 */
import { readStackEnv } from '../../src/config';

export default function globalSetup(): void {
  const url = readStackEnv().AZURITE_BLOB_STORAGE_URL;
  if (url && !process.env.AZURITE_BLOB_STORAGE_URL) process.env.AZURITE_BLOB_STORAGE_URL = url;
}
