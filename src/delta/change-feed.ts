/**
 * The change feed of an append-only table: which data files each commit added — the incremental
 * read of a downstream stage, like Spark's Delta streaming source.
 */
import type { AddAction } from './actions';
import { UnsupportedDeltaFeatureError } from './errors';
import { readCommit } from './snapshot';
import type { TableStore } from './storage';

export interface AddedFiles {
  version: number;
  /** Files the commit added with dataChange=true (new rows; rewrites with dataChange=false are skipped). */
  adds: AddAction[];
}

/**
 * What each commit in (afterVersion, toVersion] appended. A commit that removes data files with
 * dataChange=true (an update or delete) is refused, since its rows cannot be expressed as appends.
 * Needs the commit files of those versions (DeltaLogCorruptError when one is missing).
 */
export async function addedFilesSince(store: TableStore, afterVersion: number, toVersion: number): Promise<AddedFiles[]> {
  const out: AddedFiles[] = [];
  for (let v = afterVersion + 1; v <= toVersion; v++) {
    const adds: AddAction[] = [];
    for (const a of await readCommit(store, v)) {
      if ('remove' in a && a.remove.dataChange !== false) {
        throw new UnsupportedDeltaFeatureError(`${store.root}: version ${v} removes data (${a.remove.path}); an incremental reader needs an append-only table`);
      }
      if ('add' in a && a.add.dataChange !== false) adds.push(a.add);
    }
    out.push({ version: v, adds });
  }
  return out;
}
