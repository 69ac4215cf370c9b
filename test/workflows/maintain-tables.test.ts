/**
 * maintainTablesWorkflow's decisions with mocked activities (no DuckDB, no tables) on the stack's
 * Temporal server: one activity per table in order, a failing table doesn't stop the others and
 * fails the run at the end with every result attached, input validated before anything runs;
 * another pipeline's name reaches every activity call.
 */
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { MaintainTableActivityInput } from '../../src/activities/maintain-tables';
import type { MaintainTableResult } from '../../src/lake/maintenance';
import { maintainTablesWorkflow } from '../../src/workflows';
import { MAINTAINED_TABLE_NAMES, TABLE_ROLES } from '../../src/workflows/maintain-tables-input';
import { closeConnections, testConfig, testWorker, tempLakeRoot, uniqueName } from '../helpers/pipeline';
import { NativeConnection } from '@temporalio/worker';

afterAll(closeConnections);

const result = (table: string): MaintainTableResult => ({ table, dryRun: false, version: 3, propertiesSet: [], compaction: null, checkpoint: null, vacuum: null, logCleanup: null });

describe('maintainTablesWorkflow (mocked activities)', () => {
  it('runs every table in order; a failing table is reported and fails the run after the others ran', async () => {
    // testWorker only for its client and config; this test runs its own worker with mocks.
    const t = await testWorker(testConfig(tempLakeRoot()));
    const taskQueue = uniqueName('maint-wf');
    const calls: MaintainTableActivityInput[] = [];
    const connection = await NativeConnection.connect({ address: t.config.temporal.address });
    try {
      const worker = await Worker.create({
        connection,
        namespace: t.config.temporal.namespace,
        taskQueue,
        workflowsPath: require.resolve('../../src/workflows'),
        activities: {
          async maintainTable(input: MaintainTableActivityInput): Promise<MaintainTableResult> {
            calls.push(input);
            if (input.table === 'bronze/sensor_readings') throw ApplicationFailure.nonRetryable('disk on fire', 'VacuumRetentionError');
            return result(input.table);
          },
        },
      });
      await worker.runUntil(async () => {
        const run = (input: unknown) => t.client.workflow.execute(maintainTablesWorkflow, { taskQueue, workflowId: uniqueName('maint'), args: [input] });
        const err = await run({ vacuumRetentionHours: 1.5, force: true }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowFailedError);
        const failure = (err as WorkflowFailedError).cause as ApplicationFailure;
        expect(failure.type).toBe('TableMaintenanceFailed');
        expect(failure.message).toBe('maintenance failed on bronze/sensor_readings: disk on fire');
        expect(calls.map((c) => c.table)).toEqual([...MAINTAINED_TABLE_NAMES]);
        expect(calls[0]).toEqual({ table: 'raw/sensor_readings', operations: ['compact', 'checkpoint', 'vacuum', 'cleanupLog'], dryRun: false, force: true, vacuumRetentionMs: 5_400_000 });
        const details = failure.details?.[0] as { tables: MaintainTableResult[]; failed: unknown[] };
        expect(details.tables.map((r) => r.table)).toEqual(MAINTAINED_TABLE_NAMES.filter((n) => n !== 'bronze/sensor_readings'));

        // One table, dry run: one call. A bad input: no call, non-retryable at once.
        calls.length = 0;
        const ok = await run({ tables: ['gold/sensor_readings'], operations: ['vacuum'], dryRun: true });
        expect(ok).toMatchObject({ stage: 'maintenance', dryRun: true, operations: ['vacuum'], failed: [] });
        expect(calls).toEqual([{ table: 'gold/sensor_readings', operations: ['vacuum'], dryRun: true, force: false }]);
        calls.length = 0;
        const bad = await run({ tables: ['silver/x'] }).catch((e: unknown) => e);
        expect(((bad as WorkflowFailedError).cause as ApplicationFailure).type).toBe('InvalidInputError');
        expect(calls).toEqual([]);

        // Another pipeline: its name goes to every call (the sensor pipeline's calls above carry none); default every role.
        calls.length = 0;
        const orders = await run({ pipeline: 'orders', operations: ['compact'] });
        expect(orders.failed).toEqual([]);
        expect(calls.map((c) => [c.pipeline, c.table])).toEqual(TABLE_ROLES.map((r) => ['orders', r]));
        calls.length = 0;
        await run({ pipeline: 'orders', tables: ['gold/orders'] });
        expect(calls.map((c) => [c.pipeline, c.table])).toEqual([['orders', 'gold/orders']]);
      });
    } finally {
      await connection.close();
    }
  }, 120_000);
});
