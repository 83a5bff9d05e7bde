/**
 * A backup of an RDS database names RDS's own roles (the master user is a member of
 * rds_superuser). No other server has them, the drill's scratch server included: the drill of such
 * a backup must still pass, so the catalog fingerprint leaves RDS's roles and memberships out.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Manifest, parseManifest } from '../../task/core/manifest.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl } from '../support/backupctl.ts';
import { createShopDatabase } from '../support/fixtures.ts';

const BUCKET = 'rds-backups';
let pg: PgCluster;
let s3: S3Emulator;
let manifest: Manifest;
const env = () => ({ ...pg.env('shop'), ...s3.env(BUCKET) });

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createShopDatabase(pg, 'shop');
  // What RDS has: its own roles, and the owner (the master user's stand-in) a member of rds_superuser.
  await pg.psql(
    'postgres',
    'CREATE ROLE rdsadmin NOLOGIN; CREATE ROLE rds_superuser NOLOGIN; GRANT rds_superuser TO app_owner',
  );
  const result = await backupctl(['backup', '--json'], { env: env() });
  expect(result.code, result.stderr).toBe(0);
  const id = (JSON.parse(result.stdout) as Manifest).id;
  manifest = parseManifest((await getObjectBytes(s3.client, BUCKET, `${id}/manifest.json`)).toString());
});

afterAll(async () => {
  await Promise.all([pg?.stop(), s3?.stop()]);
});

it("leaves RDS's roles and their memberships out of the fingerprint", () => {
  expect(JSON.stringify(manifest.fingerprint)).not.toMatch(/rds_superuser|rdsadmin/);
});

it('passes the drill on a scratch server without RDS roles', async () => {
  const result = await backupctl(['verify', manifest.id, '--json'], { env: env() });
  expect(result.code, result.stderr).toBe(0);
  expect(JSON.parse(result.stdout)).toMatchObject({ ok: true });
});
