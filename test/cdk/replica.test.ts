/**
 * The offsite copy: a replica in another region and account (synthesized once, both stacks, with
 * cdk-nag), the replication rules, role and policies on both sides, the alarms, the per-tier
 * Object Lock the task writes, and the monitor's replication watch. A same-account replica and
 * the configuration without `replica` are checked for what must differ.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CDK_JSON_CONTEXT,
  nagFindings,
  type SynthesizedWithReplica,
  synthesize,
  synthesizeWithReplica,
} from './synth.ts';

const base = CDK_JSON_CONTEXT.backup as Record<string, unknown>;
const PRIMARY = { account: '111111111111', region: 'eu-west-1' };
const REPLICA_BUCKET = 'test-replica-222222222222-eu-central-1';
const ROLE_ARN = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::111111111111:role/Test-s3-replication']],
};

let synth: SynthesizedWithReplica;
let primary: Template;
let replica: Template;

beforeAll(() => {
  synth = synthesizeWithReplica(
    {
      backup: {
        ...base,
        objectLock: { enabled: true, mode: 'COMPLIANCE' },
        replica: { region: 'eu-central-1', account: '222222222222', retention: { dailyDays: 20 } },
      },
    },
    PRIMARY,
  );
  primary = synth.template;
  replica = synth.replicaTemplate;
});

type Statement = { Action: string | string[]; Effect: string; Resource: unknown; Condition?: unknown };
const policyStatements = (template: Template, idPart: string): Statement[] =>
  Object.entries(template.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.includes(idPart))
    .flatMap(
      ([, r]) =>
        (r as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
          .Statement,
    );
const actions = (statements: Statement[]) => statements.flatMap((s) => [s.Action].flat());

describe('both stacks', () => {
  it('report zero unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(nagFindings(synth.app)).toEqual([]);
  });

  it('deploy the replica first, in its own region and account', () => {
    expect(synth.stack.dependencies).toContain(synth.replica);
    expect(synth.replica.region).toBe('eu-central-1');
    expect(synth.replica.account).toBe('222222222222');
  });
});

describe('replica bucket', () => {
  it('is versioned, private, encrypted with its own rotated key, and named as the primary expects', () => {
    replica.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: REPLICA_BUCKET,
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReplicaKey'), 'Arn'] },
            },
          },
        ],
      },
    });
    replica.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    replica.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/Test/replica' });
  });

  it('is always under Object Lock, in the configured mode', () => {
    replica.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 20 } },
      },
    });
  });

  it('expires each tier after its own days, defaulting to the primary', () => {
    replica.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: REPLICA_BUCKET,
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'daily/', ExpirationInDays: 20 }),
          Match.objectLike({ Prefix: 'weekly/', ExpirationInDays: 90 }),
          Match.objectLike({
            Prefix: 'monthly/',
            ExpirationInDays: 365,
            Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }],
          }),
        ]),
      },
    });
  });

  it('denies requests without TLS', () => {
    replica.hasResourceProperties('AWS::S3::BucketPolicy', {
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

  it('lets only the replication role of the primary account write replicas, and never delete', () => {
    const policies = Object.values(replica.findResources('AWS::S3::BucketPolicy')).map(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: (Statement & { Principal?: unknown })[] } } })
          .Properties.PolicyDocument.Statement,
    );
    const allows = policies
      .flat()
      .filter((s) => s.Effect === 'Allow' && JSON.stringify(s.Principal).includes('111111111111'));
    expect(allows.map((s) => s.Condition)).toEqual([
      { ArnEquals: { 'aws:PrincipalArn': ROLE_ARN } },
      { ArnEquals: { 'aws:PrincipalArn': ROLE_ARN } },
    ]);
    expect(actions(allows).sort()).toEqual([
      's3:GetBucketVersioning',
      's3:ObjectOwnerOverrideToBucketOwner',
      's3:ReplicateObject',
      's3:ReplicateTags',
    ]);
  });

  it("lets the replication role encrypt with the replica's key through S3 only", () => {
    replica.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['kms:Encrypt', 'kms:GenerateDataKey'],
            Principal: { AWS: 'arn:aws:iam::111111111111:root' },
            Condition: {
              ArnEquals: { 'aws:PrincipalArn': ROLE_ARN },
              StringEquals: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' },
            },
          }),
        ]),
      },
    });
  });
});

describe('replication rules', () => {
  const rules = () =>
    (
      Object.values(primary.findResources('AWS::S3::Bucket')).find(
        (b) => (b as { Properties: Record<string, unknown> }).Properties.ReplicationConfiguration,
      ) as {
        Properties: { ReplicationConfiguration: { Rules: Record<string, unknown>[] } };
      }
    ).Properties.ReplicationConfiguration.Rules;

  it('replicate daily/, weekly/ and monthly/ only (never locks/ or pre-restore/)', () => {
    expect(rules().map((r) => (r.Filter as { Prefix: string }).Prefix)).toEqual([
      'daily/',
      'weekly/',
      'monthly/',
    ]);
    expect(rules().map((r) => r.Priority)).toEqual([1, 2, 3]);
  });

  it.each(['daily/', 'weekly/', 'monthly/'])(
    'give %s RTC, metrics, the replica key, no delete markers and the replica account as owner',
    (prefix) => {
      const rule = rules().find((r) => (r.Filter as { Prefix: string }).Prefix === prefix);
      expect(rule).toMatchObject({
        Status: 'Enabled',
        DeleteMarkerReplication: { Status: 'Disabled' },
        SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } },
        Destination: {
          Bucket: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::${REPLICA_BUCKET}`]] },
          Account: '222222222222',
          AccessControlTranslation: { Owner: 'Destination' },
          EncryptionConfiguration: {
            ReplicaKmsKeyID: 'arn:aws:kms:eu-central-1:222222222222:alias/Test/replica',
          },
          ReplicationTime: { Status: 'Enabled', Time: { Minutes: 15 } },
          Metrics: { Status: 'Enabled', EventThreshold: { Minutes: 15 } },
        },
      });
    },
  );
});

describe('replication role', () => {
  it('is assumed by S3 for this account only', () => {
    primary.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'Test-s3-replication',
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 's3.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': '111111111111' } },
          }),
        ],
      },
    });
  });

  it('may read what it replicates and write replicas, and nothing else', () => {
    const statements = policyStatements(primary, 'ReplicationRole');
    expect(actions(statements).sort()).toEqual(
      [
        'kms:Decrypt',
        'kms:Encrypt',
        'kms:GenerateDataKey',
        's3:GetObjectLegalHold',
        's3:GetObjectRetention',
        's3:GetObjectVersionAcl',
        's3:GetObjectVersionForReplication',
        's3:GetObjectVersionTagging',
        's3:GetReplicationConfiguration',
        's3:ListBucket',
        's3:ObjectOwnerOverrideToBucketOwner',
        's3:ReplicateObject',
        's3:ReplicateTags',
      ].sort(),
    );
    const resources = JSON.stringify(statements.map((s) => s.Resource));
    expect(resources).not.toMatch(/locks\/|pre-restore\//);
    expect(resources).toMatch(/daily\/\*.*monthly\/\*.*weekly\/\*/);
  });

  it("may use the replica's key only by its alias and through S3 in the replica region", () => {
    const encrypt = policyStatements(primary, 'ReplicationRole').find((s) =>
      [s.Action].flat().includes('kms:Encrypt'),
    );
    expect(encrypt).toMatchObject({
      Resource: 'arn:aws:kms:eu-central-1:222222222222:key/*',
      Condition: {
        StringEquals: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' },
        'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/Test/replica' },
      },
    });
  });
});

describe('alarms', () => {
  it.each([
    ['failed replications', 'OperationsFailedReplication', 0],
    ['RTC threshold misses', 'ReplicationLatency', 900],
  ])('alarm on %s of every rule, notifying the alert topic', (_what, metricName, threshold) => {
    primary.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: threshold,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlertsTopic') }],
      AlarmDescription: Match.stringLikeRegexp(REPLICA_BUCKET),
      Metrics: Match.arrayWith(
        ['replicate-daily', 'replicate-weekly', 'replicate-monthly'].map((rule) =>
          Match.objectLike({
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({
                Namespace: 'AWS/S3',
                MetricName: metricName,
                Dimensions: Match.arrayWith([{ Name: 'RuleId', Value: rule }]),
              }),
            }),
          }),
        ),
      ),
    });
  });
});

describe('per-tier Object Lock and the watch', () => {
  it('gives the backup task the mode and each tier its retention in days', () => {
    primary.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([
            { Name: 'BACKUP_OBJECT_LOCK_MODE', Value: 'COMPLIANCE' },
            {
              Name: 'BACKUP_OBJECT_LOCK_DAYS',
              Value: '{"daily":30,"weekly":90,"monthly":365,"pre-restore":30}',
            },
          ]),
        }),
      ],
    });
  });

  it('lets the task set retention on write but never bypass it or delete', () => {
    const task = actions(policyStatements(primary, 'TaskRole'));
    expect(task).toContain('s3:PutObjectRetention');
    expect(task.filter((a) => /Delete|Bypass|\*$/.test(a) && a !== 'kms:GenerateDataKey*')).toEqual([]);
  });

  it('gives the monitor the replication limits and HeadObject of the backup files', () => {
    primary.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          BACKUP_HEALTH_THRESHOLDS: Match.stringLikeRegexp(
            '"replication":\\{"warnMinutes":15,"criticalHours":3\\}',
          ),
        }),
      },
    });
    expect(JSON.stringify(policyStatements(primary, 'MonitorFunction'))).toContain('/*/db.dump.zst');
  });

  it('puts replication lag and state of each database on the dashboard', () => {
    const body = JSON.stringify(primary.findResources('AWS::CloudWatch::Dashboard'));
    expect(body).toContain('ReplicationLagSeconds');
    expect(body).toContain('Replicated');
  });
});

describe('a replica in the same account', () => {
  let same: SynthesizedWithReplica;
  beforeAll(() => {
    same = synthesizeWithReplica(
      { backup: { ...base, objectLock: { enabled: true }, replica: { region: 'eu-central-1' } } },
      PRIMARY,
    );
  });

  it('keeps replica ownership as it is and grants no ownership override', () => {
    const json = JSON.stringify(same.template.toJSON());
    expect(json).toContain('ReplicationConfiguration');
    expect(json).not.toContain('AccessControlTranslation');
    expect(json).not.toContain('ObjectOwnerOverrideToBucketOwner');
    expect(JSON.stringify(same.replicaTemplate.toJSON())).not.toContain('ObjectOwnerOverrideToBucketOwner');
    expect(nagFindings(same.app)).toEqual([]);
  });
});

describe('without a replica', () => {
  it('synthesizes no replication, no replication role, no lock headers and no artifact reads', () => {
    const json = JSON.stringify(synthesize().template.toJSON());
    for (const absent of [
      'ReplicationConfiguration',
      's3-replication',
      'BACKUP_OBJECT_LOCK',
      'db.dump.zst',
      'ReplicationLatency',
      '"replication"',
    ]) {
      expect(json).not.toContain(absent);
    }
  });
});
