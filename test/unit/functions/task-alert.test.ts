import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AlertSettings,
  decideTaskAlert,
  logsConsoleUrl,
  TaskEventTracker,
} from '../../../functions/task-alert/core.ts';
import { decideInvocationAlert, isInvocationRecord } from '../../../functions/task-alert/invocation.ts';

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
  command?: string[];
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
      overrides: {
        containerOverrides: [
          { name: 'backupctl', command: options.command ?? ['backup', '--tier', 'daily'] },
        ],
      },
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
  it.each([
    [1, 'could not be proven restorable; treat it as unusable'],
    [3, 'the backup was not judged and its last verification stands'],
  ])('tells a failed drill (exit %i) from a drill that could not run', (exitCode, meaning) => {
    const event = stoppedEvent({ exitCode, command: ['verify', 'latest'] });

    const verdict = decideTaskAlert(event, settings, new TaskEventTracker());

    expect(verdict).toMatchObject({
      action: 'alert',
      subject: `Restore drill FAILED: app, exit ${exitCode}`,
    });
    expect(verdict.action === 'alert' && verdict.message).toContain(meaning);
  });

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

const LAUNCHER_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:Backups-LauncherFunction-AbC123:$LATEST';
const MONITOR_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:Backups-MonitorFunction-XyZ789';
const logGroups = { launcher: 'Backups-LauncherLogs-1', monitor: 'Backups-MonitorLogs-2' };

/** The record Lambda sends to an asynchronous invocation's failure destination. */
function invocationRecord(options: {
  functionArn?: string;
  payload?: unknown;
  condition?: string;
  errorMessage?: string;
}) {
  return {
    version: '1.0',
    timestamp: '2026-11-27T02:03:04.567Z',
    requestContext: {
      requestId: 'e4b46cbf-b738-4d6f-8880-a18cdf61200e',
      functionArn: options.functionArn ?? LAUNCHER_ARN,
      condition: options.condition ?? 'RetriesExhausted',
      approximateInvokeCount: 3,
    },
    requestPayload:
      'payload' in options
        ? options.payload
        : { database: 'app', tier: 'daily', scheduledTime: '2026-11-27T02:00:00Z' },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    ...(options.errorMessage === undefined
      ? {}
      : { responsePayload: { errorType: 'Error', errorMessage: options.errorMessage, trace: ['Error: …'] } }),
  };
}

describe('decideInvocationAlert', () => {
  it('says which backup did not start, why, and gives the command that starts it and the one that finds its log', () => {
    const record = invocationRecord({
      errorMessage: 'Backup not started (refused): a task for database "app" is already running (task/abc)',
    });

    const alert = decideInvocationAlert(record, logGroups);

    expect(alert.subject).toBe('Backup NOT STARTED: app daily');
    expect(alert.message).toContain(
      'The launcher did not start the daily backup of database app: it failed on every attempt.',
    );
    expect(alert.message).toContain('What it means: no daily backup of app was taken by this schedule');
    expect(alert.message).toContain(
      'Error:       Error: Backup not started (refused): a task for database "app" is already running (task/abc)',
    );
    expect(alert.message).toContain('Condition:   RetriesExhausted, 3 attempts');
    // Without the schedule's time: a run by hand must not reuse the failed run's RunTask token.
    expect(alert.message).toContain(
      `aws lambda invoke --function-name Backups-LauncherFunction-AbC123 --cli-binary-format raw-in-base64-out --payload '{"database":"app","tier":"daily"}' /dev/stdout`,
    );
    expect(alert.message).toContain(
      'Request:     {"database":"app","tier":"daily","scheduledTime":"2026-11-27T02:00:00Z"}',
    );
    expect(alert.message).toContain(
      `Logs: aws logs filter-log-events --region eu-west-1 --log-group-name Backups-LauncherLogs-1 --filter-pattern '"e4b46cbf-b738-4d6f-8880-a18cdf61200e"'`,
    );
    expect(alert.message).not.toContain('"requestContext"');
    expect(alert.reasons).toEqual([
      'RetriesExhausted after 3 attempt(s): Error: Backup not started (refused): a task for database "app" is already running (task/abc)',
    ]);
  });

  it('names a restore drill that did not start', () => {
    const alert = decideInvocationAlert(
      invocationRecord({
        payload: { database: 'shop', action: 'verify' },
        errorMessage: 'Backup not started (failed): RunTask: no capacity',
      }),
      logGroups,
    );

    expect(alert.subject).toBe('Restore drill NOT STARTED: shop');
    expect(alert.message).toContain('the newest backup of shop was not test-restored this time');
    expect(alert.message).toContain(`--payload '{"database":"shop","action":"verify"}'`);
  });

  it.each([
    ['check', 'backup health was not checked'],
    ['report', 'the weekly backup report was not sent'],
  ])('names a failed monitor %s and points to the monitor log group', (mode, means) => {
    const alert = decideInvocationAlert(
      invocationRecord({
        functionArn: MONITOR_ARN,
        payload: { mode },
        errorMessage: 'AccessDenied: s3:ListBucket',
      }),
      logGroups,
    );

    expect(alert.subject).toBe(`Backup monitor FAILED: ${mode}`);
    expect(alert.message).toContain(`What it means: ${means}`);
    expect(alert.message).toContain('--function-name Backups-MonitorFunction-XyZ789');
    expect(alert.message).toContain('--log-group-name Backups-MonitorLogs-2');
  });

  it('says an event that grew too old never ran to an error', () => {
    const alert = decideInvocationAlert(invocationRecord({ condition: 'EventAgeExceeded' }), logGroups);

    expect(alert.message).toContain('it could not run within the maximum event age');
    expect(alert.message).toContain(
      'Error:       (no error message: the invocation did not run to an error)',
    );
  });

  it('still alerts, with the function name, on a request it does not know, quoting it safely for the shell', () => {
    const alert = decideInvocationAlert(
      invocationRecord({ functionArn: MONITOR_ARN, payload: { note: "it's" }, errorMessage: 'boom' }),
      logGroups,
    );

    expect(alert.subject).toBe('Invocation FAILED: Backups-MonitorFunction-XyZ789');
    expect(alert.message).toContain(`--payload '{"note":"it'\\''s"}'`);
    expect(alert.message).not.toContain('Logs:');
  });

  it('alerts with the raw record when it cannot be read', () => {
    const record = { requestContext: { functionArn: LAUNCHER_ARN }, requestPayload: { database: 'app' } };

    const alert = decideInvocationAlert(record, logGroups);

    expect(alert.subject).toBe('Failed Lambda invocation record could not be read');
    expect(alert.message).toContain('requestContext.requestId');
    expect(alert.message).toContain(LAUNCHER_ARN);
  });
});

describe('isInvocationRecord', () => {
  it('tells a destination record from an ECS event', () => {
    expect(isInvocationRecord(invocationRecord({}))).toBe(true);
    expect(isInvocationRecord({ 'detail-type': 'ECS Task State Change', detail: {} })).toBe(false);
    expect(isInvocationRecord(null)).toBe(false);
  });
});

describe('task-alert handler', () => {
  const snsMock = mockClient(SNSClient);
  let handler: (event: unknown) => Promise<{ action: string }>;

  beforeAll(async () => {
    vi.stubEnv('ALERT_TOPIC_ARN', 'arn:aws:sns:eu-west-1:123456789012:alerts');
    vi.stubEnv('LOG_GROUP_NAME', settings.logGroupName);
    vi.stubEnv('LOG_STREAM_PREFIX', settings.logStreamPrefix);
    vi.stubEnv('CONTAINER_NAME', settings.containerName);
    vi.stubEnv('FAMILIES', JSON.stringify(settings.families));
    vi.stubEnv('LAUNCHER_LOG_GROUP', logGroups.launcher);
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

  it('publishes the alert in words to the alert topic', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });

    await expect(
      handler(invocationRecord({ errorMessage: 'Backup not started (failed): throttled' })),
    ).resolves.toEqual({
      action: 'alert',
    });

    const calls = snsMock.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({
      TopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts',
      Subject: 'Backup NOT STARTED: app daily',
    });
    expect(calls[0]?.args[0].input.Message).toContain('--log-group-name Backups-LauncherLogs-1');
  });

  it('throws when the topic refuses, so that Lambda retries the alert', async () => {
    snsMock.on(PublishCommand).rejects(new Error('KMS key disabled'));

    await expect(handler(invocationRecord({ errorMessage: 'x' }))).rejects.toThrow('KMS key disabled');
  });
});
