/** Table maintenance: workflow input, config of table properties, the table list kept in two places. */
import { loadEnv, loadWorkerConfig } from '../../src/config';
import { parsePipelineFile } from '../../src/pipelines/definition';
import { tablePropertiesProblems } from '../../src/worker';
import { pipelinesWithExample } from '../helpers/pipelines';
import { MAINTAINED_TABLES, MAINTENANCE_OPERATIONS } from '../../src/lake/maintenance';
import { InvalidInputError, parseInput } from '../../src/workflows/inputs';
import { MAINTAINED_TABLE_NAMES, MaintainTablesInput, OPERATIONS, TABLE_ROLES } from '../../src/workflows/maintain-tables-input';

describe('maintainTablesWorkflow input', () => {
  it('the workflow and the lake layer list the same tables and operations', () => {
    expect([...MAINTAINED_TABLE_NAMES]).toEqual(MAINTAINED_TABLES.map((t) => t.name));
    expect([...OPERATIONS]).toEqual([...MAINTENANCE_OPERATIONS]);
  });

  it('defaults to every table, every operation, no dry run, no force', () => {
    expect(parseInput(MaintainTablesInput, undefined, 'm')).toEqual({
      pipeline: 'sensor',
      tables: [...MAINTAINED_TABLE_NAMES],
      operations: ['compact', 'checkpoint', 'vacuum', 'cleanupLog'],
      dryRun: false,
      force: false,
    });
    expect(parseInput(MaintainTablesInput, { tables: ['gold/sensor_readings'], operations: ['vacuum'], dryRun: true, vacuumRetentionHours: 24, force: true }, 'm')).toMatchObject({
      tables: ['gold/sensor_readings'],
      vacuumRetentionHours: 24,
    });
  });

  it('another pipeline: its tables by path or role, default every role (the activity resolves them)', () => {
    expect(parseInput(MaintainTablesInput, { pipeline: 'orders' }, 'm')).toMatchObject({ pipeline: 'orders', tables: [...TABLE_ROLES] });
    expect(parseInput(MaintainTablesInput, { pipeline: 'orders', tables: ['gold/orders', 'raw', 'raw'] }, 'm').tables).toEqual(['gold/orders', 'raw']);
    expect(() => parseInput(MaintainTablesInput, { pipeline: 'orders', tables: ['../etc'] }, 'm')).toThrow(/tables\.0/);
    expect(() => parseInput(MaintainTablesInput, { pipeline: 'Orders!' }, 'm')).toThrow(/pipeline/);
    // the sensor pipeline's tables are checked in the workflow already
    expect(() => parseInput(MaintainTablesInput, { pipeline: 'sensor', tables: ['raw'] }, 'm')).toThrow(/tables\.0: not a table of the sensor pipeline/);
  });

  it('refuses unknown tables, operations and fields', () => {
    expect(() => parseInput(MaintainTablesInput, { tables: ['gold/other'] }, 'm')).toThrow(InvalidInputError);
    expect(() => parseInput(MaintainTablesInput, { operations: ['zorder'] }, 'm')).toThrow(/operations\.0/);
    expect(() => parseInput(MaintainTablesInput, { retain: 1 }, 'm')).toThrow(/retain/);
  });
});

describe('DELTA_TABLE_PROPERTIES', () => {
  const env = (v: string) => ({ DELTA_TABLE_PROPERTIES: v, KAFKA_BROKERS: '127.0.0.1:9092' });
  it('parses per-table delta.* properties', () => {
    const cfg = loadWorkerConfig(loadEnv(env('{"raw/sensor_readings":{"delta.logRetentionDuration":"interval 60 days","delta.checkpointInterval":"20"}}'), {}));
    expect(cfg.tableProperties).toEqual({ 'raw/sensor_readings': { 'delta.logRetentionDuration': 'interval 60 days', 'delta.checkpointInterval': '20' } });
    expect(loadWorkerConfig(loadEnv({}, {})).tableProperties).toEqual({});
  });
  it('any pipeline\'s table: the worker refuses one no pipeline of its definition file has', () => {
    const cfg = loadWorkerConfig(loadEnv(env('{"raw/orders":{"delta.logRetentionDuration":"interval 90 days"},"raw/other":{}}'), {}));
    const file = parsePipelineFile(pipelinesWithExample());
    expect(tablePropertiesProblems(cfg.tableProperties, file)).toEqual([expect.stringMatching(/^DELTA_TABLE_PROPERTIES: no pipeline of .* has a table "raw\/other" \(tables: raw\/sensor_readings, .*raw\/orders, /)]);
    expect(tablePropertiesProblems({ 'bronze/orders_replay_log': {}, 'gold/sensor_readings': {} }, file)).toEqual([]);
  });
  it('refuses table paths that are none, non-delta keys and values maintenance could not parse', () => {
    expect(() => loadEnv(env('{"../raw":{}}'), {})).toThrow(/DELTA_TABLE_PROPERTIES/);
    expect(() => loadEnv(env('{"raw/sensor_readings":{"spark.x":"1"}}'), {})).toThrow(/only delta/);
    expect(() => loadEnv(env('{"raw/sensor_readings":{"delta.deletedFileRetentionDuration":"a week"}}'), {})).toThrow(/deletedFileRetentionDuration/);
    expect(() => loadEnv(env('not json'), {})).toThrow(/not JSON/);
  });
});
