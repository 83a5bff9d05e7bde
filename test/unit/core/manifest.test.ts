import { describe, expect, it } from 'vitest';
import { type Manifest, parseManifest } from '../../../task/core/manifest.ts';

const valid: Manifest = {
  formatVersion: 1,
  id: 'daily/app/20261126T020000Z',
  tier: 'daily',
  database: 'app',
  startedAt: '2026-11-26T02:00:00.000Z',
  finishedAt: '2026-11-26T02:03:00.000Z',
  serverVersion: '15.18',
  pgDumpVersion: '17.2',
  tool: { name: 'backupctl', version: '0.1.0' },
  artifacts: [
    {
      kind: 'postgres',
      key: 'daily/app/20261126T020000Z/db.dump.zst',
      format: 'custom',
      compression: 'zstd',
      bytes: 1234,
      sha256: 'a'.repeat(64),
      durationMs: 1000,
      tables: [{ schema: 'public', table: 'users', rows: 10 }],
      largeObjects: 0,
    },
    {
      kind: 'media',
      key: 'daily/app/20261126T020000Z/media.tar.zst',
      format: 'tar',
      compression: 'zstd',
      bytes: 99,
      sha256: 'b'.repeat(64),
      durationMs: 10,
      fileCount: 3,
      warnings: [],
    },
  ],
};

describe('manifest schema', () => {
  it('parses a complete manifest', () => {
    expect(parseManifest(JSON.stringify(valid))).toEqual(valid);
  });

  it.each<[string, (m: Record<string, unknown>) => void, string]>([
    [
      'a missing sha256',
      (m) => delete (m.artifacts as Record<string, unknown>[])[0]?.sha256,
      'artifacts.0.sha256',
    ],
    [
      'an upper-case sha256',
      (m) => Object.assign((m.artifacts as object[])[0] ?? {}, { sha256: 'A'.repeat(64) }),
      'artifacts.0.sha256',
    ],
    [
      'a negative byte count',
      (m) => Object.assign((m.artifacts as object[])[1] ?? {}, { bytes: -1 }),
      'artifacts.1.bytes',
    ],
    [
      'an unknown artifact kind',
      (m) => Object.assign((m.artifacts as object[])[1] ?? {}, { kind: 'redis' }),
      'artifacts.1.kind',
    ],
    ['an unknown tier', (m) => Object.assign(m, { tier: 'hourly' }), 'tier'],
    ['a future format version', (m) => Object.assign(m, { formatVersion: 2 }), 'formatVersion'],
    ['no artifacts', (m) => Object.assign(m, { artifacts: [] }), 'artifacts'],
    ['a traversal database name', (m) => Object.assign(m, { database: '..' }), 'database'],
  ])('fails on %s, naming the field', (_, mutate, field) => {
    const m = structuredClone(valid) as unknown as Record<string, unknown>;
    mutate(m);
    expect(() => parseManifest(JSON.stringify(m))).toThrow(`manifest is invalid: ${field}`);
  });

  it('fails on text that is not JSON', () => {
    expect(() => parseManifest('{"formatVersion":')).toThrow('manifest is not JSON');
  });
});
