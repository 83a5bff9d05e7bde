/**
 * `backupctl show` and `backupctl diff` on real backups of a real database: between two backups a
 * table was emptied, a table dropped, a column added, a role created and granted. Both read the
 * manifests only; diff's --fail-on-drop is the exit code a deploy script can gate on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../task/core/manifest.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, expectFailure } from '../support/backupctl.ts';
import { makeMediaDir } from '../support/fixtures.ts';

const BUCKET = 'show-diff';
const BEFORE = 'daily/shop/20261125T020000Z';
const AFTER = 'daily/shop/20261126T020000Z';
let pg: PgCluster;
let s3: S3Emulator;
let work: string;

const env = (clock = '2026-11-26T12:00:00Z') => ({
  ...pg.env('shop'),
  ...s3.env(BUCKET),
  MEDIA_DIR: join(work, 'media'),
  BACKUPCTL_NOW: clock,
});

async function manifestOf(id: string): Promise<Manifest> {
  return JSON.parse((await getObjectBytes(s3.client, BUCKET, `${id}/manifest.json`)).toString()) as Manifest;
}

async function run(args: readonly string[], clock?: string) {
  const result = await backupctl(args, { env: env(clock) });
  return result;
}

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  work = mkdtempSync(join(tmpdir(), 'spb-show-diff-'));
  makeMediaDir(join(work, 'media'));
  await pg.psql('postgres', 'CREATE DATABASE shop');
  await pg.psql(
    'shop',
    `CREATE SCHEMA sales;
     CREATE TABLE public.customers (id int PRIMARY KEY, name text);
     CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int);
     CREATE TABLE public.notes (id int, body text);
     INSERT INTO public.customers SELECT g, 'c' || g FROM generate_series(1, 100) g;
     INSERT INTO sales.orders SELECT g, 1 + g % 100 FROM generate_series(1, 50) g;
     INSERT INTO public.notes SELECT g, 'n' || g FROM generate_series(1, 10) g;`,
  );
  const first = await run(['backup'], '2026-11-25T02:00:00Z');
  expect(first.code, first.stderr).toBe(0);
  const verify = await run(['verify', BEFORE], '2026-11-25T03:00:00Z');
  expect(verify.code, verify.stderr).toBe(0);
  await pg.psql(
    'shop',
    `TRUNCATE sales.orders;
     DROP TABLE public.notes;
     ALTER TABLE public.customers ADD COLUMN email text;
     INSERT INTO public.customers SELECT g, 'c' || g, 'c' || g || '@example.test' FROM generate_series(101, 120) g;
     CREATE ROLE auditor;
     GRANT SELECT ON public.customers TO auditor;`,
  );
  const second = await run(['backup'], '2026-11-26T02:00:00Z');
  expect(second.code, second.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

async function verificationOf(id: string): Promise<{ restoreSeconds: number }> {
  return JSON.parse((await getObjectBytes(s3.client, BUCKET, `${id}/verification.json`)).toString());
}

const artifactsOf = (m: Manifest) =>
  m.artifacts.map((a) => ({ kind: a.kind, key: a.key, bytes: a.bytes, sha256: a.sha256 }));
const bytesOf = (m: Manifest, kind: string) => m.artifacts.find((a) => a.kind === kind)?.bytes;

describe('backupctl show', () => {
  it('prints what a backup holds, with its verification record, as JSON', async () => {
    const manifest = await manifestOf(BEFORE);

    const result = await run(['show', BEFORE, '--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      id: BEFORE,
      tier: 'daily',
      database: 'shop',
      formatVersion: 2,
      startedAt: '2026-11-25T02:00:00.000Z',
      finishedAt: '2026-11-25T02:00:00.000Z',
      versions: { server: manifest.serverVersion, pgDump: manifest.pgDumpVersion, backupctl: '0.1.0' },
      artifacts: artifactsOf(manifest),
      properties: { ...manifest.databaseProperties, owner: 'postgres', acl: null, settings: [] },
      roles: [
        { role: 'pg_database_owner', attributes: { 'server role': 'predefined' } },
        { role: 'postgres', attributes: { 'server role': 'bootstrap superuser' } },
      ],
      memberships: [],
      schemas: ['public', 'sales'],
      tables: [
        { schema: 'public', table: 'customers', rows: 100, rowPercent: 62.5 },
        { schema: 'public', table: 'notes', rows: 10, rowPercent: 6.3 },
        { schema: 'sales', table: 'orders', rows: 50, rowPercent: 31.3 },
      ],
      rows: 160,
      largeObjects: 0,
      media: { files: 6, bytes: bytesOf(manifest, 'media'), warnings: 0 },
      verification: {
        verifiedAt: '2026-11-25T03:00:00.000Z',
        ok: true,
        restoreSeconds: (await verificationOf(BEFORE)).restoreSeconds,
        failed: [],
      },
    });
    expect(artifactsOf(manifest).map((a) => a.kind)).toEqual(['postgres', 'globals', 'media']);
  });

  it('shows latest as a table: the granted role, the tables left, no verification yet', async () => {
    const result = await run(['show', 'latest']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Backup ${AFTER} (format 2)`);
    expect(result.stdout).toContain('\n  auditor: inherit, connection limit -1\n');
    expect(result.stdout).toContain(
      [
        'SCHEMA  TABLE      ROWS  SHARE OF ROWS',
        'public  customers  120   100%',
        'sales   orders     0     0%',
        '2 tables in 2 schemas, 120 rows, 0 large objects',
      ].join('\n'),
    );
    expect(result.stdout).toContain('Media: 6 files, ');
    expect(result.stdout).toMatch(/\nVerification: none/);
  });

  it('fails naming the backup when it does not exist', async () => {
    expectFailure(
      await run(['show', 'daily/shop/20200101T000000Z']),
      /Backup daily\/shop\/20200101T000000Z does not exist or is incomplete/,
      1,
    );
  });
});

describe('backupctl diff', () => {
  it('compares the older backup to the newer, whatever the order given, as JSON', async () => {
    const [before, after] = [await manifestOf(BEFORE), await manifestOf(AFTER)];

    const result = await run(['diff', AFTER, BEFORE, '--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      database: 'shop',
      before: BEFORE,
      after: AFTER,
      tables: {
        added: [],
        removed: [{ schema: 'public', table: 'notes', rows: 10 }],
        changed: [
          { schema: 'sales', table: 'orders', before: 50, after: 0, change: -50, percent: -100 },
          { schema: 'public', table: 'customers', before: 100, after: 120, change: 20, percent: 20 },
        ],
      },
      rows: { before: 160, after: 120 },
      // The catalog fingerprint holds every table's columns: the added one is named, the dropped
      // table's columns are gone with it.
      catalog: [
        { object: 'column public.customers.email', change: 'added' },
        { object: 'column public.notes.body', change: 'removed' },
        { object: 'column public.notes.id', change: 'removed' },
        { object: 'role auditor', change: 'added' },
        {
          object: 'table public.customers',
          change: 'changed',
          properties: [
            {
              name: 'acl',
              before: '{postgres=arwdDxt/postgres}',
              after: '{auditor=r/postgres,postgres=arwdDxt/postgres}',
            },
          ],
        },
        { object: 'table public.notes', change: 'removed' },
      ],
      artifacts: ['postgres', 'globals', 'media'].map((kind) => ({
        kind,
        before: bytesOf(before, kind),
        after: bytesOf(after, kind),
      })),
      mediaFiles: { before: 6, after: 6 },
    });
  });

  it('prints the changes as tables, largest change first, and exits 0 without --fail-on-drop', async () => {
    const result = await run(['diff', BEFORE, AFTER]);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Tables removed:\n  public.notes (10 rows)\n');
    expect(result.stdout).toContain(
      [
        'TABLE             BEFORE  AFTER  CHANGE  %',
        'sales.orders      50      0      -50     -100%',
        'public.customers  100     120    +20     +20%',
      ].join('\n'),
    );
    expect(result.stdout).toContain(
      'table public.customers: acl {postgres=arwdDxt/postgres} → {auditor=r/postgres,postgres=arwdDxt/postgres}',
    );
  });

  it.each([
    ['50', 1],
    ['99.9', 1],
    ['100', 0],
  ])('with --fail-on-drop %s exits %s', async (percent, code) => {
    const result = await run(['diff', BEFORE, AFTER, '--fail-on-drop', percent, '--json']);

    expect(result.code, result.stderr).toBe(code);
    expect(JSON.parse(result.stdout).after).toBe(AFTER);
    if (code === 1) {
      expect(result.stderr).toContain(
        `backupctl: 2 tables of shop lost more than ${percent}% of their rows from ${BEFORE} to ${AFTER}: sales.orders 50 → 0 rows (-100%), public.notes removed (had 10 rows).`,
      );
    }
  });

  it('refuses a --fail-on-drop that is not a percentage, and a single backup, with exit 2', async () => {
    const half = await run(['diff', BEFORE, AFTER, '--fail-on-drop', 'half']);
    expectFailure(half, /--fail-on-drop must be a percentage from 0 to 100, got: half/, 2);
    expect(half.stdout).toBe('');
    expectFailure(await run(['diff', BEFORE]), /diff takes <id\|latest> <id\|latest>, got: daily\/shop/, 2);
  });
});
