/**
 * The per-database lock: one backup or restore of a database at a time. It is an S3 object
 * written with conditional writes (If-None-Match to take it, If-Match to renew or release), so it
 * needs no other service and the backup role needs no delete. Shared by backupctl and the Lambdas.
 */
import { z } from 'zod';
import { databaseNameSchema } from './ids.ts';

export const LOCK_OPERATIONS = ['backup', 'restore'] as const;

export const lockSchema = z.object({
  database: databaseNameSchema,
  operation: z.enum(LOCK_OPERATIONS),
  /** Who holds it: host, process, and the backup id or restore target. */
  owner: z.string(),
  acquiredAt: z.iso.datetime(),
  /** The holder's last renewal; absent in locks of older versions (then judged from expiresAt). */
  renewedAt: z.iso.datetime().optional(),
  /** The holder renews it well before this; past it, the holder is presumed dead. */
  expiresAt: z.iso.datetime(),
  released: z.boolean().default(false),
});

export type Lock = z.infer<typeof lockSchema>;

/** Renewed every third of this while held. */
export const LOCK_TTL_MS = 15 * 60 * 1000;

/**
 * How late a renewal may be before the holder is presumed gone: one slow S3 request or a busy
 * host may delay a renewal, not by minutes.
 */
export const LOCK_RENEWAL_MARGIN_MS = 2 * 60 * 1000;

/** The lock an object's text holds, or undefined when it holds none: an unreadable lock is not a held one. */
export function parseLock(text: string): Lock | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = lockSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function lockKey(prefix: string, database: string): string {
  return `${prefix}locks/${database}.json`;
}

/** True while the lock keeps others out: not released and not expired. */
export function lockIsHeld(lock: Lock, now: Date): boolean {
  return !lock.released && Date.parse(lock.expiresAt) > now.getTime();
}

/** When the holder last renewed the lock: renewedAt, or for older locks expiresAt less the TTL. */
export function lockRenewedAt(lock: Lock): Date {
  if (lock.renewedAt) return new Date(lock.renewedAt);
  return new Date(Math.max(Date.parse(lock.acquiredAt), Date.parse(lock.expiresAt) - LOCK_TTL_MS));
}

/**
 * True when a held lock's renewals stopped: not renewed for longer than its renewal interval (a
 * third of the TTL it was written with) plus a margin. Its holder was most likely killed
 * (SIGKILL, a lost host), yet the lock keeps others out until it expires.
 */
export function lockIsStale(lock: Lock, now: Date): boolean {
  const renewed = lockRenewedAt(lock).getTime();
  const interval = (Date.parse(lock.expiresAt) - renewed) / 3;
  return now.getTime() - renewed > interval + LOCK_RENEWAL_MARGIN_MS;
}

/**
 * Why a held lock keeps a backup or restore out, for a refusal. `url` (s3://bucket/key) makes the
 * advice for a stale lock the exact command; the backup role cannot delete, an operator can.
 */
export function describeLock(lock: Lock, now: Date, url?: string): string {
  const holder = `a ${lock.operation} of database ${lock.database}`;
  if (!lockIsStale(lock, now)) {
    return `${holder} is running (${lock.owner}, since ${lock.acquiredAt}, lock expires ${lock.expiresAt} unless renewed)`;
  }
  const renewed = lockRenewedAt(lock);
  const minutes = Math.round((Date.parse(lock.expiresAt) - renewed.getTime()) / 3 / 60_000);
  const clear = url ? `run \`aws s3 rm ${url}\`` : 'remove the lock object';
  return (
    `${holder} holds the lock (${lock.owner}, since ${lock.acquiredAt}) but stopped renewing it at ` +
    `${lock.renewedAt ?? renewed.toISOString()} (it renews every ${minutes} min), so it has probably died; ` +
    `if you know that process is gone, ${clear} as an operator, or wait until the lock expires at ${lock.expiresAt}`
  );
}
