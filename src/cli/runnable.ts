/**
 * Until the stage workflows take a `pipeline` input (issue 13, stage wiring), only the sensor
 * pipeline can run: schedules or tables for another pipeline would start runs the workflows refuse.
 */
import type { PipelineDefinition } from '../pipelines/definition';
import { SENSOR_PIPELINE } from '../schedules';

export function notRunnable(pipelines: readonly Pick<PipelineDefinition, 'name'>[]): string | undefined {
  const others = pipelines.filter((p) => p.name !== SENSOR_PIPELINE);
  if (!others.length) return undefined;
  return `pipelines ${others.map((p) => p.name).join(', ')}: the stages run the sensor pipeline only so far (workflow input \`pipeline\` is not wired yet)`;
}

export function assertRunnable(pipelines: readonly Pick<PipelineDefinition, 'name'>[]): void {
  const msg = notRunnable(pipelines);
  if (msg) throw new Error(`${msg}; nothing applied`);
}
