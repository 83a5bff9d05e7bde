import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, replicaPlacementProblems } from '../../lib/config.ts';
import { CDK_JSON_CONTEXT } from './synth.ts';

const minimal = {
  databases: [
    { name: 'app', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf' },
  ],
  alertEmails: ['ops@example.com'],
};

/** A database's restore on a server in the replica region (eu-central-1). */
const DR_DATABASE = {
  name: 'app',
  secretArn: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!db-dr-AbCdEf',
};

/** [what is invalid, override of the minimal configuration, fragments every problem list must contain] */
const INVALID: [string, Record<string, unknown>, ...string[]][] = [
  ['retention.dailyDays', { retention: { dailyDays: 0 } }, 'retention.dailyDays must be >= 1 day, got: 0'],
  [
    'retention.weeklyDays',
    { retention: { weeklyDays: 1.5 } },
    'retention.weeklyDays must be a whole number of days, got: 1.5',
  ],
  [
    'timeZone',
    { timeZone: 'Mars/Olympus' },
    'timeZone must be an IANA time zone name like "Europe/Berlin" or "UTC", got: "Mars/Olympus"',
  ],
  [
    'schedules.daily',
    { schedules: { daily: 'cron(0 2 * * * *)' } },
    'schedules.daily must be an EventBridge Scheduler expression like "cron(0 2 * * ? *)" or "rate(6 hours)", got: "cron(0 2 * * * *)"',
  ],
  [
    'task.cpu',
    { task: { cpu: 1000 } },
    "task.cpu must be one of Fargate's CPU sizes (256, 512, 1024, 2048, 4096, 8192, 16384), got: 1000",
  ],
  [
    'task.memoryMiB',
    { task: { cpu: 256, memoryMiB: 4096 } },
    'task.memoryMiB must be 512-2048 in steps of 512 for task.cpu 256, got: 4096',
  ],
  [
    'task.pgMajorVersion (older than 17)',
    { task: { pgMajorVersion: 16 } },
    "task.pgMajorVersion must be 17 or 18 (the image's pg_dump must be >= every server it dumps), got: 16",
  ],
  [
    'task.pgMajorVersion (newer than 18)',
    { task: { pgMajorVersion: 19 } },
    "task.pgMajorVersion must be 17 or 18 (the image's pg_dump must be >= every server it dumps), got: 19",
  ],
  [
    'task.pgMajorVersion (not a number)',
    { task: { pgMajorVersion: '18' } },
    'task.pgMajorVersion must be 17 or 18 (the image\'s pg_dump must be >= every server it dumps), got: "18"',
  ],
  [
    'task.ephemeralStorageGiB',
    { task: { ephemeralStorageGiB: 20 } },
    'task.ephemeralStorageGiB must be 21-200 GiB (Fargate ephemeral storage), got: 20',
  ],
  [
    'schedules.verify',
    { schedules: { verify: 'daily at six' } },
    'schedules.verify must be an EventBridge Scheduler expression',
  ],
  [
    'databases[0].restoreSecretArn',
    { databases: [{ ...minimal.databases[0], restoreSecretArn: 'app-restore' }] },
    'databases[0].restoreSecretArn must be the complete ARN of a Secrets Manager secret',
  ],
  [
    'task.logRetentionDays',
    { task: { logRetentionDays: 10 } },
    'task.logRetentionDays must be one of',
    'got: 10',
  ],
  [
    'alertEmails',
    { alertEmails: ['not-an-address'] },
    'alertEmails[0] must be email addresses like ops@example.com, got: "not-an-address"',
  ],
  ['alertEmails (empty)', { alertEmails: [] }, 'alertEmails must list at least one address, got: []'],
  [
    'databases[0].name',
    { databases: [{ ...minimal.databases[0], name: '-drop' }] },
    'databases[0].name must be 1-63 letters',
    'got: "-drop"',
  ],
  [
    'databases[0].secretArn',
    { databases: [{ name: 'app', secretArn: 'my-secret' }] },
    'databases[0].secretArn must be the complete ARN',
    'got: "my-secret"',
  ],
  [
    'databases[1].name (duplicate)',
    { databases: [minimal.databases[0], minimal.databases[0]] },
    'databases[1].name must be unique, got: "app"',
  ],
  [
    'databases[0].media.accessPointId',
    {
      databases: [
        { ...minimal.databases[0], media: { fileSystemId: 'fs-0123456789abcdef0', accessPointId: 'ap-1' } },
      ],
    },
    'databases[0].media.accessPointId must be an EFS access point id',
    'got: "ap-1"',
  ],
  [
    'vpc.subnetIds',
    { vpc: { mode: 'import', vpcId: 'vpc-0123456789abcdef0', subnetIds: [] } },
    'vpc.subnetIds must list at least one subnet, got: []',
  ],
  [
    'vpc.mode',
    { vpc: { vpcId: 'vpc-0123456789abcdef0' } },
    'vpc.mode must be "import" (with vpcId and subnetIds) or "create", got: (missing)',
  ],
  [
    'retention.monthlyGlacierTransitionDays',
    { retention: { monthlyDays: 60 } },
    'retention.monthlyGlacierTransitionDays must be less than retention.monthlyDays (60), got: 90',
  ],
  [
    'objectLock.retentionDays',
    { objectLock: { enabled: true, retentionDays: 60 } },
    'objectLock.retentionDays must be <= the shortest tier retention (30 days), got: 60',
  ],
  ['an unknown key', { retension: {} }, 'unknown key "retension"'],
  [
    'a replica without Object Lock on the primary',
    { replica: { region: 'eu-central-1' } },
    'objectLock.enabled must be true with a replica: backupctl locks each object for its tier, and replication copies that retention to the replica, got: false',
  ],
  [
    'objectLock.days shorter than the tier retention',
    { objectLock: { enabled: true, days: { weekly: 60 } } },
    'objectLock.days.weekly must be >= retention.weeklyDays (90 days): a backup must stay locked for as long as it is kept, got: 60',
  ],
  [
    'a replica kept longer than its lock',
    { objectLock: { enabled: true }, replica: { region: 'eu-central-1', retention: { monthlyDays: 400 } } },
    'replica.retention.monthlyDays must be <= the monthly Object Lock (365 days, objectLock.days.monthly): a replica kept longer than its lock could be deleted before it expires, got: 400',
  ],
  [
    'a replica region that is no region',
    { objectLock: { enabled: true }, replica: { region: 'Frankfurt' } },
    'replica.region must be an AWS region like eu-central-1, got: "Frankfurt"',
  ],
  [
    'a replica account that is no account id',
    { objectLock: { enabled: true }, replica: { region: 'eu-central-1', account: '1234' } },
    'replica.account must be a 12-digit AWS account id, got: "1234"',
  ],
  [
    'a replica default retention longer than its shortest tier',
    {
      objectLock: { enabled: true },
      replica: { region: 'eu-central-1', objectLock: { defaultRetentionDays: 31 } },
    },
    'replica.objectLock.defaultRetentionDays must be <= the shortest replica tier retention (30 days), got: 31',
  ],
  [
    'a replica restore of a database that is not backed up',
    {
      objectLock: { enabled: true },
      replica: { region: 'eu-central-1', restore: { databases: [{ ...DR_DATABASE, name: 'shop' }] } },
    },
    'replica.restore.databases[0].name must be one of databases (app): the replica holds their backups only, got: "shop"',
  ],
  [
    'a replica restore secret in the primary region',
    {
      objectLock: { enabled: true },
      replica: {
        region: 'eu-central-1',
        restore: { databases: [{ ...DR_DATABASE, secretArn: minimal.databases[0]?.secretArn }] },
      },
    },
    'replica.restore.databases[0].secretArn must be in the replica region (eu-central-1): a restore there must not need the primary region, got: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1-AbCdEf"',
  ],
  [
    'a replica restore without databases',
    { objectLock: { enabled: true }, replica: { region: 'eu-central-1', restore: { databases: [] } } },
    'replica.restore.databases must list at least one database, got: []',
  ],
  [
    'a replica restore network that is no VPC id',
    {
      objectLock: { enabled: true },
      replica: {
        region: 'eu-central-1',
        restore: { databases: [DR_DATABASE], vpc: { mode: 'import', vpcId: 'main', subnetIds: [] } },
      },
    },
    'replica.restore.vpc.vpcId must be a VPC id like vpc-0123456789abcdef0, got: "main"',
    'replica.restore.vpc.subnetIds must list at least one subnet, got: []',
  ],
  [
    'objectLock.mode',
    { objectLock: { enabled: true, mode: 'strict' } },
    'objectLock.mode must be "GOVERNANCE" or "COMPLIANCE", got: "strict"',
  ],
];

function problemsOf(context: Record<string, unknown>): readonly string[] {
  try {
    loadConfig(context);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('accepts the example configuration shipped in cdk.json', () => {
    const config = loadConfig(CDK_JSON_CONTEXT);

    expect(config.databases.map((db) => db.name)).toEqual(['app']);
    expect(config.vpc.mode).toBe('import');
  });

  it("applies defaults that reproduce the replaced scripts' policy", () => {
    const config = loadConfig({ backup: minimal });

    expect(config.schedules).toEqual({
      daily: 'cron(0 2 * * ? *)',
      weekly: 'cron(0 3 ? * SUN *)',
      monthly: 'cron(0 4 1 * ? *)',
      monitor: 'rate(6 hours)',
      report: 'cron(0 9 ? * MON *)',
      verify: 'cron(0 6 * * ? *)',
    });
    expect(config.retention).toMatchObject({
      dailyDays: 30,
      weeklyDays: 90,
      monthlyDays: 365,
      monthlyGlacierTransitionDays: 90,
    });
    expect(config.timeZone).toBe('UTC');
    expect(config.task).toEqual({
      cpu: 1024,
      memoryMiB: 2048,
      pgMajorVersion: 18,
      ephemeralStorageGiB: 50,
      logRetentionDays: 90,
    });
    expect(config.vpc).toEqual({ mode: 'create', maxAzs: 2 });
    expect(config.objectLock.enabled).toBe(false);
    expect(config.databases[0]?.port).toBe(5432);
  });

  it('accepts task.pgMajorVersion 17 for an image kept on the previous major', () => {
    const config = loadConfig({ backup: { ...minimal, task: { pgMajorVersion: 17 } } });

    expect(config.task.pgMajorVersion).toBe(17);
  });

  it('applies -c backup.<path> overrides, parsing JSON values', () => {
    const config = loadConfig({
      backup: minimal,
      'backup.retention.dailyDays': '14',
      'backup.timeZone': 'Europe/Berlin',
      'backup.alertEmails': '["a@example.com","b@example.com"]',
      'backup.databases.0.port': '6432',
    });

    expect(config.retention.dailyDays).toBe(14);
    expect(config.timeZone).toBe('Europe/Berlin');
    expect(config.alertEmails).toEqual(['a@example.com', 'b@example.com']);
    expect(config.databases[0]?.port).toBe(6432);
  });

  it('fails when the backup context key is missing', () => {
    expect(problemsOf({})).toEqual([expect.stringContaining('context key "backup" is missing')]);
  });

  it.each(INVALID)(
    'fails when %s is invalid, naming the key and the value',
    (_key, override, ...expected) => {
      // Prepare
      const context = { backup: { ...minimal, ...override } };
      // Act
      const problems = problemsOf(context);
      // Assess
      for (const fragment of expected) {
        expect(problems).toEqual(expect.arrayContaining([expect.stringContaining(fragment)]));
      }
    },
  );

  it('fails with one message per problem when several keys are invalid', () => {
    const problems = problemsOf({
      backup: { ...minimal, retention: { dailyDays: 0 }, timeZone: 'nowhere', task: { cpu: 3 } },
    });

    expect(problems).toHaveLength(3);
    expect(problems.map((p) => p.split(' ')[0])).toEqual(['timeZone', 'retention.dailyDays', 'task.cpu']);
  });

  it('fails when required keys are missing, naming each one', () => {
    const problems = problemsOf({ backup: {} });

    expect(problems).toEqual([
      'databases must be a list of databases, got: (missing)',
      'alertEmails must be a list of email addresses, got: (missing)',
    ]);
  });
});

describe('replica.restore', () => {
  it('creates a VPC and leaves the alert addresses to the primary when not given', () => {
    const config = loadConfig({
      backup: {
        ...minimal,
        objectLock: { enabled: true },
        replica: { region: 'eu-central-1', restore: { databases: [DR_DATABASE] } },
      },
    });

    expect(config.replica?.restore).toEqual({
      databases: [{ ...DR_DATABASE, port: 5432 }],
      vpc: { mode: 'create', maxAzs: 2 },
    });
  });
});

describe('replicaPlacementProblems', () => {
  const withReplica = (replica: Record<string, unknown>) =>
    loadConfig({ backup: { ...minimal, objectLock: { enabled: true }, replica } });

  it('fails when the replica region is the primary region', () => {
    expect(replicaPlacementProblems(withReplica({ region: 'eu-west-1' }), { region: 'eu-west-1' })).toEqual([
      'replica.region must differ from the primary\'s region (eu-west-1): a regional outage would take both copies, got: "eu-west-1"',
    ]);
  });

  it('fails for another account when the primary account is unknown', () => {
    const problems = replicaPlacementProblems(
      withReplica({ region: 'eu-central-1', account: '222222222222' }),
      {
        region: 'eu-west-1',
      },
    );
    expect(problems).toEqual([
      expect.stringMatching(/^replica\.account needs the primary account known: set CDK_DEFAULT_ACCOUNT/),
    ]);
  });

  it('accepts another region, and no replica at all', () => {
    expect(
      replicaPlacementProblems(withReplica({ region: 'eu-central-1' }), { region: 'eu-west-1' }),
    ).toEqual([]);
    expect(replicaPlacementProblems(loadConfig({ backup: minimal }), { region: 'eu-west-1' })).toEqual([]);
  });
});
