import { describe, expect, it } from 'vitest';
import { Catalog, type CatalogLogger } from '../../task/catalog.ts';
import { formatTimestamp } from '../../task/core/ids.ts';
import type { Manifest } from '../../task/core/manifest.ts';
import type { Verification } from '../../task/core/verification.ts';
import { collectInventory } from '../../task/inventory.ts';
import { MemoryStore } from '../../task/store/memory.ts';

const PREFIX = 'env/';
const DAY = 86_400_000;
const T0 = Date.parse('2026-11-26T02:00:00Z');

function manifestFor(tier: string, database: string, started: Date): Manifest {
  const id = `${tier}/${database}/${formatTimestamp(started)}`;
  return {
    formatVersion: 1,
    id,
    tier: tier as Manifest['tier'],
    database,
    startedAt: started.toISOString(),
    finishedAt: new Date(started.getTime() + 60_000).toISOString(),
    tool: { name: 'backupctl', version: '0.1.0' },
    artifacts: [
      {
        kind: 'postgres',
        key: `${PREFIX}${id}/db.dump.zst`,
        compression: 'zstd',
        bytes: 1000,
        sha256: 'a'.repeat(64),
        durationMs: 1,
        format: 'custom',
        tables: [],
        largeObjects: 0,
      },
    ],
  };
}

/** Puts a complete backup (artifact, then manifest) and returns its manifest. */
function putBackup(store: MemoryStore, tier: string, database: string, started: Date): Manifest {
  const m = manifestFor(tier, database, started);
  store.set(`${PREFIX}${m.id}/db.dump.zst`, 'x'.repeat(1000), started);
  store.set(`${PREFIX}${m.id}/manifest.json`, JSON.stringify(m), started);
  return m;
}

function putVerification(store: MemoryStore, id: string, ok: boolean): void {
  const v: Verification = {
    formatVersion: 1,
    id,
    verifiedAt: '2026-11-26T05:00:00Z',
    ok,
    checks: [],
    restoreSeconds: 12,
    tool: { name: 'backupctl', version: '0.1.0' },
  };
  store.set(`${PREFIX}${id}/verification.json`, JSON.stringify(v));
}

const inventory = (store: MemoryStore, databases?: string[], logger?: CatalogLogger) =>
  collectInventory(new Catalog(store, PREFIX, logger), databases);
const requests = (store: MemoryStore, operation: string) =>
  store.requests.filter((r) => r.operation === operation).map((r) => r.key);

describe('collectInventory', () => {
  it('returns the complete backups of each database and tier newest first, with their verifications', async () => {
    // Prepare
    const store = new MemoryStore();
    const older = putBackup(store, 'daily', 'app', new Date(T0 - DAY));
    const newer = putBackup(store, 'daily', 'app', new Date(T0));
    putVerification(store, newer.id, true);
    const weekly = putBackup(store, 'weekly', 'app', new Date(T0 - 3 * DAY));
    // Act
    const inputs = await inventory(store, ['app']);
    // Assess
    expect(inputs.map((i) => [i.tier, i.backups.map((m) => m.id)])).toEqual([
      ['daily', [newer.id, older.id]],
      ['weekly', [weekly.id]],
      ['monthly', []],
    ]);
    expect(Object.keys(inputs[0]?.verifications ?? {})).toEqual([newer.id]);
    expect(inputs[0]).toMatchObject({
      completeCount: 2,
      oldestStartedAt: older.startedAt,
      storedBytes: expect.any(Number),
      orphans: [],
    });
  });

  it('reports a folder without a manifest as an orphan with its newest object time', async () => {
    const store = new MemoryStore();
    putBackup(store, 'daily', 'app', new Date(T0 - DAY));
    const failedId = `daily/app/${formatTimestamp(new Date(T0))}`;
    store.set(`${PREFIX}${failedId}/db.dump.zst`, 'partial', new Date(T0 + 60_000));
    store.set(`${PREFIX}${failedId}/media.tar.zst`, 'partial', new Date(T0 + 120_000));

    const [daily] = await inventory(store, ['app']);

    expect(daily?.backups).toHaveLength(1);
    expect(daily?.orphans).toEqual([
      {
        id: failedId,
        startedAt: new Date(T0).toISOString(),
        lastModified: new Date(T0 + 120_000).toISOString(),
        objects: 2,
        bytes: 14,
      },
    ]);
  });

  it('lists once per database and tier and reads only the newest eight manifests', async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 30; i++) putBackup(store, 'daily', 'app', new Date(T0 - i * DAY));

    const [daily] = await inventory(store, ['app']);

    expect(requests(store, 'list')).toEqual([
      `${PREFIX}daily/app/`,
      `${PREFIX}weekly/app/`,
      `${PREFIX}monthly/app/`,
    ]);
    expect(requests(store, 'listFolders')).toEqual([]);
    expect(requests(store, 'read')).toHaveLength(8);
    expect(daily?.backups).toHaveLength(8);
    expect(daily?.completeCount).toBe(30);
    expect(daily?.oldestStartedAt).toBe(new Date(T0 - 29 * DAY).toISOString());
  });

  it('discovers the databases from the tier folders when none are given, never listing pre-restore', async () => {
    const store = new MemoryStore();
    putBackup(store, 'daily', 'app', new Date(T0));
    putBackup(store, 'monthly', 'billing', new Date(T0));
    putBackup(store, 'pre-restore', 'other', new Date(T0));

    const inputs = await inventory(store);

    expect(inputs.map((i) => `${i.tier}/${i.database}:${i.backups.length}`)).toEqual([
      'daily/app:1',
      'weekly/app:0',
      'monthly/app:0',
      'daily/billing:0',
      'weekly/billing:0',
      'monthly/billing:1',
    ]);
    expect(store.requests.some((r) => r.key.includes('pre-restore'))).toBe(false);
  });

  it('does not mistake another database whose name starts the same for this one', async () => {
    const store = new MemoryStore();
    putBackup(store, 'daily', 'app2', new Date(T0));

    const [daily] = await inventory(store, ['app']);

    expect(daily?.backups).toEqual([]);
    expect(daily?.orphans).toEqual([]);
  });

  it.each([
    ['is not JSON', '{', 'manifest is not JSON'],
    ['fails the schema', JSON.stringify({ formatVersion: 9 }), 'manifest is invalid'],
    ['names another backup', 'OTHER', 'its manifest names backup daily/app/20261125T020000Z'],
  ])(
    'reports a manifest that %s as unreadable, with a warning, and leaves it out of the backups',
    async (_case, text, reason) => {
      const store = new MemoryStore();
      const good = putBackup(store, 'daily', 'app', new Date(T0 - DAY));
      const bad = manifestFor('daily', 'app', new Date(T0));
      store.set(`${PREFIX}${bad.id}/manifest.json`, text === 'OTHER' ? JSON.stringify(good) : text);
      const warnings: unknown[] = [];

      const [daily] = await inventory(store, ['app'], {
        warn: (message, data) => warnings.push({ message, ...data }),
      });

      expect(daily?.backups.map((m) => m.id)).toEqual([good.id]);
      expect(warnings).toEqual([
        expect.objectContaining({ message: 'backup skipped', reason: expect.stringContaining(reason) }),
      ]);
      expect(daily?.unreadable).toEqual([{ id: bad.id, reason: expect.stringContaining(reason) }]);
    },
  );

  it('skips an invalid verification record with a warning and keeps the backup', async () => {
    const store = new MemoryStore();
    const m = putBackup(store, 'daily', 'app', new Date(T0));
    store.set(`${PREFIX}${m.id}/verification.json`, JSON.stringify({ id: m.id, ok: 'yes' }));
    const warnings: string[] = [];

    const [daily] = await inventory(store, ['app'], { warn: (message) => warnings.push(message) });

    expect(daily?.backups).toHaveLength(1);
    expect(daily?.verifications).toEqual({});
    expect(warnings).toEqual(['verification skipped']);
  });
});
