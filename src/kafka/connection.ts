/**
 * Builds kafkajs clients from a KafkaConnectionConfig and turns Kafka failures into errors that
 * say what to fix. The password is read here, at the last moment, from env or file; it never
 * leaves this module except inside the kafkajs client, and every error message that leaves is
 * scrubbed of it (kafkajs messages do not contain it today; the scrub keeps it that way).
 */
import * as fs from 'node:fs';
import { Kafka, logLevel, type KafkaConfig, type SASLOptions, type logCreator } from 'kafkajs';
import type { KafkaConnectionConfig } from '../config';
import { ConfigError } from '../config';

/** A failure that retrying will not fix: bad credentials, unknown topic, bad TLS setup. */
export class PermanentKafkaError extends Error {
  override name = 'PermanentKafkaError';
}

function readPassword(source: { env: string } | { file: string }): string {
  if ('env' in source) {
    const value = process.env[source.env];
    if (value === undefined) throw new ConfigError(`Kafka password variable ${source.env} is not set`);
    return value;
  }
  try {
    return fs.readFileSync(source.file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new ConfigError(`cannot read the Kafka password file ${source.file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** Where kafkajs log lines go: the worker passes its activity logger (Temporal's `Logger` fits). */
export interface KafkaLogger {
  error(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  debug(message: string, meta?: Record<string, unknown>): unknown;
}

/** Outside the worker (CLI commands): warnings and errors on stderr, one formatted line each. */
export const consoleKafkaLogger: KafkaLogger = {
  error: (m, meta) => console.error(`${new Date().toISOString()} [ERROR] ${m}`, meta ?? ''),
  warn: (m, meta) => console.error(`${new Date().toISOString()} [WARN] ${m}`, meta ?? ''),
  info: () => undefined,
  debug: () => undefined,
};

/**
 * The level a kafkajs line deserves in our logs. kafkajs logs every failed request at ERROR
 * ("Response Metadata(key: 3, …)" while a leader is being elected, for instance) although it
 * retries them; one that does not recover is thrown to us and reported with context, so those lines
 * are debug. Its INFO lines are client lifecycle chatter repeated by every stage run (each opens
 * its own clients; no stage uses a consumer group): debug too.
 */
export function kafkaLogLevel(level: logLevel, message: string): keyof KafkaLogger | null {
  if (level === logLevel.ERROR) return /^Response \w+\(key: \d+/.test(message) ? 'debug' : 'error';
  if (level === logLevel.WARN) return 'warn';
  if (level === logLevel.INFO || level === logLevel.DEBUG) return 'debug';
  return null;
}

/** kafkajs log lines to `logger`, at our level for them, with the password (if any) masked everywhere. */
export function kafkaLogCreator(logger: KafkaLogger, secret: string | undefined): logCreator {
  return () => ({ namespace, level, log }) => {
    const { message, timestamp: _ts, logger: _name, ...fields } = log as { message: string; timestamp?: unknown; logger?: unknown } & Record<string, unknown>;
    const to = kafkaLogLevel(level, message);
    if (!to) return;
    const meta: Record<string, unknown> = { sdkComponent: 'kafkajs', ...(namespace ? { kafkajsNamespace: namespace } : {}) };
    for (const [k, v] of Object.entries(fields)) {
      // Numbers and booleans cannot hold the secret; anything else is scrubbed as text.
      meta[k] = typeof v === 'number' || typeof v === 'boolean' || v === undefined ? v : scrub(typeof v === 'string' ? v : JSON.stringify(v), secret);
    }
    logger[to](scrub(`kafkajs: ${message}`, secret), meta);
  };
}

export function scrub(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('***') : text;
}

export interface KafkaHandle {
  kafka: Kafka;
  /** Rewrites an error into a clear one without the secret; permanent ones become PermanentKafkaError. */
  explain(error: unknown, context: string): Error;
}

/**
 * kafkajs 2.2.4 (the last release) arms a timer with a negative delay whenever its request queue
 * is idle (requestQueue.scheduleCheckPendingRequests: `throttledUntil - Date.now()` with
 * throttledUntil = -1). Node 24 prints a TimeoutNegativeWarning for that, raw on stderr, and runs
 * the timer after 1 ms — what kafkajs means. This drops exactly that warning; every other one is
 * emitted as before.
 */
let timeoutWarningFiltered = false;
export function dropNegativeTimeoutWarning(): void {
  if (timeoutWarningFiltered) return;
  timeoutWarningFiltered = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = warning instanceof Error ? warning.name : typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'TimeoutNegativeWarning') return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** `logger`: where kafkajs log lines go (activities pass their own, so lines carry the workflow id and stage). */
export function connectKafka(conn: KafkaConnectionConfig, logger: KafkaLogger = consoleKafkaLogger): KafkaHandle {
  dropNegativeTimeoutWarning();
  const password = conn.sasl ? readPassword(conn.sasl.passwordSource) : undefined;
  const config: KafkaConfig = {
    clientId: conn.clientId,
    brokers: conn.brokers,
    connectionTimeout: 5000,
    requestTimeout: 30000,
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: logLevel.INFO,
    logCreator: kafkaLogCreator(logger, password),
  };
  if (conn.securityProtocol === 'SASL_SSL') {
    let ca: Buffer[] | undefined;
    if (conn.caFile) {
      try {
        ca = [fs.readFileSync(conn.caFile)];
      } catch (e) {
        throw new ConfigError(`cannot read the Kafka CA file ${conn.caFile}: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
    }
    // Certificates are always verified; a private CA is trusted only when configured.
    config.ssl = { rejectUnauthorized: true, ...(ca ? { ca } : {}) };
    const sasl = conn.sasl!;
    config.sasl = {
      mechanism: sasl.mechanism.toLowerCase(),
      username: sasl.username,
      password: password!,
    } as SASLOptions;
  }
  const where = `${conn.securityProtocol} ${conn.brokers.join(',')}`;
  return {
    kafka: new Kafka(config),
    explain(error: unknown, context: string): Error {
      const e = error as { name?: string; message?: string; type?: string; cause?: unknown };
      const name = e?.name ?? 'Error';
      const raw = scrub(String(e?.message ?? error), password);
      const causeName = (e?.cause as { name?: string } | undefined)?.name;
      if (name === 'KafkaJSSASLAuthenticationError' || causeName === 'KafkaJSSASLAuthenticationError' || /SASL .*authentication failed/i.test(raw)) {
        return new PermanentKafkaError(
          `${context}: Kafka authentication failed for user "${conn.sasl?.username}" (SASL ${conn.sasl?.mechanism}) at ${where}; check the password in KAFKA_SASL_PASSWORD_FILE/KAFKA_SASL_PASSWORD`,
        );
      }
      if (e?.type === 'UNKNOWN_TOPIC_OR_PARTITION' || /does not host this topic-partition|unknown topic/i.test(raw)) {
        return new PermanentKafkaError(`${context}: ${raw}`);
      }
      if (/certificate|self[- ]signed|SSL|TLS/i.test(raw) && !/ECONNREFUSED/.test(raw)) {
        return new PermanentKafkaError(`${context}: TLS failure talking to ${where}: ${raw} (set KAFKA_SSL_CA_FILE to the broker's CA)`);
      }
      if (name === 'KafkaJSNumberOfRetriesExceeded' || name === 'KafkaJSConnectionError' || /ECONNREFUSED|ETIMEDOUT|ENOTFOUND|Connection timeout/.test(raw)) {
        return new Error(`${context}: cannot reach Kafka at ${where}: ${raw}`);
      }
      return new Error(`${context}: ${name}: ${raw}`);
    },
  };
}
