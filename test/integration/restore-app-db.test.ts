/**
 * Restore on a production-like database (roles, RLS, a partitioned table with a primary key,
 * default privileges, REVOKE CONNECT, settings), backed up as the least-privilege role: the
 * drill verifies it; an in-place restore builds beside, swaps in and equals the backup exactly,
 * keeping the replaced database as the undo; a bare server gets it all back with --create; and
 * every failure leaves the live database as it was with no `__restoring` database behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffFingerprints } from '../../task/core/fingerprint.ts';
import type { Manifest } from '../../task/core/manifest.ts';
import type { Verification } from '../../task/core/verification.ts';
import { readFingerprint } from '../../task/pg-fingerprint.ts';
import { libpqEnv, transactionReader } from '../../task/postgres.ts';
import { PG_BIN, type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, putObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, type CliResult, expectFailure } from '../support/backupctl.ts';
import { createShopDatabase, fingerprint, SHOP_ROLE_PASSWORD } from '../support/fixtures.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'restore-app-db';
let pg: PgCluster;
let bare: PgCluster;
let s3: S3Emulator;
let manifest: Manifest;
let sourceRows: Record<string, string>;

const env = (cluster = pg, extra: NodeJS.ProcessEnv = {}) => ({
  ...cluster.env('shop'),
  ...s3.env(BUCKET),
  ...extra,
});
const restore = (args: string[], cluster = pg, extra: NodeJS.ProcessEnv = {}) =>
  backupctl(['restore', ...args], { env: env(cluster, extra) });
const read = (key: string) => getObjectBytes(s3.client, BUCKET, key);
const catalogOf = (cluster: PgCluster, database: string) =>
  readFingerprint(transactionReader(libpqEnv(cluster.env(database))));
const databases = async (cluster: PgCluster) =>
  (await cluster.psql('postgres', 'SELECT datname FROM pg_database ORDER BY 1')).split('\n');
const keyOf = (kind: 'postgres' | 'globals') => manifest.artifacts.find((a) => a.kind === kind)?.key ?? '';

/** The live database is as it was and nothing was left beside it. */
async function expectUntouched(before: Record<string, string>, cluster = pg): Promise<void> {
  expect(await fingerprint(cluster, 'shop')).toEqual(before);
  expect((await databases(cluster)).filter((d) => d.includes('__restoring'))).toEqual([]);
  expect(await cluster.psql('postgres', "SELECT datallowconn FROM pg_database WHERE datname = 'shop'")).toBe(
    't',
  );
}

beforeAll(async () => {
  [pg, bare, s3] = await Promise.all([startPostgres(), startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createShopDatabase(pg, 'shop');
  const result = await backupctl(['backup'], {
    env: env(pg, { PGUSER: 'app_backup', PGPASSWORD: SHOP_ROLE_PASSWORD }),
  });
  expect(result.code, result.stderr).toBe(0);
  const id = String(result.logs.find((l) => l.message === 'backup finished')?.id);
  manifest = JSON.parse((await read(`${id}/manifest.json`)).toString());
  sourceRows = await fingerprint(pg, 'shop');
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop(), bare?.stop()]);
});

describe('the drill on an application database', () => {
  it('verifies it: restored the way --create does, rows and catalog equal', async () => {
    const result = await backupctl(['verify', 'latest', '--json'], { env: env() });
    expect(result.code, result.stderr).toBe(0);
    const record = JSON.parse(result.stdout) as Verification;
    expect(record.checks.filter((c) => c.artifact === 'postgres').map((c) => `${c.name} ${c.ok}`)).toEqual([
      'checksum true',
      'decode true',
      'archive true',
      'restore true',
      'row counts true',
      'fingerprint true',
    ]);
  });

  it('fails it, as the backup’s fault, when the fingerprint was tampered with', async () => {
    const key = `${manifest.id}/manifest.json`;
    const good = await read(key);
    const tampered = structuredClone(manifest);
    const objects = tampered.fingerprint?.objects as Record<string, Record<string, string>>;
    objects['partitioned table sales.orders'] = {
      ...objects['partitioned table sales.orders'],
      owner: 'app_rw',
    };
    await putObjectBytes(s3.client, BUCKET, key, JSON.stringify(tampered));
    try {
      const result = await backupctl(['verify', 'latest'], { env: env() });
      expectFailure(result, /failed verification at the postgres fingerprint check: .*sales\.orders/);
      const record = JSON.parse((await read(`${manifest.id}/verification.json`)).toString()) as Verification;
      expect(record.ok).toBe(false);
    } finally {
      await putObjectBytes(s3.client, BUCKET, key, good);
    }
  });

  it('fails it, as the backup’s fault, when the globals lack a role the database names', async () => {
    const globalsKey = keyOf('globals');
    const good = await read(globalsKey);
    const sql = (await sh('zstd -d -c', { input: good })).toString();
    const without = sql
      .split('\n')
      .filter((line) => !/\bapp_ro\b/.test(line))
      .join('\n');
    const bad = execFileSync('zstd', ['-q', '-c'], { input: Buffer.from(without) });
    const key = `${manifest.id}/manifest.json`;
    const goodManifest = await read(key);
    const m = structuredClone(manifest);
    const globals = m.artifacts.find((a) => a.kind === 'globals');
    if (globals) {
      globals.bytes = bad.length;
      globals.sha256 = execFileSync('sha256sum', { input: bad }).toString().split(' ')[0] ?? '';
    }
    await putObjectBytes(s3.client, BUCKET, globalsKey, bad);
    await putObjectBytes(s3.client, BUCKET, key, JSON.stringify(m));
    try {
      const result = await backupctl(['verify', 'latest'], { env: env() });
      expectFailure(
        result,
        /failed verification at the postgres restore check: .*role "app_ro" does not exist/,
      );
    } finally {
      await putObjectBytes(s3.client, BUCKET, globalsKey, good);
      await putObjectBytes(s3.client, BUCKET, key, goodManifest);
    }
  });
});

describe('an in-place restore', () => {
  let result: CliResult;
  let damaged: Record<string, string>;

  beforeAll(async () => {
    await pg.psql(
      'shop',
      `DELETE FROM sales."order items" WHERE line = 2; UPDATE sales.customers SET name = 'x' WHERE id < 50;
       DROP TABLE public."Ünïcode ✓ ""quoted"" name"; CREATE TABLE public.made_after_backup (id int);
       GRANT SELECT ON sales.orders TO app_rw;`,
    );
    damaged = await fingerprint(pg, 'shop');
    result = await restore(['latest', '--confirm', 'shop']);
    expect(result.code, result.stderr).toBe(0);
  });

  it('equals the backup exactly: every row, owners, privileges, policies, nothing extra', async () => {
    expect(await fingerprint(pg, 'shop')).toEqual(sourceRows);
    const restored = await catalogOf(pg, 'shop');
    expect(diffFingerprints(manifest.fingerprint ?? restored, restored)).toEqual([]);
    expect(await pg.psql('shop', "SELECT to_regclass('public.made_after_backup') IS NULL")).toBe('t');
    // The partitioned table with its primary key (what pg_restore --clean could not replace).
    expect(
      await pg.psql('shop', "SELECT count(*) FROM pg_inherits WHERE inhparent = 'sales.orders'::regclass"),
    ).toBe('2');
  });

  it('keeps the replaced database as it was, names it, and prints the undo and the DROP', async () => {
    const finished = result.logs.find((l) => l.message === 'restore finished');
    const kept = String(finished?.kept);
    expect(kept).toMatch(/^shop__before_\d{8}T\d{6}Z$/);
    expect(await fingerprint(pg, kept)).toEqual(damaged);
    expect(result.stdout).toContain(`The replaced database is kept as ${kept}.`);
    expect(result.stdout).toContain(`DROP DATABASE "${kept}"`);
    expect(result.logs.some((l) => l.message === 'safety backup taken')).toBe(false);
    expect(await s3.keys(BUCKET, 'pre-restore/')).toEqual([]);
  });

  it('undoes with the printed command: the pre-restore database is back under the live name', async () => {
    const undo = String(result.logs.find((l) => l.message === 'restore finished')?.undo);
    await sh(undo, { env: pg.env('postgres') });
    expect(await fingerprint(pg, 'shop')).toEqual(damaged);
    // And forward again, for the tests below.
    const again = await restore([manifest.id, '--confirm', 'shop']);
    expect(again.code, again.stderr).toBe(0);
    expect(await fingerprint(pg, 'shop')).toEqual(sourceRows);
  });

  it('ends an idle-in-transaction session at the swap, saying so, instead of stalling', async () => {
    const psql = spawn(`${PG_BIN}/psql`, ['--no-psqlrc', '--quiet'], {
      env: { ...process.env, ...pg.env('shop', { PGUSER: 'app_rw', PGPASSWORD: SHOP_ROLE_PASSWORD }) },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    psql.stdin.write('BEGIN; SELECT count(*) FROM sales.orders;\n');
    try {
      await expect
        .poll(() =>
          pg.psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"),
        )
        .toBe('1');
      const started = Date.now();
      const again = await restore([manifest.id, '--confirm', 'shop']);
      expect(again.code, again.stderr).toBe(0);
      const ending = again.logs.find((l) => l.message === 'ending sessions of the live database');
      expect(ending).toMatchObject({ sessions: 1, states: ['idle in transaction'] });
      expect(Date.now() - started).toBeLessThan(100_000);
    } finally {
      psql.kill('SIGKILL');
    }
  });
});

describe('onto a bare server with --create', () => {
  let result: CliResult;

  beforeAll(async () => {
    result = await restore(['latest', '--confirm', 'shop', '--create'], bare);
    expect(result.code, result.stderr).toBe(0);
  });

  it('brings back roles, memberships, attributes, the database’s properties, owners, grants, policies and rows', async () => {
    const restored = await catalogOf(bare, 'shop');
    expect(diffFingerprints(manifest.fingerprint ?? restored, restored)).toEqual([]);
    expect(await fingerprint(bare, 'shop')).toEqual(sourceRows);
    const q = (sql: string) => bare.psql('postgres', sql);
    expect(await q("SELECT rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = 'reporter'")).toBe('t|5');
    expect(await q("SELECT rolbypassrls FROM pg_roles WHERE rolname = 'app_backup'")).toBe('t');
    expect(await q("SELECT pg_has_role('reporter', 'app_ro', 'MEMBER')")).toBe('t');
    expect(
      await q("SELECT pg_get_userbyid(datdba), datacl::text FROM pg_database WHERE datname = 'shop'"),
    ).toMatch(/^app_owner\|\{.*app_rw=Tc\/app_owner.*\}$/);
    expect(await q("SELECT has_database_privilege('reporter', 'shop', 'CONNECT')")).toBe('t');
    expect(
      await q(
        "SELECT s.setconfig::text FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = 'app_rw'",
      ),
    ).toContain('statement_timeout=5s');
  });

  it('names the roles created and the passwords to set; a member role logs in and RLS filters as before', async () => {
    expect(result.stdout).toMatch(/Roles created \(without passwords\): .*reporter/);
    expect(result.stdout).toContain(`ALTER ROLE "reporter" PASSWORD '…'`);
    await bare.psql('postgres', `ALTER ROLE reporter PASSWORD '${SHOP_ROLE_PASSWORD}'`);
    const asReporter = (cluster: PgCluster) =>
      sh(`${PG_BIN}/psql --no-psqlrc -At -c 'SELECT count(*) FROM sales.customers'`, {
        env: cluster.env('shop', { PGUSER: 'reporter', PGPASSWORD: SHOP_ROLE_PASSWORD }),
      }).then((out) => out.toString().trim());
    const north = await pg.psql('shop', "SELECT count(*) FROM sales.customers WHERE region = 'north'");
    expect(await asReporter(bare)).toBe(north);
    expect(await asReporter(pg)).toBe(north);
  });

  it('refuses --create where the database exists, changing nothing', async () => {
    const before = await fingerprint(bare, 'shop');
    expectFailure(
      await restore(['latest', '--confirm', 'shop', '--create'], bare),
      /Database shop exists, and --create only restores where it does not.*Nothing was changed/,
      1,
    );
    await expectUntouched(before, bare);
  });
});

describe('refusals and failures leave the live database as it was', () => {
  it('refuses a target that does not exist without --create, naming --create', async () => {
    const result = await restore(['latest', '--confirm', 'nope', '--target-database', 'nope']);
    expectFailure(result, /Database nope does not exist on the target server; .* add --create\./, 1);
    expect(await databases(pg)).not.toContain('nope');
  });

  it('refuses a restoring role without CREATEDB or membership in the owners, before anything changes', async () => {
    await pg.psql('postgres', `CREATE ROLE weak_restorer LOGIN PASSWORD '${SHOP_ROLE_PASSWORD}'`);
    const before = await fingerprint(pg, 'shop');
    const result = await restore(['latest', '--confirm', 'shop'], pg, {
      PGUSER: 'weak_restorer',
      PGPASSWORD: SHOP_ROLE_PASSWORD,
    });
    expectFailure(result, /restoring role weak_restorer lacks CREATEDB .*membership in app_owner/, 1);
    await expectUntouched(before);
  });

  it('drops the new database when a byte of the dump is damaged', async () => {
    const before = await fingerprint(pg, 'shop');
    const good = await read(keyOf('postgres'));
    const bad = Buffer.from(good);
    bad.writeUInt8(bad.readUInt8(bad.length - 100) ^ 0xff, bad.length - 100);
    await putObjectBytes(s3.client, BUCKET, keyOf('postgres'), bad);
    try {
      expectFailure(
        await restore(['latest', '--confirm', 'shop']),
        /Restore of shop failed and the new database was dropped; shop is unchanged: .*(does not match the manifest|zstd)/,
        1,
      );
    } finally {
      await putObjectBytes(s3.client, BUCKET, keyOf('postgres'), good);
    }
    await expectUntouched(before);
  });

  it('drops the new database when its catalog differs from the backup, naming the difference', async () => {
    const before = await fingerprint(pg, 'shop');
    const key = `${manifest.id}/manifest.json`;
    const good = await read(key);
    const tampered = structuredClone(manifest);
    const objects = tampered.fingerprint?.objects as Record<string, Record<string, string>>;
    objects['schema sales'] = { ...objects['schema sales'], owner: 'app_rw' };
    await putObjectBytes(s3.client, BUCKET, key, JSON.stringify(tampered));
    try {
      expectFailure(
        await restore(['latest', '--confirm', 'shop']),
        /shop is unchanged: the restored database differs from the backup \(catalog: .*schema sales: owner is app_owner, the backup has app_rw/,
        1,
      );
    } finally {
      await putObjectBytes(s3.client, BUCKET, key, good);
    }
    await expectUntouched(before);
  });
});
