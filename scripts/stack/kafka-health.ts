/**
 * Kafka health probe for scripts/stack.sh: `admin.describeCluster()` on the PLAINTEXT listener and on the
 * SASL_SSL listener (PLAIN, CA file, password read from a file), retried until a deadline.
 *
 *   npx tsx scripts/stack/kafka-health.ts --plaintext 127.0.0.1:9092 \
 *     [--sasl-ssl 127.0.0.1:9093 --username '$ConnectionString' --password-file F --ca-file F] \
 *     [--timeout-ms 90000] [--pid N] [--quiet]
 *
 * Prints one line per listener (brokers, controller, cluster id) and exits 0 when every listener answered;
 * exits 1 with a one-line reason otherwise. With --pid, gives up early when that process has exited.
 * The password is never printed: error messages are reduced to kafkajs' own text, which does not contain it.
 */
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';

interface Args {
  plaintext?: string;
  saslSsl?: string;
  username: string;
  passwordFile?: string;
  caFile?: string;
  timeoutMs: number;
  pid?: number;
  quiet: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { username: '$ConnectionString', timeoutMs: 90_000, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value for ${flag}`);
      return v;
    };
    switch (flag) {
      case '--plaintext': args.plaintext = value(); break;
      case '--sasl-ssl': args.saslSsl = value(); break;
      case '--username': args.username = value(); break;
      case '--password-file': args.passwordFile = value(); break;
      case '--ca-file': args.caFile = value(); break;
      case '--timeout-ms': args.timeoutMs = Number(value()); break;
      case '--pid': args.pid = Number(value()); break;
      case '--quiet': args.quiet = true; break;
      default: throw new Error(`unknown argument ${flag}`);
    }
  }
  if (!args.plaintext && !args.saslSsl) throw new Error('give --plaintext and/or --sasl-ssl');
  if (args.saslSsl && (!args.passwordFile || !args.caFile)) {
    throw new Error('--sasl-ssl needs --password-file and --ca-file');
  }
  return args;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** kafkajs error text without anything that could echo configuration (it never includes the password). */
function reason(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e.name ?? 'Error'}: ${(e.message ?? String(err)).split('\n')[0]}`;
}

async function describe(name: string, config: KafkaConfig): Promise<string> {
  const admin = new Kafka(config).admin();
  try {
    await admin.connect();
    const c = await admin.describeCluster();
    const brokers = c.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`).join(',');
    return `${name} ok: brokers ${brokers}, controller ${c.controller}, cluster id ${c.clusterId}`;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const base = {
    clientId: 'tributary-stack-health',
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
  } satisfies Partial<KafkaConfig>;

  const probes: Array<{ name: string; config: () => KafkaConfig }> = [];
  if (args.plaintext) {
    const brokers = args.plaintext.split(',');
    probes.push({ name: `PLAINTEXT ${args.plaintext}`, config: () => ({ ...base, brokers }) });
  }
  if (args.saslSsl) {
    const brokers = args.saslSsl.split(',');
    const { username, passwordFile, caFile } = args;
    probes.push({
      name: `SASL_SSL ${args.saslSsl}`,
      // Read the files on every attempt: `stack up` may still be creating them when the probe starts.
      config: () => ({
        ...base,
        brokers,
        ssl: { ca: [readFileSync(caFile!, 'utf8')], rejectUnauthorized: true },
        sasl: { mechanism: 'plain', username, password: readFileSync(passwordFile!, 'utf8') },
      }),
    });
  }

  const deadline = Date.now() + args.timeoutMs;
  const done: string[] = [];
  for (const probe of probes) {
    let last = 'no attempt';
    for (;;) {
      try {
        done.push(await describe(probe.name, probe.config()));
        break;
      } catch (err) {
        last = reason(err);
      }
      if (args.pid !== undefined && !processAlive(args.pid)) {
        console.error(`kafka process ${args.pid} exited; last error on ${probe.name}: ${last}`);
        return 1;
      }
      if (Date.now() >= deadline) {
        console.error(`kafka not healthy after ${Math.round(args.timeoutMs / 1000)} s on ${probe.name}: ${last}`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (!args.quiet) for (const line of done) console.log(line);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`kafka-health: ${reason(err)}`);
    process.exit(2);
  },
);
