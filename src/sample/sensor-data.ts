/**
 * Reproducible sample sensor traffic (seeded): ~150-byte JSON readings, with chosen shares of
 * malformed records (of mixed kinds), duplicates (the same sensor_id + ts_ms sent again, as a
 * late correction with another value) and out-of-order timestamps. Each generated message says
 * what it is, so tests and benchmarks can compare the lake with the truth.
 */

export type MalformedKind =
  | 'invalid JSON'
  | 'not an object'
  | 'missing sensor_id'
  | 'wrong type for value'
  | 'missing unit'
  | 'wrong type for ts_ms'
  | 'value out of range'
  | 'null payload'
  | 'not UTF-8';

export const MALFORMED_KINDS: readonly MalformedKind[] = [
  'invalid JSON',
  'not an object',
  'missing sensor_id',
  'wrong type for value',
  'missing unit',
  'wrong type for ts_ms',
  'value out of range',
  'null payload',
  'not UTF-8',
];

export interface SampleOptions {
  count: number;
  seed?: number;
  /** Share (0..1) of malformed records. */
  malformed?: number;
  /** Share (0..1) of good records that repeat an earlier key with a new value. */
  duplicates?: number;
  /** Share (0..1) of good records whose ts_ms lies minutes in the past. */
  outOfOrder?: number;
  sensors?: number;
  /** ts_ms of the first reading. */
  startMs?: number;
}

export interface SampleMessage {
  key: string;
  value: Buffer | null;
  /** null for a good reading, else the reason stage 2 must give. */
  malformed: MalformedKind | null;
  duplicate: boolean;
}

/** mulberry32: small, fast, good enough for test data; same seed → same stream. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function* sampleMessages(opts: SampleOptions): Generator<SampleMessage> {
  const rnd = seededRandom(opts.seed ?? 42);
  const sensors = opts.sensors ?? 1000;
  const startMs = opts.startMs ?? Date.UTC(2026, 0, 1);
  const recent: { sensor: string; ts: number }[] = [];
  for (let i = 0; i < opts.count; i++) {
    const sensor = `sensor-${String(Math.floor(rnd() * sensors)).padStart(6, '0')}`;
    let ts = startMs + i * 10;
    const value = Math.round((rnd() * 120 - 20) * 1000) / 1000;
    const reading = (o: Record<string, unknown>) =>
      JSON.stringify({ ...o, site: `plant-${String(Math.floor(rnd() * 40)).padStart(2, '0')}`, firmware: '2.4.1', battery: Math.round(rnd() * 100) / 100 });

    if (rnd() < (opts.malformed ?? 0)) {
      const kind = MALFORMED_KINDS[Math.floor(rnd() * MALFORMED_KINDS.length)];
      yield { key: sensor, value: malformedPayload(kind, sensor, value, ts, reading), malformed: kind, duplicate: false };
      continue;
    }
    let duplicate = false;
    let id = sensor;
    if (recent.length > 0 && rnd() < (opts.duplicates ?? 0)) {
      const earlier = recent[Math.floor(rnd() * recent.length)];
      [id, ts, duplicate] = [earlier.sensor, earlier.ts, true];
    } else if (rnd() < (opts.outOfOrder ?? 0)) {
      ts -= Math.floor(rnd() * 300_000) + 1;
    }
    if (!duplicate) {
      recent.push({ sensor: id, ts });
      if (recent.length > 1000) recent.shift();
    }
    yield { key: id, value: Buffer.from(reading({ sensor_id: id, value, unit: 'celsius', ts_ms: ts })), malformed: null, duplicate };
  }
}

function malformedPayload(kind: MalformedKind, sensor: string, value: number, ts: number, reading: (o: Record<string, unknown>) => string): Buffer | null {
  switch (kind) {
    case 'invalid JSON':
      return Buffer.from(reading({ sensor_id: sensor, value, unit: 'celsius', ts_ms: ts }).slice(0, -7));
    case 'not an object':
      return Buffer.from(JSON.stringify([sensor, value, ts]));
    case 'missing sensor_id':
      return Buffer.from(reading({ value, unit: 'celsius', ts_ms: ts }));
    case 'wrong type for value':
      return Buffer.from(reading({ sensor_id: sensor, value: String(value), unit: 'celsius', ts_ms: ts }));
    case 'missing unit':
      return Buffer.from(reading({ sensor_id: sensor, value, ts_ms: ts }));
    case 'wrong type for ts_ms':
      return Buffer.from(reading({ sensor_id: sensor, value, unit: 'celsius', ts_ms: ts + 0.5 }));
    case 'value out of range':
      return Buffer.from(reading({ sensor_id: sensor, value: 10000.5, unit: 'celsius', ts_ms: ts }));
    case 'null payload':
      return null;
    case 'not UTF-8':
      return Buffer.concat([Buffer.from('{"sensor_id":"'), Buffer.from([0xc3, 0x28]), Buffer.from(`","value":1,"unit":"c","ts_ms":${ts}}`)]);
  }
}

export interface SampleTruth {
  total: number;
  good: number;
  malformed: Record<string, number>;
  duplicates: number;
}

export function emptyTruth(): SampleTruth {
  return { total: 0, good: 0, malformed: {}, duplicates: 0 };
}

/** Adds one message to the running truth. */
export function tally(truth: SampleTruth, m: SampleMessage): void {
  truth.total += 1;
  if (m.malformed) truth.malformed[m.malformed] = (truth.malformed[m.malformed] ?? 0) + 1;
  else truth.good += 1;
  if (m.duplicate) truth.duplicates += 1;
}
