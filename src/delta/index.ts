/**
 * The Delta Lake protocol (delta-io/delta PROTOCOL.md) as tributary needs it: a library that knows
 * nothing of the pipeline. One concern per file:
 *
 *   storage.ts / local-store.ts   the storage seam (TableStore) and its local-filesystem implementation
 *   log-path.ts                   names inside `_delta_log` (the only place that spells it)
 *   actions.ts                    typed actions (a discriminated union), commit-file encoding
 *   schema.ts                     column types, schemaString, schema comparison
 *   protocol.ts                   protocol / table-feature checks (what we may read and write)
 *   snapshot.ts                   table state: from `_last_checkpoint`, cached and advanced per process
 *   checkpoint.ts                 reading / writing checkpoints, the checkpoint policy
 *   data-files.ts                 Parquet data files with stats
 *   transaction.ts                the one commit path (see the lifecycle drawn there)
 *   create-table.ts               version 0; appending nullable columns (schema update)
 *   change-feed.ts                what each commit appended (incremental reads)
 *   table-properties.ts           the `delta.*` properties maintenance reads, Delta's `interval …` syntax
 *   optimize.ts                   compaction (OPTIMIZE): bin-packing small files, dataChange=false commit
 *   vacuum.ts                     deleting unreferenced data files past the retention (VACUUM START/END)
 *   log-cleanup.ts                deleting expired commits/checkpoints before a checkpoint
 *   table-health.ts               what those would find to do (for status)
 *
 * Lifecycle of a commit (details in transaction.ts):
 *
 *   writeParquetDataFile ─► commit(table, {plan, rebuild?})
 *                             ├─ loadSnapshot (cached; lists only `_delta_log` keys after it)
 *                             ├─ plan(snap): actions + txns {appId: expected → next}
 *                             ├─ checks: protocol writable, txn CAS, removes live
 *                             ├─ putIfAbsent(<version>.json) ── lost ─► reload, rebuild/re-check, retry
 *                             ├─ delete data files no committed version references
 *                             └─ checkpoint when version % delta.checkpointInterval == 0
 *
 * Why our own log writer: the DuckDB delta extension 1.5.5 can INSERT into an existing table and
 * read it, but cannot create a table, MERGE / UPDATE / DELETE, compact or vacuum, and its txn check
 * has a race (see docs/delta-extension.md). Data files are still written and read by DuckDB.
 */
export * from './actions';
export * from './change-feed';
export * from './checkpoint';
export * from './create-table';
export * from './data-files';
export * from './errors';
export * from './local-store';
export * from './log-cleanup';
export { commitFileName, LOG_PREFIX, parseLogKey } from './log-path';
export * from './optimize';
export * from './protocol';
export * from './schema';
export * from './snapshot';
export * from './storage';
export * from './table-health';
export * from './table-properties';
export * from './transaction';
export * from './vacuum';
