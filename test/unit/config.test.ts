import { activityMemoryLimit, ConfigError, kafkaConnectionFromEnv, loadEnv, memoryShares, parseEnvFile } from '../../src/config';
import { IngestRawInput, InvalidInputError, parseInput } from '../../src/workflows/inputs';
import { DEFAULT_PIPELINES_FILE, loadPipelineFile, pipelineNamed } from '../../src/pipelines/definition';
import { stagePipeline } from '../../src/pipelines/stage-pipeline';

describe('config', () => {
  it('keeps literal values from the stack env file (a $ in a user name is not expanded)', () => {
    expect(parseEnvFile('A=1\nKAFKA_SASL_USERNAME=$ConnectionString\n# comment\n')).toEqual({ A: '1', KAFKA_SASL_USERNAME: '$ConnectionString' });
  });

  it('rejects malformed broker lists and unknown security protocols with the variable named', () => {
    expect(() => loadEnv({ KAFKA_BROKERS: 'localhost' }, {})).toThrow(/KAFKA_BROKERS\.0: expected host:port/);
    expect(() => loadEnv({ KAFKA_SECURITY_PROTOCOL: 'SSL' }, {})).toThrow(ConfigError);
  });

  it('SASL_SSL needs a user and a password source, and keeps only where the password is', () => {
    const env = loadEnv({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 's3cret' }, {});
    const conn = kafkaConnectionFromEnv(env);
    expect(conn.sasl?.passwordSource).toEqual({ env: 'KAFKA_SASL_PASSWORD' });
    expect(JSON.stringify(conn)).not.toContain('s3cret');
    expect(() => kafkaConnectionFromEnv(loadEnv({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }, {}))).toThrow(/KAFKA_SASL_USERNAME/);
  });
});

describe('worker memory budget (issue 16 finding 6)', () => {
  it('splits one budget across the concurrent activities and the checkpoint reader, and caps what an input asks for', () => {
    const shares = memoryShares('2GB', 2);
    // 2e9 bytes: reader 2e9/8 = 238 MiB, each activity (2e9 - reader) / 2 = 834 MiB
    expect(shares).toEqual({ maxConcurrentActivities: 2, perActivity: '834MiB', checkpointReader: '238MiB' });
    expect(memoryShares('16GiB', 4)).toEqual({ maxConcurrentActivities: 4, perActivity: '4032MiB', checkpointReader: '256MiB' });
    expect(activityMemoryLimit(shares)).toBe('834MiB');
    expect(activityMemoryLimit(shares, '512MB')).toBe('512MB');
    expect(activityMemoryLimit(shares, '8GB')).toBe('834MiB');
    expect(() => memoryShares('256MB', 4)).toThrow(ConfigError);
    const env = loadEnv({ WORKER_MEMORY_BUDGET: '4GiB', WORKER_MAX_CONCURRENT_ACTIVITIES: '3' }, {});
    expect([env.WORKER_MEMORY_BUDGET, env.WORKER_MAX_CONCURRENT_ACTIVITIES]).toEqual(['4GiB', 3]);
    expect(() => loadEnv({ WORKER_MEMORY_BUDGET: 'lots' }, {})).toThrow(/WORKER_MEMORY_BUDGET/);
  });
});

describe('ingestRawWorkflow input', () => {
  it('defaults to the sensor pipeline, whose source (pipelines.yaml) is the seed\'s topic, startingOffsets latest, failOnDataLoss false', () => {
    const input = parseInput(IngestRawInput, undefined, 'x');
    expect(input).toMatchObject({ pipeline: 'sensor' });
    // unset here: the activity takes them from the pipeline's source
    expect([input.topics, input.startingOffsets, input.failOnDataLoss]).toEqual([undefined, undefined, undefined]);
    expect(stagePipeline(pipelineNamed(loadPipelineFile(DEFAULT_PIPELINES_FILE), input.pipeline)).source).toEqual({ topics: ['sensor_readings'], startingOffsets: 'latest', failOnDataLoss: false });
  });

  it('refuses a pipeline name the definition file could not have', () => {
    expect(() => parseInput(IngestRawInput, { pipeline: 'Orders!' }, 'x')).toThrow(/pipeline: lower-case letters/);
  });

  it('accepts Spark\'s startingOffsets JSON, as an object or as a string', () => {
    const json = '{"sensor_readings":{"0":23,"1":-2}}';
    expect(parseInput(IngestRawInput, { startingOffsets: json }, 'x').startingOffsets).toEqual({ sensor_readings: { '0': 23, '1': -2 } });
    expect(parseInput(IngestRawInput, { startingOffsets: JSON.parse(json) }, 'x').startingOffsets).toEqual({ sensor_readings: { '0': 23, '1': -2 } });
  });

  it('lists every problem of a bad input, including unknown fields', () => {
    const bad = () => parseInput(IngestRawInput, { topics: ['bad topic!'], maxRecordsPerCommit: 0, startingOfsets: 'earliest' }, 'ingestRawWorkflow');
    expect(bad).toThrow(InvalidInputError);
    expect(bad).toThrow(/topics\.0: not a legal Kafka topic name.*maxRecordsPerCommit.*startingOfsets/);
  });
});
