/** The failure alert of the restore drill and of restore tasks: same rule, same Lambda, named for what failed. */
import { describe, expect, it } from 'vitest';
import { type AlertSettings, decideTaskAlert, TaskEventTracker } from '../../../functions/task-alert/core.ts';

const settings: AlertSettings = {
  logGroupName: 'Test-TaskLogs',
  logStreamPrefix: 'backup',
  containerName: 'backupctl',
  // The stack maps both the backup and the restore family of a database to it.
  families: { 'backup-app': 'app', 'restore-app': 'app' },
};

function stopped(family: string, command: string[], exitCode: number) {
  return {
    'detail-type': 'ECS Task State Change',
    region: 'eu-west-1',
    detail: {
      taskArn: `arn:aws:ecs:eu-west-1:123456789012:task/backups/${family}-${command[0]}`,
      taskDefinitionArn: `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:4`,
      lastStatus: 'STOPPED',
      version: 3,
      overrides: { containerOverrides: [{ name: 'backupctl', command }] },
      containers: [{ name: 'backupctl', exitCode }],
    },
  };
}

describe('alerts of the restore drill and restore tasks', () => {
  it.each([
    ['the verify drill', 'backup-app', ['verify', 'latest'], 'Restore drill FAILED: app, exit 1'],
    [
      'a restore',
      'restore-app',
      ['restore', 'daily/app/20261126T020000Z', '--confirm', 'app'],
      'Restore FAILED: app, exit 1',
    ],
  ])('alerts on a failed %s naming the operation instead of a tier', (_case, family, command, subject) => {
    // Act
    const verdict = decideTaskAlert(stopped(family, command, 1), settings, new TaskEventTracker());
    // Assess
    expect(verdict).toMatchObject({ action: 'alert', subject });
    if (verdict.action !== 'alert') return;
    expect(verdict.message).toContain(`Operation:      ${command.join(' ')}`);
    expect(verdict.message).toContain('Tier:           -');
    expect(verdict.message).toMatch(/^What it means: .+\nWhat to do: .+/m);
  });

  it('stays silent when the verify drill passed (exit 0)', () => {
    const verdict = decideTaskAlert(
      stopped('backup-app', ['verify', 'latest'], 0),
      settings,
      new TaskEventTracker(),
    );

    expect(verdict.action).toBe('ignore');
  });
});
