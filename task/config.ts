/**
 * backupctl's settings, from the environment only (DESIGN.md "The backupctl contract"), so ECS
 * secrets, RDS-managed secrets and a shell all work. libpq's own variables (PGHOST, PGPASSWORD,
 * PGSSLMODE …) pass to psql, pg_dump and pg_restore untouched; only PGDATABASE is checked here,
 * because it also names lock and backup keys, log lines and messages.
 */
import { ENV } from './core/env-names.ts';
import { DEFAULT_THRESHOLDS, type HealthThresholds, healthThresholdsSchema } from './core/health.ts';
import { isDatabaseName, TIERS, type Tier } from './core/ids.ts';
import { normalizePrefix } from './core/keys.ts';
import { ConfigError } from './errors.ts';

export interface StoreConfig {
  readonly bucket: string;
  /** Normalized: '' or ending in '/'. */
  readonly prefix: string;
  readonly region: string;
  /** Custom S3 endpoint (emulator, MinIO); implies path-style addressing. */
  readonly endpoint?: string;
  /** When set, every put asks for SSE-KMS with this key. */
  readonly kmsKeyId?: string;
  /** BACKUP_S3_TIMEOUT: how long S3 may stay silent. @default DEFAULT_ANSWER_TIMEOUT_MS (30 s) */
  readonly answerTimeoutMs?: number;
  /**
   * BACKUP_OBJECT_LOCK_MODE and BACKUP_OBJECT_LOCK_DAYS: every object written below a tier is
   * locked in this mode for that tier's days. @default - no Object Lock headers
   */
  readonly objectLock?: {
    readonly mode: 'GOVERNANCE' | 'COMPLIANCE';
    readonly days: Readonly<Record<Tier, number>>;
  };
}

export interface BackupConfig {
  readonly store: StoreConfig;
  /**
   * PGDATABASE, checked to be a plain database name: it names the backup of a media-only backup,
   * `latest`, and the restore source. A database backup takes the server's current_database().
   * @default undefined - PGDATABASE unset or empty
   */
  readonly database?: string;
  /** Media directory; media is skipped when unset. */
  readonly mediaDir?: string;
  /** pg_dump --lock-wait-timeout. @default '120s' */
  readonly lockWaitTimeout: string;
  /** Fixed multipart part size in bytes; chosen from the expected size when unset. */
  readonly partSize?: number;
  /** zstd level. @default 3 */
  readonly zstdLevel: number;
  /**
   * The health policy's thresholds for status and report: the monitor Lambda's
   * BACKUP_HEALTH_THRESHOLDS variable, so an operator's shell judges as the deployed monitor does. @default DEFAULT_THRESHOLDS
   */
  readonly healthThresholds: HealthThresholds;
  /**
   * BACKUP_REPLICATION_WINDOW_HOURS, for reading a replica: a manifest whose artifacts are not all
   * there yet is "replicating" for this long after its backup finished, and incomplete after.
   * @default 0 - a primary bucket, where a manifest is written last and a missing artifact is damage
   */
  readonly replicationWindowHours: number;
}

const MIB = 1024 * 1024;

/** PostgreSQL's limit for lock_timeout and statement_timeout, which pg_dump sets from --lock-wait-timeout. */
const MAX_TIMEOUT_MS = 2_147_483_647;
const TIMEOUT_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, min: 60_000 };

export function loadConfig(env: NodeJS.ProcessEnv = process.env): BackupConfig {
  const problems: string[] = [];
  const bucket = env[ENV.bucket] ?? '';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    problems.push(
      bucket ? `${ENV.bucket} is not a valid bucket name, got: ${bucket}` : `${ENV.bucket} is not set`,
    );
  }
  let prefix = '';
  try {
    prefix = normalizePrefix(env[ENV.prefix]);
  } catch (error) {
    problems.push((error as Error).message);
  }
  const endpointVariable = env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint !== undefined && !isEndpointUrl(endpoint)) {
    problems.push(
      `${endpointVariable} must be http(s)://host or http(s)://host:port with nothing after it, got: ${withoutUserinfo(endpoint)}`,
    );
  }
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : '');
  if (!region) problems.push('AWS_REGION is not set');
  const database = env.PGDATABASE || undefined;
  if (database !== undefined) {
    const problem = databaseProblem(database);
    if (problem) problems.push(problem);
  }
  const lockWaitTimeout = env.BACKUP_LOCK_WAIT_TIMEOUT || '120s';
  const timeout = /^(\d+)(ms|s|min)?$/.exec(lockWaitTimeout);
  if (!timeout) {
    problems.push(
      `BACKUP_LOCK_WAIT_TIMEOUT must be a duration like 120s, 500ms or 2min, got: ${lockWaitTimeout}`,
    );
  } else {
    const ms = Number(timeout[1]) * (TIMEOUT_UNIT_MS[timeout[2] ?? 'ms'] ?? 1);
    // 0 would turn the timeout off, and a blocked lock would stall the application's writers.
    if (ms < 1 || ms > MAX_TIMEOUT_MS) {
      problems.push(
        `BACKUP_LOCK_WAIT_TIMEOUT must be from 1ms to ${MAX_TIMEOUT_MS}ms (about 24 days, PostgreSQL's lock_timeout limit), got: ${lockWaitTimeout}`,
      );
    }
  }
  let partSize: number | undefined;
  if (env.BACKUP_PART_SIZE) {
    const mib = decimal(env.BACKUP_PART_SIZE);
    if (mib === undefined || mib < 5 || mib > 5120) {
      problems.push(`BACKUP_PART_SIZE must be whole MiB from 5 to 5120, got: ${env.BACKUP_PART_SIZE}`);
    } else {
      partSize = mib * MIB;
    }
  }
  const zstdLevel = env.BACKUP_ZSTD_LEVEL ? decimal(env.BACKUP_ZSTD_LEVEL) : 3;
  if (zstdLevel === undefined || zstdLevel < 1 || zstdLevel > 19) {
    problems.push(`BACKUP_ZSTD_LEVEL must be a whole number from 1 to 19, got: ${env.BACKUP_ZSTD_LEVEL}`);
  }
  // Seconds S3 may stay silent: for tests, and for links so poor that 30 s of silence is normal.
  const answerSeconds = env.BACKUP_S3_TIMEOUT ? decimal(env.BACKUP_S3_TIMEOUT) : undefined;
  if (env.BACKUP_S3_TIMEOUT && (answerSeconds === undefined || answerSeconds < 1 || answerSeconds > 3600)) {
    problems.push(`BACKUP_S3_TIMEOUT must be whole seconds from 1 to 3600, got: ${env.BACKUP_S3_TIMEOUT}`);
  }
  let healthThresholds = DEFAULT_THRESHOLDS;
  const thresholdsJson = env[ENV.healthThresholds];
  if (thresholdsJson) {
    const parsed = healthThresholdsSchema.safeParse(parseJson(thresholdsJson));
    if (parsed.success) healthThresholds = parsed.data;
    else {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`);
      problems.push(
        `${ENV.healthThresholds} must be thresholds JSON as the monitor function holds it (${issues.join(', ')}), got: ${thresholdsJson}`,
      );
    }
  }
  const objectLock = objectLockFromEnv(env, problems);
  const window = env[ENV.replicationWindowHours];
  const replicationWindowHours = window ? decimal(window) : 0;
  if (replicationWindowHours === undefined || replicationWindowHours > 24 * 30) {
    problems.push(`${ENV.replicationWindowHours} must be whole hours from 0 to ${24 * 30}, got: ${window}`);
  }
  if (problems.length > 0) throw new ConfigError(`${problems.join('; ')}.`);
  return {
    store: {
      bucket,
      prefix,
      region,
      ...(endpoint ? { endpoint } : {}),
      ...(env[ENV.kmsKeyId] ? { kmsKeyId: env[ENV.kmsKeyId] } : {}),
      ...(answerSeconds ? { answerTimeoutMs: answerSeconds * 1000 } : {}),
      ...(objectLock ? { objectLock } : {}),
    },
    ...(database ? { database } : {}),
    ...(env[ENV.mediaDir] ? { mediaDir: env[ENV.mediaDir] } : {}),
    lockWaitTimeout,
    ...(partSize ? { partSize } : {}),
    zstdLevel: zstdLevel ?? 3,
    healthThresholds,
    replicationWindowHours: replicationWindowHours ?? 0,
  };
}

const LOCK_MODES = ['GOVERNANCE', 'COMPLIANCE'] as const;

/** The Object Lock settings the stack gives the task; both variables or neither. */
function objectLockFromEnv(env: NodeJS.ProcessEnv, problems: string[]): StoreConfig['objectLock'] {
  const mode = env.BACKUP_OBJECT_LOCK_MODE;
  const daysText = env.BACKUP_OBJECT_LOCK_DAYS;
  if (!mode && !daysText) return undefined;
  const example = '{"daily":30,"weekly":90,"monthly":365,"pre-restore":30}';
  if (!mode || !daysText) {
    problems.push(
      `BACKUP_OBJECT_LOCK_MODE and BACKUP_OBJECT_LOCK_DAYS must be set together, got: ${mode ? 'no BACKUP_OBJECT_LOCK_DAYS' : 'no BACKUP_OBJECT_LOCK_MODE'}`,
    );
    return undefined;
  }
  if (!(LOCK_MODES as readonly string[]).includes(mode)) {
    problems.push(`BACKUP_OBJECT_LOCK_MODE must be GOVERNANCE or COMPLIANCE, got: ${mode}`);
    return undefined;
  }
  const parsed = parseJson(daysText) as Record<string, unknown> | undefined;
  const days = TIERS.map((tier) => [tier, parsed?.[tier]] as const);
  const valid =
    parsed !== null &&
    typeof parsed === 'object' &&
    Object.keys(parsed).every((k) => (TIERS as readonly string[]).includes(k)) &&
    days.every(([, d]) => typeof d === 'number' && Number.isInteger(d) && d >= 1 && d <= 36_500);
  if (!valid) {
    problems.push(
      `BACKUP_OBJECT_LOCK_DAYS must give whole days (1-36500) for every tier, like ${example}, got: ${daysText}`,
    );
    return undefined;
  }
  return {
    mode: mode as (typeof LOCK_MODES)[number],
    days: Object.fromEntries(days) as Record<Tier, number>,
  };
}

/** A whole number written in decimal digits only (Number() would also take '0x10', '1e2', ' 8 '). */
function decimal(text: string): number | undefined {
  return /^\d{1,9}$/.test(text) ? Number(text) : undefined;
}

/** http(s), a host name, IPv4 or [IPv6] address, an optional port, at most a trailing '/'. */
function isEndpointUrl(text: string): boolean {
  const m =
    /^https?:\/\/([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?\/?$/.exec(
      text,
    );
  return m !== null && (m[2] === undefined || (Number(m[2]) >= 1 && Number(m[2]) <= 65_535));
}

/** An endpoint refused for its form may still carry credentials (https://key:secret@host). */
function withoutUserinfo(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1…@');
}

/**
 * Why PGDATABASE cannot name a database, or undefined. libpq's programs would read a URI or
 * "key=value" string in PGDATABASE as a literal name, and backupctl would put it (password
 * included) into lock keys, logs and psql's errors: refuse both without echoing the value.
 */
function databaseProblem(value: string): string | undefined {
  const instead =
    'set only the database name there, and the rest with PGHOST, PGPORT, PGUSER, PGPASSWORD (or PGPASSFILE, PGSERVICE) and PGSSLMODE';
  // The forms libpq itself takes for a connection string (recognized_connection_string()).
  if (/^postgres(ql)?:\/\//i.test(value))
    return `PGDATABASE holds a connection URI (postgresql://…); ${instead}`;
  if (value.includes('=')) return `PGDATABASE holds a connection string ("key=value"); ${instead}`;
  if (!isDatabaseName(value)) {
    return `PGDATABASE must be a database name of 1-63 letters, digits, "_", "." or "-" (it names the backup keys), got: ${value}`;
  }
  return undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
