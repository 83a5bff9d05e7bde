import { describe, expect, it } from 'vitest';
import { artifactKey, databaseTierPrefix, manifestKey, normalizePrefix } from '../../../task/core/keys.ts';

const id = { tier: 'daily', database: 'app', timestamp: '20261126T020000Z' } as const;

describe('key layout', () => {
  it('puts the tier first so lifecycle rules can filter by prefix', () => {
    expect(artifactKey('', id, 'postgres')).toBe('daily/app/20261126T020000Z/db.dump.zst');
    expect(artifactKey('prod/', id, 'media')).toBe('prod/daily/app/20261126T020000Z/media.tar.zst');
    expect(manifestKey('prod/', id)).toBe('prod/daily/app/20261126T020000Z/manifest.json');
    expect(databaseTierPrefix('prod/', 'monthly', 'app')).toBe('prod/monthly/app/');
  });

  it.each([
    [undefined, ''],
    ['', ''],
    ['prod', 'prod/'],
    ['prod/', 'prod/'],
    ['team-a/prod', 'team-a/prod/'],
  ])('normalizes prefix %s to %s', (input, expected) => {
    expect(normalizePrefix(input)).toBe(expected);
  });

  it.each(['/prod', 'a//b', '../x', 'a/../b', 'a/./b', 'sp ace', 'a/b//'])('fails on prefix %s', (prefix) => {
    expect(() => normalizePrefix(prefix)).toThrow(`BACKUP_PREFIX must be path segments`);
  });
});
