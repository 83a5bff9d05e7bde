/**
 * The promise of `backupctl backup`: what it uploads, restored with standard tools, equals the
 * source row for row and file for file, and the manifest tells the truth about it.
 */

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, parseManifest } from '../../task/core/manifest.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, openMultipartUploads, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl } from '../support/backupctl.ts';
import { createAppDatabase, fingerprint, makeMediaDir, treeDigest } from '../support/fixtures.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'roundtrip-backups';
let pg: PgCluster;
let s3: S3Emulator;
let work: string;
let media: string;

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createAppDatabase(pg, 'app');
  work = mkdtempSync(join(tmpdir(), 'spb-roundtrip-'));
  media = join(work, 'media');
  // 12 MiB of random bytes: the media archive needs three 5 MiB parts, so multipart is exercised.
  makeMediaDir(media, { bigFileBytes: 12 * 1024 * 1024 });
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

const env = (extra: NodeJS.ProcessEnv = {}) => ({
  ...pg.env('app'),
  ...s3.env(BUCKET, 'prod'),
  MEDIA_DIR: media,
  BACKUP_PART_SIZE: '5',
  ...extra,
});

describe('backupctl backup', () => {
  let manifest: Manifest;
  let result: Awaited<ReturnType<typeof backupctl>>;

  beforeAll(async () => {
    result = await backupctl(['backup', '--tier', 'weekly'], { env: env() });
    const summary = result.logs.find((l) => l.message === 'backup finished');
    const id = String(summary?.id);
    manifest = parseManifest(
      (await getObjectBytes(s3.client, BUCKET, `prod/${id}/manifest.json`)).toString(),
    );
  });

  it('exits 0, prints the backup id as its data and logs a summary with the id, sizes and checksums', () => {
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.split('\n').filter((l) => l && !l.startsWith('{"'))).toEqual([]);
    expect(result.stdout).toMatch(/^weekly\/app\/\d{8}T\d{6}Z\n$/);
    const summary = result.logs.find((l) => l.message === 'backup finished');
    expect(summary?.id).toMatch(/^weekly\/app\/\d{8}T\d{6}Z$/);
    expect(summary?.artifacts).toHaveLength(3);
  });

  it('writes the artifacts and the manifest under the tier-first key layout', async () => {
    expect(await s3.keys(BUCKET, `prod/${manifest.tier}/`)).toEqual(
      ['db.dump.zst', 'globals.sql.zst', 'manifest.json', 'media.tar.zst'].map(
        (f) => `prod/${manifest.id}/${f}`,
      ),
    );
    expect(manifest.tier).toBe('weekly');
    expect(manifest.database).toBe('app');
    expect(manifest.serverVersion).toMatch(/^15\./);
    expect(manifest.pgDumpVersion).toMatch(/^15\./);
    expect(openMultipartUploads(s3.requests)).toEqual([]);
  });

  it('records byte counts and SHA-256 that match the stored objects', async () => {
    for (const artifact of manifest.artifacts) {
      expect(artifact.key.startsWith(`prod/${manifest.id}/`)).toBe(true);
      const bytes = await getObjectBytes(s3.client, BUCKET, artifact.key);
      expect(bytes.length).toBe(artifact.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(artifact.sha256);
    }
  });

  it('restores with zstd and pg_restore into a database equal to the source, row for row', async () => {
    const dump = manifest.artifacts.find((a) => a.kind === 'postgres');
    const bytes = await getObjectBytes(s3.client, BUCKET, dump?.key ?? '');
    await pg.psql('postgres', 'CREATE DATABASE restored');
    await sh('zstd -d | pg_restore --no-owner --exit-on-error --dbname=restored', {
      input: bytes,
      env: pg.env('restored'),
    });
    const [source, restored] = await Promise.all([fingerprint(pg, 'app'), fingerprint(pg, 'restored')]);
    expect(Object.keys(source).length).toBeGreaterThan(8);
    expect(restored).toEqual(source);
  });

  it('records per-table row counts equal to the source', async () => {
    const dump = manifest.artifacts.find((a) => a.kind === 'postgres');
    if (dump?.kind !== 'postgres') throw new Error('no postgres artifact');
    expect(dump.tables).toEqual([
      { schema: 'Audit Log', table: 'Events', rows: 1500 },
      { schema: 'billing', table: 'invoices', rows: 4000 },
      { schema: 'public', table: 'customers', rows: 3000 },
      { schema: 'public', table: 'empty_table', rows: 0 },
    ]);
    expect(dump.largeObjects).toBe(1);
  });

  it('restores the media archive to a tree identical to the source, file for file', async () => {
    const archive = manifest.artifacts.find((a) => a.kind === 'media');
    if (archive?.kind !== 'media') throw new Error('no media artifact');
    const bytes = await getObjectBytes(s3.client, BUCKET, archive.key);
    const out = join(work, 'extracted');
    await sh(`mkdir -p '${out}' && zstd -d | tar -x -C '${out}'`, { input: bytes });
    const source = treeDigest(media);
    expect(treeDigest(out)).toEqual(source);
    expect(archive.fileCount).toBe(Object.values(source).filter((v) => v !== 'dir').length);
    expect(archive.warnings).toEqual([]);
  });

  it('lists the backup as complete, newest first, in JSON and as a table', async () => {
    const second = await backupctl(['backup', '--only', 'db'], { env: env() });
    expect(second.code).toBe(0);
    const json = await backupctl(['list', '--json'], { env: env() });
    expect(json.code).toBe(0);
    const entries = JSON.parse(json.stdout) as {
      id: string;
      tier: string;
      dbBytes?: number;
      mediaBytes?: number;
    }[];
    expect(entries.map((e) => e.tier)).toEqual(['daily', 'weekly']);
    expect(entries[1]).toMatchObject({ id: manifest.id, database: 'app', finishedAt: manifest.finishedAt });
    expect(entries[1]?.mediaBytes).toBeGreaterThan(12 * 1024 * 1024);
    expect(entries[0]?.mediaBytes).toBeUndefined();
    const table = await backupctl(['list', '--tier', 'weekly'], { env: env() });
    expect(table.stdout).toContain(manifest.id);
    expect(table.stdout).not.toContain('daily/');
  });

  it('ignores an upload without a manifest when listing', async () => {
    await s3.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'prod/daily/app/20200101T000000Z/db.dump.zst',
        Body: 'partial',
      }),
    );
    const json = await backupctl(['list', '--json'], { env: env() });
    expect(JSON.parse(json.stdout).map((e: { id: string }) => e.id)).not.toContain(
      'daily/app/20200101T000000Z',
    );
  });
});
