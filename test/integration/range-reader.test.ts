/**
 * The range reader's stall watchdog (issue 16 finding 7): a commit slower than the idle timeout is
 * progress, not a stall. And its prepare step (issue 14): a batch is prepared while the previous
 * one is flushed, flushes stay in order, and none runs after a failed prepare.
 */
import { connectKafka } from '../../src/kafka/connection';
import { readRanges } from '../../src/kafka/range-reader';
import { createTopic, plaintextKafka, produce, uniqueName } from '../helpers/pipeline';

describe('readRanges stall watchdog', () => {
  it('a commit that takes several idle timeouts does not fail the read', async () => {
    const topic = uniqueName('reader-slow-commit');
    await createTopic(topic, 1);
    await produce(topic, Array.from({ length: 50 }, (_, i) => ({ value: `m${i}` })));
    const kafka = connectKafka(plaintextKafka());
    const landed: number[] = [];
    let flushes = 0;
    await readRanges(kafka, [{ topic, partition: 0, from: 0, to: 50, origin: 'table' }], {
      maxRecordsPerFlush: 10,
      maxBytesPerFlush: 1 << 20,
      idleTimeoutMs: 1000,
      flush: async (records) => {
        flushes += 1;
        // The first commit is slow (a big Parquet file, a slow disk): 4 idle timeouts, while the
        // reader has the next batch buffered and must wait for it.
        if (flushes === 1) await new Promise((resolve) => setTimeout(resolve, 4000));
        for (const seg of records.segments) landed.push(...seg.offsets);
      },
    });
    expect(landed).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

describe('readRanges prepare', () => {
  const read = async (name: string, prepare: (offsets: number[]) => Promise<string>, flush: (offsets: number[], prepared: string | undefined) => Promise<void>) => {
    const topic = uniqueName(name);
    await createTopic(topic, 1);
    await produce(topic, Array.from({ length: 50 }, (_, i) => ({ value: `m${i}` })));
    const offsetsOf = (records: { segments: { offsets: number[] }[] }) => records.segments.flatMap((s) => s.offsets);
    await readRanges(connectKafka(plaintextKafka()), [{ topic, partition: 0, from: 0, to: 50, origin: 'table' }], {
      maxRecordsPerFlush: 10,
      maxBytesPerFlush: 1 << 20,
      idleTimeoutMs: 30_000,
      prepare: (records) => prepare(offsetsOf(records)),
      flush: (records, _positions, prepared) => flush(offsetsOf(records), prepared),
    });
  };

  it('prepares the next batch while a flush runs, and flushes each batch with its own preparation, in order', async () => {
    const events: string[] = [];
    let secondPrepared!: () => void;
    const secondPrepare = new Promise<void>((resolve) => (secondPrepared = resolve));
    await read(
      'reader-prepare',
      async (offsets) => {
        events.push(`prepare ${offsets[0]}`);
        if (offsets[0] === 10) secondPrepared();
        return `file of ${offsets[0]}..${offsets[offsets.length - 1]}`;
      },
      async (offsets, prepared) => {
        // The first flush finishes only once the second batch is being prepared: without the overlap this never ends.
        if (offsets[0] === 0) await secondPrepare;
        events.push(`flush ${offsets[0]} with ${prepared}`);
      },
    );
    const flushes = events.filter((e) => e.startsWith('flush'));
    expect(flushes).toEqual([0, 10, 20, 30, 40].map((o) => `flush ${o} with file of ${o}..${o + 9}`));
    expect(events.indexOf('prepare 10')).toBeLessThan(events.indexOf('flush 0 with file of 0..9'));
  });

  it('a failed prepare fails the read, and no later batch is flushed', async () => {
    const flushed: number[] = [];
    await expect(
      read(
        'reader-prepare-fails',
        async (offsets) => {
          if (offsets[0] === 20) throw new Error('prepare of 20 failed');
          return 'ok';
        },
        async (offsets) => {
          flushed.push(offsets[0]);
        },
      ),
    ).rejects.toThrow('prepare of 20 failed');
    expect(flushed).toEqual([0, 10]);
  });
});
