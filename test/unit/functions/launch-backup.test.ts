import { ECSClient, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  clientToken,
  type EcsPort,
  type LaunchSettings,
  launchBackup,
  type RunTaskRequest,
} from '../../../functions/launch-backup/core.ts';

const settings: LaunchSettings = {
  clusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/backups',
  containerName: 'backupctl',
  subnetIds: ['subnet-a', 'subnet-b'],
  assignPublicIp: false,
  targets: {
    app: {
      taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/backup-app:3',
      family: 'backup-app',
      securityGroupId: 'sg-app',
      otherFamilies: ['restore-app'],
    },
  },
};
const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/backups/0123456789abcdef';

/** An in-memory ECS: tasks already running per family, and every RunTask request received. */
function fakeEcs(running: Record<string, string[]> = {}, failures: string[] = []) {
  const requests: RunTaskRequest[] = [];
  const port: EcsPort = {
    listActiveTasks: async (_cluster, family) => running[family] ?? [],
    runTask: async (request) => {
      requests.push(request);
      return failures.length > 0 ? { taskArns: [], failures } : { taskArns: [TASK_ARN], failures: [] };
    },
  };
  return { port, requests };
}

describe('launchBackup', () => {
  it('starts the backup task of the database with the tier as command override and tags', async () => {
    // Prepare
    const ecs = fakeEcs();
    // Act
    const verdict = await launchBackup({ database: 'app', tier: 'weekly' }, settings, ecs.port);
    // Assess
    expect(verdict).toEqual({ status: 'started', taskArn: TASK_ARN, database: 'app', tier: 'weekly' });
    expect(ecs.requests).toEqual([
      expect.objectContaining({
        cluster: settings.clusterArn,
        taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/backup-app:3',
        launchType: 'FARGATE',
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: ['subnet-a', 'subnet-b'],
            securityGroups: ['sg-app'],
            assignPublicIp: 'DISABLED',
          },
        },
        overrides: { containerOverrides: [{ name: 'backupctl', command: ['backup', '--tier', 'weekly'] }] },
        tags: [
          { key: 'database', value: 'app' },
          { key: 'tier', value: 'weekly' },
        ],
      }),
    ]);
  });

  it('starts the restore drill (verify latest) on the backup task definition', async () => {
    // Prepare
    const ecs = fakeEcs();
    // Act
    const verdict = await launchBackup({ database: 'app', action: 'verify' }, settings, ecs.port);
    // Assess
    expect(verdict).toEqual({ status: 'started', taskArn: TASK_ARN, database: 'app', action: 'verify' });
    expect(ecs.requests).toEqual([
      expect.objectContaining({
        taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/backup-app:3',
        overrides: { containerOverrides: [{ name: 'backupctl', command: ['verify', 'latest'] }] },
        tags: [
          { key: 'database', value: 'app' },
          { key: 'action', value: 'verify' },
        ],
      }),
    ]);
  });

  it('refuses the restore drill while a restore of the same database is running', async () => {
    const ecs = fakeEcs({ 'restore-app': ['arn:aws:ecs:eu-west-1:123456789012:task/backups/restoring'] });

    const verdict = await launchBackup({ database: 'app', action: 'verify' }, settings, ecs.port);

    expect(verdict).toEqual({
      status: 'refused',
      reasons: [
        'a task for database "app" is already running (arn:aws:ecs:eu-west-1:123456789012:task/backups/restoring); verify not started',
      ],
    });
    expect(ecs.requests).toEqual([]);
  });

  it('derives different client tokens for the backup and the drill scheduled at the same time', async () => {
    const ecs = fakeEcs();
    const scheduledTime = '2026-11-26T02:00:00Z';

    await launchBackup({ database: 'app', tier: 'daily', scheduledTime }, settings, ecs.port);
    await launchBackup({ database: 'app', action: 'verify', scheduledTime }, settings, ecs.port);

    expect(ecs.requests[1]?.clientToken).toBe(clientToken('app', 'verify', scheduledTime));
    expect(ecs.requests[1]?.clientToken).not.toBe(ecs.requests[0]?.clientToken);
  });

  it('refuses to start while a task for the same database is running', async () => {
    const ecs = fakeEcs({ 'backup-app': ['arn:aws:ecs:eu-west-1:123456789012:task/backups/running'] });

    const verdict = await launchBackup({ database: 'app', tier: 'daily' }, settings, ecs.port);

    expect(verdict).toEqual({
      status: 'refused',
      reasons: [expect.stringContaining('a task for database "app" is already running')],
    });
    expect(ecs.requests).toEqual([]);
  });

  it('derives the same RunTask client token for a redelivered scheduled invocation', async () => {
    const ecs = fakeEcs();
    const event = { database: 'app', tier: 'daily', scheduledTime: '2026-11-26T02:00:00Z' };

    await launchBackup(event, settings, ecs.port);
    await launchBackup(event, settings, ecs.port);

    const [first, second] = ecs.requests;
    expect(first?.clientToken).toBe(clientToken('app', 'daily', '2026-11-26T02:00:00Z'));
    expect(first?.clientToken).toHaveLength(64);
    expect(second?.clientToken).toBe(first?.clientToken);
  });

  it.each([
    ['an unknown tier', { database: 'app', tier: 'hourly' }, 'tier'],
    ['an invalid database name', { database: '../etc', tier: 'daily' }, 'database'],
    ['a missing tier', { database: 'app' }, 'tier'],
    ['an extra key such as a command', { database: 'app', tier: 'daily', command: ['restore'] }, 'command'],
    ['a non-object event', 'backup everything', 'event'],
    ['an action other than verify', { database: 'app', action: 'restore' }, 'action'],
    ['a verify with a tier', { database: 'app', action: 'verify', tier: 'daily' }, 'tier'],
  ])('fails validation on %s without calling ECS', async (_case, event, key) => {
    const ecs = fakeEcs();

    const verdict = await launchBackup(event, settings, ecs.port);

    expect(verdict.status).toBe('invalid');
    expect(JSON.stringify(verdict)).toContain(key);
    expect(ecs.requests).toEqual([]);
  });

  it('refuses a database that is not configured', async () => {
    const ecs = fakeEcs();

    const verdict = await launchBackup({ database: 'other', tier: 'daily' }, settings, ecs.port);

    expect(verdict).toEqual({
      status: 'invalid',
      reasons: ['database "other" is not configured (configured: app)'],
    });
  });

  it('reports RunTask failures as a failed launch', async () => {
    const ecs = fakeEcs({}, ['RESOURCE:MEMORY']);

    const verdict = await launchBackup({ database: 'app', tier: 'daily' }, settings, ecs.port);

    expect(verdict).toEqual({
      status: 'failed',
      reasons: ['RunTask for database "app" failed: RESOURCE:MEMORY'],
    });
  });
});

describe('launch-backup handler', () => {
  const ecsMock = mockClient(ECSClient);
  let handler: (event: unknown) => Promise<{ taskArn: string }>;

  beforeAll(async () => {
    vi.stubEnv('CLUSTER_ARN', settings.clusterArn);
    vi.stubEnv('CONTAINER_NAME', 'backupctl');
    vi.stubEnv('SUBNET_IDS', 'subnet-a,subnet-b');
    vi.stubEnv('ASSIGN_PUBLIC_IP', 'ENABLED');
    vi.stubEnv('TARGETS', JSON.stringify(settings.targets));
    vi.stubEnv('POWERTOOLS_DEV', 'false');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    ({ handler } = await import('../../../functions/launch-backup/handler.ts'));
  });

  beforeEach(() => {
    ecsMock.reset();
  });

  afterAll(() => {
    vi.unstubAllEnvs();
  });

  it('returns the ARN of the task it started', async () => {
    // Prepare
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }], failures: [] });
    // Act
    const result = await handler({ database: 'app', tier: 'monthly' });
    // Assess
    expect(result).toEqual({ taskArn: TASK_ARN });
    expect(ecsMock.commandCalls(ListTasksCommand)[0]?.args[0].input).toEqual({
      cluster: settings.clusterArn,
      family: 'backup-app',
      desiredStatus: 'RUNNING',
    });
    expect(ecsMock.commandCalls(RunTaskCommand)[0]?.args[0].input).toMatchObject({
      overrides: { containerOverrides: [{ name: 'backupctl', command: ['backup', '--tier', 'monthly'] }] },
      networkConfiguration: { awsvpcConfiguration: { assignPublicIp: 'ENABLED' } },
    });
  });

  it('throws when a task for the database is already running, so the failure destination alerts', async () => {
    ecsMock
      .on(ListTasksCommand)
      .resolves({ taskArns: ['arn:aws:ecs:eu-west-1:123456789012:task/backups/x'] });

    await expect(handler({ database: 'app', tier: 'daily' })).rejects.toThrow(
      /Backup not started \(refused\): a task for database "app" is already running/,
    );
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it('throws with the RunTask failure reason', async () => {
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
    ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [{ arn: 'arn:x', reason: 'AGENT' }] });

    await expect(handler({ database: 'app', tier: 'daily' })).rejects.toThrow(/failed: arn:x: AGENT/);
  });
});
