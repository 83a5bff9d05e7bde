/**
 * Hostile names and settings: every usage or configuration error exits 2 before anything is
 * written (no lock object, no backup, not one write request), a connection string in PGDATABASE
 * is never echoed, the lock is taken whatever PGDATABASE says, and a lock whose holder stopped
 * renewing it says so and how to clear it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, putObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, type CliResult, expectFailure } from '../support/backupctl.ts';
import { createAppDatabase, makeMediaDir } from '../support/fixtures.ts';

let pg: PgCluster;
let s3: S3Emulator;
let work: string;
let media: string;
let buckets = 0;

/** A bucket of its own for each run, so "nothing written" means an empty bucket. */
async function freshBucket(): Promise<string> {
  const bucket = `hostile-${++buckets}`;
  await s3.createBucket(bucket);
  return bucket;
}

const env = (bucket: string, extra: NodeJS.ProcessEnv = {}) => ({
  ...pg.env('app'),
  ...s3.env(bucket),
  MEDIA_DIR: media,
  BACKUP_PART_SIZE: '5',
  ...extra,
});

/** Runs backupctl against a fresh bucket; returns the result, the bucket's keys and the writes sent. */
async function runFresh(
  args: readonly string[],
  extra: NodeJS.ProcessEnv,
): Promise<{ result: CliResult; keys: string[]; writes: string[] }> {
  const bucket = await freshBucket();
  const before = s3.requests.length;
  const result = await backupctl(args, { env: env(bucket, extra) });
  const writes = s3.requests
    .slice(before)
    .filter((r) => r.method !== 'GET' && r.method !== 'HEAD')
    .map((r) => `${r.method} ${r.url}`);
  return { result, keys: await s3.keys(bucket), writes };
}

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await createAppDatabase(pg, 'app');
  work = mkdtempSync(join(tmpdir(), 'spb-hostile-'));
  media = join(work, 'media');
  makeMediaDir(media);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a hostile PGDATABASE', () => {
  it.each([
    ['a name with a space', 'my db', [], /PGDATABASE .*got: my db/],
    ['a name with a quote', 'q"uote', [], /PGDATABASE .*got: q"uote/],
    ['a non-ASCII name', 'données', [], /PGDATABASE .*got: données/],
    ['a name, media only', 'my db', ['--only', 'media'], /PGDATABASE .*got: my db/],
  ])('refuses %s with exit 2 and writes nothing', async (_, database, args, message) => {
    const { result, keys, writes } = await runFresh(['backup', ...args], { PGDATABASE: database });
    expectFailure(result, message, 2);
    expect(keys).toEqual([]);
    expect(writes).toEqual([]);
  });

  const uri = () => `postgresql://postgres:${pg.password}@127.0.0.1:${pg.port}/app`;
  it.each([
    ['a postgresql:// URI', uri, [], /PGDATABASE holds a connection URI/],
    ['a postgres:// URI', () => uri().replace('postgresql:', 'postgres:'), [], /connection URI/],
    [
      'a conninfo string',
      () => `host=127.0.0.1 dbname=app password=${pg.password}`,
      [],
      /PGDATABASE holds a connection string \("key=value"\)/,
    ],
    ['a URI, media only', uri, ['--only', 'media'], /PGDATABASE holds a connection URI/],
  ])('refuses %s with exit 2, never echoing it, and writes nothing', async (_, value, args, message) => {
    const { result, keys, writes } = await runFresh(['backup', ...args], { PGDATABASE: value() });
    expectFailure(result, message, 2);
    expect(result.stderr).toMatch(/PGHOST, PGPORT, PGUSER, PGPASSWORD/);
    for (const output of [result.stdout, result.stderr]) {
      expect(output).not.toContain(pg.password);
      expect(output).not.toContain('127.0.0.1');
    }
    expect(keys).toEqual([]);
    expect(writes).toEqual([]);
  });

  it('never echoes a URI that reaches psql through another variable (PGUSER), and writes nothing', async () => {
    const { result, keys, writes } = await runFresh(['backup'], { PGUSER: uri() });
    expectFailure(
      result,
      /Could not connect to PostgreSQL: .*authentication failed for user "postgresql:\/\/…"/,
      1,
    );
    expect(result.stdout + result.stderr).not.toContain(pg.password);
    expect(keys).toEqual([]);
    expect(writes).toEqual([]);
  });

  it('refuses a URI for status and restore too, never echoing it', async () => {
    for (const args of [['status'], ['restore', 'latest', '--confirm', 'app'], ['verify', 'latest']]) {
      const { result, keys } = await runFresh(args, { PGDATABASE: uri() });
      expectFailure(result, /PGDATABASE holds a connection URI/, 2);
      expect(result.stdout + result.stderr).not.toContain(pg.password);
      expect(keys).toEqual([]);
    }
  });
});

describe('PGDATABASE unset or empty', () => {
  it.each([
    ['unset', undefined],
    ['empty', ''],
  ])(
    'takes the lock of the server default database when %s: a held restore lock refuses the backup',
    async (_, database) => {
      const bucket = await freshBucket();
      const lock = {
        database: 'postgres',
        operation: 'restore',
        owner: 'ip-10-0-1-9 pid 7: restore of daily/postgres/20260101T020000Z',
        acquiredAt: new Date().toISOString(),
        renewedAt: new Date().toISOString(),
        expiresAt: new Date(Date.now() + 15 * 60_000).toISOString(),
        released: false,
      };
      await putObjectBytes(s3.client, bucket, 'locks/postgres.json', JSON.stringify(lock));
      const environment: NodeJS.ProcessEnv = env(bucket);
      if (database === undefined) delete environment.PGDATABASE;
      else environment.PGDATABASE = database;
      const result = await backupctl(['backup', '--only', 'db'], { env: environment });
      expectFailure(
        result,
        /Refusing to start: a restore of database postgres is running \(ip-10-0-1-9 pid 7/,
        1,
      );
      expect(await s3.keys(bucket)).toEqual(['locks/postgres.json']);
      expect(JSON.parse((await getObjectBytes(s3.client, bucket, 'locks/postgres.json')).toString())).toEqual(
        lock,
      );
    },
  );

  it('backs up the server default database under its own lock when PGDATABASE is unset', async () => {
    const bucket = await freshBucket();
    const environment: NodeJS.ProcessEnv = env(bucket);
    delete environment.PGDATABASE;
    const result = await backupctl(['backup', '--only', 'db'], { env: environment });
    expect(result.code, result.stderr).toBe(0);
    const keys = await s3.keys(bucket);
    expect(keys).toContain('locks/postgres.json');
    expect(keys.filter((k) => k.endsWith('manifest.json'))).toEqual([
      expect.stringMatching(/^daily\/postgres\/\d{8}T\d{6}Z\/manifest\.json$/),
    ]);
    const lock = JSON.parse((await getObjectBytes(s3.client, bucket, 'locks/postgres.json')).toString());
    expect(lock).toMatchObject({ database: 'postgres', operation: 'backup', released: true });
  });
});

describe('usage and configuration errors', () => {
  it.each([
    ['a repeated --tier', ['backup', '--tier', 'weekly', '--tier', 'monthly'], {}, /--tier is given 2 times/],
    [
      'an empty --target-database=',
      ['restore', 'latest', '--confirm', 'app', '--target-database='],
      {},
      /--target-database needs a value/,
    ],
    ['a hexadecimal BACKUP_PART_SIZE', ['backup'], { BACKUP_PART_SIZE: '0x10' }, /BACKUP_PART_SIZE must be/],
    [
      'an endpoint URL with trailing junk',
      ['backup'],
      { AWS_ENDPOINT_URL_S3: 'ENDPOINT/junk' },
      /AWS_ENDPOINT_URL_S3 must be/,
    ],
    [
      'an out-of-range BACKUP_LOCK_WAIT_TIMEOUT',
      ['backup'],
      { BACKUP_LOCK_WAIT_TIMEOUT: '2147483648ms' },
      /BACKUP_LOCK_WAIT_TIMEOUT must be .*PostgreSQL's lock_timeout limit/,
    ],
  ])('refuses %s with exit 2 and writes nothing', async (_, args, extra, message) => {
    const settings = Object.fromEntries(
      Object.entries(extra).map(([k, v]) => [k, v.replace('ENDPOINT', s3.endpoint)]),
    );
    const { result, keys, writes } = await runFresh(args, settings);
    expectFailure(result, message, 2);
    expect(keys).toEqual([]);
    expect(writes).toEqual([]);
  });
});

describe('a stale lock', () => {
  it('says the holder stopped renewing it, since when, when it expires and how to clear it', async () => {
    const bucket = await freshBucket();
    const renewedAt = new Date(Date.now() - 10 * 60_000).toISOString();
    const expiresAt = new Date(Date.now() + 5 * 60_000).toISOString();
    const lock = {
      database: 'app',
      operation: 'backup',
      owner: 'ip-10-0-1-7 pid 1: daily backup',
      acquiredAt: new Date(Date.now() - 40 * 60_000).toISOString(),
      renewedAt,
      expiresAt,
      released: false,
    };
    await putObjectBytes(s3.client, bucket, 'prod/locks/app.json', JSON.stringify(lock));
    const result = await backupctl(['backup'], { env: env(bucket, { BACKUP_PREFIX: 'prod' }) });
    expectFailure(result, /stopped renewing it at /, 1);
    expect(result.stderr).not.toMatch(/is running/);
    expect(result.stderr).toContain(renewedAt);
    expect(result.stderr).toContain(`expires at ${expiresAt}`);
    expect(result.stderr).toContain(`aws s3 rm s3://${bucket}/prod/locks/app.json`);
    expect(await s3.keys(bucket)).toEqual(['prod/locks/app.json']);
  });
});
