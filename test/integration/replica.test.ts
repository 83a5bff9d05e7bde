/**
 * Reading a replica: S3 Replication does not preserve order, so a manifest can arrive before its
 * artifacts. A backup's objects are copied into second buckets the way replication may leave them
 * (manifest first, an artifact missing, an artifact truncated, all there), and `list`, `verify`,
 * `restore` and `status` run against each (BACKUP_BUCKET=<replica>) within and after the
 * replication window. The complete replica restores into a new database with the source's rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthReport } from '../../task/core/health.ts';
import type { Manifest } from '../../task/core/manifest.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, putObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, expectFailure } from '../support/backupctl.ts';
import { createAppDatabase, fingerprint } from '../support/fixtures.ts';

const PRIMARY = 'primary-backups';
const FINISHED = '2026-11-25T02:00:00Z';
const WINDOW_HOURS = 6;
/** Clocks for the readers: 10 minutes after the backup finished, and past the replication window. */
const WITHIN = '2026-11-25T02:10:00Z';
const AFTER = '2026-11-25T09:00:00Z';

let pg: PgCluster;
let s3: S3Emulator;
let manifest: Manifest;
let manifestText: Buffer;
let sourceRows: Record<string, string>;

const dumpKey = () => manifest.artifacts.find((a) => a.kind === 'postgres')?.key as string;
const globalsKey = () => manifest.artifacts.find((a) => a.kind === 'globals')?.key as string;

const replicaEnv = (bucket: string, now: string, database = 'shop') => ({
  ...pg.env(database),
  ...s3.env(bucket),
  BACKUP_REPLICATION_WINDOW_HOURS: String(WINDOW_HOURS),
  BACKUPCTL_NOW: now,
});

/** A replica bucket holding the backup's objects as `arrive` leaves them, in that order. */
async function replica(
  bucket: string,
  arrive: (copy: (key: string, mangle?: (bytes: Buffer) => Buffer) => Promise<void>) => Promise<void>,
): Promise<string> {
  await s3.createBucket(bucket);
  await arrive(async (key, mangle = (b) => b) => {
    const bytes = key.endsWith('manifest.json')
      ? manifestText
      : await getObjectBytes(s3.client, PRIMARY, key);
    await putObjectBytes(s3.client, bucket, key, mangle(bytes));
  });
  return bucket;
}

const manifestKey = () => `${manifest.id}/manifest.json`;

async function listed(bucket: string, now: string): Promise<string[]> {
  const result = await backupctl(['list', '--json'], { env: replicaEnv(bucket, now) });
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { id: string }[]).map((b) => b.id);
}

async function status(bucket: string, now: string): Promise<{ code: number | null; report: HealthReport }> {
  const result = await backupctl(['status', '--database', 'shop', '--json'], {
    env: replicaEnv(bucket, now),
  });
  return { code: result.code, report: JSON.parse(result.stdout) as HealthReport };
}

const findingsOf = (report: HealthReport) => report.verdicts.flatMap((v) => v.findings);

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(PRIMARY);
  await createAppDatabase(pg, 'shop');
  const result = await backupctl(['backup', '--only', 'db'], {
    env: { ...pg.env('shop'), ...s3.env(PRIMARY), BACKUPCTL_NOW: FINISHED },
  });
  expect(result.code, result.stderr).toBe(0);
  const id = String(result.logs.find((l) => l.message === 'backup finished')?.id);
  manifestText = await getObjectBytes(s3.client, PRIMARY, `${id}/manifest.json`);
  manifest = JSON.parse(manifestText.toString()) as Manifest;
  sourceRows = await fingerprint(pg, 'shop');
});

afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop()]);
});

describe.each<
  [string, string, (copy: Parameters<Parameters<typeof replica>[1]>[0]) => Promise<void>, RegExp]
>([
  [
    'the manifest arrived first',
    'replica-manifest-first',
    (copy) => copy(manifestKey()),
    /database dump .* is missing/,
  ],
  [
    'an artifact is missing',
    'replica-artifact-missing',
    async (copy) => {
      await copy(manifestKey());
      await copy(dumpKey());
    },
    /roles file \(globals\) .* is missing/,
  ],
  [
    'an artifact is truncated',
    'replica-artifact-truncated',
    async (copy) => {
      await copy(globalsKey());
      await copy(manifestKey());
      await copy(dumpKey(), (bytes) => bytes.subarray(0, Math.floor(bytes.length / 2)));
    },
    /database dump .* is \d+ bytes, the manifest recorded \d+/,
  ],
])('a replica where %s', (_name, bucket, arrive, cause) => {
  beforeAll(async () => {
    await replica(bucket, arrive);
  });

  it('lists nothing, within the window and after it', async () => {
    expect(await listed(bucket, WITHIN)).toEqual([]);
    expect(await listed(bucket, AFTER)).toEqual([]);
  });

  it('refuses to verify it, as still replicating within the window and as incomplete after', async () => {
    const within = await backupctl(['verify', manifest.id], { env: replicaEnv(bucket, WITHIN) });
    expectFailure(
      within,
      new RegExp(
        `${manifest.id} cannot be used: it is still replicating \\(.*${cause.source}.*within the ${WINDOW_HOURS} h replication window\\)`,
      ),
    );
    const after = await backupctl(['verify', manifest.id], { env: replicaEnv(bucket, AFTER) });
    expectFailure(
      after,
      new RegExp(`${manifest.id} cannot be used: its ${cause.source}; refusing to use it`),
    );
    expect(after.stderr).not.toMatch(/replicating/);
  });

  it('refuses to restore it and leaves the target database as it was', async () => {
    const target = `${bucket.replace(/-/g, '_')}_target`;
    await pg.psql('postgres', `CREATE DATABASE ${target}`);
    const result = await backupctl(
      ['restore', manifest.id, '--confirm', target, '--target-database', target, '--only', 'db'],
      { env: replicaEnv(bucket, WITHIN) },
    );
    expectFailure(result, /still replicating/);
    expect(
      await pg.psql(
        target,
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
      ),
    ).toBe('0');
  });

  it('is no finding in status within the window, and an unreadable backup after it', async () => {
    const within = await status(bucket, WITHIN);
    expect(findingsOf(within.report).filter((f) => f.check === 'unreadable')).toEqual([]);
    const after = await status(bucket, AFTER);
    expect(after.code).toBe(1);
    expect(findingsOf(after.report)).toContainEqual(
      expect.objectContaining({
        check: 'unreadable',
        severity: 'critical',
        message: expect.stringMatching(new RegExp(`${manifest.id}: its ${cause.source}`)),
      }),
    );
  });
});

describe('a replica holding every object', () => {
  const bucket = 'replica-complete';
  beforeAll(async () => {
    // Artifacts after the manifest: the order replication may use.
    await replica(bucket, async (copy) => {
      await copy(manifestKey());
      for (const artifact of manifest.artifacts) await copy(artifact.key);
    });
  });

  it('lists the backup', async () => {
    expect(await listed(bucket, WITHIN)).toEqual([manifest.id]);
  });

  it('restores it into a new database with the rows of the source', async () => {
    await pg.psql('postgres', 'CREATE DATABASE shop_offsite');
    const result = await backupctl(
      ['restore', 'latest', '--confirm', 'shop_offsite', '--target-database', 'shop_offsite', '--only', 'db'],
      { env: replicaEnv(bucket, WITHIN) },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.logs.find((l) => l.message === 'restore finished')).toMatchObject({ id: manifest.id });
    expect(await fingerprint(pg, 'shop_offsite')).toEqual(sourceRows);
  });
});
