/**
 * One pipeline as the stages run it: its four tables (and the replay log), the txn app ids its
 * stages keep their positions under, its parse rules and expectations, its gold merge and its
 * Kafka source. The stage layer knows nothing of the definition file: src/pipelines builds a
 * StagePipeline from a PipelineDefinition.
 *
 * The sensor pipeline's instance is SENSOR_PIPELINE: exactly the tables, paths, schemas and app
 * ids the code has always used (tables.ts, sensor-rules.ts), so existing lakes keep working.
 */
import type { GoldSpec } from './gold-scd';
import type { ParseRules } from './parse-rules';
import { SENSOR_PIPELINE_NAME } from './pipeline-name';
import { SENSOR_FIELDS } from './sensor-rules';
import { BRONZE, DEAD_LETTER, GOLD, RAW, REPLAY_LOG, SENSOR_APP_IDS, type StageAppIds, type TableDef } from './tables';

export interface StageSource {
  /** The topics to read, or (exclusive) a regex over topic names, matched against the whole name. */
  readonly topics?: readonly string[];
  readonly topicPattern?: string;
  /** First run only (no checkpoint anywhere). */
  readonly startingOffsets: 'earliest' | 'latest';
  /** Fail the run when records were deleted before being read. */
  readonly failOnDataLoss: boolean;
}

export interface PipelineTableDefs {
  readonly raw: TableDef;
  readonly bronze: TableDef;
  readonly deadLetter: TableDef;
  readonly gold: TableDef;
  /** Dead letters moved to bronze by replays (replay.ts): which rows, by which replay, when. */
  readonly replayLog: TableDef;
}

export interface StagePipeline {
  readonly name: string;
  readonly source: StageSource;
  readonly tables: PipelineTableDefs;
  readonly appIds: StageAppIds;
  /** Fields, expectations and parse options (parse-rules.ts). */
  readonly rules: ParseRules;
  /** The gold merge (gold-scd.ts); the sensor pipeline's is gold.ts's own, equivalent to this spec. */
  readonly gold: GoldSpec;
}

export { SENSOR_PIPELINE_NAME };

/** Default sequence of a key's versions: the Kafka position (timestamp; topic, partition and offset break ties). */
export const KAFKA_POSITION_SEQUENCE: readonly string[] = ['kafka_ts'];

export const SENSOR_PIPELINE: StagePipeline = {
  name: SENSOR_PIPELINE_NAME,
  source: { topics: ['sensor_readings'], startingOffsets: 'latest', failOnDataLoss: false },
  tables: { raw: RAW, bronze: BRONZE, deadLetter: DEAD_LETTER, gold: GOLD, replayLog: REPLAY_LOG },
  appIds: SENSOR_APP_IDS,
  rules: { fields: SENSOR_FIELDS },
  gold: { keys: ['sensor_id', 'ts_ms'], columns: SENSOR_FIELDS.map((f) => f.name), sequenceBy: KAFKA_POSITION_SEQUENCE, scdType: 1 },
};

export const isSensorPipeline = (p: StagePipeline): boolean => p.name === SENSOR_PIPELINE_NAME;
