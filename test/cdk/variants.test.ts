/**
 * A second configuration: a created VPC, two databases without media, Object Lock on, another time
 * zone and custom retention. Synthesized once, Lambdas not bundled (backup-stack.test.ts does that).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { nagFindings, type Synthesized, synthesize } from './synth.ts';

const secret = (n: number) => `arn:aws:secretsmanager:eu-central-1:123456789012:secret:db${n}-AbCdE${n}`;

let synth: Synthesized;
let template: Template;

beforeAll(() => {
  synth = synthesize({
    backup: {
      databases: [
        { name: 'shop', secretArn: secret(1) },
        { name: 'blog', secretArn: secret(2), port: 6432 },
      ],
      vpc: { mode: 'create' },
      alertEmails: ['a@example.com', 'b@example.com'],
      timeZone: 'Europe/Berlin',
      retention: { dailyDays: 14, monthlyGlacierStorageClass: 'GLACIER' },
      objectLock: { enabled: true },
      task: { cpu: 2048, memoryMiB: 8192, pgMajorVersion: 17 },
    },
  });
  template = synth.template;
});

describe('a created VPC, two databases and Object Lock', () => {
  it('reports zero unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(nagFindings(synth.app)).toEqual([]);
  });

  it('enables Object Lock in governance mode for the shortest tier retention', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 14 } },
      },
    });
  });

  it('uses the configured retention and Glacier class', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'daily/', ExpirationInDays: 14 }),
          Match.objectLike({
            Prefix: 'monthly/',
            Transitions: [{ StorageClass: 'GLACIER', TransitionInDays: 90 }],
          }),
        ]),
      },
    });
  });

  it('creates one schedule per tier per database in the configured time zone', () => {
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule'));
    // The backup schedules are those whose input names a tier (the monitor's carry a mode).
    expect(schedules.filter((s) => JSON.stringify(s.Properties.Target).includes('"tier')).length).toBe(6);
    expect(schedules.every((s) => s.Properties.ScheduleExpressionTimezone === 'Europe/Berlin')).toBe(true);
  });

  it('creates one backup and one restore task definition per database with the configured size', () => {
    template.resourcePropertiesCountIs('AWS::ECS::TaskDefinition', { Cpu: '2048', Memory: '8192' }, 4);
    template.resourcePropertiesCountIs(
      'AWS::ECS::TaskDefinition',
      { Cpu: '2048', Memory: '8192', EphemeralStorage: { SizeInGiB: 50 } },
      2,
    );
  });

  it('builds the image with the configured PostgreSQL major version', () => {
    const manifest = JSON.parse(readFileSync(join(synth.app.synth().directory, 'Test.assets.json'), 'utf8'));
    const images = Object.values(manifest.dockerImages) as { source: Record<string, unknown> }[];
    expect(images.map((image) => image.source)).toEqual([
      expect.objectContaining({ dockerFile: 'task/Dockerfile', dockerBuildArgs: { PG_MAJOR: '17' } }),
    ]);
  });

  it("scopes each task role to its own database's prefixes", () => {
    const policies = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([id]) =>
      id.includes('TaskRole'),
    );
    const resourcesOf = (db: string) =>
      JSON.stringify(policies.filter(([id]) => id.includes(db === 'shop' ? 'Db0' : 'Db1')).map(([, p]) => p));
    expect(resourcesOf('shop')).toContain('/daily/shop/*');
    expect(resourcesOf('shop')).not.toContain('/daily/blog/*');
    expect(resourcesOf('blog')).toContain('/daily/blog/*');
    expect(resourcesOf('blog')).not.toContain('/daily/shop/*');
  });

  it('creates a VPC with public subnets only, no NAT gateway and a flow log', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'REJECT' });
  });

  it('starts tasks with a public IP in the created VPC', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ASSIGN_PUBLIC_IP: 'ENABLED' }) },
    });
  });

  it('sets no MEDIA_DIR for a database without media', () => {
    const taskDefinitions = JSON.stringify(template.findResources('AWS::ECS::TaskDefinition'));
    expect(taskDefinitions).not.toContain('MEDIA_DIR');
  });

  it('subscribes every configured email address', () => {
    template.resourcePropertiesCountIs('AWS::SNS::Subscription', { Protocol: 'email' }, 2);
  });
});
