/**
 * backupctl's settings, from the environment only (DESIGN.md "The backupctl contract"), so ECS
 * secrets, RDS-managed secrets and a shell all work. libpq's own variables (PGHOST, PGPASSWORD,
 * PGSSLMODE …) are not read here: they pass to psql, pg_dump and pg_restore untouched.
 */
import { DEFAULT_THRESHOLDS, type HealthThresholds, healthThresholdsSchema } from './core/health.ts';
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
}

export interface BackupConfig {
  readonly store: StoreConfig;
  /** Media directory; media is skipped when unset. */
  readonly mediaDir?: string;
  /** pg_dump --lock-wait-timeout. @default '120s' */
  readonly lockWaitTimeout: string;
  /** Fixed multipart part size in bytes; chosen from the expected size when unset. */
  readonly partSize?: number;
  /** zstd level. @default 3 */
  readonly zstdLevel: number;
  /**
   * The health policy's thresholds for status and report: the monitor Lambda's THRESHOLDS
   * variable, so an operator's shell judges as the deployed monitor does. @default DEFAULT_THRESHOLDS
   */
  readonly healthThresholds: HealthThresholds;
}

const MIB = 1024 * 1024;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): BackupConfig {
  const problems: string[] = [];
  const bucket = env.BACKUP_BUCKET ?? '';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    problems.push(
      bucket ? `BACKUP_BUCKET is not a valid bucket name, got: ${bucket}` : 'BACKUP_BUCKET is not set',
    );
  }
  let prefix = '';
  try {
    prefix = normalizePrefix(env.BACKUP_PREFIX);
  } catch (error) {
    problems.push((error as Error).message);
  }
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    problems.push(`AWS_ENDPOINT_URL_S3 must be an http(s) URL, got: ${endpoint}`);
  }
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : '');
  if (!region) problems.push('AWS_REGION is not set');
  const lockWaitTimeout = env.BACKUP_LOCK_WAIT_TIMEOUT || '120s';
  if (!/^\d+(ms|s|min)?$/.test(lockWaitTimeout)) {
    problems.push(
      `BACKUP_LOCK_WAIT_TIMEOUT must be a duration like 120s, 500ms or 2min, got: ${lockWaitTimeout}`,
    );
  }
  let partSize: number | undefined;
  if (env.BACKUP_PART_SIZE) {
    const mib = Number(env.BACKUP_PART_SIZE);
    if (!Number.isInteger(mib) || mib < 5 || mib > 5120) {
      problems.push(`BACKUP_PART_SIZE must be whole MiB from 5 to 5120, got: ${env.BACKUP_PART_SIZE}`);
    } else {
      partSize = mib * MIB;
    }
  }
  const zstdLevel = env.BACKUP_ZSTD_LEVEL ? Number(env.BACKUP_ZSTD_LEVEL) : 3;
  if (!Number.isInteger(zstdLevel) || zstdLevel < 1 || zstdLevel > 19) {
    problems.push(`BACKUP_ZSTD_LEVEL must be a whole number from 1 to 19, got: ${env.BACKUP_ZSTD_LEVEL}`);
  }
  let healthThresholds = DEFAULT_THRESHOLDS;
  if (env.BACKUP_HEALTH_THRESHOLDS) {
    const parsed = healthThresholdsSchema.safeParse(parseJson(env.BACKUP_HEALTH_THRESHOLDS));
    if (parsed.success) healthThresholds = parsed.data;
    else {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`);
      problems.push(
        `BACKUP_HEALTH_THRESHOLDS must be the monitor's THRESHOLDS JSON (${issues.join(', ')}), got: ${env.BACKUP_HEALTH_THRESHOLDS}`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(`${problems.join('; ')}.`);
  return {
    store: {
      bucket,
      prefix,
      region,
      ...(endpoint ? { endpoint } : {}),
      ...(env.BACKUP_SSE_KMS_KEY_ID ? { kmsKeyId: env.BACKUP_SSE_KMS_KEY_ID } : {}),
    },
    ...(env.MEDIA_DIR ? { mediaDir: env.MEDIA_DIR } : {}),
    lockWaitTimeout,
    ...(partSize ? { partSize } : {}),
    zstdLevel,
    healthThresholds,
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
