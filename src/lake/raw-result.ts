/**
 * Stage 1's result: what a raw run (one activity, or the fan-out workflow's sum of groups) reports. The
 * workflow returns it, so the next scheduled run gets it back as `lastResult`: offsets and counts, never rows.
 */
import type { CheckpointDisagreement, LostRange, TopicOffsets } from '../kafka/offsets';

/** One Kafka partition of a topic (what stage 1's fan-out splits into groups). */
export interface PartitionRef {
  topic: string;
  partition: number;
}

export interface RawResult {
  stage: 'raw';
  mode: 'scheduled' | 'backfill';
  /** Next offset per topic-partition after this run: the next run starts here. */
  checkpoint: TopicOffsets;
  recordsIn: number;
  /** Delta commits this run made (0 when there was nothing new). */
  commits: number;
  /** Raw table version after the run. */
  tableVersion: number;
  /** Records Kafka deleted before they were read (failOnDataLoss=false). */
  lost: LostRange[];
  /** Where the workflow's checkpoint and the table's differed; the table's was used. */
  checkpointDisagreements: CheckpointDisagreement[];
  /** Backfill only: records read that raw already held, so not written again. */
  alreadyPresent?: number;
  /** Fan-out (parallelism > 1): the partition groups, one activity each. */
  groups?: number;
}
