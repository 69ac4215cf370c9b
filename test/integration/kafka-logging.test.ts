/**
 * kafkajs log lines go through the logger the caller gives (the worker passes its activity logger),
 * at our level for them, with the password masked — never raw on the console.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { logLevel } from 'kafkajs';
import { connectKafka, kafkaLogLevel, type KafkaLogger } from '../../src/kafka/connection';
import { env, uniqueName } from '../helpers/pipeline';

interface Line {
  level: keyof KafkaLogger;
  message: string;
  meta?: Record<string, unknown>;
}

function collectingLogger(lines: Line[]): KafkaLogger {
  const at = (level: keyof KafkaLogger) => (message: string, meta?: Record<string, unknown>) => void lines.push({ level, message, meta });
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

describe('kafkajs logging', () => {
  it('maps kafkajs levels: retried request failures and lifecycle chatter are debug', () => {
    expect(kafkaLogLevel(logLevel.ERROR, 'Response GroupCoordinator(key: 10, version: 2)')).toBe('debug');
    expect(kafkaLogLevel(logLevel.ERROR, 'Crash: KafkaJSNumberOfRetriesExceeded: x')).toBe('error');
    expect(kafkaLogLevel(logLevel.WARN, 'x')).toBe('warn');
    expect(kafkaLogLevel(logLevel.INFO, 'Consumer has joined the group')).toBe('debug');
    expect(kafkaLogLevel(logLevel.NOTHING, 'x')).toBeNull();
  });

  it('a failed SASL_SSL login: kafkajs lines reach our logger at our levels, without the password, nothing on the console', async () => {
    expect(env.KAFKA_SASL_SSL_BROKERS).toBeDefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-kafka-logging-'));
    const wrongPassword = `wrong-${uniqueName('pw')}`;
    const file = path.join(dir, 'password');
    fs.writeFileSync(file, wrongPassword, { mode: 0o600 });
    const lines: Line[] = [];
    const consoleCalls: unknown[][] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
      jest.spyOn(console, m).mockImplementation((...args: unknown[]) => void consoleCalls.push(args)),
    );
    try {
      const { kafka } = connectKafka(
        {
          brokers: env.KAFKA_SASL_SSL_BROKERS!,
          clientId: 'tributary-test',
          securityProtocol: 'SASL_SSL',
          caFile: env.KAFKA_SSL_CA_FILE,
          sasl: { mechanism: 'PLAIN', username: env.KAFKA_SASL_USERNAME!, passwordSource: { file } },
        },
        collectingLogger(lines),
      );
      const admin = kafka.admin();
      await expect(admin.connect()).rejects.toThrow(/authentication failed/i);
      await admin.disconnect();
    } finally {
      spies.forEach((s) => s.mockRestore());
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(consoleCalls).toEqual([]);
    // The broker's answer to the SASL request is retried/handled by kafkajs: debug. The login failure itself: error.
    expect(lines).toContainEqual(expect.objectContaining({ level: 'debug', message: expect.stringMatching(/^kafkajs: Response SaslAuthenticate/) }));
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', message: expect.stringMatching(/^kafkajs: SASL PLAIN authentication failed/) }));
    for (const l of lines) expect(l.meta).toMatchObject({ sdkComponent: 'kafkajs' });
    expect(JSON.stringify(lines)).not.toContain(wrongPassword);
  });

  it("drops only Node 24's warning about kafkajs' negative timer delay", () => {
    // In a process of its own: jest's sandboxed `process` does not carry warnings.
    const script = [
      "require('./src/kafka/connection').dropNegativeTimeoutWarning();",
      "process.emitWarning('-5 is a negative number.', 'TimeoutNegativeWarning');",
      'clearTimeout(setTimeout(() => undefined, -5));', // what kafkajs does: Node 24 warns
      "process.emitWarning('still shown', 'TributaryTestWarning');",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/TimeoutNegativeWarning|negative number/);
    expect(r.stderr).toMatch(/TributaryTestWarning: still shown/);
  });
});
