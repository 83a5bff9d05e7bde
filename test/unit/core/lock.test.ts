import { describe, expect, it } from 'vitest';
import { describeLock, type Lock, lockIsStale } from '../../../task/core/lock.ts';

const NOW = new Date('2026-11-26T02:30:00.000Z');
const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000).toISOString();

function lock(times: { acquired: number; renewed?: number; expires: number }): Lock {
  return {
    database: 'app',
    operation: 'backup',
    owner: 'ip-10-0-1-7 pid 1: daily backup',
    acquiredAt: minutes(times.acquired),
    ...(times.renewed === undefined ? {} : { renewedAt: minutes(times.renewed) }),
    expiresAt: minutes(times.expires),
    released: false,
  };
}

describe('lockIsStale', () => {
  it.each([
    ['renewed 1 min ago', { acquired: -30, renewed: -1, expires: 14 }, false],
    [
      'renewed 6 min ago (one renewal late, within the margin)',
      { acquired: -30, renewed: -6, expires: 9 },
      false,
    ],
    ['renewed 8 min ago', { acquired: -30, renewed: -8, expires: 7 }, true],
    ['renewed 14 min ago, about to expire', { acquired: -30, renewed: -14, expires: 1 }, true],
    ['an older lock without renewedAt, written 5 min ago', { acquired: -30, expires: 10 }, false],
    ['an older lock without renewedAt, written 10 min ago', { acquired: -30, expires: 5 }, true],
    ['an older lock without renewedAt, taken just now', { acquired: 0, expires: 15 }, false],
    [
      'a 3 min lock renewed 2 min ago (1 min interval + 2 min margin)',
      { acquired: -5, renewed: -2, expires: 1 },
      false,
    ],
    ['a 3 min lock renewed 3.5 min ago', { acquired: -5, renewed: -3.5, expires: 0.5 }, true],
  ])('judges %s stale: %s', (_, times, stale) => {
    expect(lockIsStale(lock(times), NOW)).toBe(stale);
  });
});

describe('describeLock', () => {
  it('says a live lock is running', () => {
    expect(describeLock(lock({ acquired: -30, renewed: -1, expires: 14 }), NOW)).toBe(
      `a backup of database app is running (ip-10-0-1-7 pid 1: daily backup, since ${minutes(-30)}, lock expires ${minutes(14)} unless renewed)`,
    );
  });

  it('says a stale lock stopped renewing, since when, when it expires and the command that clears it', () => {
    const text = describeLock(
      lock({ acquired: -40, renewed: -10, expires: 5 }),
      NOW,
      's3://my-backups/prod/locks/app.json',
    );
    expect(text).not.toMatch(/is running/);
    expect(text).toContain(`stopped renewing it at ${minutes(-10)} (it renews every 5 min)`);
    expect(text).toContain(`since ${minutes(-40)}`);
    expect(text).toContain('run `aws s3 rm s3://my-backups/prod/locks/app.json` as an operator');
    expect(text).toContain(`the lock expires at ${minutes(5)}`);
  });

  it('names the lock object when it does not know where it is', () => {
    const now = Date.now();
    const text = describeLock(
      {
        ...lock({ acquired: -40, renewed: -10, expires: 5 }),
        renewedAt: new Date(now - 10 * 60_000).toISOString(),
        expiresAt: new Date(now + 5 * 60_000).toISOString(),
      },
      new Date(now),
    );
    expect(text).toMatch(/stopped renewing it at .*, remove the lock object as an operator/);
  });
});
