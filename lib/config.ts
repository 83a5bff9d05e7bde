/**
 * The deployment configuration: read from the `backup` context object in cdk.json, overridable key
 * by key with `-c backup.<dotted.path>=<value>` (JSON values are parsed, anything else is a string).
 *
 * Every problem is reported, one line each, naming the key and the value received, so that one
 * failed `cdk synth` shows everything to fix.
 */
import { z } from 'zod';
import { DEFAULT_THRESHOLDS } from '../task/core/health.ts';
import { databaseNameSchema } from '../task/core/ids.ts';
import { normalizePrefix } from '../task/core/keys.ts';
import { DEFAULT_IMAGE_PG_MAJOR, IMAGE_PG_MAJORS } from '../task/core/pg-majors.ts';
import { DEFAULT_EPHEMERAL_STORAGE_GIB, DEFAULT_TASK_SIZE, fargateSizeProblem } from './fargate-sizes.ts';

/** The context key that holds the configuration object. */
export const CONFIG_CONTEXT_KEY = 'backup';

/** Thrown when the configuration is invalid; `problems` holds one sentence per problem. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const PG_MAJOR_VERSION_RULE = `task.pgMajorVersion must be ${IMAGE_PG_MAJORS.join(' or ')} (the image's pg_dump must be >= every server it dumps)`;

/** CloudWatch Logs' accepted retention periods, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+-[A-Za-z0-9]{6}$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[a-f0-9-]{36}$/;
const CRON = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$/;
const RATE = /^rate\([1-9]\d* (minute|minutes|hour|hours|day|days)\)$/;

const days = (key: string, min = 1) =>
  z
    .number({ error: `${key} must be a whole number of days` })
    .int(`${key} must be a whole number of days`)
    .min(min, `${key} must be >= ${min} day${min === 1 ? '' : 's'}`);

const positive = (key: string, unit: string) =>
  z.number({ error: `${key} must be a number of ${unit}` }).positive(`${key} must be > 0 ${unit}`);

const scheduleExpression = (key: string) =>
  z.string({ error: `${key} must be a schedule expression` }).refine(isScheduleExpression, {
    message: `${key} must be an EventBridge Scheduler expression like "cron(0 2 * * ? *)" or "rate(6 hours)"`,
  });

const timeZone = z.string({ error: 'timeZone must be an IANA time zone name' }).refine(isTimeZone, {
  message: 'timeZone must be an IANA time zone name like "Europe/Berlin" or "UTC"',
});

const mediaSchema = z.strictObject({
  fileSystemId: z
    .string({ error: 'fileSystemId must be an EFS file system id' })
    .regex(/^fs-[0-9a-f]{8,40}$/, 'fileSystemId must be an EFS file system id like fs-0123456789abcdef0'),
  accessPointId: z
    .string({ error: 'accessPointId must be an EFS access point id' })
    .regex(
      /^fsap-[0-9a-f]{8,40}$/,
      'accessPointId must be an EFS access point id like fsap-0123456789abcdef0',
    ),
  path: z
    .string({ error: 'path must be an absolute directory below the access point root' })
    .refine((p) => /^\/([A-Za-z0-9_.-]+\/?)*$/.test(p) && !p.split('/').includes('..'), {
      message:
        'path must be an absolute directory below the access point root, without ".." (e.g. "/" or "/uploads")',
    })
    .default('/'),
  securityGroupId: z
    .string({ error: 'securityGroupId must be a security group id' })
    .regex(/^sg-[0-9a-f]{8,17}$/, 'securityGroupId must be a security group id like sg-0123456789abcdef0')
    .optional(),
});

const databaseSchema = z.strictObject({
  name: databaseNameSchema,
  secretArn: z
    .string({ error: 'secretArn must be a Secrets Manager secret ARN' })
    .regex(
      SECRET_ARN,
      'secretArn must be the complete ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)',
    ),
  secretKmsKeyArn: z
    .string({ error: 'secretKmsKeyArn must be a KMS key ARN' })
    .regex(KMS_KEY_ARN, 'secretKmsKeyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<uuid>)')
    .optional(),
  securityGroupId: z
    .string({ error: 'securityGroupId must be a security group id' })
    .regex(/^sg-[0-9a-f]{8,17}$/, 'securityGroupId must be a security group id like sg-0123456789abcdef0')
    .optional(),
  port: z
    .number({ error: 'port must be a TCP port number' })
    .int('port must be a TCP port number')
    .min(1, 'port must be a TCP port number')
    .max(65535, 'port must be a TCP port number')
    .default(5432),
  media: mediaSchema.optional(),
  /** Credentials the restore task uses: a role that may create and replace the database's objects. */
  restoreSecretArn: z
    .string({ error: 'restoreSecretArn must be a Secrets Manager secret ARN' })
    .regex(
      SECRET_ARN,
      'restoreSecretArn must be the complete ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)',
    )
    .optional(),
  restoreSecretKmsKeyArn: z
    .string({ error: 'restoreSecretKmsKeyArn must be a KMS key ARN' })
    .regex(
      KMS_KEY_ARN,
      'restoreSecretKmsKeyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<uuid>)',
    )
    .optional(),
});

const vpcSchema = z.discriminatedUnion(
  'mode',
  [
    z.strictObject({
      mode: z.literal('import'),
      vpcId: z
        .string({ error: 'vpcId must be a VPC id' })
        .regex(/^vpc-[0-9a-f]{8,17}$/, 'vpcId must be a VPC id like vpc-0123456789abcdef0'),
      subnetIds: z
        .array(
          z
            .string({ error: 'subnetIds must be subnet ids' })
            .regex(/^subnet-[0-9a-f]{8,17}$/, 'subnetIds must be subnet ids like subnet-0123456789abcdef0'),
          { error: 'subnetIds must be a list of subnet ids' },
        )
        .min(1, 'subnetIds must list at least one subnet'),
      assignPublicIp: z.boolean({ error: 'assignPublicIp must be true or false' }).default(false),
    }),
    z.strictObject({
      mode: z.literal('create'),
      maxAzs: z
        .number({ error: 'maxAzs must be 1, 2 or 3' })
        .int('maxAzs must be 1, 2 or 3')
        .min(1, 'maxAzs must be 1, 2 or 3')
        .max(3, 'maxAzs must be 1, 2 or 3')
        .default(2),
    }),
  ],
  { error: 'must be "import" (with vpcId and subnetIds) or "create"' },
);

const lockMode = (key: string) =>
  z.enum(['GOVERNANCE', 'COMPLIANCE'], { error: `${key} must be "GOVERNANCE" or "COMPLIANCE"` });

const email = z
  .string({ error: 'alertEmails must be email addresses' })
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'alertEmails must be email addresses like ops@example.com');

/**
 * A restore in the replica region, needing nothing of the primary's: per database the credentials
 * of a server there (a role that may create and replace the database, like `restoreSecretArn`), the
 * network to reach it, and where its results and failures are mailed.
 */
const replicaRestoreSchema = z.strictObject({
  databases: z
    .array(databaseSchema.omit({ restoreSecretArn: true, restoreSecretKmsKeyArn: true }), {
      error: 'databases must be a list of databases',
    })
    .min(1, 'databases must list at least one database'),
  vpc: vpcSchema.default({ mode: 'create', maxAzs: 2 }),
  /** @default - the primary's alertEmails */
  alertEmails: z
    .array(email, { error: 'alertEmails must be a list of email addresses' })
    .min(1, 'alertEmails must list at least one address')
    .optional(),
});

/**
 * The offsite copy: a second stack in another region (and optionally another account) holding a
 * replica bucket that S3 Replication fills from the primary. Absent: no replica, nothing changes.
 */
const replicaSchema = z.strictObject({
  region: z
    .string({ error: 'replica.region must be an AWS region' })
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'replica.region must be an AWS region like eu-central-1'),
  /** @default - the primary's account */
  account: z
    .string({ error: 'replica.account must be a 12-digit AWS account id' })
    .regex(/^\d{12}$/, 'replica.account must be a 12-digit AWS account id')
    .optional(),
  /** @default - `<primary stack name>Replica` */
  stackName: z
    .string({ error: 'replica.stackName must be a CloudFormation stack name' })
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'replica.stackName must be a CloudFormation stack name')
    .optional(),
  /** @default - `<primary stack name, lower case>-replica-<account>-<region>` */
  bucketName: z
    .string({ error: 'replica.bucketName must be an S3 bucket name' })
    .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'replica.bucketName must be an S3 bucket name')
    .optional(),
  /** Lifecycle of the replica; each day count defaults to the primary's. */
  retention: z
    .strictObject({
      dailyDays: days('replica.retention.dailyDays').optional(),
      weeklyDays: days('replica.retention.weeklyDays').optional(),
      monthlyDays: days('replica.retention.monthlyDays').optional(),
      monthlyGlacierTransitionDays: days('replica.retention.monthlyGlacierTransitionDays', 0).optional(),
      noncurrentVersionDays: days('replica.retention.noncurrentVersionDays').optional(),
    })
    .prefault({}),
  objectLock: z
    .strictObject({
      /**
       * The replica bucket's default retention, for an object replicated without its own (backupctl
       * gives every backup object its tier's retention, which replication copies).
       * @default - the shortest replica tier retention
       */
      defaultRetentionDays: days('replica.objectLock.defaultRetentionDays').optional(),
    })
    .prefault({}),
  /**
   * The restore Lambda and restore task definitions in the replica stack, reading the replica.
   * @default - none: the replica stack holds the bucket only
   */
  restore: replicaRestoreSchema.optional(),
});

const baseSchema = z.strictObject({
  databases: z
    .array(databaseSchema, { error: 'databases must be a list of databases' })
    .min(1, 'databases must list at least one database'),
  vpc: vpcSchema.default({ mode: 'create', maxAzs: 2 }),
  alertEmails: z
    .array(email, { error: 'alertEmails must be a list of email addresses' })
    .min(1, 'alertEmails must list at least one address'),
  timeZone: timeZone.default('UTC'),
  /** Key prefix of every backup and lock in the bucket (lib/backup-bucket.ts `prefix`). */
  prefix: z
    .string({ error: 'prefix must be a key prefix' })
    .refine(isPrefix, {
      message: 'prefix must be path segments of letters, digits, "_", ".", "=" or "-" (e.g. "prod/")',
    })
    .default(''),
  schedules: z
    .strictObject({
      daily: scheduleExpression('schedules.daily').default('cron(0 2 * * ? *)'),
      weekly: scheduleExpression('schedules.weekly').default('cron(0 3 ? * SUN *)'),
      monthly: scheduleExpression('schedules.monthly').default('cron(0 4 1 * ? *)'),
      monitor: scheduleExpression('schedules.monitor').default('rate(6 hours)'),
      report: scheduleExpression('schedules.report').default('cron(0 9 ? * MON *)'),
      /** The restore drill: `backupctl verify latest` per database, after the night's backups. */
      verify: scheduleExpression('schedules.verify').default('cron(0 6 * * ? *)'),
    })
    .prefault({}),
  retention: z
    .strictObject({
      dailyDays: days('retention.dailyDays').default(DEFAULT_THRESHOLDS.retentionDays.daily),
      weeklyDays: days('retention.weeklyDays').default(DEFAULT_THRESHOLDS.retentionDays.weekly),
      monthlyDays: days('retention.monthlyDays').default(DEFAULT_THRESHOLDS.retentionDays.monthly),
      preRestoreDays: days('retention.preRestoreDays').default(30),
      monthlyGlacierTransitionDays: days('retention.monthlyGlacierTransitionDays', 0).default(90),
      monthlyGlacierStorageClass: z
        .enum(['GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE'], {
          error: 'retention.monthlyGlacierStorageClass must be "GLACIER_IR", "GLACIER" or "DEEP_ARCHIVE"',
        })
        .default('GLACIER_IR'),
      noncurrentVersionDays: days('retention.noncurrentVersionDays').default(7),
    })
    .prefault({}),
  objectLock: z
    .strictObject({
      enabled: z.boolean({ error: 'objectLock.enabled must be true or false' }).default(false),
      /** Bucket default for objects written without their own retention (lock records). */
      retentionDays: days('objectLock.retentionDays').optional(),
      /**
       * The mode backupctl gives every backup object, with its tier's retention. Replication
       * copies it: COMPLIANCE is what makes the replica unshortenable, root included.
       */
      mode: lockMode('objectLock.mode').default('GOVERNANCE'),
      /** Days each tier's objects stay locked; each defaults to that tier's retention. */
      days: z
        .strictObject({
          daily: days('objectLock.days.daily').optional(),
          weekly: days('objectLock.days.weekly').optional(),
          monthly: days('objectLock.days.monthly').optional(),
          preRestore: days('objectLock.days.preRestore').optional(),
        })
        .prefault({}),
    })
    .prefault({}),
  replica: replicaSchema.optional(),
  /** The monitor's health thresholds (task/core/health.ts); retention comes from `retention`. */
  health: z
    .strictObject({
      dailyMaxAgeHours: positive('health.dailyMaxAgeHours', 'hours').default(
        DEFAULT_THRESHOLDS.maxAgeHours.daily,
      ),
      weeklyMaxAgeHours: positive('health.weeklyMaxAgeHours', 'hours').default(
        DEFAULT_THRESHOLDS.maxAgeHours.weekly,
      ),
      monthlyMaxAgeHours: positive('health.monthlyMaxAgeHours', 'hours').default(
        DEFAULT_THRESHOLDS.maxAgeHours.monthly,
      ),
      verifyMaxAgeHours: positive('health.verifyMaxAgeHours', 'hours').default(
        DEFAULT_THRESHOLDS.verifyMaxAgeHours,
      ),
      minArtifactBytes: z
        .number({ error: 'health.minArtifactBytes must be a number of bytes' })
        .int('health.minArtifactBytes must be a whole number of bytes')
        .min(0, 'health.minArtifactBytes must be >= 0')
        .default(DEFAULT_THRESHOLDS.minArtifactBytes),
      maxDropShare: z
        .number({ error: 'health.maxDropShare must be a share between 0 and 1' })
        .min(0, 'health.maxDropShare must be a share between 0 and 1')
        .max(1, 'health.maxDropShare must be a share between 0 and 1')
        .default(DEFAULT_THRESHOLDS.maxDropShare),
      runGraceHours: positive('health.runGraceHours', 'hours').default(DEFAULT_THRESHOLDS.runGraceHours),
      /** With a replica: a backup not replicated this long after it finished is a warning (RTC's 15 minutes). */
      replicationWarnMinutes: positive('health.replicationWarnMinutes', 'minutes').default(15),
      /** With a replica: … and critical after this long (also the age at which a partial replica is a finding). */
      replicationCriticalHours: positive('health.replicationCriticalHours', 'hours').default(3),
    })
    .prefault({}),
  task: z
    .strictObject({
      cpu: z.number({ error: 'task.cpu must be a number of CPU units' }).default(DEFAULT_TASK_SIZE.cpu),
      memoryMiB: z
        .number({ error: 'task.memoryMiB must be a number of MiB' })
        .default(DEFAULT_TASK_SIZE.memoryMiB),
      pgMajorVersion: z
        .number({ error: PG_MAJOR_VERSION_RULE })
        .refine((v) => (IMAGE_PG_MAJORS as readonly number[]).includes(v), {
          message: PG_MAJOR_VERSION_RULE,
        })
        .default(DEFAULT_IMAGE_PG_MAJOR),
      /** The verify drill restores the whole database into a scratch cluster under /tmp. */
      ephemeralStorageGiB: z
        .number({ error: 'task.ephemeralStorageGiB must be a number of GiB' })
        .int('task.ephemeralStorageGiB must be a whole number of GiB')
        .min(21, 'task.ephemeralStorageGiB must be 21-200 GiB (Fargate ephemeral storage)')
        .max(200, 'task.ephemeralStorageGiB must be 21-200 GiB (Fargate ephemeral storage)')
        .default(DEFAULT_EPHEMERAL_STORAGE_GIB),
      logRetentionDays: z
        .number({ error: 'task.logRetentionDays must be a number of days' })
        .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
          message: `task.logRetentionDays must be one of CloudWatch Logs' periods (${LOG_RETENTION_DAYS.join(', ')})`,
        })
        .default(90),
    })
    .prefault({}),
});

export const configSchema = baseSchema.superRefine((config, ctx) => {
  const seen = new Set<string>();
  config.databases.forEach((db, i) => {
    if (seen.has(db.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['databases', i, 'name'],
        message: 'name must be unique',
        params: { got: db.name },
      });
    }
    seen.add(db.name);
  });
  const size = fargateSizeProblem(config.task.cpu, config.task.memoryMiB, {
    cpu: 'task.cpu',
    memoryMiB: 'task.memoryMiB',
  });
  if (size) {
    ctx.addIssue({
      code: 'custom',
      path: ['task', size.key],
      params: { got: config.task[size.key] },
      message: size.message,
    });
  }
  const r = config.retention;
  if (r.monthlyGlacierTransitionDays >= r.monthlyDays) {
    ctx.addIssue({
      code: 'custom',
      path: ['retention', 'monthlyGlacierTransitionDays'],
      params: { got: r.monthlyGlacierTransitionDays },
      message: `retention.monthlyGlacierTransitionDays must be less than retention.monthlyDays (${r.monthlyDays})`,
    });
  }
  const shortest = Math.min(r.dailyDays, r.weeklyDays, r.monthlyDays, r.preRestoreDays);
  const lockDays = config.objectLock.retentionDays;
  if (lockDays !== undefined && lockDays > shortest) {
    // A lock longer than a tier's expiry would silently keep that tier's backups (and bill them) past it.
    ctx.addIssue({
      code: 'custom',
      path: ['objectLock', 'retentionDays'],
      params: { got: lockDays },
      message: `objectLock.retentionDays must be <= the shortest tier retention (${shortest} days)`,
    });
  }
  checkLocks(config, ctx);
  checkReplicaRestore(config, ctx);
});

type ParsedConfig = z.output<typeof baseSchema>;

/** Retention days per tier of the primary's lifecycle, by the names the lock days use. */
const LOCKED_TIERS = [
  ['daily', 'dailyDays'],
  ['weekly', 'weeklyDays'],
  ['monthly', 'monthlyDays'],
  ['preRestore', 'preRestoreDays'],
] as const;

/**
 * A backup must stay locked for as long as it is kept, in the primary and in the replica: a lock
 * shorter than a tier's retention leaves its last days deletable. The replica takes each object's
 * retention from the primary's write, so it needs the primary's lock on.
 */
function checkLocks(config: ParsedConfig, ctx: z.RefinementCtx): void {
  const lock = config.objectLock;
  const replica = config.replica;
  if (replica && !lock.enabled) {
    ctx.addIssue({
      code: 'custom',
      path: ['objectLock', 'enabled'],
      params: { got: lock.enabled },
      message:
        'objectLock.enabled must be true with a replica: backupctl locks each object for its tier, and replication copies that retention to the replica',
    });
  }
  if (!lock.enabled) return;
  for (const [tier, retentionKey] of LOCKED_TIERS) {
    const kept = config.retention[retentionKey];
    const locked = lock.days[tier] ?? kept;
    if (locked < kept) {
      ctx.addIssue({
        code: 'custom',
        path: ['objectLock', 'days', tier],
        params: { got: locked },
        message: `objectLock.days.${tier} must be >= retention.${retentionKey} (${kept} days): a backup must stay locked for as long as it is kept`,
      });
    }
    if (tier === 'preRestore' || !replica) continue;
    const keptOffsite = replica.retention[retentionKey] ?? kept;
    if (locked < keptOffsite) {
      ctx.addIssue({
        code: 'custom',
        path: ['replica', 'retention', retentionKey],
        params: { got: keptOffsite },
        message: `replica.retention.${retentionKey} must be <= the ${tier} Object Lock (${locked} days, objectLock.days.${tier}): a replica kept longer than its lock could be deleted before it expires`,
      });
    }
  }
  if (replica) {
    const r = resolveReplicaRetention(config);
    if (r.monthlyGlacierTransitionDays >= r.monthlyDays) {
      ctx.addIssue({
        code: 'custom',
        path: ['replica', 'retention', 'monthlyGlacierTransitionDays'],
        params: { got: r.monthlyGlacierTransitionDays },
        message: `replica.retention.monthlyGlacierTransitionDays must be less than the replica's monthly retention (${r.monthlyDays})`,
      });
    }
    const shortest = Math.min(r.dailyDays, r.weeklyDays, r.monthlyDays);
    const fallback = replica.objectLock.defaultRetentionDays;
    if (fallback !== undefined && fallback > shortest) {
      ctx.addIssue({
        code: 'custom',
        path: ['replica', 'objectLock', 'defaultRetentionDays'],
        params: { got: fallback },
        message: `replica.objectLock.defaultRetentionDays must be <= the shortest replica tier retention (${shortest} days)`,
      });
    }
  }
}

/**
 * A replica restore restores the primary's databases (their backups are what the replica holds),
 * each once, with credentials and keys of the replica region: a secret in the primary region would
 * make the restore depend on the region it must do without.
 */
function checkReplicaRestore(config: ParsedConfig, ctx: z.RefinementCtx): void {
  const replica = config.replica;
  if (!replica?.restore) return;
  const configured = config.databases.map((db) => db.name);
  const seen = new Set<string>();
  replica.restore.databases.forEach((db, i) => {
    const path = ['replica', 'restore', 'databases', i];
    if (!configured.includes(db.name)) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'name'],
        params: { got: db.name },
        message: `name must be one of databases (${configured.join(', ')}): the replica holds their backups only`,
      });
    }
    if (seen.has(db.name)) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'name'],
        params: { got: db.name },
        message: 'name must be unique',
      });
    }
    seen.add(db.name);
    for (const key of ['secretArn', 'secretKmsKeyArn'] as const) {
      const arn = db[key];
      if (arn === undefined || arn.split(':')[3] === replica.region) continue;
      ctx.addIssue({
        code: 'custom',
        path: [...path, key],
        params: { got: arn },
        message: `${key} must be in the replica region (${replica.region}): a restore there must not need the primary region`,
      });
    }
  });
}

/** The replica's lifecycle: every day count not given is the primary's. */
export function resolveReplicaRetention(config: Pick<ParsedConfig, 'retention' | 'replica'>) {
  const own = config.replica?.retention ?? {};
  const primary = config.retention;
  return {
    dailyDays: own.dailyDays ?? primary.dailyDays,
    weeklyDays: own.weeklyDays ?? primary.weeklyDays,
    monthlyDays: own.monthlyDays ?? primary.monthlyDays,
    monthlyGlacierTransitionDays: own.monthlyGlacierTransitionDays ?? primary.monthlyGlacierTransitionDays,
    monthlyGlacierStorageClass: primary.monthlyGlacierStorageClass,
    noncurrentVersionDays: own.noncurrentVersionDays ?? primary.noncurrentVersionDays,
  };
}

/** Days each tier's objects stay locked (backupctl's BACKUP_OBJECT_LOCK_DAYS). */
export function objectLockDays(config: Pick<ParsedConfig, 'retention' | 'objectLock'>) {
  const { days: own } = config.objectLock;
  const r = config.retention;
  return {
    daily: own.daily ?? r.dailyDays,
    weekly: own.weekly ?? r.weeklyDays,
    monthly: own.monthly ?? r.monthlyDays,
    'pre-restore': own.preRestore ?? r.preRestoreDays,
  };
}

/**
 * Where the replica goes, checked against where the primary is (known only to the app): problems
 * as sentences, empty when fine. A token (an environment-agnostic stack) cannot be compared.
 */
export function replicaPlacementProblems(
  config: Pick<ParsedConfig, 'replica'>,
  primary: { readonly region?: string; readonly account?: string },
): string[] {
  const replica = config.replica;
  if (!replica) return [];
  const problems: string[] = [];
  if (primary.region !== undefined && replica.region === primary.region) {
    problems.push(
      `replica.region must differ from the primary's region (${primary.region}): a regional outage would take both copies, got: ${JSON.stringify(replica.region)}`,
    );
  }
  if (replica.account !== undefined && replica.account !== primary.account && primary.account === undefined) {
    problems.push(
      'replica.account needs the primary account known: set CDK_DEFAULT_ACCOUNT (or deploy with credentials) so the replica can trust only its replication role, got: (unknown primary account)',
    );
  }
  return problems;
}

/** The configuration as the stack sees it: every default applied. */
export type BackupConfig = z.output<typeof configSchema>;
export type DatabaseConfig = BackupConfig['databases'][number];
export type MediaConfig = NonNullable<DatabaseConfig['media']>;
export type VpcConfig = BackupConfig['vpc'];
/** The configuration as written in cdk.json: defaults may be omitted. */
export type BackupConfigInput = z.input<typeof configSchema>;

/**
 * Builds the configuration from the CDK context: the `backup` object (or its JSON string) with every
 * `backup.<dotted.path>` context key applied on top. Throws a ConfigError listing every problem.
 */
export function loadConfig(context: Readonly<Record<string, unknown>>): BackupConfig {
  const problems: string[] = [];
  const base = parseMaybeJson(context[CONFIG_CONTEXT_KEY]);
  if (base === undefined) {
    throw new ConfigError([
      `context key "${CONFIG_CONTEXT_KEY}" is missing: add it to cdk.json (see the README, "Deploy")`,
    ]);
  }
  if (!isPlainObject(base)) {
    throw new ConfigError([`context key "${CONFIG_CONTEXT_KEY}" must be an object, got: ${show(base)}`]);
  }
  const raw: Record<string, unknown> = structuredClone(base);
  for (const [key, value] of Object.entries(context)) {
    if (!key.startsWith(`${CONFIG_CONTEXT_KEY}.`)) continue;
    const path = key.slice(CONFIG_CONTEXT_KEY.length + 1).split('.');
    if (path.some((segment) => segment === '' || segment === '__proto__')) {
      problems.push(`context key "${key}" is not a valid dotted path`);
      continue;
    }
    setPath(raw, path, parseMaybeJson(value));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return parseConfig(raw);
}

/** Validates an already-assembled configuration object. Throws a ConfigError listing every problem. */
export function parseConfig(raw: unknown): BackupConfig {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => describeIssue(issue, raw));
  throw new ConfigError([...new Set(problems)]);
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const key = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  const name = key.startsWith('.') ? key.slice(1) : key;
  if (issue.code === 'unrecognized_keys') {
    return `${name ? `${name}: ` : ''}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  // Cross-key checks run on the parsed config and report the effective value (defaults included).
  const params = issue.code === 'custom' ? (issue.params as { got?: unknown } | undefined) : undefined;
  const value = params && 'got' in params ? params.got : valueAt(raw, issue.path);
  // Our messages start with the nearest key name ("vpcId must …"); replace it by the full path.
  const nearest = issue.path.filter((p): p is string => typeof p === 'string').at(-1);
  const message = issue.message;
  let sentence: string;
  if (name && message.startsWith(`${name} `)) {
    sentence = message;
  } else if (nearest !== undefined && message.startsWith(`${nearest} `)) {
    sentence = `${name}${message.slice(nearest.length)}`;
  } else {
    sentence = name ? `${name} ${message}` : message;
  }
  return `${sentence}, got: ${show(value)}`;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = raw;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function show(value: unknown): string {
  return value === undefined ? '(missing)' : JSON.stringify(value);
}

function parseMaybeJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let current: Record<string, unknown> | unknown[] = target;
  path.forEach((segment, i) => {
    const index = /^\d+$/.test(segment) && Array.isArray(current) ? Number(segment) : segment;
    const container = current as Record<string | number, unknown>;
    if (i === path.length - 1) {
      container[index] = value;
      return;
    }
    const next = container[index];
    if (next === null || typeof next !== 'object') {
      container[index] = /^\d+$/.test(path[i + 1] ?? '') ? [] : {};
    }
    current = container[index] as Record<string, unknown> | unknown[];
  });
}

export function isTimeZone(value: string): boolean {
  try {
    // Intl also accepts other spellings ("utc", "europe/berlin"); Scheduler wants the canonical name.
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone === value;
  } catch {
    return false;
  }
}

/** EventBridge Scheduler's cron (6 fields, one of day-of-month/day-of-week is "?") or rate expression. */
export function isScheduleExpression(value: string): boolean {
  if (RATE.test(value)) {
    const [, count, unit] = /^rate\((\d+) (\w+)\)$/.exec(value) ?? [];
    return (count === '1') === !unit?.endsWith('s');
  }
  const fields = CRON.exec(value);
  if (!fields) return false;
  const dayOfMonth = fields[3];
  const dayOfWeek = fields[5];
  return (dayOfMonth === '?') !== (dayOfWeek === '?');
}

function isPrefix(value: string): boolean {
  try {
    normalizePrefix(value);
    return true;
  } catch {
    return false;
  }
}
