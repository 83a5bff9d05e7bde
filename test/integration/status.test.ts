/**
 * `backupctl status` applies the monitor's policy to real backups in the store: healthy when they
 * are fresh and verified, and unhealthy, exit 1, naming the problem, when a database was emptied
 * (a "successful" backup of nothing) or its newest backup is stale.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS, type HealthReport } from '../../task/core/health.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { putObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, expectFailure } from '../support/backupctl.ts';
import { addIncompressibleTable, createAppDatabase, makeMediaDir } from '../support/fixtures.ts';

const BUCKET = 'status-backups';
const DAY = 86_400_000;
let pg: PgCluster;
let s3: S3Emulator;
let work: string;
const now = Date.parse('2026-11-26T12:00:00Z');
const at = (msAgo: number) => new Date(now - msAgo).toISOString();

const env = (database: string, clock: string) => ({
  ...pg.env(database),
  ...s3.env(BUCKET),
  MEDIA_DIR: join(work, 'media'),
  BACKUPCTL_NOW: clock,
});

async function backupAt(database: string, tier: string, msAgo: number): Promise<void> {
  const result = await backupctl(['backup', '--tier', tier], { env: env(database, at(msAgo)) });
  expect(result.code, result.stderr).toBe(0);
}

async function status(
  database: string,
): Promise<{ code: number | null; text: string; report: HealthReport }> {
  const text = await backupctl(['status', '--database', database], { env: env(database, at(0)) });
  const json = await backupctl(['status', '--database', database, '--json'], { env: env(database, at(0)) });
  expect(json.code).toBe(text.code);
  return { code: text.code, text: text.stdout, report: JSON.parse(json.stdout) as HealthReport };
}

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  work = mkdtempSync(join(tmpdir(), 'spb-status-'));
  makeMediaDir(join(work, 'media'));
  for (const database of ['app', 'old']) {
    await createAppDatabase(pg, database);
    // Above the 100 KB minimum artifact size once compressed.
    await addIncompressibleTable(pg, database, 300, 'attachments');
  }
  // A week of daily backups, a weekly and a monthly, and a verified newest daily.
  for (let day = 7; day >= 1; day--) await backupAt('app', 'daily', day * DAY - 3_600_000);
  await backupAt('app', 'weekly', 3 * DAY);
  await backupAt('app', 'monthly', 20 * DAY);
  const verify = await backupctl(['verify', 'latest'], { env: env('app', at(DAY - 7_200_000)) });
  expect(verify.code, verify.stderr).toBe(0);
  // "old": complete in every tier, but its newest daily is three days old.
  await backupAt('old', 'daily', 3 * DAY);
  await backupAt('old', 'weekly', 3 * DAY);
  await backupAt('old', 'monthly', 3 * DAY);
  await backupctl(['verify', 'latest'], { env: env('old', at(3 * DAY)) });
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

describe('backupctl status', () => {
  it('reports fresh, verified backups as healthy and exits 0', async () => {
    const { code, text, report } = await status('app');
    expect(report.verdicts.flatMap((v) => v.findings)).toEqual([]);
    expect(code).toBe(0);
    expect(report.healthy).toBe(true);
    expect(text).toMatch(/HEALTHY: 1 database, no findings\./);
    expect(text).toMatch(/app\s+daily\s+OK\s+7/);
  });

  it('exits 1 and names the age when the newest backup is stale', async () => {
    const { code, text, report } = await status('old');
    expect(code).toBe(1);
    expect(report.healthy).toBe(false);
    const daily = report.verdicts.find((v) => v.tier === 'daily');
    expect(daily?.findings.map((f) => f.check)).toContain('age');
    expect(text).toMatch(/CRITICAL: newest daily backup of old is 3\.0 days old \(limit 26 h\)/);
    expect(text).toMatch(/^UNHEALTHY: /m);
  });

  it('judges with the deployed monitor thresholds when given them (BACKUP_HEALTH_THRESHOLDS)', async () => {
    const thresholds = {
      ...DEFAULT_THRESHOLDS,
      maxAgeHours: { ...DEFAULT_THRESHOLDS.maxAgeHours, daily: 96 },
      verifyMaxAgeHours: 96,
    };
    const relaxed = await backupctl(['status', '--database', 'old'], {
      env: { ...env('old', at(0)), BACKUP_HEALTH_THRESHOLDS: JSON.stringify(thresholds) },
    });
    expect(relaxed.code, relaxed.stdout).toBe(0);
    expect(relaxed.stdout).toMatch(/^HEALTHY: /m);

    const invalid = await backupctl(['status', '--database', 'old'], {
      env: { ...env('old', at(0)), BACKUP_HEALTH_THRESHOLDS: '{"maxAgeHours":{"daily":-1}}' },
    });
    expectFailure(
      invalid,
      /BACKUP_HEALTH_THRESHOLDS must be thresholds JSON as the monitor function holds it \(maxAgeHours\.daily/,
      2,
    );
  });

  it('alerts on a "successful" backup of an emptied database (rows and size dropped)', async () => {
    await pg.psql(
      'app',
      'TRUNCATE billing.invoices, public.customers, "Audit Log"."Events", attachments CASCADE',
    );
    await backupAt('app', 'daily', 600_000);
    const { code, text, report } = await status('app');
    expect(code).toBe(1);
    const daily = report.verdicts.find((v) => v.tier === 'daily');
    expect(daily?.findings.map((f) => f.check)).toContain('drop');
    expect(text).toMatch(/CRITICAL: daily\/app\/\d{8}T\d{6}Z holds 0 rows in total, 100% below the median/);
  });

  it('is unhealthy, not "0 databases, healthy", when the bucket holds no backups at all', async () => {
    await s3.createBucket('status-empty');
    const result = await backupctl(['status'], {
      env: { ...env('app', at(0)), ...s3.env('status-empty'), PGDATABASE: '' },
    });

    expectFailure(
      result,
      /No backups found in s3:\/\/status-empty\/: check BACKUP_BUCKET and BACKUP_PREFIX/,
      1,
    );
  });

  it('says the bucket does not exist when BACKUP_BUCKET names none, instead of "no such object"', async () => {
    const result = await backupctl(['status'], {
      env: { ...env('app', at(0)), ...s3.env('no-such-bucket') },
    });

    expectFailure(
      result,
      /s3:\/\/no-such-bucket .*failed: the bucket does not exist \(NoSuchBucket\); check BACKUP_BUCKET/,
      1,
    );
  });

  it('reports PGDATABASE as missing when it has no backups, beside the databases it found', async () => {
    const result = await backupctl(['status', '--json'], { env: env('never_backed_up', at(0)) });

    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as HealthReport;
    expect(report.databases.map((d) => d.database)).toEqual(['app', 'never_backed_up', 'old']);
    const missing = report.verdicts.find((v) => v.database === 'never_backed_up' && v.tier === 'daily');
    expect(missing?.findings.map((f) => [f.check, f.severity])).toContainEqual(['missing', 'critical']);
  });

  it('exits 1 and names a backup whose manifest cannot be read, instead of skipping it in silence', async () => {
    const id = `daily/old/${at(3_600_000)
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')}`;
    await putObjectBytes(s3.client, BUCKET, `${id}/manifest.json`, '{"formatVersion": 1, "id": tru');

    const { code, text, report } = await status('old');

    expect(code).toBe(1);
    expect(report.verdicts.find((v) => v.tier === 'daily')?.findings.map((f) => f.check)).toContain(
      'unreadable',
    );
    expect(text).toContain(`1 daily backup of old cannot be restored (${id}: `);
  });
});
