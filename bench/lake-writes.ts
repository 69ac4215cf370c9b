/**
 * What a bench stage wrote to the lake (local, az:// or s3://; credentials from the environment): the new commits of each table since a listing of its log, and the files/rows/bytes their `add` actions carry.
 */
import { commitVersions, readCommit, recordCountOf } from '../src/delta';
import { openTableStore } from '../src/delta/open-store';
import { ALL_TABLES, tableDir } from '../src/lake/tables';

export interface DeltaWrites {
  versions: number;
  filesAdded: number;
  filesRemoved: number;
  rowsAdded: number;
  bytesAdded: number;
  byTable: Record<string, { versions: number; filesAdded: number; filesRemoved: number; rowsAdded: number }>;
}

export type LakeState = Map<string, Set<number>>;

export async function lakeState(lakeRoot: string): Promise<LakeState> {
  const state: LakeState = new Map();
  for (const t of ALL_TABLES) state.set(t.name, new Set(await commitVersions(openTableStore(tableDir(lakeRoot, t)))));
  return state;
}

export async function deltaWrites(lakeRoot: string, before: LakeState): Promise<DeltaWrites> {
  const out: DeltaWrites = { versions: 0, filesAdded: 0, filesRemoved: 0, rowsAdded: 0, bytesAdded: 0, byTable: {} };
  for (const t of ALL_TABLES) {
    const store = openTableStore(tableDir(lakeRoot, t));
    const seen = before.get(t.name) ?? new Set<number>();
    const fresh = (await commitVersions(store)).filter((v) => !seen.has(v));
    if (fresh.length === 0) continue;
    const tb = { versions: fresh.length, filesAdded: 0, filesRemoved: 0, rowsAdded: 0 };
    for (const v of fresh) {
      for (const action of await readCommit(store, v)) {
        if ('add' in action) {
          tb.filesAdded += 1;
          out.bytesAdded += action.add.size;
          tb.rowsAdded += recordCountOf(action.add) ?? 0; // stats are optional in Delta
        }
        if ('remove' in action) tb.filesRemoved += 1;
      }
    }
    out.byTable[t.name] = tb;
    out.versions += tb.versions;
    out.filesAdded += tb.filesAdded;
    out.filesRemoved += tb.filesRemoved;
    out.rowsAdded += tb.rowsAdded;
  }
  return out;
}
