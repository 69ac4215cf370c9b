/**
 * The Spark baseline (`npm run bench -- --vs-spark`): the seed's three jobs (bench/spark-jobs.py),
 * pyspark 3.5.3 + delta-spark 3.3.2, local[2], on the same topic the stages just read, in a child
 * process after them (back to back, so both see the same box). scripts/spark-install.sh installs
 * the venv and jars once, cached under .stack/spark.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from './ceilings';

export interface SparkBaseline {
  /** JVM + session start and CREATE DATABASE, not part of any job. */
  startupSeconds: number;
  /** Each job from its first line to the end of its availableNow run. */
  seconds: { raw: number; bronze: number; gold: number };
  /** CPU time per job: the driver JVM (local mode: executors are its threads) + the Python driver. */
  cpuSeconds: { raw: number | null; bronze: number | null; gold: number | null };
  rows: { raw: number; bronze: number; deadLetter: number; gold: number };
  driverMemory: string;
  wallSeconds: number;
}

const REPO = path.resolve(__dirname, '..');

/** Installs (or finds, cached) pyspark, delta-spark and the jars; returns the python and jar list. */
export function ensureSpark(): { python: string; jars: string[] } {
  execFileSync('bash', [path.join(REPO, 'scripts', 'spark-install.sh')], { stdio: 'inherit' });
  const dir = path.join(path.resolve(process.env.STACK_DIR ?? path.join(REPO, '.stack')), 'spark');
  const jarDir = path.join(dir, 'jars');
  return { python: path.join(dir, 'venv', 'bin', 'python'), jars: fs.readdirSync(jarDir).filter((f) => f.endsWith('.jar')).map((f) => path.join(jarDir, f)) };
}

export async function sparkBaseline(spark: { python: string; jars: string[] }, brokers: string, topic: string, workDir: string): Promise<SparkBaseline> {
  const dir = path.join(workDir, `spark-${topic}`);
  fs.mkdirSync(dir, { recursive: true });
  try {
    const t0 = performance.now();
    const r = await run(spark.python, [path.join(__dirname, 'spark-jobs.py'), '--brokers', brokers, '--topic', topic, '--dir', dir, '--jars', spark.jars.join(',')]);
    const wallSeconds = (performance.now() - t0) / 1000;
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || !line.startsWith('{')) throw new Error(`Spark baseline failed (exit ${r.code}): ${(r.stdout + r.stderr).slice(-2000)}`);
    return { ...(JSON.parse(line) as Omit<SparkBaseline, 'wallSeconds'>), wallSeconds };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
