/**
 * docker-compose.yml cannot run on the CI machine (no Docker engine), so this checks it statically: services,
 * images, port mappings, Kafka settings, and that the Temporal search attributes equal the local stack's
 * (scripts/stack.sh) and fit the dev server's SQLite visibility store.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const root = join(__dirname, '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const stackSh =
  readFileSync(join(root, 'scripts/stack.sh'), 'utf8') + readFileSync(join(root, 'scripts/stack/object-stores.sh'), 'utf8');

interface Service {
  image: string;
  profiles?: string[];
  command?: string | string[];
  ports?: Array<string | { target: number; published: string | number; host_ip?: string }>;
  environment?: Record<string, string> | string[];
  volumes?: string[];
  healthcheck?: { test: string | string[] };
}

interface PortMapping {
  hostIp?: string;
  host: number;
  container: number;
}

function ports(service: Service): PortMapping[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p !== 'string') return { hostIp: p.host_ip, host: Number(p.published), container: p.target };
    const parts = p.split(':');
    const container = Number(parts.pop());
    const host = Number(parts.pop());
    return { hostIp: parts.pop(), host, container };
  });
}

function env(service: Service): Record<string, string> {
  const e = service.environment ?? {};
  if (!Array.isArray(e)) return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, String(v)]));
  return Object.fromEntries(e.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

function args(service: Service): string[] {
  const c = service.command ?? [];
  return (Array.isArray(c) ? c.map(String) : c.split(/\s+/)).flatMap((a) =>
    // "--flag=value" and "--flag value" are the same to the CLI.
    a.startsWith('--') && a.includes('=') && !a.startsWith('--search-attribute=') ? a.split(/=(.*)/s, 2) : [a],
  );
}

function flagValues(argv: string[], flag: string): string[] {
  const out: string[] = [];
  argv.forEach((a, i) => {
    if (a === flag && argv[i + 1] !== undefined) out.push(argv[i + 1]!);
    else if (a.startsWith(`${flag}=`)) out.push(a.slice(flag.length + 1));
  });
  return out;
}

function shellVar(name: string): string {
  const m = new RegExp(`^${name}=([^\\s#]+)`, 'm').exec(stackSh);
  if (!m) throw new Error(`${name} not found in scripts/stack.sh`);
  // `PORT=${STACK_PORT:-7233}`: an overridable default; compose must match the default.
  return /^\$\{[A-Z_]+:-([^}]*)\}$/.exec(m[1]!)?.[1] ?? m[1]!;
}

function stackSearchAttributes(): string[] {
  const m = /^TEMPORAL_SEARCH_ATTRIBUTES=\(([^)]*)\)/m.exec(stackSh);
  if (!m) throw new Error('TEMPORAL_SEARCH_ATTRIBUTES not found in scripts/stack.sh');
  return m[1]!.trim().split(/\s+/);
}

describe('docker-compose.yml', () => {
  const { kafka, temporal } = compose.services;

  it('has the kafka and temporal services, and the object stores and Prometheus behind profiles', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['azurite', 'kafka', 'prometheus', 'temporal', 'versitygw']);
    expect(compose.services.prometheus!.profiles).toEqual(['metrics']);
    expect(kafka!.profiles).toBeUndefined();
    expect(temporal!.profiles).toBeUndefined();
    expect(compose.services.azurite!.profiles).toEqual(['object-stores']);
    expect(compose.services.versitygw!.profiles).toEqual(['object-stores']);
  });

  it('runs the same Azurite and versitygw versions as the local stack, with credentials only from the environment', () => {
    const { azurite, versitygw } = compose.services;
    expect(azurite!.image).toBe(`mcr.microsoft.com/azure-storage/azurite:${shellVar('AZURITE_VERSION')}`);
    expect(versitygw!.image).toBe(`versity/versitygw:${shellVar('VERSITYGW_VERSION')}`);
    expect(env(azurite!).AZURITE_ACCOUNTS).toMatch(/^devstoreaccount1:\$\{AZURITE_ACCOUNT_KEY:\?/);
    expect(env(versitygw!).ROOT_ACCESS_KEY).toMatch(/^\$\{VERSITYGW_ACCESS_KEY:\?/);
    expect(env(versitygw!).ROOT_SECRET_KEY).toMatch(/^\$\{VERSITYGW_SECRET_KEY:\?/);
    expect(ports(azurite!)).toEqual([{ hostIp: '127.0.0.1', host: 10000, container: 10000 }]);
    expect(ports(versitygw!)).toEqual([{ hostIp: '127.0.0.1', host: 7070, container: 7070 }]);
    // The package.json pin and the stack's pin are the same Azurite.
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    expect(pkg.devDependencies.azurite).toBe(shellVar('AZURITE_VERSION'));
  });

  it('uses the same Kafka and Temporal CLI versions as the local stack', () => {
    expect(kafka!.image).toBe(`apache/kafka:${shellVar('KAFKA_VERSION')}`);
    expect(temporal!.image).toBe(`temporalio/temporal:${shellVar('TEMPORAL_BIN_VERSION')}`);
  });

  it('publishes Kafka PLAINTEXT on 127.0.0.1:9092 and nothing else', () => {
    expect(ports(kafka!)).toEqual([{ hostIp: '127.0.0.1', host: 9092, container: 9092 }]);
    expect(shellVar('KAFKA_PLAINTEXT_PORT')).toBe('9092');
  });

  it('publishes Temporal gRPC 7233 and UI 8233 on 127.0.0.1', () => {
    expect(ports(temporal!)).toEqual([
      { hostIp: '127.0.0.1', host: 7233, container: 7233 },
      { hostIp: '127.0.0.1', host: 8233, container: 8233 },
    ]);
    expect(shellVar('TEMPORAL_PORT')).toBe('7233');
    expect(shellVar('TEMPORAL_UI_PORT')).toBe('8233');
  });

  it('configures a single-node KRaft Kafka like the local stack', () => {
    const e = env(kafka!);
    expect(e.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(e.CLUSTER_ID).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(e.KAFKA_LISTENERS).toContain('PLAINTEXT://0.0.0.0:9092');
    expect(e.KAFKA_ADVERTISED_LISTENERS).toBe('PLAINTEXT://127.0.0.1:9092');
    expect(e.KAFKA_CONTROLLER_LISTENER_NAMES).toBe('CONTROLLER');
    expect(e.KAFKA_CONTROLLER_QUORUM_VOTERS).toMatch(new RegExp(`^${e.KAFKA_NODE_ID}@`));
    expect(e.KAFKA_INTER_BROKER_LISTENER_NAME).toBe('PLAINTEXT');
    for (const k of [
      'KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR',
      'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR',
      'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR',
    ]) {
      expect([k, e[k]]).toEqual([k, '1']);
    }
    expect(e.KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS).toBe('0');
    expect(e.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe('false');
    expect(kafka!.volumes?.some((v) => v.endsWith(`:${e.KAFKA_LOG_DIRS}`))).toBe(true);
  });

  it('runs the Temporal dev server on all interfaces with a persistent SQLite file', () => {
    const argv = args(temporal!);
    expect(argv.slice(0, 2)).toEqual(['server', 'start-dev']);
    expect(flagValues(argv, '--ip')).toEqual(['0.0.0.0']);
    expect(flagValues(argv, '--port')).toEqual(['7233']);
    expect(flagValues(argv, '--ui-port')).toEqual(['8233']);
    expect(argv).not.toContain('--headless');
    const [db] = flagValues(argv, '--db-filename');
    expect(db).toBeDefined();
    const mounts = (temporal!.volumes ?? []).map((v) => v.split(':')[1]!);
    expect(mounts.some((m) => db!.startsWith(`${m}/`))).toBe(true);
  });

  it('registers the same search attributes as scripts/stack.sh, all the contract names', () => {
    const composeSA = flagValues(args(temporal!), '--search-attribute');
    const stackSA = stackSearchAttributes();
    expect(composeSA).toEqual(stackSA);
    expect(composeSA.map((sa) => sa.split('=')[0]).sort()).toEqual(
      ['DeadLetters', 'PipelineStage', 'RecordsIn', 'RecordsOut', 'TableVersion'].sort(),
    );
    expect(composeSA).toContain('PipelineStage=Keyword');
  });

  it('stays within the dev server SQLite limits (3 per type, 10 Keyword)', () => {
    const counts = new Map<string, number>();
    for (const sa of stackSearchAttributes()) {
      const type = sa.split('=')[1]!;
      counts.set(type, (counts.get(type) ?? 0) + 1);
    }
    for (const [type, n] of counts) expect([type, n <= (type === 'Keyword' ? 10 : 3)]).toEqual([type, true]);
  });

  it('Prometheus scrapes the worker endpoint the README documents, from a config file in the repo', () => {
    const prometheus = compose.services.prometheus!;
    const mounts = (prometheus.volumes ?? []).map((v) => v.split(':'));
    const config = mounts.find(([, target]) => target === '/etc/prometheus/prometheus.yml')!;
    const scrape = parse(readFileSync(join(root, config[0]!), 'utf8')) as { scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[] };
    expect(scrape.scrape_configs[0]!.metrics_path).toBe('/metrics');
    expect(scrape.scrape_configs[0]!.static_configs[0]!.targets).toEqual(['127.0.0.1:9464']);
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain('METRICS_PORT=9464');
    for (const [volume] of mounts) if (!volume!.startsWith('.')) expect(Object.keys(compose.volumes ?? {})).toContain(volume);
  });

  it('has health checks and declares its named volumes', () => {
    expect(JSON.stringify(kafka!.healthcheck?.test)).toContain('9092');
    expect(temporal!.healthcheck?.test).toEqual(['CMD', 'temporal', 'operator', 'cluster', 'health', '--address', '127.0.0.1:7233']);
    const named = [...(kafka!.volumes ?? []), ...(temporal!.volumes ?? [])].map((v) => v.split(':')[0]!);
    for (const v of named) expect(Object.keys(compose.volumes ?? {})).toContain(v);
  });
});
