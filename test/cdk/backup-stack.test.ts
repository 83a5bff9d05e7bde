/**
 * The default stack, as `npx cdk synth` builds it from cdk.json, synthesized once (with the
 * Lambdas bundled by esbuild and cdk-nag's AWS Solutions checks) and asserted one intent per test.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { nagFindings, type Synthesized, synthesize } from './synth.ts';

let synth: Synthesized;
let template: Template;

beforeAll(() => {
  synth = synthesize({}, true);
  template = synth.template;
});

type Resource = { Properties: Record<string, unknown> };
const resourcesOf = (type: string): Resource[] => Object.values(template.findResources(type)) as Resource[];
const statementsOf = (policy: Resource): { Action: string | string[]; Effect: string }[] =>
  (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Effect: string }[] })
    .Statement;
const actionsOf = (policy: Resource): string[] => statementsOf(policy).flatMap((s) => [s.Action].flat());
const taskRolePolicies = () =>
  Object.entries(template.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.includes('TaskRole'))
    .map(([, resource]) => resource as Resource);

describe('checks', () => {
  it('reports zero unacknowledged cdk-nag AwsSolutions findings', () => {
    // Prepare / Act: synthesized in beforeAll (a finding would have thrown there)
    // Assess
    expect(nagFindings(synth.app)).toEqual([]);
  });
});

describe('backup bucket', () => {
  it('encrypts with a customer-managed KMS key and an S3 bucket key', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() },
          },
        ],
      },
    });
  });

  it('rotates every KMS key', () => {
    const keys = resourcesOf('AWS::KMS::Key');
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((key) => key.Properties.EnableKeyRotation === true)).toBe(true);
  });

  it('versions the bucket, blocks all public access and logs server access', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'backup-bucket/' },
    });
  });

  it('retains the bucket and its key when the stack is deleted', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: { BucketEncryption: Match.anyValue(), VersioningConfiguration: Match.anyValue() },
    });
    template.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: { Description: 'Encrypts the PostgreSQL and media backups' },
    });
  });

  it('denies requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('denies puts that ask for another encryption than SSE-KMS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
          }),
        ]),
      },
    });
  });

  it('denies puts that name another KMS key than the bucket key', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: {
              StringNotEqualsIfExists: {
                's3:x-amz-server-side-encryption-aws-kms-key-id': {
                  'Fn::GetAtt': [Match.stringLikeRegexp('^BackupsKey'), 'Arn'],
                },
              },
            },
          }),
        ]),
      },
    });
  });

  it.each([
    ['daily/', 30],
    ['weekly/', 90],
    ['monthly/', 365],
    ['pre-restore/', 30],
  ])('expires backups under %s after %i days', (prefix, days) => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: prefix, ExpirationInDays: days, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('moves monthly backups to Glacier Instant Retrieval after 90 days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Prefix: 'monthly/',
            Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }],
          }),
        ]),
      },
    });
  });

  it('aborts incomplete multipart uploads after 1 day and expires noncurrent versions after 7 days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            NoncurrentVersionExpiration: { NoncurrentDays: 7 },
          }),
        ]),
      },
    });
  });

  it('leaves Object Lock off by default', () => {
    const buckets = resourcesOf('AWS::S3::Bucket');
    expect(buckets.some((b) => 'ObjectLockEnabled' in b.Properties)).toBe(false);
  });
});

describe('backup task', () => {
  it('turns Container Insights on for the cluster', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it('sizes the Fargate task at 1024 CPU units and 2048 MiB', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      Cpu: '1024',
      Memory: '2048',
    });
  });

  it('runs the container as a non-root user on a read-only root filesystem with a writable /tmp', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'backupctl',
          User: '1000:1000',
          ReadonlyRootFilesystem: true,
          MountPoints: Match.arrayWith([{ ContainerPath: '/tmp', ReadOnly: false, SourceVolume: 'tmp' }]),
        }),
      ],
    });
  });

  it('injects every libpq credential from the RDS secret as an ECS secret', () => {
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0example-AbCdEf';
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Secrets: [
            { Name: 'PGHOST', ValueFrom: `${secretArn}:host::` },
            { Name: 'PGPORT', ValueFrom: `${secretArn}:port::` },
            { Name: 'PGUSER', ValueFrom: `${secretArn}:username::` },
            { Name: 'PGPASSWORD', ValueFrom: `${secretArn}:password::` },
            { Name: 'PGDATABASE', ValueFrom: `${secretArn}:dbname::` },
          ],
        }),
      ],
    });
  });

  it('keeps credentials and the secret out of the plain environment', () => {
    const containers = resourcesOf('AWS::ECS::TaskDefinition').flatMap(
      (taskDefinition) =>
        taskDefinition.Properties.ContainerDefinitions as { Environment: { Name: string }[] }[],
    );
    const names = containers.flatMap((container) => container.Environment.map((e) => e.Name));
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => /^PG(HOST|PORT|USER|PASSWORD|DATABASE)$/.test(name))).toEqual([]);
    expect(JSON.stringify(containers.map((c) => c.Environment))).not.toContain('secretsmanager');
  });

  it('requires TLS with certificate and host verification against the RDS CA bundle', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([
            { Name: 'PGSSLMODE', Value: 'verify-full' },
            { Name: 'PGSSLROOTCERT', Value: '/etc/ssl/certs/rds-global-bundle.pem' },
          ]),
        }),
      ],
    });
  });

  it('tells backupctl the bucket, the region and the SSE-KMS key to send', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([
            { Name: 'BACKUP_BUCKET', Value: { Ref: Match.stringLikeRegexp('^BackupsBucket') } },
            {
              Name: 'BACKUP_SSE_KMS_KEY_ID',
              Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupsKey'), 'Arn'] },
            },
            { Name: 'AWS_REGION', Value: Match.anyValue() },
          ]),
        }),
      ],
    });
  });

  it('mounts the EFS media volume read-only over TLS through its access point', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Volumes: Match.arrayWith([
        {
          Name: 'media',
          EFSVolumeConfiguration: {
            FilesystemId: 'fs-0123456789abcdef0',
            TransitEncryption: 'ENABLED',
            AuthorizationConfig: { AccessPointId: 'fsap-0123456789abcdef0', IAM: 'ENABLED' },
          },
        },
      ]),
      ContainerDefinitions: [
        Match.objectLike({
          MountPoints: Match.arrayWith([
            { ContainerPath: '/mnt/media', ReadOnly: true, SourceVolume: 'media' },
          ]),
          // A subdirectory of the mount: a restore swaps it by renaming, which a mount point refuses.
          Environment: Match.arrayWith([{ Name: 'MEDIA_DIR', Value: '/mnt/media/current' }]),
        }),
      ],
    });
  });

  it('grants the task role no delete action of any kind', () => {
    const actions = taskRolePolicies().flatMap(actionsOf);
    expect(actions).toContain('s3:PutObject');
    expect(actions.filter((a) => /delete|\*/i.test(a))).toEqual([]);
  });

  it('grants the task role put, abort and get on its own database prefixes only', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
            Resource: ['daily/app/*', 'monthly/app/*', 'pre-restore/*', 'weekly/app/*'].map((suffix) => ({
              'Fn::Join': [
                '',
                [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupsBucket'), 'Arn'] }, `/${suffix}`],
              ],
            })),
          }),
        ]),
      },
      Roles: [{ Ref: Match.stringLikeRegexp('TaskRole') }],
    });
  });

  it('grants the task role the bucket key through S3 only', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Condition: { StringEquals: { 'kms:ViaService': Match.anyValue() } },
          }),
        ]),
      },
      Roles: [{ Ref: Match.stringLikeRegexp('TaskRole') }],
    });
  });

  it('sets a retention on the task log group', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    const groups = resourcesOf('AWS::Logs::LogGroup');
    expect(groups.every((g) => typeof g.Properties.RetentionInDays === 'number')).toBe(true);
  });

  it('lets the backup task reach the database and the media file system', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: 'sg-0123456789abcdef0',
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: 'sg-0fedcba9876543210',
      FromPort: 2049,
      ToPort: 2049,
    });
  });
});

describe('schedules', () => {
  it.each([
    ['daily', 'cron(0 2 * * ? *)'],
    ['weekly', 'cron(0 3 ? * SUN *)'],
    ['monthly', 'cron(0 4 1 * ? *)'],
  ])('schedules the %s backup at %s in the configured time zone', (tier, expression) => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: expression,
      ScheduleExpressionTimezone: 'UTC',
      State: 'ENABLED',
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LauncherFunction'), 'Arn'] },
        Input: JSON.stringify({ database: 'app', tier, scheduledTime: '<aws.scheduler.scheduled-time>' }),
      }),
    });
  });

  it('retries a failed invocation and then sends it to a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: {
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SchedulesDeadLetterQueue'), 'Arn'] },
        },
      }),
    });
  });

  it('alarms on the alert topic when the dead-letter queue holds a message, and when it is empty again', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmDescription: Match.stringLikeRegexp('dead-letter queue.*aws lambda invoke'),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlertsTopic') }],
      OKActions: [{ Ref: Match.stringLikeRegexp('^AlertsTopic') }],
    });
  });
});

describe('launcher and alerts', () => {
  it('runs every Lambda on Node.js 24 with a log group that has a retention', () => {
    const functions = resourcesOf('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.LoggingConfig).toEqual({ LogGroup: { Ref: expect.stringMatching(/Logs/) } });
    }
  });

  it('lets the launcher run only the backup task definitions in the backup cluster', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'ecs:RunTask',
            Resource: { Ref: Match.stringLikeRegexp('^TaskDb0TaskDefinition') },
            Condition: {
              ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [Match.stringLikeRegexp('^TaskCluster'), 'Arn'] } },
            },
          }),
        ]),
      },
    });
  });

  it.each([
    ['launcher', '^LauncherFunction'],
    ['monitor', '^MonitorFunction'],
  ])(
    'sends a %s invocation that failed after retries to the alerter, with its log group',
    (invoker, logicalId) => {
      const alerter = { 'Fn::GetAtt': [Match.stringLikeRegexp('^TaskAlertsFunction'), 'Arn'] };
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: Match.stringLikeRegexp(logicalId) },
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: alerter } },
      });
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp(`${logicalId}Role`) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Action: 'lambda:InvokeFunction', Resource: Match.arrayWith([alerter]) }),
          ]),
        },
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^Alerts when a backup task stops'),
        Environment: {
          Variables: Match.objectLike({
            [`${invoker.toUpperCase()}_LOG_GROUP`]: { Ref: Match.stringLikeRegexp(`${logicalId}Logs`) },
          }),
        },
      });
    },
  );

  it('routes STOPPED state changes of the backup and restore task families to the alert Lambda', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change'],
        detail: {
          clusterArn: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^TaskCluster'), 'Arn'] }],
          lastStatus: ['STOPPED'],
          taskDefinitionArn: [{ prefix: Match.anyValue() }, { prefix: Match.anyValue() }],
        },
      },
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TaskAlertsFunction'), 'Arn'] } }),
      ],
    });
  });

  it('encrypts the alert topic with KMS and subscribes the configured email', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });
});
