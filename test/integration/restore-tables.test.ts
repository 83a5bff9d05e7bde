/**
 * `backupctl restore --table/--schema`: some tables of a backup into a new side database on the
 * same server, with what they need (sequences, indexes, constraints, triggers, policies, grants,
 * partitions), their rows equal to the backup's, and the live database never touched.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { BACKUPCTL, backupctl, expectFailure, ROOT } from '../support/backupctl.ts';
import { addIncompressibleTable, createShopDatabase, fingerprint } from '../support/fixtures.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'table-restore';
let pg: PgCluster;
let s3: S3Emulator;
let source: Record<string, string>;
let backupId: string;
let customersBefore: string;
const CUSTOMERS_SQL = "SELECT md5(string_agg(id || name || region, ',' ORDER BY id)) FROM sales.customers";

const env = () => ({ ...pg.env('shop'), ...s3.env(BUCKET) });
const restore = (args: string[]) => backupctl(['restore', ...args], { env: env() });
const side = (db: string, ...tables: string[]) => [
  backupId,
  ...tables.flatMap((t) => (t.includes('.') ? ['--table', t] : ['--schema', t])),
  '--target-database',
  db,
  '--create',
  '--confirm',
  db,
];
const databases = async () =>
  (await pg.psql('postgres', "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")).split(',');
/** Rows of one table, as the fixture's fingerprint hashes them. */
const rowsOf = (fp: Record<string, string>, table: string) => fp[table];

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createShopDatabase(pg, 'shop');
  // 30 MB that a full restore loads and a restore of other tables only streams past.
  await addIncompressibleTable(pg, 'shop', 30_000);
  const result = await backupctl(['backup'], { env: { ...env(), BACKUPCTL_NOW: '2026-11-26T02:00:00Z' } });
  expect(result.code, result.stderr).toBe(0);
  backupId = 'daily/shop/20261126T020000Z';
  source = await fingerprint(pg, 'shop');
  customersBefore = await pg.psql('shop', CUSTOMERS_SQL);
  // After the backup: the operator's accident, and a table the backup does not hold.
  await pg.psql(
    'shop',
    "UPDATE sales.customers SET name = 'oops'; CREATE TABLE public.after_backup (id int)",
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
});

describe('backupctl restore --table', () => {
  it('restores a table with its sequence, trigger, policies and grants into a side database; the live one is untouched', async () => {
    const live = await fingerprint(pg, 'shop');
    const result = await restore(side('shop_customers', 'sales.customers'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /Tables sales\.customers of backup daily\/shop\/20261126T020000Z were restored into the new database shop_customers/,
    );

    const restored = await fingerprint(pg, 'shop_customers');
    expect(rowsOf(restored, 'sales.customers')).toBe(rowsOf(source, 'sales.customers'));
    expect(restored['sequence sales.customers_id_seq']).toBe(source['sequence sales.customers_id_seq']);
    // Only that table: no other table, view or partition came along.
    expect(Object.keys(restored).filter((k) => !k.startsWith('sequence'))).toEqual(['sales.customers']);
    const catalog = await pg.psql(
      'shop_customers',
      `SELECT concat_ws(' | ',
         (SELECT string_agg(polname, ',' ORDER BY polname) FROM pg_policy),
         (SELECT relrowsecurity FROM pg_class WHERE oid = 'sales.customers'::regclass),
         (SELECT string_agg(tgname, ',') FROM pg_trigger WHERE NOT tgisinternal),
         (SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'sales.customers'::regclass),
         (SELECT relowner::regrole FROM pg_class WHERE oid = 'sales.customers'::regclass),
         has_column_privilege('app_ro', 'sales.customers', 'name', 'UPDATE'),
         obj_description('sales.customers'::regclass, 'pg_class'),
         pg_get_serial_sequence('sales.customers', 'id'))`,
    );
    expect(catalog).toBe(
      'ro_north,rw_all | t | customers_touch | customers_pkey | app_owner | t | People who order | sales.customers_id_seq',
    );
    // The sequence goes on from where the backup left it.
    expect(await pg.psql('shop_customers', "SELECT nextval('sales.customers_id_seq')")).toBe('601');
    expect(await fingerprint(pg, 'shop')).toEqual(live);
  });

  it('restores a partitioned table with its partitions, leaving out and naming a foreign key to a table not restored', async () => {
    const result = await restore(side('shop_orders', 'sales.orders'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Foreign keys left out .*: sales\.orders \(orders_customer_id_fkey\)\./);
    const restored = await fingerprint(pg, 'shop_orders');
    for (const table of ['sales.orders_2024', 'sales.orders_2025'])
      expect(rowsOf(restored, table)).toBe(rowsOf(source, table));
    expect(
      await pg.psql(
        'shop_orders',
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'sales.orders'::regclass",
      ),
    ).toBe('2');
  });

  it('restores the foreign key target too when it is named, with the foreign key', async () => {
    const result = await restore(side('shop_orders_fk', 'sales.orders', 'sales.customers'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toMatch(/Foreign keys left out/);
    expect(
      await pg.psql(
        'shop_orders_fk',
        "SELECT string_agg(conname, ',') FROM pg_constraint WHERE contype = 'f' AND conrelid = 'sales.orders'::regclass",
      ),
    ).toBe('orders_customer_id_fkey');
  });

  it('restores every table of a non-public schema with --schema, rows equal to the backup', async () => {
    const result = await restore(side('shop_sales', 'sales'));
    expect(result.code, result.stderr).toBe(0);
    const restored = await fingerprint(pg, 'shop_sales');
    for (const table of ['sales.customers', 'sales.order items', 'sales.orders_2024', 'sales.orders_2025'])
      expect(rowsOf(restored, table), table).toBe(rowsOf(source, table));
    expect(restored['public.Ünïcode ✓ "quoted" name']).toBeUndefined();
  });

  it.each([
    [
      'the live database as the target',
      ['latest', '--table', 'sales.customers', '--target-database', 'shop', '--create', '--confirm', 'shop'],
      /never writes into the live database shop/,
      2,
    ],
    [
      'no --create',
      ['latest', '--table', 'sales.customers', '--target-database', 'shop_x', '--confirm', 'shop_x'],
      /new side database only: add --target-database <new name> --create/,
      2,
    ],
    [
      'no --target-database',
      ['latest', '--table', 'sales.customers', '--confirm', 'shop'],
      /new side database only/,
      2,
    ],
    [
      'a name without its schema',
      ['latest', '--table', 'customers', '--target-database', 'shop_x', '--create', '--confirm', 'shop_x'],
      /--table must be schema\.name/,
      2,
    ],
    [
      'an unknown table',
      ['latest', '--table', 'sales.nope', '--target-database', 'shop_x', '--create', '--confirm', 'shop_x'],
      /holds no sales\.nope \(its tables: .*sales\.customers/,
      1,
    ],
    [
      'a table made after the backup',
      [
        'latest',
        '--table',
        'public.after_backup',
        '--target-database',
        'shop_x',
        '--create',
        '--confirm',
        'shop_x',
      ],
      /holds no public\.after_backup/,
      1,
    ],
  ] as const)(
    'refuses %s, creating nothing and leaving the live database as it was',
    async (_case, args, cause, code) => {
      const live = await fingerprint(pg, 'shop');
      const before = await databases();
      expectFailure(await restore([...args]), cause, code);
      expect(await databases()).toEqual(before);
      expect(await fingerprint(pg, 'shop')).toEqual(live);
    },
  );

  it('puts the rows back with the README commands, as written', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Getting one table back'));
    const block = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
    if (!block) throw new Error('README has no bash block under "Getting one table back"');
    expect(await pg.psql('shop', CUSTOMERS_SQL)).not.toBe(customersBefore);

    // Act: the block as written; the prelude only makes `backupctl` the source launcher.
    await sh(`backupctl() { node ${BACKUPCTL} "$@"; }\n${block}`, { env: env() });

    expect(await pg.psql('shop', CUSTOMERS_SQL)).toBe(customersBefore);
    expect(await databases()).not.toContain('shop_restored');
  });

  it('measures a one-table restore against a whole-database restore of the same backup (printed)', async () => {
    const seconds = async (args: string[]) => {
      const result = await restore([...args, '--json']);
      expect(result.code, result.stderr).toBe(0);
      return (JSON.parse(result.stdout) as { seconds: number }).seconds;
    };
    const full = await seconds([
      backupId,
      '--only',
      'db',
      '--target-database',
      'shop_full',
      '--create',
      '--confirm',
      'shop_full',
    ]);
    const one = await seconds(side('shop_timed', 'sales.customers'));
    console.log(`restore of ${backupId}: whole database ${full} s, sales.customers alone ${one} s`);
    expect(await fingerprint(pg, 'shop_full')).toEqual(source);
  });
});
