/**
 * Many pipelines on one worker (issue 13): every stage workflow takes `pipeline` (default sensor);
 * the worker's definition file says what each name is.
 */
import { deserializeWorkflow, ingestRawWorkflow, mergeGoldWorkflow, replayDeadLettersWorkflow } from '../../src/workflows';
import { closeConnections, execute, rootFailure, tempLakeRoot, testConfig, testWorker } from '../helpers/pipeline';

afterAll(closeConnections);

describe('pipelines on one worker', () => {
  it('a pipeline name the worker\'s file does not have fails the run at once, listing the names it has', async () => {
    const w = await testWorker(testConfig(tempLakeRoot()));
    await w.run(async () => {
      for (const wf of [ingestRawWorkflow, deserializeWorkflow, mergeGoldWorkflow, replayDeadLettersWorkflow] as ((i?: unknown) => Promise<unknown>)[]) {
        const f = rootFailure(await execute(w, wf, { pipeline: 'nope' }).catch((e: unknown) => e));
        expect(f.type).toBe('UnknownPipelineError');
        expect(f.nonRetryable).toBe(true);
        expect(f.message).toMatch(/no pipeline "nope" in .*pipelines\.yaml \(it has: sensor\)/);
      }
    });
  });
});
