/**
 * A pipeline's tables brought to what its definition says, in one place (the activities call it
 * when a run starts, `npm run pipelines -- apply` for every pipeline): a table that is absent is
 * created; a table whose schema lacks fields the definition added gets them as nullable columns,
 * in the definition's column order (one Delta metaData commit; old rows read NULL), and a NOT NULL column the definition now lets be
 * NULL is relaxed; removing or retyping a column is refused with what to do (planEvolution), and
 * then no table is changed at all.
 */
import { addNullableColumns, createTable, DeltaTableNotFoundError, loadSnapshot, type DeltaField } from '../delta';
import { openTableStore } from '../delta/open-store';
import type { StagePipeline } from '../lake/pipeline';
import { tableDir, type TableDef } from '../lake/tables';
import { planEvolution, type PlannedField } from './tables';

export type PipelineTableRole = 'raw' | 'bronze' | 'dead_letter' | 'gold';
export const PIPELINE_TABLE_ROLES: readonly PipelineTableRole[] = ['raw', 'bronze', 'dead_letter', 'gold'];

export interface TableChange {
  readonly role: PipelineTableRole;
  /** Path under the lake root. */
  readonly table: string;
  /** create: absent (fields = its columns); evolve: add / relax columns; none: up to date; refused: see `refused`. */
  readonly action: 'create' | 'evolve' | 'none' | 'refused';
  readonly fields: readonly PlannedField[];
  readonly add: readonly PlannedField[];
  readonly relax: readonly string[];
  readonly refused: readonly string[];
}

/** The definition asks for a change of a table that would lose data or break readers; nothing was changed. */
export class PipelineTablesRefusedError extends Error {
  override name = 'PipelineTablesRefusedError';
  constructor(
    readonly pipeline: string,
    readonly refused: readonly string[],
  ) {
    super(`pipeline ${pipeline}: its tables cannot be changed to match the definition (nothing was changed): ${refused.join('; ')}`);
  }
}

const defOf = (p: StagePipeline, role: PipelineTableRole): TableDef => (role === 'dead_letter' ? p.tables.deadLetter : p.tables[role]);

/**
 * Plans, then (unless dryRun) applies the changes of the pipeline's tables (default: all four).
 * Throws PipelineTablesRefusedError when any table's change is refused (a dry run returns it instead).
 */
export async function ensurePipelineTables(
  lakeRoot: string,
  p: StagePipeline,
  opts: { roles?: readonly PipelineTableRole[]; dryRun?: boolean } = {},
): Promise<TableChange[]> {
  const plans: { change: TableChange; def: TableDef; existing: readonly DeltaField[] | null }[] = [];
  for (const role of opts.roles ?? PIPELINE_TABLE_ROLES) {
    const def = defOf(p, role);
    let existing: DeltaField[] | null = null;
    try {
      existing = (await loadSnapshot(openTableStore(tableDir(lakeRoot, def)))).metadata.fields;
    } catch (e) {
      if (!(e instanceof DeltaTableNotFoundError)) throw e;
    }
    const base = { role, table: def.name, fields: def.fields };
    if (!existing) {
      plans.push({ change: { ...base, action: 'create', add: [], relax: [], refused: [] }, def, existing });
      continue;
    }
    const evo = planEvolution(def.name, existing, def.fields);
    const action = evo.refused.length ? 'refused' : evo.add.length || evo.relax.length ? 'evolve' : 'none';
    plans.push({ change: { ...base, action, ...evo }, def, existing });
  }
  const changes = plans.map((x) => x.change);
  if (opts.dryRun) return changes;
  const refused = changes.flatMap((c) => c.refused);
  if (refused.length) throw new PipelineTablesRefusedError(p.name, refused);

  for (const { change, def, existing } of plans) {
    const store = openTableStore(tableDir(lakeRoot, def));
    if (change.action === 'create') {
      await createTable(store, def.fields, { name: def.name.replace('/', '.'), description: def.description });
    } else if (change.action === 'evolve' && existing) {
      // in the definition's order (so gold's SCD2 columns stay last): the table's columns as they are,
      // relaxed where asked, and the new ones nullable (rows already written have none)
      const have = new Map(existing.map((f) => [f.name.toLowerCase(), f]));
      const wanted: DeltaField[] = def.fields.map((f) => {
        const e = have.get(f.name.toLowerCase());
        if (!e) return { ...f, nullable: true };
        return change.relax.includes(e.name) ? { ...e, nullable: true } : e;
      });
      await addNullableColumns({ store }, wanted);
    }
  }
  return changes;
}
