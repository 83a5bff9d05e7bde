import { describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../../task/core/fingerprint.ts';
import { databaseCapture, type Manifest, parseManifest } from '../../../task/core/manifest.ts';

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
    ['a future format version', (m) => Object.assign(m, { formatVersion: 3 }), 'formatVersion'],
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

/** A format-2 backup of a database: the dump, the globals, the properties, the fingerprint. */
const v2: Manifest = {
  ...valid,
  formatVersion: 2,
  artifacts: [
    ...valid.artifacts,
    {
      kind: 'globals',
      key: 'daily/app/20261126T020000Z/globals.sql.zst',
      format: 'sql',
      compression: 'zstd',
      bytes: 512,
      sha256: 'c'.repeat(64),
      durationMs: 40,
    },
  ],
  databaseProperties: {
    owner: 'app_owner',
    encoding: 'UTF8',
    collate: 'C.UTF-8',
    ctype: 'C.UTF-8',
    localeProvider: 'libc',
    connectionLimit: -1,
    acl: ['app_owner=CTc/app_owner', 'app_rw=c/app_owner'],
    tablespace: 'pg_default',
    settings: ['TimeZone=Europe/Zurich'],
    roleSettings: [{ role: 'app_rw', settings: ['statement_timeout=5s'] }],
    bootstrapSuperuser: 'postgres',
  },
  fingerprint: fingerprintOf({ 'role app_ro': { login: 'false' }, 'schema sales': { owner: 'app_owner' } }),
};

describe('manifest format 2', () => {
  it('parses a database backup with its globals, properties and fingerprint', () => {
    const parsed = parseManifest(JSON.stringify(v2));
    expect(parsed).toEqual(v2);
    expect(databaseCapture(parsed)?.globals.key).toBe('daily/app/20261126T020000Z/globals.sql.zst');
  });

  it('still parses format 1, which has nothing captured for a restore', () => {
    expect(databaseCapture(parseManifest(JSON.stringify(valid)))).toBeUndefined();
  });

  it('parses a media-only backup without globals, properties or fingerprint', () => {
    const media = {
      ...v2,
      artifacts: v2.artifacts.filter((a) => a.kind === 'media'),
      databaseProperties: undefined,
      fingerprint: undefined,
    };
    expect(databaseCapture(parseManifest(JSON.stringify(media)))).toBeUndefined();
  });

  it.each<[string, (m: Record<string, unknown>) => void, string]>([
    [
      'a database backup without its globals',
      (m) =>
        Object.assign(m, {
          artifacts: (m.artifacts as { kind: string }[]).filter((a) => a.kind !== 'globals'),
        }),
      'artifacts must be present',
    ],
    [
      'a database backup without its properties',
      (m) => delete m.databaseProperties,
      'databaseProperties must be',
    ],
    ['a database backup without its fingerprint', (m) => delete m.fingerprint, 'fingerprint must be'],
    ['format 1 with a fingerprint', (m) => Object.assign(m, { formatVersion: 1 }), 'artifacts must not be'],
    [
      'an unknown locale provider',
      (m) => Object.assign(m.databaseProperties as object, { localeProvider: 'glibc' }),
      'databaseProperties.localeProvider',
    ],
    [
      'a fingerprint digest that is not SHA-256',
      (m) => Object.assign(m.fingerprint as object, { sha256: 'x' }),
      'fingerprint.sha256',
    ],
  ])('fails on %s, naming the field', (_, mutate, field) => {
    const m = structuredClone(v2) as unknown as Record<string, unknown>;
    mutate(m);
    expect(() => parseManifest(JSON.stringify(m))).toThrow(`manifest is invalid: ${field}`);
  });
});
