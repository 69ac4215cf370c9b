/**
 * The pipeline's own Prometheus metrics. Two kinds:
 * - counted from stage activity results as this worker finishes them (counters since the worker
 *   started, the last success time and duration);
 * - read from the sources of truth at scrape time (like `npm run status`, without scans): table
 *   versions, rows, files and bytes from the Delta logs; lag from the tables' checkpoints and Kafka.
 * Every name is listed in METRICS (the README's table is checked against it by the tests).
 */
import type { WorkerConfig } from '../config';
import { stageOfActivity } from '../stages';
import type { KafkaLogger } from '../kafka/connection';
import { BRONZE, DEAD_LETTER, GOLD, RAW } from '../lake/tables';

/** Where a pipeline's stages write (paths under the lake root): the tables records are counted into. */
export interface StageTableNames {
  raw: string;
  bronze: string;
  deadLetter: string;
  gold: string;
}
const SENSOR_TABLE_NAMES: StageTableNames = { raw: RAW.name, bronze: BRONZE.name, deadLetter: DEAD_LETTER.name, gold: GOLD.name };
import { readLakeState } from '../status';
import type { RawResult } from '../lake/raw-result';
import type { BronzeResult } from '../lake/bronze-plan';
import type { GoldResult } from '../lake/gold-result';
import type { ReplayDeadLettersResult } from '../workflows/replay-input';
import { MetricSet, type Labels } from './exposition';

type Kind = 'counter' | 'gauge';
/** name → [type, labels, help]. */
export const METRICS = {
  tributary_stage_runs_total: ['counter', 'stage, outcome', 'Stage activity attempts finished by this worker, by outcome (success, failure).'],
  tributary_records_in_total: ['counter', 'stage, source', 'Records a stage read, by source: "kafka" (raw) or its input table.'],
  tributary_records_out_total: ['counter', 'stage, table', 'Rows a stage wrote to a table (gold: rows inserted or updated by the MERGE).'],
  tributary_dead_letters_total: ['counter', 'stage, error', 'Rows written to the dead letter, by error reason.'],
  tributary_gold_merge_rows_total: ['counter', 'action', 'Bronze rows the gold MERGE applied, by action (inserted, updated, skipped_older).'],
  tributary_stage_last_success_timestamp_seconds: ['gauge', 'stage', 'Unix time at which a stage activity last succeeded on this worker.'],
  tributary_stage_last_run_duration_seconds: ['gauge', 'stage', "Duration of the stage's last successful activity run on this worker."],
  tributary_kafka_lag_records: ['gauge', 'stage, topic', 'Kafka end offsets (last stable) minus the raw checkpoint, summed over partitions.'],
  tributary_lag_records: ['gauge', 'stage, table', "Rows in the stage's input table not yet processed by it (bronze: raw rows; gold: bronze rows)."],
  tributary_table_version: ['gauge', 'table', 'Current Delta version of the table.'],
  tributary_table_rows: ['gauge', 'table', 'Rows in the table (from the Delta log file statistics).'],
  tributary_table_files: ['gauge', 'table', 'Live data files of the table.'],
  tributary_table_bytes: ['gauge', 'table', 'Bytes of the live data files of the table.'],
  tributary_collect_success: ['gauge', 'source', '1 when the last scrape could read the source (lake, kafka), else 0.'],
} as const satisfies Record<string, readonly [Kind, string, string]>;

type Name = keyof typeof METRICS;

export class PipelineMetrics {
  private readonly set = new MetricSet();
  private collecting: Promise<void> | undefined;
  private readonly kafkaLogger: KafkaLogger;

  /**
   * `logger`: where the worker logs. kafkajs lines of a scrape go there at debug: an unreachable
   * Kafka shows as tributary_collect_success{source="kafka"} 0, not as an error line per scrape.
   */
  constructor(
    private readonly config: WorkerConfig,
    private readonly topics: string[] = ['sensor_readings'],
    logger?: Pick<KafkaLogger, 'debug'>,
  ) {
    const debug = (m: string, meta?: Record<string, unknown>) => logger?.debug(m, { ...meta, sdkComponent: 'metrics' });
    this.kafkaLogger = { error: debug, warn: debug, info: debug, debug };
    for (const [name, [kind, , help]] of Object.entries(METRICS)) this.set.declare(name, kind, help);
  }

  private inc(name: Name, labels: Labels, by: number): void {
    if (by > 0) this.set.inc(name, METRICS[name][2], labels, by);
  }

  private gauge(name: Name, labels: Labels, value: number): void {
    this.set.set(name, METRICS[name][2], labels, value);
  }

  /** A stage activity returned `result` after `durationMs`; `tables`: its pipeline's table paths (default the sensor pipeline's). */
  observeSuccess(activityType: string, result: unknown, durationMs: number, now = Date.now(), tables: StageTableNames = SENSOR_TABLE_NAMES): void {
    const [RAW, BRONZE, DEAD_LETTER, GOLD] = [tables.raw, tables.bronze, tables.deadLetter, tables.gold].map((name) => ({ name }));
    const stage = stageOfActivity(activityType);
    this.set.inc('tributary_stage_runs_total', METRICS.tributary_stage_runs_total[2], { stage, outcome: 'success' });
    this.gauge('tributary_stage_last_success_timestamp_seconds', { stage }, now / 1000);
    this.gauge('tributary_stage_last_run_duration_seconds', { stage }, durationMs / 1000);
    switch (stage) {
      case 'raw': {
        const r = result as RawResult;
        this.inc('tributary_records_in_total', { stage, source: 'kafka' }, r.recordsIn);
        this.inc('tributary_records_out_total', { stage, table: RAW.name }, r.recordsIn);
        break;
      }
      case 'bronze': {
        const r = result as BronzeResult;
        this.inc('tributary_records_in_total', { stage, source: RAW.name }, r.recordsIn);
        this.inc('tributary_records_out_total', { stage, table: BRONZE.name }, r.recordsOut);
        this.inc('tributary_records_out_total', { stage, table: DEAD_LETTER.name }, r.deadLetters);
        for (const [error, n] of Object.entries(r.deadLettersByError ?? {})) this.inc('tributary_dead_letters_total', { stage, error }, n);
        break;
      }
      case 'gold': {
        const r = result as GoldResult;
        this.inc('tributary_records_in_total', { stage, source: BRONZE.name }, r.rowsIn);
        this.inc('tributary_records_out_total', { stage, table: GOLD.name }, r.inserted + r.updated);
        this.inc('tributary_gold_merge_rows_total', { action: 'inserted' }, r.inserted);
        this.inc('tributary_gold_merge_rows_total', { action: 'updated' }, r.updated);
        this.inc('tributary_gold_merge_rows_total', { action: 'skipped_older' }, r.skippedOlder);
        break;
      }
      case 'replay': {
        const r = result as ReplayDeadLettersResult;
        this.inc('tributary_records_in_total', { stage, source: DEAD_LETTER.name }, r.examined ?? 0);
        this.inc('tributary_records_out_total', { stage, table: BRONZE.name }, r.moved);
        break;
      }
    }
  }

  /** A stage activity attempt failed (it may be retried). */
  observeFailure(activityType: string): void {
    this.set.inc('tributary_stage_runs_total', METRICS.tributary_stage_runs_total[2], { stage: stageOfActivity(activityType), outcome: 'failure' });
  }

  /** Refreshes the scrape-time gauges; concurrent scrapes share one read. */
  collect(): Promise<void> {
    this.collecting ??= this.readSources().finally(() => (this.collecting = undefined));
    return this.collecting;
  }

  private async readSources(): Promise<void> {
    for (const name of ['tributary_kafka_lag_records', 'tributary_lag_records', 'tributary_table_version', 'tributary_table_rows', 'tributary_table_files', 'tributary_table_bytes'] as const) {
      this.set.clear(name);
    }
    let state;
    try {
      state = await readLakeState(this.config, this.topics, this.kafkaLogger);
    } catch {
      // An unreadable lake is reported as such; the counters are still served.
      this.gauge('tributary_collect_success', { source: 'lake' }, 0);
      return;
    }
    this.gauge('tributary_collect_success', { source: 'lake' }, 1);
    for (const t of state.tables) {
      if (t.version === null) continue; // not created yet
      this.gauge('tributary_table_version', { table: t.table }, t.version);
      if (t.rows !== null) this.gauge('tributary_table_rows', { table: t.table }, t.rows);
      this.gauge('tributary_table_files', { table: t.table }, t.files);
      this.gauge('tributary_table_bytes', { table: t.table }, t.bytes);
    }
    for (const s of state.stages) {
      if (s.stage === 'raw') {
        this.gauge('tributary_collect_success', { source: 'kafka' }, s.lagByTopic ? 1 : 0);
        for (const [topic, lag] of Object.entries(s.lagByTopic ?? {})) this.gauge('tributary_kafka_lag_records', { stage: 'raw', topic }, lag);
      } else if (s.lag !== null && s.lagTable) {
        this.gauge('tributary_lag_records', { stage: s.stage, table: s.lagTable }, s.lag);
      }
    }
  }

  render(): string {
    return this.set.render();
  }
}
