/**
 * A restore that needs nothing of the primary region: with `replica.restore`, the replica stack
 * holds the restore Lambda and task definition, pointed at the replica bucket and its key, with
 * least-privilege roles, an alert topic in the replica region, and nothing for cdk-nag to report.
 * Without it, the replica stack (and the primary) are what they were.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CDK_JSON_CONTEXT,
  nagFindings,
  type SynthesizedWithReplica,
  synthesizeWithReplica,
} from './synth.ts';

const base = CDK_JSON_CONTEXT.backup as Record<string, unknown>;
const PRIMARY = { account: '111111111111', region: 'eu-west-1' };
const REPLICA_SECRET = 'arn:aws:secretsmanager:eu-central-1:222222222222:secret:rds!db-dr-AbCdEf';
const REPLICA_DB_GROUP = 'sg-0aaaaaaaaaaaaaaaa';
const REPLICA_SUBNET = 'subnet-0aaaaaaaaaaaaaaaa';
const replicaConfig = (restore?: Record<string, unknown>) => ({
  backup: {
    ...base,
    objectLock: { enabled: true, mode: 'COMPLIANCE' },
    replica: { region: 'eu-central-1', account: '222222222222', ...(restore ? { restore } : {}) },
  },
});
const RESTORE = {
  databases: [{ name: 'app', secretArn: REPLICA_SECRET, securityGroupId: REPLICA_DB_GROUP }],
  vpc: { mode: 'import', vpcId: 'vpc-0aaaaaaaaaaaaaaaa', subnetIds: [REPLICA_SUBNET] },
  alertEmails: ['dr@example.com'],
};

let synth: SynthesizedWithReplica;
let without: SynthesizedWithReplica;
let replica: Template;

beforeAll(() => {
  synth = synthesizeWithReplica(replicaConfig(RESTORE), PRIMARY);
  without = synthesizeWithReplica(replicaConfig(), PRIMARY);
  replica = synth.replicaTemplate;
});

type Statement = { Action: string | string[]; Effect: string; Resource: unknown; Condition?: unknown };
type Resource = { Type: string; Properties: Record<string, unknown> };
const statementsOf = (template: Template, prefix: string): Statement[] =>
  Object.entries(template.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(prefix))
    .flatMap(([, r]) => (r as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties)
    .flatMap((p) => p.PolicyDocument.Statement);
const actionsOf = (statements: Statement[]) => statements.flatMap((s) => [s.Action].flat());
const replicaObject = (suffix: string) => ({
  'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^ReplicaBucket'), 'Arn'] }, `/${suffix}`]],
});
const replicaBucketRef = { Ref: Match.stringLikeRegexp('^ReplicaBucket') };
const replicaKeyArn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReplicaKey'), 'Arn'] };
const restoreFunction = () => {
  const [fn] = Object.entries(replica.findResources('AWS::Lambda::Function')).filter(([id]) =>
    id.startsWith('RestoreFunction'),
  );
  if (!fn) throw new Error('no restore function in the replica stack');
  return fn[1] as Resource;
};

describe('the replica stack with replica.restore', () => {
  it('reports zero unacknowledged cdk-nag AwsSolutions findings in either stack', () => {
    expect(nagFindings(synth.app)).toEqual([]);
  });

  it('runs the restore task on the replica bucket, with its key, region and replication window', () => {
    replica.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'backupctl',
          Environment: Match.arrayWith([
            { Name: 'BACKUP_BUCKET', Value: replicaBucketRef },
            { Name: 'BACKUP_SSE_KMS_KEY_ID', Value: replicaKeyArn },
            { Name: 'AWS_REGION', Value: 'eu-central-1' },
            { Name: 'BACKUP_REPLICATION_WINDOW_HOURS', Value: '3' },
            { Name: 'ALERT_TOPIC_ARN', Value: { Ref: Match.stringLikeRegexp('^RestoreAlertsTopic') } },
          ]),
          Secrets: Match.arrayWith([{ Name: 'PGHOST', ValueFrom: `${REPLICA_SECRET}:host::` }]),
        }),
      ],
    });
  });

  it("lets the server in the replica region admit the restore task's security group", () => {
    replica.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: REPLICA_DB_GROUP,
      FromPort: 5432,
      SourceSecurityGroupId: {
        'Fn::GetAtt': [Match.stringLikeRegexp('^RestoreTasksDb0SecurityGroup'), 'GroupId'],
      },
    });
  });

  it('points the restore Lambda at the replica bucket and its own task in the replica cluster', () => {
    const env = (restoreFunction().Properties.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(env).toMatchObject({
      BACKUP_BUCKET: { Ref: expect.stringMatching(/^ReplicaBucket/) },
      CLUSTER_ARN: { 'Fn::GetAtt': [expect.stringMatching(/^RestoreTasksCluster/), 'Arn'] },
      SUBNET_IDS: REPLICA_SUBNET,
      ASSIGN_PUBLIC_IP: 'DISABLED',
      // The same window as the restore tasks: a backup still arriving is "replicating", not damaged.
      BACKUP_REPLICATION_WINDOW_HOURS: '3',
    });
    const targets = JSON.stringify(env.TARGETS);
    expect(targets).toMatch(/\{\\"app\\":\{\\"taskDefinitionArn\\":\\"",\{"Ref":"RestoreDb0TaskDefinition/);
    // No backup task runs in the replica region, so nothing else must be waited for.
    expect(targets).toContain('\\"otherFamilies\\":[],\\"hasMedia\\":false');
  });

  it("lets the restore task read the replica's tiers of its database and write only its safety backup and lock", () => {
    const statements = statementsOf(replica, 'RestoreDb0TaskDefinitionTaskRole');
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 's3:GetObject', Resource: expect.any(Array) }),
      ]),
    );
    const reads = statements.find((s) => s.Action === 's3:GetObject');
    expect(JSON.stringify(reads?.Resource)).toMatch(
      /daily\/app\/\*.*monthly\/app\/\*.*pre-restore\/app\/\*.*weekly\/app\/\*/,
    );
    replica.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: ['s3:AbortMultipartUpload', 's3:PutObject', 's3:PutObjectRetention'],
            Effect: 'Allow',
            Resource: replicaObject('pre-restore/app/*'),
          },
          {
            Action: ['s3:GetObject', 's3:PutObject'],
            Effect: 'Allow',
            Resource: replicaObject('locks/app.json'),
          },
          {
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Condition: { StringEquals: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' } },
            Effect: 'Allow',
            Resource: replicaKeyArn,
          },
        ]),
      },
    });
    expect(actionsOf(statements).filter((a) => /Delete|Bypass|\*/.test(a))).toEqual([]);
  });

  it('lets the restore Lambda read manifests and locks only, and start only the restore task', () => {
    const statements = statementsOf(replica, 'RestoreFunctionRole');
    const reads = statements.find((s) => s.Action === 's3:GetObject');
    const resources = JSON.stringify(reads?.Resource);
    expect(resources).toContain('/daily/app/*/manifest.json');
    expect(resources).toContain('/locks/app.json');
    expect(resources).not.toMatch(/db\.dump|media\.tar|app\/\*"/);
    const runTask = statements.find((s) => s.Action === 'ecs:RunTask');
    expect(runTask?.Resource).toEqual({ Ref: expect.stringMatching(/^RestoreDb0TaskDefinition/) });
    expect(actionsOf(statements).filter((a) => /^s3:Put|Delete/.test(a))).toEqual([]);
  });

  it('needs no new bucket policy statement: the same-account roles are granted by their own policies, and none is denied', () => {
    // Same account as the bucket: an identity policy alone grants access, so the bucket policy keeps
    // trusting only the primary's replication role; its denies (no TLS, other encryption, another
    // key) do not touch the restore task, which puts with the replica key (BACKUP_SSE_KMS_KEY_ID).
    const policies = (t: Template) => JSON.stringify(t.findResources('AWS::S3::BucketPolicy'));
    expect(policies(replica)).toEqual(policies(without.replicaTemplate));
    const denies = Object.values(replica.findResources('AWS::S3::BucketPolicy'))
      .flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties)
      .flatMap((p) => p.PolicyDocument.Statement)
      .filter((s) => s.Effect === 'Deny');
    const denied = denies.flatMap((s) => Object.values(s.Condition ?? {}).flatMap((c) => Object.keys(c)));
    expect(new Set(denied)).toEqual(
      new Set([
        'aws:SecureTransport',
        's3:TlsVersion',
        's3:x-amz-server-side-encryption',
        's3:x-amz-server-side-encryption-aws-kms-key-id',
      ]),
    );
    // The replica key's policy lets its account's IAM policies grant its use.
    replica.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'kms:*', Principal: { AWS: 'arn:aws:iam::222222222222:root' } }),
        ]),
      },
    });
  });

  it('mails restore results and failed restore tasks to a topic in the replica region', () => {
    replica.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'dr@example.com',
    });
    replica.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        detail: Match.objectLike({
          clusterArn: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^RestoreTasksCluster'), 'Arn'] }],
          taskDefinitionArn: [{ prefix: Match.stringLikeRegexp('eu-central-1') }],
        }),
      }),
    });
    // Nothing of it names the primary region.
    expect(JSON.stringify(replica.toJSON())).not.toContain(PRIMARY.region);
  });

  it('changes nothing in the primary stack', () => {
    expect(synth.template.toJSON()).toEqual(without.template.toJSON());
  });
});

describe('the replica stack without replica.restore', () => {
  it('holds only the replica bucket, its access log bucket, its key and their policies', () => {
    const types = Object.values(without.replicaTemplate.toJSON().Resources as Record<string, Resource>)
      .map((r) => r.Type)
      .sort();
    expect(types).toEqual([
      'AWS::KMS::Alias',
      'AWS::KMS::Key',
      'AWS::S3::Bucket',
      'AWS::S3::Bucket',
      'AWS::S3::BucketPolicy',
      'AWS::S3::BucketPolicy',
    ]);
  });

  it('is what the stack with replica.restore holds besides the restore', () => {
    const withRestore = synth.replicaTemplate.toJSON().Resources as Record<string, Resource>;
    const bare = without.replicaTemplate.toJSON().Resources as Record<string, Resource>;
    const added = Object.keys(withRestore).filter((id) => !(id in bare));
    expect(added.every((id) => id.startsWith('Restore'))).toBe(true);
    for (const [id, resource] of Object.entries(bare)) expect(withRestore[id]).toEqual(resource);
  });
});
