/**
 * What a bench stage wrote to the lake: the new `_delta_log` commits of each table since a
 * snapshot of the log listing, and the files/rows/bytes their `add` actions carry.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_TABLES, tableDir } from '../src/lake/tables';

export interface DeltaWrites {
  versions: number;
  filesAdded: number;
  filesRemoved: number;
  rowsAdded: number;
  bytesAdded: number;
  byTable: Record<string, { versions: number; filesAdded: number; filesRemoved: number; rowsAdded: number }>;
}

function logVersions(dir: string): number[] {
  const log = path.join(dir, '_delta_log');
  if (!fs.existsSync(log)) return [];
  return fs
    .readdirSync(log)
    .filter((f) => /^\d{20}\.json$/.test(f))
    .map((f) => Number(f.slice(0, 20)))
    .sort((a, b) => a - b);
}

export type LakeState = Map<string, Set<number>>;

export function lakeState(lakeRoot: string): LakeState {
  return new Map(ALL_TABLES.map((t) => [t.name, new Set(logVersions(tableDir(lakeRoot, t)))]));
}

export function deltaWrites(lakeRoot: string, before: LakeState): DeltaWrites {
  const out: DeltaWrites = { versions: 0, filesAdded: 0, filesRemoved: 0, rowsAdded: 0, bytesAdded: 0, byTable: {} };
  for (const t of ALL_TABLES) {
    const dir = tableDir(lakeRoot, t);
    const seen = before.get(t.name) ?? new Set<number>();
    const fresh = logVersions(dir).filter((v) => !seen.has(v));
    if (fresh.length === 0) continue;
    const tb = { versions: fresh.length, filesAdded: 0, filesRemoved: 0, rowsAdded: 0 };
    for (const v of fresh) {
      const text = fs.readFileSync(path.join(dir, '_delta_log', `${String(v).padStart(20, '0')}.json`), 'utf8');
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        const action = JSON.parse(line) as { add?: { size?: number; stats?: string }; remove?: unknown };
        if (action.add) {
          tb.filesAdded += 1;
          out.bytesAdded += action.add.size ?? 0;
          try {
            tb.rowsAdded += Number((JSON.parse(action.add.stats ?? '{}') as { numRecords?: number }).numRecords ?? 0);
          } catch {
            // stats are optional in Delta
          }
        }
        if (action.remove) tb.filesRemoved += 1;
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
