/**
 * The processes the chaos driver starts, kills and restarts: the worker (src/worker.ts in its own
 * Node process) and, for the broker and Temporal variants, a private Kafka broker and a private
 * Temporal dev server — on free ports and data dirs of their own, from the binaries the local
 * stack installed, so the shared stack other people use is never touched. Every process runs
 * niced in its own process group; the driver kills only the groups it started, by pid.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';

const live = new Set<ManagedProcess>();
// If the driver itself dies (Ctrl-C, a test timeout), it takes its children with it.
process.once('exit', () => {
  for (const p of live) p.killNow();
});

/** A child process in its own process group, output appended to a log file, killed by group. */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private expectExit = false;
  private exited: Promise<void> = Promise.resolve();
  /** Last lines of output, for reports. */
  readonly tail: string[] = [];
  /** Exits nobody asked for (code or signal), e.g. a crash. */
  readonly unexpectedExits: string[] = [];
  private waiters: { re: RegExp; resolve: () => void }[] = [];

  constructor(
    readonly name: string,
    private readonly command: string[],
    private readonly opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string },
  ) {}

  get logFile(): string {
    return this.opts.logFile;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  start(): void {
    if (this.pid !== undefined) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    const log = fs.openSync(this.opts.logFile, 'a');
    // nice execs the command, so the pid (and group) is the command's own.
    const child = spawn('nice', ['-n', '10', ...this.command], { cwd: this.opts.cwd, env: this.opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.expectExit = false;
    live.add(this);
    const onData = (b: Buffer) => {
      fs.writeSync(log, b);
      for (const line of b.toString('utf8').split('\n').filter(Boolean)) {
        this.tail.push(line);
        if (this.tail.length > 30) this.tail.shift();
        this.waiters = this.waiters.filter((w) => !(w.re.test(line) && (w.resolve(), true)));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        fs.closeSync(log);
        live.delete(this);
        if (!this.expectExit) this.unexpectedExits.push(signal ?? `exit code ${code}`);
        this.onExit?.(this.expectExit);
        resolve();
      });
    });
  }

  /** Called on every exit (expected = the driver killed or stopped it). */
  onExit?: (expected: boolean) => void;

  /** Resolves when a line of output matches; rejects when the process exits first or on timeout. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs / 1000}s; last output:\n${this.tail.join('\n')}`)), timeoutMs);
      const w = { re, resolve: () => (clearTimeout(timer), resolve()) };
      this.waiters.push(w);
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited during start-up; last output:\n${this.tail.join('\n')}`));
      });
    });
  }

  /** kill -9 of the whole group; resolves once it is gone. */
  async kill9(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    this.expectExit = true;
    signalGroup(pid, 'SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stop(graceMs = 10_000): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    this.expectExit = true;
    signalGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  killNow(): void {
    if (this.pid !== undefined) signalGroup(this.pid, 'SIGKILL');
  }

  /** Resolves when the process has exited (at once if it is not running). */
  whenExited(): Promise<void> {
    return this.exited;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** A TCP port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function until(what: string, timeoutMs: number, proc: ManagedProcess, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.pid === undefined) throw new Error(`${proc.name} exited while waiting for ${what}; last output:\n${proc.tail.join('\n')}`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 500)); // polling a service that is starting up
  }
  throw new Error(`${what} not ready within ${timeoutMs / 1000}s; last output:\n${proc.tail.join('\n')}`);
}

export interface StackPaths {
  kafkaLib: string;
  temporalCli: string;
  log4j: string;
}

/** A single-node KRaft broker, PLAINTEXT only, on free ports, data under dir. */
export class PrivateKafka {
  readonly proc: ManagedProcess;
  private constructor(
    readonly brokers: string[],
    paths: StackPaths,
    conf: string,
    logFile: string,
  ) {
    // -XX:-UsePerfData: no /tmp/hsperfdata_<user>/<pid> file, which a kill -9 would leave behind.
    this.proc = new ManagedProcess('private kafka', ['java', '-Xmx384m', '-Xms128m', '-XX:+UseG1GC', '-XX:TieredStopAtLevel=1', '-XX:-UsePerfData', '-Djava.awt.headless=true', `-Dlog4j.configuration=file:${paths.log4j}`, '-cp', path.join(paths.kafkaLib, '*'), 'kafka.Kafka', conf], { logFile });
  }

  static async create(dir: string, paths: StackPaths): Promise<PrivateKafka> {
    fs.mkdirSync(dir, { recursive: true });
    const [port, controller] = [await freePort(), await freePort()];
    const conf = path.join(dir, 'server.properties');
    fs.writeFileSync(
      conf,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controller}`,
        'controller.listener.names=CONTROLLER',
        `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        'inter.broker.listener.name=PLAINTEXT',
        `log.dirs=${path.join(dir, 'data')}`,
        'num.partitions=1',
        'offsets.topic.replication.factor=1',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=false',
      ].join('\n') + '\n',
    );
    const clusterId = randomBytes(16).toString('base64url');
    await run('java', ['-XX:-UsePerfData', '-cp', path.join(paths.kafkaLib, '*'), `-Dlog4j.configuration=file:${paths.log4j}`, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', conf]);
    return new PrivateKafka([`127.0.0.1:${port}`], paths, conf, path.join(dir, 'server.log'));
  }

  async start(timeoutMs = 180_000): Promise<void> {
    this.proc.start();
    const kafka = new Kafka({ clientId: 'tributary-chaos-health', brokers: this.brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    await until('private kafka', timeoutMs, this.proc, async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        return (await admin.describeCluster()).brokers.length > 0;
      } finally {
        await admin.disconnect();
      }
    });
  }
}

/** A Temporal dev server with the stack's search attributes, on a free port, its SQLite file under dir. */
export class PrivateTemporal {
  readonly proc: ManagedProcess;
  private constructor(
    readonly address: string,
    private readonly paths: StackPaths,
    dir: string,
    port: number,
  ) {
    const attrs = ['PipelineStage=Keyword', 'RecordsIn=Int', 'RecordsOut=Int', 'DeadLetters=Int', 'TableVersion=Double'].flatMap((a) => ['--search-attribute', a]);
    this.proc = new ManagedProcess(
      'private temporal',
      [paths.temporalCli, 'server', 'start-dev', '--db-filename', path.join(dir, 'temporal.db'), '--ip', '127.0.0.1', '--port', String(port), '--headless', '--log-level', 'warn', ...attrs],
      { logFile: path.join(dir, 'server.log') },
    );
  }

  static async create(dir: string, paths: StackPaths): Promise<PrivateTemporal> {
    fs.mkdirSync(dir, { recursive: true });
    const port = await freePort();
    return new PrivateTemporal(`127.0.0.1:${port}`, paths, dir, port);
  }

  async start(timeoutMs = 120_000): Promise<void> {
    this.proc.start();
    await until('private temporal', timeoutMs, this.proc, async () => (await run(this.paths.temporalCli, ['operator', 'cluster', 'health', '--address', this.address])).includes('SERVING'));
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}
