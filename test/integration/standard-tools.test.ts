/**
 * The README's "Restore with standard tools alone" block, run exactly as written (only `aws` is
 * pointed at the emulator) onto a bare second server: roles, the database's properties, owners,
 * privileges, policies and rows come back equal to the source, and the media tree too.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { diffFingerprints } from '../../task/core/fingerprint.ts';
import { type Manifest, parseManifest } from '../../task/core/manifest.ts';
import { readFingerprint } from '../../task/pg-fingerprint.ts';
import { libpqEnv, transactionReader } from '../../task/postgres.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, type S3Emulator, startS3, TEST_CREDENTIALS } from '../../tools/local/s3.ts';
import { backupctl, ROOT } from '../support/backupctl.ts';
import {
  createShopDatabase,
  fingerprint,
  makeMediaDir,
  SHOP_ROLE_PASSWORD,
  treeDigest,
} from '../support/fixtures.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'my-backups';
let pg: PgCluster;
let bare: PgCluster;
let s3: S3Emulator;
let work: string;
let media: string;
let manifest: Manifest;

/** The bash block of the README section, verbatim. */
function readmeBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Restore with standard tools alone'));
  const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README has no bash block under "Restore with standard tools alone"');
  return block;
}

beforeAll(async () => {
  [pg, bare, s3] = await Promise.all([startPostgres(), startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createShopDatabase(pg, 'shop');
  work = mkdtempSync(join(tmpdir(), 'spb-standard-'));
  media = join(work, 'media');
  makeMediaDir(media);
  const result = await backupctl(['backup'], {
    env: {
      ...pg.env('shop', { PGUSER: 'app_backup', PGPASSWORD: SHOP_ROLE_PASSWORD }),
      ...s3.env(BUCKET),
      MEDIA_DIR: media,
      BACKUPCTL_NOW: '2026-11-26T02:00:00Z',
    },
  });
  expect(result.code, result.stderr).toBe(0);
  manifest = parseManifest(
    (await getObjectBytes(s3.client, BUCKET, 'daily/shop/20261126T020000Z/manifest.json')).toString(),
  );
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop(), bare?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

it('restores onto a bare server with the README commands: roles, properties, owners, grants and rows equal', async () => {
  // Act: the block as written; the prelude only points the AWS CLI at the emulator.
  const prelude = `aws() { command aws --endpoint-url ${s3.endpoint} "$@"; }\n`;
  await sh(`cd ${work} && ${prelude}${readmeBlock()}`, {
    env: { ...bare.env('postgres'), ...TEST_CREDENTIALS, AWS_DEFAULT_REGION: TEST_CREDENTIALS.AWS_REGION },
  });

  // Assess: the catalog fingerprint (roles, memberships, owners, ACLs, policies, default
  // privileges, database properties) and every row are the backup's.
  const restored = await readFingerprint(transactionReader(libpqEnv(bare.env('shop'))));
  const capture = manifest.fingerprint;
  if (!capture) throw new Error('format-2 manifest expected');
  expect(diffFingerprints(capture, restored)).toEqual([]);
  expect(await fingerprint(bare, 'shop')).toEqual(await fingerprint(pg, 'shop'));
  expect(
    await bare.psql(
      'postgres',
      "SELECT array_to_string(datacl, ',') FROM pg_database WHERE datname = 'shop'",
    ),
  ).toBe(
    await pg.psql('postgres', "SELECT array_to_string(datacl, ',') FROM pg_database WHERE datname = 'shop'"),
  );
  const settings = `SELECT coalesce(r.rolname, '-') || ' ' || array_to_string(s.setconfig, ',')
    FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole
    WHERE d.datname = 'shop' ORDER BY 1`;
  expect(await bare.psql('postgres', settings)).toBe(await pg.psql('postgres', settings));
  expect(await bare.psql('postgres', settings)).toMatch(/app_rw statement_timeout/);
  expect(treeDigest(join(work, 'restored-media'))).toEqual(treeDigest(media));
});
