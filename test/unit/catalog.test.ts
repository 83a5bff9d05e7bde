import { describe, expect, it } from 'vitest';
import { Catalog, MAX_MANIFEST_BYTES, MissingPartError, UnusableBackupError } from '../../task/catalog.ts';
import type { Manifest } from '../../task/core/manifest.ts';
import { ConfigError, NotFoundError } from '../../task/errors.ts';
import { MemoryStore } from '../../task/store/memory.ts';
import { backupObjects, type ManifestOptions, manifestFor, manifestKeyOf } from '../support/manifests.ts';

const PREFIX = 'env/';

function bucket(): {
  store: MemoryStore;
  catalog: Catalog;
  put: (id: string, o?: ManifestOptions) => Manifest;
} {
  const store = new MemoryStore();
  const put = (id: string, options: ManifestOptions = {}) => {
    const m = manifestFor(id, { prefix: PREFIX, ...options });
    for (const [key, body] of backupObjects(m, PREFIX)) store.set(key, body);
    return m;
  };
  return { store, catalog: new Catalog(store, PREFIX), put };
}

describe('Catalog.resolve', () => {
  it('resolves latest to the newest backup of exactly that database by finish time, never pre-restore', async () => {
    const { catalog, put } = bucket();
    put('daily/shop/20261125T020000Z');
    put('weekly/shop/20261122T030000Z', { minutes: 5 * 24 * 60 }); // finished last
    put('daily/shop2/20261127T020000Z');
    put('pre-restore/shop/20261128T020000Z');

    expect((await catalog.resolve('latest', 'shop')).id).toBe('weekly/shop/20261122T030000Z');
  });

  it('skips a manifest copied from another database for latest and list, and refuses it by id', async () => {
    // Prepare: big's manifest, unchanged, planted as shop's newest backup (a later finishedAt)
    const { store, catalog, put } = bucket();
    const shop = put('daily/shop/20261125T020000Z');
    const big = put('daily/big/20261126T020000Z', { minutes: 600 });
    store.set(`${PREFIX}daily/shop/20261126T020000Z/db.dump.zst`, 'x'.repeat(4096));
    store.set(`${PREFIX}daily/shop/20261126T020000Z/media.tar.zst`, 'x'.repeat(4096));
    store.set(manifestKeyOf('daily/shop/20261126T020000Z', PREFIX), JSON.stringify(big));

    // Act, Assess
    expect((await catalog.resolve('latest', 'shop')).id).toBe(shop.id);
    expect((await catalog.list({ database: 'shop' })).map((m) => m.id)).toEqual([shop.id]);
    await expect(catalog.resolve('daily/shop/20261126T020000Z', 'shop')).rejects.toThrow(
      new UnusableBackupError(
        'daily/shop/20261126T020000Z',
        'foreign',
        'its manifest names backup daily/big/20261126T020000Z of database big (tier daily), not daily/shop/20261126T020000Z',
      ),
    );
  });

  it.each<[string, (m: Manifest) => Manifest, string]>([
    [
      'a dump key pointing at another database',
      (m) => ({
        ...m,
        artifacts: m.artifacts.map((a) =>
          a.kind === 'postgres' ? { ...a, key: `${PREFIX}daily/big/20261126T020000Z/db.dump.zst` } : a,
        ),
      }),
      `its manifest puts the database dump at ${PREFIX}daily/big/20261126T020000Z/db.dump.zst, not at ${PREFIX}daily/shop/20261126T020000Z/db.dump.zst`,
    ],
    [
      'the dump listed as the media archive',
      (m) => ({
        ...m,
        artifacts: m.artifacts.map((a) =>
          a.kind === 'media' ? { ...a, key: m.artifacts[0]?.key ?? '' } : a,
        ),
      }),
      'its manifest puts the media archive at',
    ],
    [
      'two dumps',
      (m) => ({
        ...m,
        artifacts: [
          m.artifacts[0] as Manifest['artifacts'][number],
          m.artifacts[0] as Manifest['artifacts'][number],
        ],
      }),
      'its manifest lists two database dumps',
    ],
    [
      'a size other than the stored object',
      (m) => ({ ...m, artifacts: m.artifacts.map((a) => ({ ...a, bytes: a.bytes + 1 })) }),
      'is 4096 bytes, the manifest recorded 4097',
    ],
  ])('refuses a backup whose manifest has %s, and latest skips it', async (_case, tamper, reason) => {
    const { store, catalog, put } = bucket();
    const older = put('daily/shop/20261125T020000Z');
    put('daily/big/20261126T020000Z');
    const m = put('daily/shop/20261126T020000Z');
    store.set(manifestKeyOf(m.id, PREFIX), JSON.stringify(tamper(m)));

    await expect(catalog.resolve(m.id, 'shop')).rejects.toThrow(reason);
    await expect(catalog.resolve(m.id, 'shop')).rejects.toBeInstanceOf(UnusableBackupError);
    expect((await catalog.resolve('latest', 'shop')).id).toBe(older.id);
  });

  it('refuses a backup whose artifact is gone, naming it', async () => {
    const { store, catalog, put } = bucket();
    const m = put('daily/shop/20261126T020000Z');
    store.delete(`${PREFIX}${m.id}/media.tar.zst`);

    await expect(catalog.resolve(m.id, 'shop')).rejects.toThrow(
      `its media archive ${PREFIX}${m.id}/media.tar.zst is missing`,
    );
  });

  it('takes for latest the newest backup holding the part asked for, skipping a newer media-only one', async () => {
    const { catalog, put } = bucket();
    const full = put('daily/app/20261125T020000Z');
    const mediaOnly = put('daily/app/20261126T020000Z', { parts: ['media'] });

    expect((await catalog.resolve('latest', 'app', { needs: ['postgres'] })).id).toBe(full.id);
    expect((await catalog.resolve('latest', 'app', { needs: ['media'] })).id).toBe(mediaOnly.id);
    expect((await catalog.resolve('latest', 'app')).id).toBe(mediaOnly.id);
  });

  it('fails naming the missing part when no backup holds it', async () => {
    const { catalog, put } = bucket();
    put('daily/app/20261126T020000Z', { parts: ['media'] });

    const refusal = catalog.resolve('latest', 'app', { needs: ['postgres'] });

    await expect(refusal).rejects.toBeInstanceOf(MissingPartError);
    await expect(refusal).rejects.toThrow(
      'No backup of database app holds a database dump (the newest, daily/app/20261126T020000Z, holds only media archive)',
    );
    await expect(
      catalog.resolve('daily/app/20261126T020000Z', 'app', { needs: ['postgres'] }),
    ).rejects.toThrow('Backup daily/app/20261126T020000Z holds no database dump');
  });

  it('refuses a manifest larger than the limit without reading it', async () => {
    const { store, catalog, put } = bucket();
    const older = put('daily/app/20261125T020000Z');
    const big = put('daily/app/20261126T020000Z');
    const key = manifestKeyOf(big.id, PREFIX);
    store.set(key, `${JSON.stringify(big)}${' '.repeat(MAX_MANIFEST_BYTES)}`);

    await expect(catalog.resolve(big.id, 'app')).rejects.toThrow(
      /more than the 16777216 a manifest may have/,
    );
    expect((await catalog.resolve('latest', 'app')).id).toBe(older.id);
    expect(store.requests.filter((r) => r.key === key && r.operation === 'read')).toEqual([]);
  });

  it.each([
    ['no manifest', 'daily/app/20261126T020000Z', NotFoundError, /does not exist or is incomplete/],
    ['another database', 'daily/other/20261126T020000Z', ConfigError, /belongs to database other, not app/],
    ['a malformed id', 'daily/app', ConfigError, /^Backup id must look like/],
  ])('fails for an id with %s', async (_case, id, type, message) => {
    const { store, catalog } = bucket();
    store.set(`${PREFIX}daily/app/20261126T020000Z/db.dump.zst`, 'partial');

    const refusal = catalog.resolve(id, 'app');

    await expect(refusal).rejects.toBeInstanceOf(type);
    await expect(refusal).rejects.toThrow(message);
  });

  it('fails for latest of a database without backups, naming the bucket', async () => {
    const { catalog } = bucket();

    await expect(catalog.resolve('latest', 'app')).rejects.toThrow(
      'No complete backup of database app exists in memory://memory/env/',
    );
  });
});

describe('Catalog.list', () => {
  it('lists usable backups of every tier newest first, filtered by tier or database', async () => {
    const { catalog, put } = bucket();
    const a = put('daily/app/20261125T020000Z');
    const b = put('weekly/app/20261126T030000Z');
    const c = put('daily/billing/20261127T020000Z');

    expect((await catalog.list()).map((m) => m.id)).toEqual([c.id, b.id, a.id]);
    expect((await catalog.list({ tier: 'daily' })).map((m) => m.id)).toEqual([c.id, a.id]);
    expect((await catalog.list({ database: 'app' })).map((m) => m.id)).toEqual([b.id, a.id]);
  });
});
