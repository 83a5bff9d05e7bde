/**
 * The restore drill schedule, the restore task definitions, their role, the restore Lambda and the
 * alerting of restore tasks, in the default stack (cdk.json) and in a second configuration with two
 * databases, a separate restore secret and no media. One intent per test.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { AlertTopic } from '../../lib/alert-topic.ts';
import { BackupBucket } from '../../lib/backup-bucket.ts';
import { BackupTask } from '../../lib/backup-task.ts';
import { BackupNetwork } from '../../lib/network.ts';
import { Restore } from '../../lib/restore.ts';
import { nagFindings, type Synthesized, synthesize } from './synth.ts';

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };
type Resource = { Properties: Record<string, unknown> };

let synth: Synthesized;
let template: Template;

beforeAll(() => {
  synth = synthesize();
  template = synth.template;
});

const bucketObject = (suffix: string) => ({
  'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupsBucket'), 'Arn'] }, `/${suffix}`]],
});
/** Statements of the IAM policies whose logical id starts with `prefix`. */
const statementsOf = (t: Template, prefix: string): Statement[] =>
  Object.entries(t.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(prefix))
    .flatMap(([, policy]) => (policy as Resource).Properties.PolicyDocument as { Statement: Statement[] })
    .flatMap((document) => document.Statement);
const actionsOf = (statements: Statement[]) => statements.flatMap((s) => [s.Action].flat());
const restoreRoleStatements = () => statementsOf(template, 'RestoreDb0TaskDefinitionTaskRole');
const restoreFunctionStatements = () => statementsOf(template, 'RestoreFunctionRole');

describe('restore drill', () => {
  it('schedules verify latest of each database daily at 06:00 in the configured time zone', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 6 * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      State: 'ENABLED',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LauncherFunction'), 'Arn'] },
        Input: JSON.stringify({
          database: 'app',
          action: 'verify',
          scheduledTime: '<aws.scheduler.scheduled-time>',
        }),
      }),
    });
  });

  it('takes the drill schedule from schedules.verify', () => {
    const { template: custom } = synthesize({ 'backup.schedules.verify': 'cron(30 7 ? * MON-FRI *)' });

    custom.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 7 ? * MON-FRI *)',
      Target: Match.objectLike({ Input: Match.stringLikeRegexp('"action":"verify"') }),
    });
  });

  it('gives the backup task definition 50 GiB of ephemeral storage and TMPDIR on the writable /tmp', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      EphemeralStorage: { SizeInGiB: 50 },
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([{ Name: 'TMPDIR', Value: '/tmp' }]),
          MountPoints: Match.arrayWith([{ ContainerPath: '/tmp', ReadOnly: false, SourceVolume: 'tmp' }]),
        }),
      ],
    });
  });

  it('takes the ephemeral storage from task.ephemeralStorageGiB', () => {
    const { template: custom } = synthesize({ 'backup.task.ephemeralStorageGiB': 120 });

    custom.resourcePropertiesCountIs('AWS::ECS::TaskDefinition', { EphemeralStorage: { SizeInGiB: 120 } }, 1);
  });
});

describe('restore task', () => {
  const taskDefinition = (prefix: string) =>
    Object.entries(template.findResources('AWS::ECS::TaskDefinition')).find(([id]) =>
      id.startsWith(prefix),
    )?.[1] as Resource;
  const mediaMountOf = (prefix: string) =>
    (taskDefinition(prefix).Properties.ContainerDefinitions as { MountPoints: { SourceVolume: string }[] }[])
      .flatMap((c) => c.MountPoints)
      .find((m) => m.SourceVolume === 'media');

  it('mounts the media volume read-write for restore and read-only for backup, at the same path', () => {
    expect(mediaMountOf('RestoreDb0TaskDefinition')).toEqual({
      ContainerPath: '/mnt/media',
      ReadOnly: false,
      SourceVolume: 'media',
    });
    expect(mediaMountOf('TaskDb0TaskDefinition')).toEqual({
      ContainerPath: '/mnt/media',
      ReadOnly: true,
      SourceVolume: 'media',
    });
  });

  it('runs the backup image as non-root on a read-only root filesystem, reporting to the alert topic', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: Match.stringLikeRegexp('RestoreDb0TaskDefinition'),
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'backupctl',
          User: '1000:1000',
          ReadonlyRootFilesystem: true,
          Environment: Match.arrayWith([
            { Name: 'MEDIA_DIR', Value: '/mnt/media/current' },
            { Name: 'ALERT_TOPIC_ARN', Value: { Ref: Match.stringLikeRegexp('^AlertsTopic') } },
          ]),
        }),
      ],
    });
  });

  it('grants the restore role no delete action of any kind', () => {
    const actions = actionsOf(restoreRoleStatements());
    expect(actions).toContain('s3:PutObject');
    expect(actions.filter((a) => /delete|\*/i.test(a))).toEqual([]);
  });

  it('lets the restore role write only its pre-restore safety backups and its lock', () => {
    const writes = restoreRoleStatements().filter((s) => [s.Action].flat().includes('s3:PutObject'));
    // Each resource is `<bucket ARN>` joined with one key pattern.
    expect(JSON.stringify(writes.map((s) => s.Resource)).match(/"\/[^"]+"/g)).toEqual([
      '"/pre-restore/app/*"',
      '"/locks/app.json"',
    ]);
  });

  it('lets the restore role read every tier of its database, pre-restore included', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 's3:GetObject',
            Resource: ['daily/app/*', 'monthly/app/*', 'pre-restore/app/*', 'weekly/app/*'].map(bucketObject),
          }),
        ]),
      },
      Roles: [{ Ref: Match.stringLikeRegexp('^RestoreDb0TaskDefinitionTaskRole') }],
    });
  });

  it('lets the restore role mount and write the media file system through its access point only', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
            Condition: { StringEquals: { 'elasticfilesystem:AccessPointArn': Match.anyValue() } },
          }),
        ]),
      },
      Roles: [{ Ref: Match.stringLikeRegexp('^RestoreDb0TaskDefinitionTaskRole') }],
    });
  });

  it('lets the restore role publish its result to the alert topic', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'sns:Publish',
            Resource: { Ref: Match.stringLikeRegexp('^AlertsTopic') },
          }),
        ]),
      },
      Roles: [{ Ref: Match.stringLikeRegexp('^RestoreDb0TaskDefinitionTaskRole') }],
    });
  });

  it('lets the backup role take, renew and read its lock object', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['s3:GetObject', 's3:PutObject'],
            Resource: bucketObject('locks/app.json'),
          }),
        ]),
      },
      Roles: [{ Ref: Match.stringLikeRegexp('^TaskDb0TaskDefinitionTaskRole') }],
    });
  });

  it('routes STOPPED state changes of the restore task family to the alert Lambda', () => {
    const family = (taskDefinition('RestoreDb0TaskDefinition').Properties.Family as string) ?? '';
    expect(family).toMatch(/RestoreDb0TaskDefinition/);
    const rule = Object.values(template.findResources('AWS::Events::Rule'))[0] as Resource;
    expect(JSON.stringify(rule.Properties.EventPattern)).toContain(`:task-definition/${family}:`);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ FAMILIES: Match.stringLikeRegexp(`"${family}":"app"`) }) },
    });
  });
});

describe('restore Lambda', () => {
  it('runs the restore function on Node.js 24 with the cluster, targets and log group it needs', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Description: Match.stringLikeRegexp('restore task'),
      Environment: {
        Variables: Match.objectLike({
          CLUSTER_ARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TaskCluster'), 'Arn'] },
          CONTAINER_NAME: 'backupctl',
          LOG_GROUP_NAME: { Ref: Match.stringLikeRegexp('^TaskLogs') },
          LOG_STREAM_PREFIX: 'backup',
          TARGETS: Match.anyValue(),
          // The primary bucket: a missing artifact is damage, never "still replicating".
          BACKUP_REPLICATION_WINDOW_HOURS: Match.absent(),
        }),
      },
    });
  });

  it('lets the restore function run only the restore task definitions in the backup cluster', () => {
    const runTask = restoreFunctionStatements().filter((s) => [s.Action].flat().includes('ecs:RunTask'));
    expect(runTask).toEqual([
      {
        Action: 'ecs:RunTask',
        Effect: 'Allow',
        Resource: { Ref: expect.stringMatching(/^RestoreDb0TaskDefinition/) },
        Condition: {
          ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [expect.stringMatching(/^TaskCluster/), 'Arn'] } },
        },
      },
    ]);
  });

  it('lets the restore function pass only the restore task roles, to ECS tasks', () => {
    const passRole = restoreFunctionStatements().filter((s) => s.Action === 'iam:PassRole');
    expect(passRole).toHaveLength(1);
    const roles = JSON.stringify(passRole[0]?.Resource);
    expect(roles).toMatch(/RestoreDb0TaskDefinitionTaskRole/);
    expect(roles).toMatch(/RestoreDb0TaskDefinitionExecutionRole/);
    expect(roles).not.toMatch(/"TaskDb0TaskDefinition/);
    expect(passRole[0]?.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });
  });

  it('gives the restore function read-only S3 access to manifests and locks', () => {
    const s3 = restoreFunctionStatements().filter((s) => JSON.stringify(s.Action).includes('s3:'));
    expect(actionsOf(s3).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    const objects = JSON.stringify(s3.find((s) => s.Action === 's3:GetObject')?.Resource);
    expect(objects.match(/"\/[^"]+"/g)).toEqual([
      '"/daily/app/*/manifest.json"',
      '"/locks/app.json"',
      '"/monthly/app/*/manifest.json"',
      '"/pre-restore/app/*/manifest.json"',
      '"/weekly/app/*/manifest.json"',
    ]);
  });

  it('outputs the restore function name', () => {
    template.hasOutput('RestoreFunctionName', {
      Value: { Ref: Match.stringLikeRegexp('^RestoreFunction') },
    });
  });
});

describe('two databases, a separate restore secret, no media', () => {
  const secret = (name: string) => `arn:aws:secretsmanager:eu-central-1:123456789012:secret:${name}-AbCdEf`;
  const restoreKey = 'arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555';
  let variant: Synthesized;

  beforeAll(() => {
    variant = synthesize({
      backup: {
        databases: [
          {
            name: 'shop',
            secretArn: secret('shop'),
            restoreSecretArn: secret('shop-owner'),
            restoreSecretKmsKeyArn: restoreKey,
          },
          { name: 'blog', secretArn: secret('blog') },
        ],
        vpc: { mode: 'create' },
        alertEmails: ['ops@example.com'],
      },
    });
  });

  it('reports zero unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(nagFindings(variant.app)).toEqual([]);
  });

  it('injects the restore secret, not the backup secret, into the restore task', () => {
    variant.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: Match.stringLikeRegexp('RestoreDb0TaskDefinition'),
      ContainerDefinitions: [
        Match.objectLike({
          Secrets: Match.arrayWith([{ Name: 'PGPASSWORD', ValueFrom: `${secret('shop-owner')}:password::` }]),
        }),
      ],
    });
  });

  it('lets each restore role write only its own database', () => {
    const writes = (db: string) =>
      JSON.stringify(
        statementsOf(variant.template, `RestoreDb${db === 'shop' ? 0 : 1}TaskDefinitionTaskRole`).filter(
          (s) => [s.Action].flat().includes('s3:PutObject'),
        ),
      );
    expect(writes('shop')).toContain('/pre-restore/shop/*');
    expect(writes('shop')).not.toContain('/blog');
    expect(writes('blog')).toContain('/locks/blog.json');
    expect(writes('blog')).not.toContain('/shop');
  });

  it('creates one restore task definition per database without a media volume', () => {
    const restores = Object.entries(variant.template.findResources('AWS::ECS::TaskDefinition')).filter(
      ([id]) => id.startsWith('Restore'),
    );
    expect(restores).toHaveLength(2);
    expect(JSON.stringify(restores)).not.toContain('MEDIA_DIR');
  });
});

describe('Restore', () => {
  it('fails when a database has no backup task to share the image, log group and network with', () => {
    // Prepare
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    const network = new BackupNetwork(stack, 'N', { vpc: { mode: 'create', maxAzs: 1 } });
    const backupBucket = new BackupBucket(stack, 'B', {
      retentionDays: { daily: 30, weekly: 90, monthly: 365, 'pre-restore': 30 },
    });
    const db = (name: string) => ({
      name,
      secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`,
      port: 5432,
    });
    const task = new BackupTask(stack, 'T', { network, backupBucket, databases: [db('app')] });
    const alerts = new AlertTopic(stack, 'A', { emails: ['ops@example.com'] });
    // Act / Assess
    expect(
      () => new Restore(stack, 'R', { task, network, backupBucket, alerts, databases: [db('other')] }),
    ).toThrow('databases must be the databases of the backup task, got: ["other"]');
  });
});
