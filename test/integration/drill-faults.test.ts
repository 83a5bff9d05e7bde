/**
 * The restore drill blames the backup only for the backup's own faults. An S3 read cut mid-stream
 * or a TMPDIR that fills up during the test restore fails the run, naming the real cause, and
 * leaves the earlier passing verification record exactly as it was (so `status` stays healthy);
 * a really damaged dump is still recorded as failed and turns `status` critical.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../task/core/manifest.ts';
import type { Verification } from '../../task/core/verification.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, putObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl } from '../support/backupctl.ts';
import { addIncompressibleTable, createAppDatabase } from '../support/fixtures.ts';
import { startProxy } from '../support/proxy.ts';

const BUCKET = 'drill-faults';
/** ~26 MB of table that zstd cannot shrink: the test restore needs far more than the small TMPDIR has. */
const BIG_ROWS = 24_000;
/** Room for initdb's ~40 MB and CREATE DATABASE, not for the restore (data plus its WAL). */
const SMALL_TMPDIR = '56m';

let pg: PgCluster;
let s3: S3Emulator;
let work: string;
let manifest: Manifest;
let dumpKey: string;
let passing: Buffer;

const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...pg.env('app'), ...s3.env(BUCKET), ...extra });
const record = () => getObjectBytes(s3.client, BUCKET, `${manifest.id}/verification.json`);
const status = () => backupctl(['status', '--json'], { env: env() });

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createAppDatabase(pg, 'app');
  await addIncompressibleTable(pg, 'app', BIG_ROWS);
  work = mkdtempSync(join(tmpdir(), 'spb-drill-'));
  chmodSync(work, 0o755); // the scratch server runs as `postgres` below it
  const backup = await backupctl(['backup'], { env: env() });
  expect(backup.code, backup.stderr).toBe(0);
  const id = String(backup.logs.find((l) => l.message === 'backup finished')?.id);
  manifest = JSON.parse((await getObjectBytes(s3.client, BUCKET, `${id}/manifest.json`)).toString());
  dumpKey = manifest.artifacts.find((a) => a.kind === 'postgres')?.key ?? '';
  const verify = await backupctl(['verify', 'latest'], { env: env() });
  expect(verify.code, verify.stderr).toBe(0);
  passing = await record();
  expect((JSON.parse(passing.toString()) as Verification).ok).toBe(true);
}, 240_000);

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the restore drill', () => {
  it('keeps the passing record and names the S3 read when the download of the dump is cut', async () => {
    const proxy = await startProxy(Number(new URL(s3.endpoint).port));
    try {
      const cut = proxy.cutResponse(`GET /${BUCKET}/${dumpKey}`, 256 * 1024);
      const result = await backupctl(['verify', 'latest'], {
        env: env({ AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${proxy.port}` }),
      });
      await cut;
      expect((await record()).equals(passing)).toBe(true);
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toContain(`S3 read of ${dumpKey} failed`);
      expect(result.stderr).toContain('nothing was recorded and its last verification stands');
      expect(result.stderr).not.toMatch(/failed verification|Internal error/);
    } finally {
      await proxy.close();
    }
    const health = await status();
    expect(health.code, health.stdout).toBe(0);
  }, 120_000);

  it('keeps the passing record and names "No space left on device" and the directory when TMPDIR fills', async () => {
    const small = join(work, 'small-tmp');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SMALL_TMPDIR},mode=1777`, 'tmpfs', small]);
    try {
      const result = await backupctl(['verify', 'latest'], { env: env({ TMPDIR: small }) });
      expect((await record()).equals(passing)).toBe(true);
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toContain('No space left on device');
      expect(result.stderr).toContain(
        `The scratch PostgreSQL of the test restore in ${small}/backupctl-verify-`,
      );
      expect(result.stderr).toContain(`give TMPDIR (${small}) room for the whole database`);
      expect(result.stderr).not.toMatch(/failed verification|Internal error/);
      // The scratch server and its files are gone.
      expect(readdirSync(small).filter((name) => name.startsWith('backupctl-verify-'))).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
    const health = await status();
    expect(health.code, health.stdout).toBe(0);
  }, 180_000);

  it('still records a flipped byte in the stored dump as a failed verification and turns status critical', async () => {
    const original = await getObjectBytes(s3.client, BUCKET, dumpKey);
    const damaged = Buffer.from(original);
    const middle = Math.floor(damaged.length / 2);
    damaged.writeUInt8(damaged.readUInt8(middle) ^ 0xff, middle);
    await putObjectBytes(s3.client, BUCKET, dumpKey, damaged);
    try {
      const result = await backupctl(['verify', 'latest'], { env: env() });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /failed verification at the postgres checksum check: .*the backup is damaged/,
      );
      const stored = JSON.parse((await record()).toString()) as Verification;
      expect(stored.ok).toBe(false);
      const health = await status();
      expect(health.code).toBe(1);
      const report = JSON.parse(health.stdout) as {
        healthy: boolean;
        verdicts: { findings: { check: string; severity: string }[] }[];
      };
      expect(report.healthy).toBe(false);
      expect(report.verdicts.flatMap((v) => v.findings)).toContainEqual(
        expect.objectContaining({ check: 'verification', severity: 'critical' }),
      );
    } finally {
      await putObjectBytes(s3.client, BUCKET, dumpKey, original);
    }
  }, 180_000);
});
