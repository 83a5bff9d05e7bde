/**
 * One catalog for every reader: a planted or tampered manifest, or a backup without the part
 * asked for, is treated the same way by `list`, `verify`, `restore` and `status` (backupctl as
 * a child process, real PostgreSQL, the S3 emulator).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../task/core/manifest.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, putObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, expectFailure } from '../support/backupctl.ts';
import { createAppDatabase, fingerprint, makeMediaDir } from '../support/fixtures.ts';

const BUCKET = 'catalog-backups';
let pg: PgCluster;
let s3: S3Emulator;
let work: string;
let media: string;

const env = (database: string, extra: NodeJS.ProcessEnv = {}) => ({
  ...pg.env(database),
  ...s3.env(BUCKET),
  MEDIA_DIR: media,
  ...extra,
});
const manifestOf = async (id: string): Promise<Manifest> =>
  JSON.parse((await getObjectBytes(s3.client, BUCKET, `${id}/manifest.json`)).toString());
const copy = async (from: string, to: string) =>
  putObjectBytes(s3.client, BUCKET, to, await getObjectBytes(s3.client, BUCKET, from));

async function backup(database: string, at: string, args: string[] = []): Promise<Manifest> {
  const result = await backupctl(['backup', ...args], { env: env(database, { BACKUPCTL_NOW: at }) });
  expect(result.code, result.stderr).toBe(0);
  return manifestOf(String(result.logs.find((l) => l.message === 'backup finished')?.id));
}

let shop: Manifest;
let big: Manifest;

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await Promise.all([createAppDatabase(pg, 'shop'), pg.psql('postgres', 'CREATE DATABASE big')]);
  await pg.psql('big', 'CREATE TABLE only_in_big AS SELECT g FROM generate_series(1, 500) g');
  work = mkdtempSync(join(tmpdir(), 'spb-catalog-'));
  media = join(work, 'media');
  makeMediaDir(media);
  shop = await backup('shop', '2026-11-25T02:00:00Z');
  big = await backup('big', '2026-11-26T02:00:00Z');
});

afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a manifest copied from another database', () => {
  const planted = 'daily/shop/20261127T020000Z';
  beforeAll(async () => {
    // big's manifest, unchanged and with a later finishedAt, planted as shop's newest backup
    for (const a of big.artifacts) await copy(a.key, a.key.replace(big.id, planted));
    await copy(`${big.id}/manifest.json`, `${planted}/manifest.json`);
  });

  it('is not latest for restore: shop is restored from its own backup', async () => {
    await pg.psql('shop', 'DELETE FROM billing.invoices WHERE id > 10');
    const result = await backupctl(['restore', 'latest', '--confirm', 'shop', '--only', 'db'], {
      env: env('shop'),
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.logs.find((l) => l.message === 'restore finished')).toMatchObject({ id: shop.id });
    expect(Object.keys(await fingerprint(pg, 'shop'))).not.toContain('public.only_in_big');
    expect(await pg.psql('shop', 'SELECT count(*) FROM billing.invoices')).toBe('4000');
  });

  it('is not latest for verify, and writes no verification record for big', async () => {
    const result = await backupctl(['verify', 'latest', '--json'], { env: env('shop') });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ id: shop.id, ok: true });
    expect(await s3.keys(BUCKET, `${big.id}/verification.json`)).toEqual([]);
  });

  it('is not listed for shop', async () => {
    const result = await backupctl(['list', '--database', 'shop', '--tier', 'daily', '--json'], {
      env: env('shop'),
    });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).map((s: { id: string }) => s.id)).toEqual([shop.id]);
  });

  it('is refused by id, naming the backup it claims to be', async () => {
    expectFailure(
      await backupctl(['verify', planted], { env: env('shop') }),
      /Backup daily\/shop\/20261127T020000Z cannot be used: its manifest names backup daily\/big\/20261126T020000Z/,
      1,
    );
  });
});

describe('a manifest of its own id whose dump is another database', () => {
  const forged = 'daily/shop/20261128T020000Z';
  beforeAll(async () => {
    // Own id, tier and database, but the dump key (with its real SHA-256 and size) is big's.
    const m = structuredClone(shop);
    m.id = forged;
    m.finishedAt = '2026-11-28T02:10:00.000Z';
    m.artifacts = big.artifacts.map((a) => ({ ...a }));
    await putObjectBytes(s3.client, BUCKET, `${forged}/manifest.json`, JSON.stringify(m));
  });

  it('fails verify as restore does, naming the misplaced dump, and writes no verification record', async () => {
    const verify = await backupctl(['verify', forged], { env: env('shop') });
    const restore = await backupctl(['restore', forged, '--confirm', 'shop'], { env: env('shop') });
    for (const result of [verify, restore]) {
      expectFailure(
        result,
        /cannot be used: its manifest puts the database dump at daily\/big\/.*, not at daily\/shop\/20261128T020000Z\/db\.dump\.zst/,
        1,
      );
    }
    expect(await s3.keys(BUCKET, `${forged}/verification.json`)).toEqual([]);
  });

  it('makes status critical, naming the backup', async () => {
    const result = await backupctl(['status', '--database', 'shop'], {
      env: env('shop', { BACKUPCTL_NOW: '2026-11-28T06:00:00Z' }),
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${forged}: its manifest puts the database dump at daily/big/`);
  });
});

describe('a newer media-only backup', () => {
  let mediaOnly: Manifest;
  beforeAll(async () => {
    mediaOnly = await backup('shop', '2026-11-29T02:00:00Z', ['--only', 'media']);
  });

  it('is skipped by restore latest, which restores the database from the newest backup holding it', async () => {
    await pg.psql('shop', 'DELETE FROM billing.invoices');
    const result = await backupctl(['restore', 'latest', '--confirm', 'shop'], { env: env('shop') });
    expect(result.code, result.stderr).toBe(0);
    const finished = result.logs.find((l) => l.message === 'restore finished');
    expect(finished).toMatchObject({ id: shop.id });
    expect(await pg.psql('shop', 'SELECT count(*) FROM billing.invoices')).toBe('4000');
  });

  it('is skipped by the drill, which tests the newest backup holding the database', async () => {
    const result = await backupctl(['verify', 'latest', '--json'], { env: env('shop') });
    expect(result.code, result.stderr).toBe(0);
    const verification = JSON.parse(result.stdout);
    expect(verification.id).toBe(shop.id);
    expect(verification.checks.map((c: { artifact: string }) => c.artifact)).toContain('postgres');
  });

  it('is what restore latest --only media restores', async () => {
    const result = await backupctl(['restore', 'latest', '--confirm', 'shop', '--only', 'media'], {
      env: env('shop'),
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.logs.find((l) => l.message === 'restore finished')).toMatchObject({ id: mediaOnly.id });
  });

  it('leaves a database without any full backup with a refusal naming the missing dump', async () => {
    await pg.psql('postgres', 'CREATE DATABASE mediaonly');
    const result = await backupctl(['backup', '--only', 'media'], { env: env('mediaonly') });
    expect(result.code, result.stderr).toBe(0);
    expectFailure(
      await backupctl(['restore', 'latest', '--confirm', 'mediaonly'], { env: env('mediaonly') }),
      /No backup of database mediaonly holds a database dump \(the newest, daily\/mediaonly\/\d+T\d+Z, holds only media archive\)/,
      1,
    );
  });
});
