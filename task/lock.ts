/** Taking, renewing and releasing the per-database lock (task/core/lock.ts) in the store. */
import { hostname } from 'node:os';
import { describeLock, LOCK_TTL_MS, type Lock, lockIsHeld, lockKey, parseLock } from './core/lock.ts';
import { ConflictError, NotFoundError } from './errors.ts';
import type { Logger } from './log.ts';
import type { ObjectStore } from './store/store.ts';

/**
 * How long the release may take. On SIGTERM ECS kills the task 30 s later; a release that hangs
 * must not keep the process (or its exit code) waiting: the lock then expires by itself.
 */
export const RELEASE_DEADLINE_MS = 5_000;

export interface LockRequest {
  readonly store: ObjectStore;
  readonly prefix: string;
  readonly database: string;
  readonly operation: Lock['operation'];
  readonly detail: string;
  readonly logger: Logger;
  readonly now?: () => Date;
  /** @default LOCK_TTL_MS */
  readonly ttlMs?: number;
}

/**
 * Runs `fn` holding the lock of `database`; refuses with ConflictError while another holder's lock
 * is live. The lock is renewed every third of its TTL; if renewal finds it taken over, `fn` is told
 * through the signal. Released (overwritten as released: the role cannot delete) in any case.
 */
export async function withLock<T>(request: LockRequest, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const { store, prefix, database, logger } = request;
  const now = request.now ?? (() => new Date());
  const ttl = request.ttlMs ?? LOCK_TTL_MS;
  const key = lockKey(prefix, database);
  const body = (released = false): string => {
    const at = now();
    const lock: Lock = {
      database,
      operation: request.operation,
      owner: `${hostname()} pid ${process.pid}: ${request.detail}`,
      acquiredAt: acquiredAt ?? at.toISOString(),
      renewedAt: at.toISOString(),
      expiresAt: new Date(at.getTime() + ttl).toISOString(),
      released,
    };
    return `${JSON.stringify(lock)}\n`;
  };
  let acquiredAt: string | undefined;
  // When the lock as last written (taken or renewed) expires: what the log tells if the release fails.
  let expiresAt = new Date(now().getTime() + ttl).toISOString();
  let etag = await acquire();
  acquiredAt = now().toISOString();
  logger.info('lock taken', { database, operation: request.operation });

  const lost = new AbortController();
  const renew = setInterval(async () => {
    try {
      const renewedUntil = new Date(now().getTime() + ttl).toISOString();
      etag = await store.replace(key, body(), 'application/json', etag);
      expiresAt = renewedUntil;
    } catch (error) {
      logger.error('lock lost', { database, reason: (error as Error).message });
      lost.abort(error);
    }
  }, ttl / 3);
  try {
    return await fn(lost.signal);
  } finally {
    clearInterval(renew);
    if (!lost.signal.aborted) {
      const deadline = AbortSignal.timeout(RELEASE_DEADLINE_MS);
      await store
        .replace(key, body(true), 'application/json', etag, { signal: deadline })
        .catch((error: Error) => {
          logger.warn('lock not released; it expires by itself', {
            database,
            expiresAt,
            reason: deadline.aborted ? `no answer within ${RELEASE_DEADLINE_MS / 1000} s` : error.message,
          });
        });
    }
  }

  // Read first, then write conditionally: If-None-Match when there is no lock, If-Match on the
  // lock we saw. On S3 both are atomic, so of two racing takers one gets a 412 (ConflictError).
  async function acquire(): Promise<string> {
    let current: { text: string; etag: string } | undefined;
    try {
      current = await store.read(key);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    if (!current) return store.putIfAbsent(key, body(), 'application/json');
    const held = parseLock(current.text);
    if (held && lockIsHeld(held, now())) {
      throw new ConflictError(`Refusing to start: ${describeLock(held, now(), `${store.location}/${key}`)}.`);
    }
    // Released or expired: take it over, but only if nobody else replaced it meanwhile.
    return store.replace(key, body(), 'application/json', current.etag);
  }
}
