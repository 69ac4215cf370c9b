/**
 * Worker-side configuration, read from the environment (validated with zod).
 *
 * Variables not set in the process environment fall back to `.stack/stack.env`, which
 * `npm run stack -- up` writes, so a developer can run the worker and the tests right after
 * starting the local stack without sourcing anything. Secrets are never in that file: the
 * Kafka password comes from `KAFKA_SASL_PASSWORD` or the file named by `KAFKA_SASL_PASSWORD_FILE`,
 * and is read only where a Kafka client is built (see src/kafka/connection.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { isObjectStoreUrl } from './delta/open-store';
import { parseStoreUrl, storeUrl } from './delta/store-config';
import { validateMaintenanceProperties } from './delta/table-properties';
import { memoryLimit } from './workflows/bronze-input';

export const TASK_QUEUE = 'sensor-pipeline';

const nonEmpty = z.string().trim().min(1);
const brokerList = nonEmpty
  .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[A-Za-z0-9._-]+:\d{1,5}$/, 'expected host:port')).min(1));

const port = z.coerce.number().int().min(1).max(65535);

const EnvSchema = z.object({
  TEMPORAL_ADDRESS: nonEmpty.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: nonEmpty.default('default'),
  TEMPORAL_TASK_QUEUE: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'letters, digits, . _ - only').default(TASK_QUEUE),
  TEMPORAL_CLI: nonEmpty.optional(),
  TEMPORAL_UI_URL: nonEmpty.default('http://127.0.0.1:8233'),
  LAKE_ROOT: nonEmpty.default('./lake'),
  DELTA_EXTENSION_PATH: nonEmpty.optional(),
  KAFKA_BROKERS: brokerList.default('127.0.0.1:9092'),
  KAFKA_CLIENT_ID: nonEmpty.default('tributary'),
  KAFKA_SECURITY_PROTOCOL: z.enum(['PLAINTEXT', 'SASL_SSL']).default('PLAINTEXT'),
  KAFKA_SASL_MECHANISM: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']).default('PLAIN'),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  KAFKA_SASL_PASSWORD_FILE: nonEmpty.optional(),
  KAFKA_SSL_CA_FILE: nonEmpty.optional(),
  KAFKA_SASL_SSL_BROKERS: brokerList.optional(),
  /** Stage N+1 starts as soon as stage N commits new data (see src/workflows/common.ts). */
  PIPELINE_NEAR_REAL_TIME: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** DuckDB memory of the whole worker, split across its concurrent activities (memoryShares). */
  WORKER_MEMORY_BUDGET: memoryLimit.default('2GB'),
  /** Stage activities one worker runs at once (each opens one DuckDB instance). */
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(16).default(2),
  /** Port of the worker's Prometheus endpoint `/metrics` (src/metrics/); unset = no endpoint. */
  METRICS_PORT: port.optional(),
  /** Address the endpoint binds: localhost only unless set (e.g. 0.0.0.0 for a Prometheus in a container). */
  METRICS_HOST: nonEmpty.default('127.0.0.1'),
  /** Port of the Temporal SDK's own exporter, on 127.0.0.1, merged into `/metrics`; default METRICS_PORT + 1. */
  METRICS_SDK_PORT: port.optional(),
  /** Topics whose Kafka lag `/metrics` reports (the raw stage's topics). */
  METRICS_TOPICS: nonEmpty
    .default('sensor_readings')
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'expected Kafka topic names')).min(1)),
  /**
   * Delta table properties per table (any pipeline's), as JSON: `{"raw/sensor_readings":{"delta.logRetentionDuration":"interval 60 days"}}`.
   * Table maintenance writes them into each table's metaData.configuration (the names Spark and delta-rs read).
   */
  DELTA_TABLE_PROPERTIES: z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not JSON' });
        return z.NEVER;
      }
    })
    .pipe(
      // any pipeline's table path; the worker checks at start that a pipeline of its definition file has it
      z.record(z.string().regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, 'a table path like raw/sensor_readings'), z.record(z.string().regex(/^delta\.[A-Za-z.]+$/, 'only delta.* properties'), z.string().max(200))).superRefine((tables, ctx) => {
        for (const [table, props] of Object.entries(tables)) {
          try {
            validateMaintenanceProperties(props ?? {}, table);
          } catch (e) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
          }
        }
      }),
    )
    .default('{}'),
});
export type Env = z.infer<typeof EnvSchema>;

/** How to reach Kafka. The password itself is deliberately not a field: only where to find it. */
export interface KafkaConnectionConfig {
  brokers: string[];
  clientId: string;
  securityProtocol: 'PLAINTEXT' | 'SASL_SSL';
  sasl?: {
    mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
    username: string;
    /** Name of the env variable holding the password, or a file holding it. */
    passwordSource: { env: string } | { file: string };
  };
  caFile?: string;
}

export interface WorkerConfig {
  temporal: { address: string; namespace: string; taskQueue: string };
  lakeRoot: string;
  deltaExtensionPath?: string;
  kafka: KafkaConnectionConfig;
  memory: MemoryShares;
  /** `delta.*` table properties per table name (DELTA_TABLE_PROPERTIES), applied by table maintenance. */
  tableProperties?: Record<string, Record<string, string>>;
}

/** The worker's DuckDB memory budget, split: one share per concurrent activity + the checkpoint reader. */
export interface MemoryShares {
  maxConcurrentActivities: number;
  /** memory_limit of each activity's DuckDB instance. */
  perActivity: string;
  /** memory_limit of the process-wide Delta checkpoint reader (src/delta/checkpoint.ts). */
  checkpointReader: string;
}

const UNITS: Record<string, number> = { kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };
const MiB = 2 ** 20;

/** Bytes of a DuckDB size ('2GB', '512MiB'; validated by the `memoryLimit` schema). */
export function parseMemorySize(size: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(size.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ConfigError(`not a memory size: ${JSON.stringify(size)}`);
  return Math.floor(Number(m[1]) * unit);
}

/**
 * Splits the budget: the checkpoint reader gets an eighth (at most 256 MiB: it only reads Delta
 * checkpoints), each concurrent activity an equal part of the rest. DuckDB spills above its share.
 */
export function memoryShares(budget: string, maxConcurrentActivities: number): MemoryShares {
  const total = parseMemorySize(budget);
  const reader = Math.min(256 * MiB, Math.floor(total / 8));
  const perActivity = Math.floor((total - reader) / maxConcurrentActivities);
  if (perActivity < 64 * MiB) {
    throw new ConfigError(`WORKER_MEMORY_BUDGET=${budget} leaves ${Math.floor(perActivity / MiB)}MiB per activity for ${maxConcurrentActivities} activities; give at least 64MiB each`);
  }
  return { maxConcurrentActivities, perActivity: `${Math.floor(perActivity / MiB)}MiB`, checkpointReader: `${Math.floor(reader / MiB)}MiB` };
}

/** An activity's memory_limit: what its input asks for, never more than its share of the budget. */
export function activityMemoryLimit(shares: MemoryShares, requested?: string): string {
  if (requested === undefined) return shares.perActivity;
  return parseMemorySize(requested) <= parseMemorySize(shares.perActivity) ? requested : shares.perActivity;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function stackDir(): string {
  return path.resolve(process.env.STACK_DIR ?? '.stack');
}

/** Parses `KEY=VALUE` lines; values are literal (no quotes or expansion: `$ConnectionString` stays). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

export function readStackEnv(): Record<string, string> {
  const file = path.join(stackDir(), 'stack.env');
  return fs.existsSync(file) ? parseEnvFile(fs.readFileSync(file, 'utf8')) : {};
}

/** The effective environment: process env first, `.stack/stack.env` for anything unset. */
export function loadEnv(env: NodeJS.ProcessEnv = process.env, stackEnv: Record<string, string> = readStackEnv()): Env {
  const merged: Record<string, string | undefined> = { ...stackEnv };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v;
  const parsed = EnvSchema.safeParse(merged);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid environment: ${issues}`);
  }
  return parsed.data;
}

export function kafkaConnectionFromEnv(env: Env): KafkaConnectionConfig {
  const base = { brokers: env.KAFKA_BROKERS, clientId: env.KAFKA_CLIENT_ID, caFile: env.KAFKA_SSL_CA_FILE };
  if (env.KAFKA_SECURITY_PROTOCOL === 'PLAINTEXT') return { ...base, securityProtocol: 'PLAINTEXT' };
  if (!env.KAFKA_SASL_USERNAME) throw new ConfigError('KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME');
  // An explicitly set password variable wins over a file (the stack's default is a file).
  const passwordSource =
    env.KAFKA_SASL_PASSWORD !== undefined
      ? { env: 'KAFKA_SASL_PASSWORD' }
      : env.KAFKA_SASL_PASSWORD_FILE
        ? { file: path.resolve(env.KAFKA_SASL_PASSWORD_FILE) }
        : undefined;
  if (!passwordSource) {
    throw new ConfigError('KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD');
  }
  return {
    ...base,
    securityProtocol: 'SASL_SSL',
    sasl: { mechanism: env.KAFKA_SASL_MECHANISM, username: env.KAFKA_SASL_USERNAME, passwordSource },
  };
}

export function loadWorkerConfig(env: Env = loadEnv()): WorkerConfig {
  return {
    temporal: { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE, taskQueue: env.TEMPORAL_TASK_QUEUE },
    // az://… and s3://… roots stay URLs (validated); a local root becomes absolute.
    lakeRoot: isObjectStoreUrl(env.LAKE_ROOT) ? storeUrl(parseStoreUrl(env.LAKE_ROOT)) : path.resolve(env.LAKE_ROOT),
    deltaExtensionPath: env.DELTA_EXTENSION_PATH,
    kafka: kafkaConnectionFromEnv(env),
    memory: memoryShares(env.WORKER_MEMORY_BUDGET, env.WORKER_MAX_CONCURRENT_ACTIVITIES),
    tableProperties: env.DELTA_TABLE_PROPERTIES as Record<string, Record<string, string>>,
  };
}
