/**
 * The range reader's stall watchdog (issue 16 finding 7): a commit slower than the idle timeout is
 * progress, not a stall.
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
