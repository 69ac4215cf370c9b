/**
 * Benchmark of the generic gold stage (src/lake/gold-cdc.ts) on the orders example pipeline
 * (pipelines.yaml, SCD2 on updated_at with deletes).
 *
 *   npx tsx bench/gold-cdc.ts [--orders 300000] [--file-rows 500000] [--rounds 3] [--keep]
 *
 * Bronze is built the way an order stream fills it: order i placed at T0 + i s, then paid and
 * shipped a minute apart (3 events per order, so files hold ranges of order ids), in bronze
 * files of --file-rows rows. Then: one timed full-backlog run (empty gold), and --rounds rounds of
 * one bronze version of 100k events — 10k late status changes of random orders among the latest
 * 200k, 90k events of new orders — each followed by one timed scheduled run. Prints seconds,
 * bronze files read of live (pruning by key stats), gold files rewritten / added.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { addAction, commit, LocalStore, writeParquetDataFile, type AddAction } from '../src/delta';
import { openDuckDB } from '../src/lake/duckdb';
import { mergeBronzeIntoGoldCdc, type GoldCdcRequest } from '../src/lake/gold-cdc';
import { ensureTables, tableDir, type TableDef } from '../src/lake/tables';
import { parsePipelineFile } from '../src/pipelines/definition';
import { stagePipeline } from '../src/pipelines/stage-pipeline';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

const ORDERS = Number(arg('orders', '300000'));
const FILE_ROWS = Number(arg('file-rows', '500000'));
const ROUNDS = Number(arg('rounds', '3'));
const ROUND_EVENTS = 100_000;
const LATE = 10_000;
const RECENT = 200_000;
const T0 = Date.UTC(2026, 0, 1);
const STATUSES = `['placed', 'paid', 'shipped']`;

/** The shipped example, uncommented (as the tests do). */
function ordersPipeline() {
  const shipped = fs.readFileSync(path.join(__dirname, '..', 'pipelines.yaml'), 'utf8');
  const text = shipped.replace(/# example:orders:begin\n([\s\S]*?)# example:orders:end/, (_m, body: string) => body.replace(/^#/gm, ''));
  return stagePipeline(parsePipelineFile(text).pipelines.find((p) => p.name === 'orders')!);
}

/** Bronze rows of event `e` (0..2) of order `o`, at updated_at = T0 + o s + e min + `shift` ms. */
const eventSql = (o: string, e: string, shift: string, offset: string) => `
  'o' || lpad(CAST(${o} AS VARCHAR), 9, '0') AS order_id, NULL::VARCHAR AS op, ${STATUSES}[${e} + 1] AS status,
  (100 + ${o} % 1000)::BIGINT AS customer_id, 'DE' AS country, (10 + ${o} % 997 + ${e})::DECIMAL(12,2) AS amount,
  make_timestamptz((${T0} + ${o} * 1000 + ${e} * 60000 + ${shift}) * 1000) AS updated_at, DATE '2026-01-01' AS order_date, NULL::VARCHAR AS lines,
  make_timestamptz((${T0} + ${o} * 1000 + ${e} * 60000 + ${shift} + 500) * 1000) AS arrived_at, 'orders' AS topic,
  (${o} % 3)::INTEGER AS "partition", (${offset})::BIGINT AS "offset",
  make_timestamptz((${T0} + ${o} * 1000 + ${e} * 60000 + ${shift} + 100) * 1000) AS kafka_ts`;

async function append(conn: DuckDBConnection, bronze: TableDef, root: string, sqls: string[]): Promise<void> {
  const store = new LocalStore(tableDir(root, bronze));
  const adds: AddAction[] = [];
  for (const sql of sqls) adds.push((await writeParquetDataFile(conn, store, sql, bronze.fields))!);
  await commit({ store }, { plan: async () => ({ actions: adds.map((a) => addAction(a)) }) });
}

async function main(): Promise<void> {
  const p = ordersPipeline();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-gold-cdc-'));
  const lake = await openDuckDB();
  const conn = lake.connection;
  try {
    await ensureTables(root, [p.tables.bronze, p.tables.gold]);
    const events = ORDERS * 3;
    const files: string[] = [];
    for (let lo = 0; lo < events; lo += FILE_ROWS) {
      const hi = Math.min(events, lo + FILE_ROWS);
      files.push(`SELECT ${eventSql('(i // 3)', '(i % 3)', '0', 'i')} FROM range(${lo}, ${hi}) r(i)`);
    }
    await append(conn, p.tables.bronze, root, files);
    const req: GoldCdcRequest = {
      lakeRoot: root,
      bronze: p.tables.bronze,
      gold: p.tables.gold,
      spec: p.gold,
      checkpointAppId: p.appIds.gold,
      upstreamStage: p.appIds.goldStage,
      mode: { kind: 'incremental' },
      maxRowsPerBatch: 5_000_000,
    };
    const timed = async (label: string) => {
      const t = process.hrtime.bigint();
      const run = await mergeBronzeIntoGoldCdc(conn, req);
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      const b = run.perBatch[0]!;
      console.log(
        `${label.padEnd(28)} ${s.toFixed(2).padStart(7)} s  rows in ${run.rowsIn}  keys ${b.keys}  bronze files read ${b.bronzeFilesRead}/${b.bronzeFiles}  gold files rewritten ${run.filesRewritten} added ${run.filesAdded}  rows +${run.inserted} ~${run.updated} -${run.deleted}`,
      );
    };
    console.log(`orders ${ORDERS} (${events} bronze events, files of ${FILE_ROWS} rows), SCD2`);
    await timed('full backlog (empty gold)');
    let next = ORDERS;
    let offset = events;
    for (let r = 1; r <= ROUNDS; r++) {
      // late status changes (a 4th event, 'shipped' again with a new amount) of random recent orders + new orders' events
      const late = `SELECT ${eventSql('o', '2', '3600000', `${offset} + row_number() OVER ()`)} FROM (SELECT o FROM range(${Math.max(0, next - RECENT)}, ${next}) t(o) USING SAMPLE ${LATE} ROWS (reservoir, ${r}))`;
      const fresh = `SELECT ${eventSql('(' + next + ' + i // 3)', '(i % 3)', '0', `${offset + LATE} + i`)} FROM range(0, ${ROUND_EVENTS - LATE}) r(i)`;
      await append(conn, p.tables.bronze, root, [`${late} UNION ALL ${fresh}`]);
      next += (ROUND_EVENTS - LATE) / 3;
      offset += ROUND_EVENTS;
      await timed(`round ${r}: 10k late + 90k new`);
    }
  } finally {
    lake.close();
    if (!process.argv.includes('--keep')) fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
