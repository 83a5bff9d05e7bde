/**
 * What a backup captures for a restore onto a bare server, backed up as the least-privilege
 * role (pg_read_all_data + BYPASSRLS): the globals artifact (roles, memberships, no passwords),
 * the database's properties and the catalog fingerprint, which a faithful pg_dump | pg_restore
 * reproduces exactly and any changed owner, grant or policy breaks, by name. And the preflight
 * that refuses a backup role row-level security would stop, before anything is uploaded.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffFingerprints } from '../../task/core/fingerprint.ts';
import { type Manifest, parseManifest } from '../../task/core/manifest.ts';
import { readFingerprint } from '../../task/pg-fingerprint.ts';
import { planMissingRoles } from '../../task/pg-globals.ts';
import { libpqEnv, transactionReader } from '../../task/postgres.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, openMultipartUploads, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, expectFailure } from '../support/backupctl.ts';
import { createShopDatabase, fingerprint, SHOP_ROLE_PASSWORD } from '../support/fixtures.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'capture-backups';
let pg: PgCluster;
let bare: PgCluster;
let s3: S3Emulator;
let manifest: Manifest;
let globalsSql: string;

const backupEnv = (role: string, prefix: string) => ({
  ...pg.env('shop', { PGUSER: role, PGPASSWORD: SHOP_ROLE_PASSWORD }),
  ...s3.env(BUCKET, prefix),
  BACKUP_PART_SIZE: '5',
});
const object = (key: string) => getObjectBytes(s3.client, BUCKET, key);
const artifact = (kind: 'postgres' | 'globals') => {
  const found = manifest.artifacts.find((a) => a.kind === kind);
  if (!found) throw new Error(`no ${kind} artifact`);
  return found;
};

beforeAll(async () => {
  [pg, bare, s3] = await Promise.all([startPostgres(), startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createShopDatabase(pg, 'shop');
  const result = await backupctl(['backup'], { env: backupEnv('app_backup', 'prod') });
  expect(result.code, result.stderr).toBe(0);
  const id = String(result.logs.find((l) => l.message === 'backup finished')?.id);
  manifest = parseManifest((await object(`prod/${id}/manifest.json`)).toString());
  globalsSql = (await sh('zstd -d -c', { input: await object(artifact('globals').key) })).toString();
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop(), bare?.stop()]);
});

describe('a backup as the least-privilege role', () => {
  it('writes a format-2 manifest whose globals artifact is the stored object, SHA-256 and size', async () => {
    expect(manifest.formatVersion).toBe(2);
    const globals = artifact('globals');
    expect(globals.key).toBe(`prod/${manifest.id}/globals.sql.zst`);
    const bytes = await object(globals.key);
    expect(bytes.length).toBe(globals.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(globals.sha256);
  });

  it('captures every role with its attributes and memberships, reporter included, and no password', () => {
    expect(globalsSql).toMatch(/^CREATE ROLE reporter;$/m);
    expect(globalsSql).toMatch(/^ALTER ROLE reporter WITH .*\bLOGIN\b.*CONNECTION LIMIT 5;$/m);
    expect(globalsSql).toMatch(/^ALTER ROLE app_backup WITH .* BYPASSRLS;$/m);
    expect(globalsSql).toMatch(/^GRANT app_ro TO reporter\b/m);
    expect(globalsSql).toMatch(/^GRANT pg_read_all_data TO app_backup\b/m);
    expect(globalsSql).not.toMatch(/PASSWORD|SCRAM-SHA-256|md5[0-9a-f]{32}/);
  });

  it("records the database's owner, ACL without PUBLIC's CONNECT, settings and role-in-database settings", () => {
    const props = manifest.databaseProperties;
    expect(props).toMatchObject({
      owner: 'app_owner',
      encoding: 'UTF8',
      localeProvider: 'libc',
      connectionLimit: -1,
      bootstrapSuperuser: 'postgres',
      roleSettings: [{ role: 'app_rw', settings: ['statement_timeout=5s'] }],
    });
    expect(props?.settings).toEqual(expect.arrayContaining(['TimeZone=Europe/Zurich', 'work_mem=8MB']));
    expect(props?.acl).toEqual(expect.arrayContaining(['app_rw=Tc/app_owner', 'app_backup=c/app_owner']));
    // PUBLIC's entry is "=…/owner"; REVOKE CONNECT, TEMPORARY … FROM PUBLIC removed it.
    expect(props?.acl?.filter((item) => item.startsWith('='))).toEqual([]);
  });

  it('records a fingerprint naming roles, owners, privileges, policies and default privileges', () => {
    const objects = manifest.fingerprint?.objects ?? {};
    expect(objects['role reporter']).toMatchObject({ login: 'true', 'connection limit': '5' });
    expect(objects['membership of reporter in app_ro']).toEqual({ 'admin option': 'false' });
    expect(objects['partitioned table sales.orders']).toMatchObject({
      owner: 'app_owner',
      'row security': 'on',
    });
    expect(objects['table sales."order items"']?.acl).toContain('app_ro=r/app_owner');
    expect(objects['policy sales.customers ro_north']).toMatchObject({ command: 'SELECT', roles: 'app_ro' });
    expect(objects['default privileges of app_owner in schema sales on tables']).toEqual({
      acl: '{app_ro=r/app_owner}',
    });
    expect(objects['database settings of role app_rw']).toEqual({ statement_timeout: '5s' });
    expect(manifest.fingerprint?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  describe('restored with pg_restore --create onto a bare server, its roles created from the globals', () => {
    beforeAll(async () => {
      const existing = (await bare.psql('postgres', 'SELECT rolname FROM pg_roles')).split('\n');
      const plan = planMissingRoles(globalsSql, { existingRoles: existing, bootstrapSuperuser: 'postgres' });
      await bare.psql('postgres', plan.statements.map((s) => `${s};`).join('\n'));
      const dump = await object(artifact('postgres').key);
      await sh('zstd -d -c | pg_restore --create --exit-on-error --dbname=postgres', {
        input: dump,
        env: bare.env('postgres'),
      });
    });

    it('has the same fingerprint and the same rows as the source', async () => {
      const restored = await readFingerprint(transactionReader(libpqEnv(bare.env('shop'))));
      expect(diffFingerprints(manifest.fingerprint ?? restored, restored)).toEqual([]);
      expect(restored.sha256).toBe(manifest.fingerprint?.sha256);
      expect(await fingerprint(bare, 'shop')).toEqual(await fingerprint(pg, 'shop'));
    });

    it('names a changed owner, a revoked grant and a changed policy as differences', async () => {
      await bare.psql(
        'shop',
        `ALTER TABLE sales.orders_2024 OWNER TO app_rw;
         REVOKE SELECT ON sales."order items" FROM app_ro;
         ALTER POLICY ro_north ON sales.orders TO app_rw;`,
      );
      const changed = await readFingerprint(transactionReader(libpqEnv(bare.env('shop'))));
      const differences = diffFingerprints(manifest.fingerprint ?? changed, changed);
      expect(differences).toHaveLength(3);
      expect(differences).toEqual([
        expect.stringMatching(/^policy sales\.orders ro_north: roles is app_rw, the backup has app_ro$/),
        expect.stringMatching(
          /^table sales\."order items": acl is \{app_owner=arwdDxt\/app_owner,app_rw=arwd\/app_owner\}, the backup has .*app_ro=r/,
        ),
        expect.stringMatching(
          /^table sales\.orders_2024: acl is .*; owner is app_rw, the backup has app_owner$/,
        ),
      ]);
    });
  });
});

describe('the backup preflight', () => {
  it('refuses a role without BYPASSRLS on a database with row-level security, naming the table, uploading nothing', async () => {
    await pg.psql(
      'postgres',
      `CREATE ROLE weak_backup LOGIN PASSWORD '${SHOP_ROLE_PASSWORD}' IN ROLE pg_read_all_data;
       GRANT CONNECT ON DATABASE shop TO weak_backup;`,
    );
    const before = s3.requests.length;
    const result = await backupctl(['backup'], { env: backupEnv('weak_backup', 'weak') });
    expectFailure(
      result,
      /Row-level security would hide rows of sales\.customers from the backup role weak_backup.*ALTER ROLE weak_backup BYPASSRLS/,
    );
    expect((await s3.keys(BUCKET, 'weak/')).filter((k) => !k.startsWith('weak/locks/'))).toEqual([]);
    const uploads = s3.requests
      .slice(before)
      .filter((r) => r.method === 'POST' && r.url.includes('?uploads'));
    expect(uploads).toEqual([]);
    expect(openMultipartUploads(s3.requests)).toEqual([]);
  });
});
