/**
 * Workflow inputs and results. Inputs come from outside (schedules, `temporal workflow start
 * --input`, tctl), so each is validated with zod inside the workflow; a bad one fails the run at
 * once, non-retryable, with every problem listed. This module is deterministic (no I/O) so the
 * workflow bundle can import it; activities import only its types.
 */
import { z } from 'zod';
import type { PartitionRef } from '../lake/raw-result';
import { DEFAULT_PIPELINE, PipelineName } from '../pipelines/name';

/** Which pipeline of the definition file (pipelines.yaml) the run is for; default the sensor pipeline. */
export const pipelineField = PipelineName.default(DEFAULT_PIPELINE);

/** Kafka's legal topic names. */
const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'not a legal Kafka topic name');
const offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const topicOffsets = z.record(topicName, z.record(z.string().regex(/^\d+$/, 'partition must be a number'), offset));

/** Accepts the map itself or its JSON text (Spark users pass startingOffsets as a JSON string). */
const jsonOr = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((v) => {
    if (typeof v !== 'string' || !v.trim().startsWith('{')) return v;
    try {
      return JSON.parse(v);
    } catch {
      return v; // the schema then reports it
    }
  }, schema);

export const IngestRawInput = z
  .object({
    pipeline: pipelineField,
    /** Default: the pipeline's source (its topics, or the topics its pattern matches when the run starts). */
    topics: z.array(topicName).min(1).optional(),
    /**
     * First run only (no checkpoint anywhere): "latest" (the seed's), "earliest", or topic → partition → offset
     * (-2 earliest, -1 latest). Default: the pipeline's source.startingOffsets.
     */
    startingOffsets: z
      .union([
        z.enum(['latest', 'earliest']),
        jsonOr(z.record(topicName, z.record(z.string().regex(/^\d+$/), z.number().int().min(-2).max(Number.MAX_SAFE_INTEGER)))),
      ])
      .optional(),
    /** The seed's Spark option: true fails the run when records were deleted before being read. Default: the pipeline's. */
    failOnDataLoss: z.boolean().optional(),
    maxRecordsPerCommit: z.number().int().min(1).max(5_000_000).default(250_000),
    maxBytesPerCommit: z.number().int().min(1024).max(2 * 1024 ** 3).default(128 * 1024 ** 2),
    /** Overrides the checkpoint carried from the previous run (the table's still wins). */
    checkpoint: topicOffsets.optional(),
    /** Start stage 2 as soon as this run has landed new records (near-real-time mode). */
    nearRealTime: z.boolean().default(false),
    /**
     * Scale-out: split the topics' partitions into this many groups and read each group in its own activity
     * (on whichever workers poll the queue), each committing its own partitions' rows and offsets; a failed
     * group retries alone. 1 = one activity for all partitions. Scheduled runs only (a backfill is one activity).
     */
    parallelism: z.number().int().min(1).max(64).default(1),
    /**
     * Re-land records instead of reading new ones: explicit offset ranges per partition
     * (`{"topic":{"0":[from, toExclusive]}}`) or everything from a timestamp on. Records raw already
     * holds are skipped, nothing at or past the scheduled checkpoint is read (the scheduled run
     * owns those), and the checkpoint does not move.
     */
    backfill: z
      .union([
        z.object({ offsets: z.record(topicName, z.record(z.string().regex(/^\d+$/), z.tuple([offset, offset]))) }).strict(),
        z.object({ fromTimestamp: z.string().datetime({ offset: true }), toTimestamp: z.string().datetime({ offset: true }).optional() }).strict(),
      ])
      .optional(),
  })
  .strict();
export type IngestRawInput = z.infer<typeof IngestRawInput>;
export type RawBackfill = NonNullable<IngestRawInput['backfill']>;

/**
 * Stage 1's partition groups: `parallelism` groups, round-robin over the partitions sorted by topic and number
 * (so each group gets a share of every topic), empty groups dropped. Deterministic: the workflow calls it.
 */
export function partitionGroups(partitions: PartitionRef[], parallelism: number): PartitionRef[][] {
  const sorted = [...partitions].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  const groups: PartitionRef[][] = Array.from({ length: Math.max(1, parallelism) }, () => []);
  sorted.forEach((p, i) => groups[i % groups.length]!.push(p));
  return groups.filter((g) => g.length > 0);
}


/** Validates a workflow input; the message lists every problem. */
export function parseInput<T extends z.ZodTypeAny>(schema: T, input: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
  throw new InvalidInputError(`invalid ${what} input: ${problems}`);
}

export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}
