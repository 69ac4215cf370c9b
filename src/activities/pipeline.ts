/**
 * Which pipeline an activity runs: the workflow input names it, the worker's definition file
 * (loaded once at start) describes it. A name the file does not have, or a definition the stages
 * cannot run, fails the activity non-retryably — no retry can make it appear.
 */
import { ApplicationFailure } from '@temporalio/common';
import { connectKafka, PermanentKafkaError, type KafkaLogger } from '../kafka/connection';
import { topicsMatching } from '../kafka/watermarks';
import type { StagePipeline } from '../lake/pipeline';
import { loadPipelineFile, type PipelineFile } from '../pipelines/definition';
import { PipelineNotRunnableError, stagePipeline } from '../pipelines/stage-pipeline';
import { ensurePipelineTables, PipelineTablesRefusedError, type PipelineTableRole } from '../pipelines/ensure-tables';
import type { ActivityDeps } from './deps';

const resolved = new WeakMap<PipelineFile, Map<string, StagePipeline>>();

/** The worker's definition file: the one it was given, else PIPELINES_FILE or the repo's pipelines.yaml. */
export function pipelineFileOf(deps: ActivityDeps): PipelineFile {
  return (deps.pipelines ??= loadPipelineFile());
}

export function resolvePipeline(deps: ActivityDeps, name: string): StagePipeline {
  const file = pipelineFileOf(deps);
  let cache = resolved.get(file);
  if (!cache) resolved.set(file, (cache = new Map()));
  const hit = cache.get(name);
  if (hit) return hit;
  const def = file.pipelines.find((p) => p.name === name);
  if (!def) {
    throw ApplicationFailure.nonRetryable(
      `no pipeline ${JSON.stringify(name)} in ${file.file} (it has: ${file.pipelines.map((p) => p.name).join(', ')})`,
      'UnknownPipelineError',
    );
  }
  try {
    const p = stagePipeline(def);
    cache.set(name, p);
    return p;
  } catch (e) {
    if (e instanceof PipelineNotRunnableError) throw ApplicationFailure.nonRetryable(e.message, e.name);
    throw e;
  }
}

/** The pipeline's tables of a stage, created or evolved; a refused change fails the run non-retryably. */
export async function ensureStageTables(deps: ActivityDeps, p: StagePipeline, roles: readonly PipelineTableRole[]): Promise<void> {
  try {
    await ensurePipelineTables(deps.config.lakeRoot, p, { roles });
  } catch (e) {
    if (e instanceof PipelineTablesRefusedError) throw ApplicationFailure.nonRetryable(e.message, e.name);
    throw e;
  }
}

/** The topics a run reads: the input's, else the pipeline's list, else the topics its pattern matches now. */
export async function topicsOf(deps: ActivityDeps, p: StagePipeline, inputTopics: readonly string[] | undefined, log: KafkaLogger): Promise<string[]> {
  if (inputTopics) return [...inputTopics];
  if (p.source.topics) return [...p.source.topics];
  const found = await topicsMatching(connectKafka(deps.config.kafka, log), p.source.topicPattern!);
  if (found.length === 0) throw new PermanentKafkaError(`pipeline ${p.name}: no Kafka topic matches /${p.source.topicPattern}/`);
  return found;
}
