/**
 * "No checkpoint" is spelled one way (issue 10 item 5): NO_CHECKPOINT (null) in results and
 * workflow inputs, while a previous run's result of an older version (-1, or left out) still reads
 * as none when a schedule's next run carries it over.
 */
import { carriedCheckpoint, checkpointOf, NO_CHECKPOINT, readsAfter } from '../../src/stages';

describe('stage checkpoints', () => {
  it('reads a carried checkpoint of any earlier shape', () => {
    expect(carriedCheckpoint(7)).toBe(7);
    expect(carriedCheckpoint(0)).toBe(0);
    expect(carriedCheckpoint(null)).toBe(NO_CHECKPOINT);
    expect(carriedCheckpoint(-1)).toBe(NO_CHECKPOINT); // bronze results before NO_CHECKPOINT
    expect(carriedCheckpoint(undefined)).toBe(NO_CHECKPOINT); // no previous run, or a field left out
    expect(carriedCheckpoint('3')).toBe(NO_CHECKPOINT);
    expect(carriedCheckpoint(1.5)).toBe(NO_CHECKPOINT);
  });

  it('converts between a checkpoint and the exclusive lower bound of the next read', () => {
    expect(readsAfter(NO_CHECKPOINT)).toBe(-1);
    expect(readsAfter(4)).toBe(4);
    expect(checkpointOf(-1)).toBe(NO_CHECKPOINT);
    expect(checkpointOf(4)).toBe(4);
  });
});
