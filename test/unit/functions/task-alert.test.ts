import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AlertSettings,
  decideTaskAlert,
  logsConsoleUrl,
  TaskEventTracker,
} from '../../../functions/task-alert/core.ts';

const settings: AlertSettings = {
  logGroupName: 'ServerlessPgBackup-TaskLogs',
  logStreamPrefix: 'backup',
  containerName: 'backupctl',
  families: { 'backup-app': 'app' },
};

let taskCounter = 0;
/** An ECS Task State Change event as EventBridge delivers it, for a new task unless taskArn is given. */
function stoppedEvent(options: {
  exitCode?: number;
  lastStatus?: string;
  version?: number;
  taskArn?: string;
  stoppedReason?: string;
  containerReason?: string;
}) {
  taskCounter += 1;
  return {
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    region: 'eu-west-1',
    detail: {
      taskArn: options.taskArn ?? `arn:aws:ecs:eu-west-1:123456789012:task/backups/task${taskCounter}`,
      taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/backup-app:3',
      clusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/backups',
      lastStatus: options.lastStatus ?? 'STOPPED',
      version: options.version ?? 5,
      stopCode: 'EssentialContainerExited',
      stoppedReason: options.stoppedReason ?? 'Essential container in task exited',
      overrides: { containerOverrides: [{ name: 'backupctl', command: ['backup', '--tier', 'daily'] }] },
      containers: [
        {
          name: 'backupctl',
          ...(options.exitCode === undefined ? {} : { exitCode: options.exitCode }),
          ...(options.containerReason ? { reason: options.containerReason } : {}),
        },
      ],
    },
  };
}

describe('decideTaskAlert', () => {
  it('stays silent when the backup container exited 0', () => {
    const verdict = decideTaskAlert(stoppedEvent({ exitCode: 0 }), settings, new TaskEventTracker());

    expect(verdict).toEqual({ action: 'ignore', reasons: ['container exited 0'] });
  });

  it.each([
    [1, 'backupctl reported a failure'],
    [2, 'backupctl configuration error'],
    [137, 'out of memory'],
  ])('alerts on exit code %i with the database, tier and meaning', (exitCode, meaning) => {
    const verdict = decideTaskAlert(stoppedEvent({ exitCode }), settings, new TaskEventTracker());

    expect(verdict.action).toBe('alert');
    if (verdict.action !== 'alert') return;
    expect(verdict.subject).toBe(`Backup FAILED: app daily, exit ${exitCode}`);
    expect(verdict.message).toContain('Database:       app');
    expect(verdict.message).toContain('Tier:           daily');
    expect(verdict.message).toContain(meaning);
    expect(verdict.message).toContain('What to do: ');
    if (exitCode === 137) expect(verdict.message).toContain('raise task.memoryMiB');
  });

  it('alerts when the exit code is missing because the task never started, with the stopped reason', () => {
    const event = stoppedEvent({ stoppedReason: 'CannotPullContainerError: pull access denied' });

    const verdict = decideTaskAlert(event, settings, new TaskEventTracker());

    expect(verdict.action).toBe('alert');
    if (verdict.action !== 'alert') return;
    expect(verdict.subject).toContain('exit missing');
    expect(verdict.message).toContain('Stopped reason: CannotPullContainerError: pull access denied');
    expect(verdict.message).toContain('Exit code:      missing');
  });

  it("links to the task's CloudWatch log stream", () => {
    const event = stoppedEvent({
      exitCode: 1,
      taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/backups/abc123',
    });

    const verdict = decideTaskAlert(event, settings, new TaskEventTracker());

    expect(verdict.action === 'alert' && verdict.message).toContain(
      logsConsoleUrl('eu-west-1', 'ServerlessPgBackup-TaskLogs', 'backup/backupctl/abc123'),
    );
  });

  it('encodes the console link the way the CloudWatch console expects', () => {
    expect(logsConsoleUrl('eu-west-1', '/ecs/backup', 'backup/backupctl/abc')).toBe(
      'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1' +
        '#logsV2:log-groups/log-group/$252Fecs$252Fbackup/log-events/backup$252Fbackupctl$252Fabc',
    );
  });

  it('ignores state changes other than STOPPED', () => {
    const verdict = decideTaskAlert(
      stoppedEvent({ lastStatus: 'DEPROVISIONING' }),
      settings,
      new TaskEventTracker(),
    );

    expect(verdict.action).toBe('ignore');
  });

  it('ignores a redelivered or older version of an event already handled', () => {
    // Prepare
    const tracker = new TaskEventTracker();
    const taskArn = 'arn:aws:ecs:eu-west-1:123456789012:task/backups/dup';
    const first = decideTaskAlert(stoppedEvent({ exitCode: 1, taskArn, version: 6 }), settings, tracker);
    if (first.action === 'alert' && first.task) tracker.record(first.task.arn, first.task.version, true);
    // Act
    const duplicate = decideTaskAlert(stoppedEvent({ exitCode: 1, taskArn, version: 6 }), settings, tracker);
    const older = decideTaskAlert(stoppedEvent({ exitCode: 1, taskArn, version: 5 }), settings, tracker);
    const newer = decideTaskAlert(stoppedEvent({ exitCode: 1, taskArn, version: 7 }), settings, tracker);
    // Assess
    expect(first.action).toBe('alert');
    expect(duplicate).toEqual({
      action: 'ignore',
      reasons: [expect.stringContaining('duplicate or out-of-order')],
    });
    expect(older).toEqual({
      action: 'ignore',
      reasons: [expect.stringContaining('duplicate or out-of-order')],
    });
    expect(newer).toEqual({ action: 'ignore', reasons: [expect.stringContaining('already alerted')] });
  });

  it('alerts on an event it cannot read instead of dropping it', () => {
    const verdict = decideTaskAlert(
      { 'detail-type': 'ECS Task State Change', detail: {} },
      settings,
      new TaskEventTracker(),
    );

    expect(verdict.action).toBe('alert');
  });
});

describe('task-alert handler', () => {
  const snsMock = mockClient(SNSClient);
  let handler: (event: unknown) => Promise<{ action: string }>;

  beforeAll(async () => {
    vi.stubEnv('TOPIC_ARN', 'arn:aws:sns:eu-west-1:123456789012:alerts');
    vi.stubEnv('LOG_GROUP_NAME', settings.logGroupName);
    vi.stubEnv('LOG_STREAM_PREFIX', settings.logStreamPrefix);
    vi.stubEnv('CONTAINER_NAME', settings.containerName);
    vi.stubEnv('FAMILIES', JSON.stringify(settings.families));
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    ({ handler } = await import('../../../functions/task-alert/handler.ts'));
  });

  beforeEach(() => {
    snsMock.reset();
  });

  afterAll(() => {
    vi.unstubAllEnvs();
  });

  it('publishes one alert to the topic for a failed task, even when the event is delivered twice', async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const event = stoppedEvent({ exitCode: 1 });
    // Act
    await handler(event);
    await handler(event);
    // Assess
    const calls = snsMock.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({
      TopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts',
      Subject: 'Backup FAILED: app daily, exit 1',
    });
  });

  it('publishes nothing for a successful task', async () => {
    await handler(stoppedEvent({ exitCode: 0 }));

    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('alerts again on redelivery when the first publish failed', async () => {
    // Prepare
    const event = stoppedEvent({ exitCode: 137, containerReason: 'OutOfMemoryError' });
    snsMock.on(PublishCommand).rejectsOnce(new Error('throttled')).resolves({ MessageId: 'm-2' });
    // Act
    await expect(handler(event)).rejects.toThrow('throttled');
    await handler(event);
    // Assess
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(2);
    expect(snsMock.commandCalls(PublishCommand)[1]?.args[0].input.Message).toContain('OutOfMemoryError');
  });
});
