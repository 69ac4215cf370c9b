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
import { DEFAULT_PIPELINE } from '../pipelines/name';
import { readLakeState, SENSOR_STATUS, type StatusPipeline } from '../status';
import type { RawResult } from '../lake/raw-result';
import type { BronzeResult } from '../lake/bronze-plan';
import type { GoldResult } from '../lake/gold-result';
import type { ReplayDeadLettersResult } from '../workflows/replay-input';
import { MetricSet, type Labels } from './exposition';

type Kind = 'counter' | 'gauge';
/** name → [type, labels, help]. */
export const METRICS = {
  tributary_stage_runs_total: ['counter', 'pipeline, stage, outcome', 'Stage activity attempts finished by this worker, by outcome (success, failure).'],
  tributary_records_in_total: ['counter', 'pipeline, stage, source', 'Records a stage read, by source: "kafka" (raw) or its input table.'],
  tributary_records_out_total: ['counter', 'pipeline, stage, table', 'Rows a stage wrote to a table (gold: rows inserted or updated by the MERGE).'],
  tributary_dead_letters_total: ['counter', 'pipeline, stage, error', 'Rows written to the dead letter, by error reason.'],
  tributary_gold_merge_rows_total: ['counter', 'pipeline, action', 'Rows the gold MERGE applied, by action (inserted, updated, deleted, skipped_older).'],
  tributary_stage_last_success_timestamp_seconds: ['gauge', 'pipeline, stage', 'Unix time at which a stage activity last succeeded on this worker.'],
  tributary_stage_last_run_duration_seconds: ['gauge', 'pipeline, stage', "Duration of the stage's last successful activity run on this worker."],
  tributary_kafka_lag_records: ['gauge', 'pipeline, stage, topic', 'Kafka end offsets (last stable) minus the raw checkpoint, summed over partitions.'],
  tributary_lag_records: ['gauge', 'pipeline, stage, table', "Rows in the stage's input table not yet processed by it (bronze: raw rows; gold: bronze rows)."],
  tributary_table_version: ['gauge', 'pipeline, table', 'Current Delta version of the table.'],
  tributary_table_rows: ['gauge', 'pipeline, table', 'Rows in the table (from the Delta log file statistics).'],
  tributary_table_files: ['gauge', 'pipeline, table', 'Live data files of the table.'],
  tributary_table_bytes: ['gauge', 'pipeline, table', 'Bytes of the live data files of the table.'],
  tributary_collect_success: ['gauge', 'pipeline, source', "1 when the last scrape could read the pipeline's source (lake, kafka), else 0."],
} as const satisfies Record<string, readonly [Kind, string, string]>;

type Name = keyof typeof METRICS;

export class PipelineMetrics {
  private readonly set = new MetricSet();
  private collecting: Promise<void> | undefined;
  private readonly kafkaLogger: KafkaLogger;

  /**
   * `topics`: the topics the sensor pipeline's Kafka lag is reported over (METRICS_TOPICS; every
   * other pipeline's: its source). `logger`: where the worker logs. kafkajs lines of a scrape go
   * there at debug: an unreachable Kafka shows as tributary_collect_success{source="kafka"} 0, not
   * as an error line per scrape. `pipelines`: the worker's pipelines (its definition file), whose
   * tables are read at scrape time and whose runs are counted under their table paths.
   */
  constructor(
    private readonly config: WorkerConfig,
    private readonly topics: string[] = ['sensor_readings'],
    logger?: Pick<KafkaLogger, 'debug'>,
    private readonly pipelines: readonly StatusPipeline[] = [SENSOR_STATUS],
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

  /**
   * A stage activity of `pipeline` (its input's; default the sensor pipeline) returned `result`
   * after `durationMs`. Rows are counted under the pipeline's table paths; a pipeline this worker's
   * file does not hold (none ran then) gets its runs counted, not its rows per table.
   */
  observeSuccess(activityType: string, result: unknown, durationMs: number, now = Date.now(), pipeline: string = DEFAULT_PIPELINE): void {
    const tables = this.pipelines.find((p) => p.name === pipeline)?.tables;
    const stage = stageOfActivity(activityType);
    const own = { pipeline, stage };
    this.set.inc('tributary_stage_runs_total', METRICS.tributary_stage_runs_total[2], { ...own, outcome: 'success' });
    this.gauge('tributary_stage_last_success_timestamp_seconds', own, now / 1000);
    this.gauge('tributary_stage_last_run_duration_seconds', own, durationMs / 1000);
    const rows = (name: 'tributary_records_in_total' | 'tributary_records_out_total', role: keyof NonNullable<typeof tables> | 'kafka', by: number) => {
      const key = name === 'tributary_records_in_total' ? 'source' : 'table';
      const value = role === 'kafka' ? 'kafka' : tables?.[role].name;
      if (value !== undefined) this.inc(name, { ...own, [key]: value }, by);
    };
    switch (stage) {
      case 'raw': {
        const r = result as RawResult;
        rows('tributary_records_in_total', 'kafka', r.recordsIn);
        rows('tributary_records_out_total', 'raw', r.recordsIn);
        break;
      }
      case 'bronze': {
        const r = result as BronzeResult;
        rows('tributary_records_in_total', 'raw', r.recordsIn);
        rows('tributary_records_out_total', 'bronze', r.recordsOut);
        rows('tributary_records_out_total', 'deadLetter', r.deadLetters);
        for (const [error, n] of Object.entries(r.deadLettersByError ?? {})) this.inc('tributary_dead_letters_total', { ...own, error }, n);
        break;
      }
      case 'gold': {
        const r = result as GoldResult;
        rows('tributary_records_in_total', 'bronze', r.rowsIn);
        rows('tributary_records_out_total', 'gold', r.inserted + r.updated);
        this.inc('tributary_gold_merge_rows_total', { pipeline, action: 'inserted' }, r.inserted);
        this.inc('tributary_gold_merge_rows_total', { pipeline, action: 'updated' }, r.updated);
        this.inc('tributary_gold_merge_rows_total', { pipeline, action: 'deleted' }, r.deleted ?? 0);
        this.inc('tributary_gold_merge_rows_total', { pipeline, action: 'skipped_older' }, r.skippedOlder);
        break;
      }
      case 'replay': {
        const r = result as ReplayDeadLettersResult;
        rows('tributary_records_in_total', 'deadLetter', r.examined ?? 0);
        rows('tributary_records_out_total', 'bronze', r.moved);
        break;
      }
    }
  }

  /** A stage activity attempt of `pipeline` failed (it may be retried). */
  observeFailure(activityType: string, pipeline: string = DEFAULT_PIPELINE): void {
    const labels = { pipeline, stage: stageOfActivity(activityType), outcome: 'failure' };
    this.set.inc('tributary_stage_runs_total', METRICS.tributary_stage_runs_total[2], labels);
  }

  /** Refreshes the scrape-time gauges; concurrent scrapes share one read. */
  collect(): Promise<void> {
    this.collecting ??= this.readSources().finally(() => (this.collecting = undefined));
    return this.collecting;
  }

  private async readSources(): Promise<void> {
    for (const name of ['tributary_kafka_lag_records', 'tributary_lag_records', 'tributary_table_version', 'tributary_table_rows', 'tributary_table_files', 'tributary_table_bytes', 'tributary_collect_success'] as const) {
      this.set.clear(name);
    }
    for (const p of this.pipelines) await this.readPipeline(p);
  }

  /** One pipeline's tables and lag (METRICS_TOPICS is the sensor pipeline's raw lag, as `status --topic`). */
  private async readPipeline(p: StatusPipeline): Promise<void> {
    const pipeline = p.name;
    let state;
    try {
      state = await readLakeState(this.config, p.name === SENSOR_STATUS.name ? this.topics : undefined, this.kafkaLogger, p);
    } catch {
      // An unreadable lake is reported as such; the counters (and the other pipelines) are still served.
      this.gauge('tributary_collect_success', { pipeline, source: 'lake' }, 0);
      return;
    }
    this.gauge('tributary_collect_success', { pipeline, source: 'lake' }, 1);
    for (const t of state.tables) {
      if (t.version === null) continue; // not created yet
      const labels = { pipeline, table: t.table };
      this.gauge('tributary_table_version', labels, t.version);
      if (t.rows !== null) this.gauge('tributary_table_rows', labels, t.rows);
      this.gauge('tributary_table_files', labels, t.files);
      this.gauge('tributary_table_bytes', labels, t.bytes);
    }
    for (const s of state.stages) {
      if (s.stage === 'raw') {
        this.gauge('tributary_collect_success', { pipeline, source: 'kafka' }, s.lagByTopic ? 1 : 0);
        for (const [topic, lag] of Object.entries(s.lagByTopic ?? {})) this.gauge('tributary_kafka_lag_records', { pipeline, stage: 'raw', topic }, lag);
      } else if (s.lag !== null && s.lagTable) {
        this.gauge('tributary_lag_records', { pipeline, stage: s.stage, table: s.lagTable }, s.lag);
      }
    }
  }

  render(): string {
    return this.set.render();
  }
}
