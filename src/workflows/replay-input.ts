/**
 * replayDeadLettersWorkflow input and result (deterministic; see src/lake/replay.ts).
 */
import { z } from 'zod';
import type { ReplaySummary } from '../lake/replay';
import { memoryLimit } from './bronze-input';
import { pipelineField } from './inputs';

const iso = z.string().datetime({ offset: true });

export const ReplayDeadLettersInput = z
  .object({
    pipeline: pipelineField,
    /**
     * Idempotency key of the replay (default: the workflow id). A replay id that was already used is
     * a no-op, whatever the selection.
     */
    replayId: z
      .string()
      .regex(/^[A-Za-z0-9._:@-]{1,200}$/, 'letters, digits and . _ : @ - only, at most 200')
      .optional(),
    /** Dead letters with batch_id in [batchIdFrom, batchIdTo] (batch_id = raw version of the batch). */
    batchIdFrom: z.number().int().min(0).optional(),
    batchIdTo: z.number().int().min(0).optional(),
    /** Dead letters with failed_at in [failedAtFrom, failedAtTo). */
    failedAtFrom: iso.optional(),
    failedAtTo: iso.optional(),
    /** Only these error reasons (e.g. the one a rule fix addressed). */
    errors: z.array(z.string().min(1).max(200)).min(1).optional(),
    duckdbMemoryLimit: memoryLimit.optional(),
  })
  .strict()
  .refine((i) => i.batchIdFrom === undefined || i.batchIdTo === undefined || i.batchIdFrom <= i.batchIdTo, {
    message: 'batchIdFrom must be <= batchIdTo',
    path: ['batchIdFrom'],
  })
  .refine((i) => i.failedAtFrom === undefined || i.failedAtTo === undefined || Date.parse(i.failedAtFrom) < Date.parse(i.failedAtTo), {
    message: 'failedAtFrom must be before failedAtTo',
    path: ['failedAtFrom'],
  });
export type ReplayDeadLettersInput = z.infer<typeof ReplayDeadLettersInput>;

/** The lake's replay summary, labelled with its stage (type-only import: nothing of the lake runs here). */
export interface ReplayDeadLettersResult extends ReplaySummary {
  stage: 'bronze-replay';
}
