import { describe, expect, it } from 'vitest';
import { formatBackupId, formatTimestamp, parseBackupId, parseTimestamp } from '../../../task/core/ids.ts';

describe('backup ids', () => {
  it('formats a UTC instant as a sortable basic ISO timestamp', () => {
    expect(formatTimestamp(new Date('2026-11-26T02:00:05.789Z'))).toBe('20261126T020005Z');
  });

  it('round-trips an id through format and parse', () => {
    const id = { tier: 'weekly', database: 'app_db-1', timestamp: '20261129T030000Z' } as const;
    expect(parseBackupId(formatBackupId(id))).toEqual({ ok: true, id });
  });

  it.each([
    ['daily/app', 'must look like'],
    ['hourly/app/20261126T020000Z', 'unknown tier "hourly"'],
    ['daily/../20261126T020000Z', 'invalid database name: ..'],
    ['daily/.hidden/20261126T020000Z', 'invalid database name'],
    ['daily/-rf/20261126T020000Z', 'invalid database name'],
    ['daily/app/20261126T020000Z/../x', 'must look like'],
    ['daily/app%2F..%2Fother/20261126T020000Z', 'invalid database name'],
    ['daily/app/20261326T020000Z', 'invalid timestamp'],
    ['daily/app/latest', 'invalid timestamp'],
  ])('rejects %s, naming the problem', (value, reason) => {
    const result = parseBackupId(value);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toContain(reason);
  });

  it('accepts only real calendar instants as timestamps', () => {
    expect(parseTimestamp('20240229T235959Z')?.toISOString()).toBe('2024-02-29T23:59:59.000Z');
    expect(parseTimestamp('20230229T000000Z')).toBeUndefined();
  });
});
