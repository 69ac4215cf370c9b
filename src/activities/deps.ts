import type { WorkerConfig } from '../config';
import type { PipelineFile } from '../pipelines/definition';

/**
 * Points where tests make an activity die, to prove that retries neither lose nor duplicate
 * data. Production workers pass none.
 */
export interface FaultHooks {
  beforeCommit?(stage: string, commitNumber: number): void;
  afterCommit?(stage: string, commitNumber: number): void;
  /** Stage 1, between capturing Kafka's log ends and reading the table checkpoint (a race window). */
  afterWatermarks?(stage: 'raw'): Promise<void>;
}

/** What activities get from the worker process: config (secrets stay behind it), the pipelines and hooks. */
export interface ActivityDeps {
  config: WorkerConfig;
  /** The pipeline definition file the worker loaded at start (default: PIPELINES_FILE or the repo's pipelines.yaml). */
  pipelines?: PipelineFile;
  faults?: FaultHooks;
}
