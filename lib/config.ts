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

const email = z
  .string({ error: 'alertEmails must be email addresses' })
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'alertEmails must be email addresses like ops@example.com');

export const configSchema = z
  .strictObject({
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
        retentionDays: days('objectLock.retentionDays').optional(),
      })
      .prefault({}),
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
  })
  .superRefine((config, ctx) => {
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
  });

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

function isPrefix(value: string): boolean {
  try {
    normalizePrefix(value);
    return true;
  } catch {
    return false;
  }
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
