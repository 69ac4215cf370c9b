import { ConfigError, kafkaConnectionFromEnv, loadEnv, parseEnvFile } from '../../src/config';
import { IngestRawInput, InvalidInputError, parseInput } from '../../src/workflows/inputs';

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

describe('ingestRawWorkflow input', () => {
  it('fills defaults: the seed\'s topic, startingOffsets latest, failOnDataLoss false', () => {
    expect(parseInput(IngestRawInput, undefined, 'x')).toMatchObject({ topics: ['sensor_readings'], startingOffsets: 'latest', failOnDataLoss: false });
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
