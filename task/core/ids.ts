/**
 * Backup identity, shared by backupctl and the Lambdas. No AWS imports.
 *
 * A backup id is `<tier>/<database>/<timestamp>`: the key path of the backup below the
 * configured prefix, so an id names exactly one place in the bucket and nothing else.
 */
import { z } from 'zod';

/** Tiers a scheduled or manual backup can be taken in. */
export const SCHEDULED_TIERS = ['daily', 'weekly', 'monthly'] as const;
/** Every tier, including the safety backup a restore takes of its target first. */
export const TIERS = [...SCHEDULED_TIERS, 'pre-restore'] as const;

export type ScheduledTier = (typeof SCHEDULED_TIERS)[number];
export type Tier = (typeof TIERS)[number];

// Letters, digits, '_', '.', '-'; not starting with '.' or '-', so '..' and option-like names are impossible.
const DATABASE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
const TIMESTAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export const databaseNameSchema = z
  .string()
  .regex(DATABASE_NAME, 'must be 1-63 letters, digits, "_", "." or "-", not starting with "." or "-"');

export function isTier(value: string): value is Tier {
  return (TIERS as readonly string[]).includes(value);
}

export function isDatabaseName(value: string): boolean {
  return DATABASE_NAME.test(value);
}

/** Formats a UTC instant as an id timestamp: ISO 8601 basic, seconds, `Z` (e.g. 20261126T020000Z). */
export function formatTimestamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/**
 * `count` id timestamps a second apart, from `from` on: the candidates of a name stamped to the
 * second (a kept database, a replaced media directory), of which a run takes the first one free,
 * so two runs within one second do not collide.
 */
export function timestampsFrom(from: Date, count: number): string[] {
  return Array.from({ length: count }, (_, i) => formatTimestamp(new Date(from.getTime() + i * 1000)));
}

/** Parses an id timestamp back to its instant; undefined when it is not one. */
export function parseTimestamp(value: string): Date | undefined {
  const m = TIMESTAMP.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return formatTimestamp(date) === value ? date : undefined;
}

export interface BackupId {
  readonly tier: Tier;
  readonly database: string;
  readonly timestamp: string;
}

export function formatBackupId(id: BackupId): string {
  return `${id.tier}/${id.database}/${id.timestamp}`;
}

/**
 * Parses `<tier>/<database>/<timestamp>`. Returns a reason instead of throwing, so callers
 * (CLI and Lambda) can word the refusal for their own user.
 */
export function parseBackupId(value: string): { ok: true; id: BackupId } | { ok: false; reason: string } {
  const parts = value.split('/');
  if (parts.length !== 3) {
    return { ok: false, reason: `backup id must look like daily/<database>/20261126T020000Z, got: ${value}` };
  }
  const [tier, database, timestamp] = parts as [string, string, string];
  if (!isTier(tier))
    return { ok: false, reason: `backup id has unknown tier "${tier}" (one of ${TIERS.join(', ')})` };
  if (!isDatabaseName(database))
    return { ok: false, reason: `backup id has an invalid database name: ${database}` };
  if (!parseTimestamp(timestamp))
    return { ok: false, reason: `backup id has an invalid timestamp: ${timestamp}` };
  return { ok: true, id: { tier, database, timestamp } };
}
