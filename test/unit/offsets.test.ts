import { aheadOfLogEnd, DataLossError, planRead, StartingOffsetsError, type PartitionWatermarks } from '../../src/kafka/offsets';

const wm = (partition: number, low: number, high: number, topic = 't'): PartitionWatermarks => ({ topic, partition, low, high });

describe('planRead', () => {
  const base = { topics: ['t'], tableCheckpoint: {}, failOnDataLoss: false };

  it('first run honours startingOffsets latest, earliest and an explicit Spark-style map', () => {
    const watermarks = [wm(0, 5, 10), wm(1, 0, 3)];
    expect(planRead({ ...base, watermarks, startingOffsets: 'latest' }).ranges.map((r) => [r.from, r.to])).toEqual([[10, 10], [3, 3]]);
    expect(planRead({ ...base, watermarks, startingOffsets: 'earliest' }).ranges.map((r) => [r.from, r.to])).toEqual([[5, 10], [0, 3]]);
    const explicit = planRead({ ...base, watermarks, startingOffsets: { t: { '0': 7, '1': -2 } } });
    expect(explicit.ranges.map((r) => [r.from, r.to])).toEqual([[7, 10], [0, 3]]);
    expect(planRead({ ...base, watermarks, startingOffsets: { t: { '0': -1, '1': 1 } } }).ranges.map((r) => r.from)).toEqual([10, 1]);
  });

  it('refuses an explicit map that leaves a partition out', () => {
    expect(() => planRead({ ...base, watermarks: [wm(0, 0, 1), wm(1, 0, 1)], startingOffsets: { t: { '0': 0 } } })).toThrow(StartingOffsetsError);
  });

  it('the table checkpoint wins over the workflow one and the disagreement is reported', () => {
    const plan = planRead({
      ...base,
      watermarks: [wm(0, 0, 100), wm(1, 0, 100)],
      tableCheckpoint: { t: { '0': 40 } },
      workflowCheckpoint: { t: { '0': 30, '1': 20 } },
      startingOffsets: 'latest',
    });
    expect(plan.ranges.map((r) => [r.from, r.origin])).toEqual([[40, 'table'], [20, 'workflow']]);
    expect(plan.disagreements).toEqual([{ topic: 't', partition: 0, workflow: 30, table: 40 }]);
  });

  it('a partition added after the first run is read from its first offset, not from latest', () => {
    const plan = planRead({ ...base, watermarks: [wm(0, 0, 50), wm(1, 2, 9)], tableCheckpoint: { t: { '0': 50 } }, startingOffsets: 'latest' });
    expect(plan.ranges[1]).toMatchObject({ partition: 1, from: 2, to: 9, origin: 'new partition' });
  });

  it('failOnDataLoss=false continues from the earliest offset and reports the lost range', () => {
    const plan = planRead({ ...base, watermarks: [wm(0, 60, 80)], tableCheckpoint: { t: { '0': 50 } }, startingOffsets: 'latest' });
    expect(plan.ranges[0]).toMatchObject({ from: 60, to: 80, origin: 'data loss reset' });
    expect(plan.lost).toEqual([expect.objectContaining({ topic: 't', partition: 0, from: 50, to: 60 })]);
  });

  it('failOnDataLoss=true fails naming topic, partition and range', () => {
    const run = () =>
      planRead({ ...base, failOnDataLoss: true, watermarks: [wm(0, 60, 80)], tableCheckpoint: { t: { '0': 50 } }, startingOffsets: 'latest' });
    expect(run).toThrow(DataLossError);
    expect(run).toThrow(/t\[0\] offsets 50\.\.59/);
  });

  it('a vanished partition and a checkpoint past the log end count as data loss', () => {
    const plan = planRead({ ...base, watermarks: [wm(0, 0, 5)], tableCheckpoint: { t: { '0': 9, '1': 4 } }, startingOffsets: 'latest' });
    // A reset never goes back to the log start: raw holds offsets 0..8 already (issue 16 finding 4).
    expect(plan.ranges[0]).toMatchObject({ from: 9, to: 9, origin: 'data loss reset' });
    expect(plan.lost.map((l) => [l.partition, l.from, l.to, l.kind])).toEqual([[0, 0, 9, 'reset'], [1, 4, null, 'gone']]);
    expect(() => planRead({ ...base, failOnDataLoss: true, watermarks: [wm(0, 0, 5)], tableCheckpoint: { t: { '0': 9 } }, startingOffsets: 'latest' })).toThrow(
      /t\[0\] offsets 0\.\.8 cannot be landed: the log end 5 is below the checkpoint 9/,
    );
    // Once the new log passes the checkpoint, reading resumes there.
    expect(planRead({ ...base, watermarks: [wm(0, 0, 12)], tableCheckpoint: { t: { '0': 9 } }, startingOffsets: 'latest' }).ranges[0]).toMatchObject({ from: 9, to: 12, origin: 'table' });
  });

  it('a partition whose log is another one although it passed the checkpoint is the same reset (issue 16: topic recreated past the checkpoint)', () => {
    const input = { ...base, watermarks: [wm(0, 0, 150), wm(1, 0, 80)], tableCheckpoint: { t: { '0': 100, '1': 50 } }, startingOffsets: 'latest' as const };
    const plan = planRead({ ...input, relogged: [{ topic: 't', partition: 0, offset: 99 }] });
    // Raw holds 0..99 from the old log: never re-landed; the new log's 0..99 reported; reading goes on at 100.
    expect(plan.ranges.map((r) => [r.partition, r.from, r.to, r.origin])).toEqual([[0, 100, 150, 'data loss reset'], [1, 50, 80, 'table']]);
    expect(plan.lost).toEqual([expect.objectContaining({ topic: 't', partition: 0, from: 0, to: 100, kind: 'reset' })]);
    expect(() => planRead({ ...input, failOnDataLoss: true, relogged: [{ topic: 't', partition: 0, offset: 99 }] })).toThrow(
      /t\[0\] offsets 0\.\.99 cannot be landed: the record at offset 99 is not the one raw landed from there \(topic deleted and recreated\).*run once with failOnDataLoss=false/,
    );
  });

  it('aheadOfLogEnd lists partitions whose checkpoint is past a captured log end', () => {
    expect(aheadOfLogEnd([wm(0, 0, 5), wm(1, 0, 5)], { t: { '0': 5, '1': 6 } }).map((w) => w.partition)).toEqual([1]);
  });
});
