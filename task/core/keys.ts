/**
 * The S3 key layout (DESIGN.md): `<prefix><tier>/<database>/<timestamp>/<file>`. The tier comes
 * first so lifecycle rules can filter by prefix. Shared by backupctl and the Lambdas.
 */
import { ENV } from './env-names.ts';
import { type BackupId, formatBackupId, type Tier } from './ids.ts';

export const ARTIFACT_FILES = {
  postgres: 'db.dump.zst',
  globals: 'globals.sql.zst',
  media: 'media.tar.zst',
} as const;
export const MANIFEST_FILE = 'manifest.json';
export const VERIFICATION_FILE = 'verification.json';

export type ArtifactKind = keyof typeof ARTIFACT_FILES;

/**
 * Normalizes a configured prefix: empty, or segments ending in '/'. Throws on a prefix that could
 * escape or alias another (leading '/', '..' or empty segments).
 */
export function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '') return '';
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  const segments = trimmed.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..' || !/^[A-Za-z0-9_.=-]+$/.test(segment)) {
      throw new Error(
        `${ENV.prefix} must be path segments of letters, digits, "_", ".", "=" or "-", got: ${prefix}`,
      );
    }
  }
  return `${trimmed}/`;
}

export function backupDirKey(prefix: string, id: BackupId): string {
  return `${prefix}${formatBackupId(id)}/`;
}

export function artifactKey(prefix: string, id: BackupId, kind: ArtifactKind): string {
  return `${backupDirKey(prefix, id)}${ARTIFACT_FILES[kind]}`;
}

export function manifestKey(prefix: string, id: BackupId): string {
  return `${backupDirKey(prefix, id)}${MANIFEST_FILE}`;
}

export function verificationKey(prefix: string, id: BackupId): string {
  return `${backupDirKey(prefix, id)}${VERIFICATION_FILE}`;
}

/** Where the backups of one database in one tier live: list below this to find them. */
export function databaseTierPrefix(prefix: string, tier: Tier, database: string): string {
  return `${prefix}${tier}/${database}/`;
}
