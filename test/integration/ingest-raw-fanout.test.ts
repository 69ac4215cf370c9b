/**
 * Stage 1 scale-out: a 12-partition topic read by 4 partition-group activities spread over 2 workers (one
 * Temporal task queue, two pollers with 2 activity slots each); one group fails after its first commit and
 * retries alone. Every offset lands exactly once and the merged checkpoint is each partition's end.
 */
import { Context } from '@temporalio/activity';
import { ingestRawWorkflow } from '../../src/workflows';
import { createActivities } from '../../src/activities';
import type { IngestRawActivityInput } from '../../src/activities/raw';
import { partitionGroups } from '../../src/workflows/inputs';
import { rawParallelism } from '../../src/schedules';
import { RAW, tableDir } from '../../src/lake/tables';
import { closeConnections, createTopic, deltaScan, produce, queryLake, runWorkers, tempLakeRoot, testConfig, uniqueName } from '../helpers/pipeline';

afterAll(closeConnections);

const BASE_TS = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

describe('partitionGroups', () => {
  it('splits partitions round-robin into at most `parallelism` non-empty groups', () => {
    const parts = [2, 0, 1, 3, 4].map((partition) => ({ topic: 't', partition }));
    expect(partitionGroups(parts, 2).map((g) => g.map((p) => p.partition))).toEqual([[0, 2, 4], [1, 3]]);
    expect(partitionGroups(parts, 8)).toHaveLength(5);
    expect(partitionGroups([], 4)).toEqual([]);
  });
});

describe('SCHEDULE_RAW_PARALLELISM', () => {
  it('sets the scheduled raw runs\' parallelism, validated', () => {
    expect(rawParallelism({})).toBeUndefined();
    expect(rawParallelism({ SCHEDULE_RAW_PARALLELISM: '4' })).toBe(4);
    expect(() => rawParallelism({ SCHEDULE_RAW_PARALLELISM: '0' })).toThrow(/1\.\.64/);
    expect(() => rawParallelism({ SCHEDULE_RAW_PARALLELISM: 'many' })).toThrow(/1\.\.64/);
  });
});

describe('ingestRawWorkflow with parallelism 4 on 2 workers', () => {
  it('reads a 12-partition topic with 4 group activities, every offset exactly once, a failed group retrying alone', async () => {
    const topic = uniqueName('raw-fanout');
    await createTopic(topic, 12);
    const N = 6000;
    await produce(topic, Array.from({ length: N }, (_, i) => ({ partition: i % 12, key: `k${i}`, value: JSON.stringify({ i }), timestamp: String(BASE_TS + i) })));
    const lakeRoot = tempLakeRoot();
    const config = testConfig(lakeRoot);

    // Which worker ran which group, with its attempts. The groups wait for each other to start (a barrier, not a
    // sleep): with 2 slots per worker, 4 groups running at once means both workers hold two.
    const runs: { worker: string; partitions: number[]; attempt: number }[] = [];
    let started = 0;
    let releaseAll!: () => void;
    const allStarted = new Promise<void>((r) => (releaseAll = r));
    let failedGroup: number[] | undefined;
    const worker = (name: string) => {
      const activities = createActivities({
        config,
        faults: {
          // The group holding partition 5 dies right after its first commit, on its first attempt.
          afterCommit: (stage, n) => {
            const info = Context.current().info;
            if (stage === 'raw' && n === 1 && info.attempt === 1 && failedGroup !== undefined && currentGroup.get(info.activityId)?.includes(5)) {
              throw new Error('injected: group activity dies after its first commit');
            }
          },
        },
      });
      const currentGroup = new Map<string, number[]>();
      return {
        ...activities,
        async ingestRaw(input: IngestRawActivityInput) {
          const info = Context.current().info;
          const partitions = (input.group?.partitions ?? []).map((p) => p.partition);
          runs.push({ worker: name, partitions, attempt: info.attempt });
          currentGroup.set(info.activityId, partitions);
          if (partitions.includes(5)) failedGroup = partitions;
          if (info.attempt === 1 && ++started === 4) releaseAll();
          if (info.attempt === 1) await allStarted;
          return activities.ingestRaw(input);
        },
      };
    };

    const result = await runWorkers(config, [worker('w1'), worker('w2')], (client) =>
      client.workflow.execute(ingestRawWorkflow, {
        taskQueue: config.temporal.taskQueue,
        workflowId: uniqueName('fanout'),
        args: [{ topics: [topic], startingOffsets: 'earliest', parallelism: 4, maxRecordsPerCommit: 200 }],
      }),
    );

    expect(result.groups).toBe(4);
    // The run counts what its successful attempts landed: the failed group's first commit (≤ 200) is in the table
    // but was counted by the attempt that died.
    expect(result.recordsIn).toBeLessThanOrEqual(N);
    expect(result.recordsIn).toBeGreaterThanOrEqual(N - 200);
    const firstAttempts = runs.filter((r) => r.attempt === 1);
    expect(firstAttempts).toHaveLength(4);
    expect(new Set(firstAttempts.map((r) => r.worker))).toEqual(new Set(['w1', 'w2']));
    expect(firstAttempts.flatMap((r) => r.partitions).sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    // Only the failed group ran again.
    expect(runs.filter((r) => r.attempt > 1).map((r) => r.partitions)).toEqual([failedGroup]);

    const dir = tableDir(lakeRoot, RAW);
    const [all] = await queryLake<{ n: number; keys: number }>(
      `SELECT count(*)::INT AS n, count(DISTINCT ("partition", "offset"))::INT AS keys FROM ${deltaScan(dir)}`,
    );
    expect(all).toEqual({ n: N, keys: N });
    const perPartition = await queryLake<{ partition: number; n: number; max_offset: number }>(
      `SELECT "partition", count(*)::INT AS n, max("offset")::INT AS max_offset FROM ${deltaScan(dir)} GROUP BY ALL ORDER BY 1`,
    );
    expect(perPartition).toHaveLength(12);
    for (const p of perPartition) {
      expect(p).toEqual({ partition: p.partition, n: N / 12, max_offset: N / 12 - 1 });
      expect(result.checkpoint[topic]![String(p.partition)]).toBe(N / 12);
    }
  });
});
