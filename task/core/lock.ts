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
  /** The holder renews it well before this; past it, the holder is presumed dead. */
  expiresAt: z.iso.datetime(),
  released: z.boolean().default(false),
});

export type Lock = z.infer<typeof lockSchema>;

/** Renewed every third of this while held. */
export const LOCK_TTL_MS = 15 * 60 * 1000;

export function lockKey(prefix: string, database: string): string {
  return `${prefix}locks/${database}.json`;
}

/** True while the lock keeps others out: not released and not expired. */
export function lockIsHeld(lock: Lock, now: Date): boolean {
  return !lock.released && Date.parse(lock.expiresAt) > now.getTime();
}

export function describeLock(lock: Lock): string {
  return `a ${lock.operation} of database ${lock.database} is running (${lock.owner}, since ${lock.acquiredAt}, lock expires ${lock.expiresAt} unless renewed)`;
}
