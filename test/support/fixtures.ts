/**
 * Test data that looks like an application's: several schemas, a sequence, a view, a large
 * object, unicode, a few thousand rows; and a media tree with nested, binary and oddly named
 * files. Plus fingerprints to compare a restore with its source, row for row and byte for byte.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { PgCluster } from '../../tools/local/postgres.ts';

export const APP_SCHEMA_SQL = `
CREATE SCHEMA billing;
CREATE SCHEMA "Audit Log";
CREATE SEQUENCE billing.invoice_number START 1000;
CREATE TABLE public.customers (
  id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, city text, created_at timestamptz NOT NULL,
  profile jsonb, photo bytea);
CREATE TABLE billing.invoices (
  id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES public.customers(id),
  number bigint NOT NULL DEFAULT nextval('billing.invoice_number'), amount numeric(12,2) NOT NULL,
  due date, paid boolean NOT NULL DEFAULT false, lines text[]);
CREATE TABLE "Audit Log"."Events" (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz, what text);
CREATE TABLE public.empty_table (id int);
CREATE VIEW billing.open_invoices AS SELECT i.*, c.name FROM billing.invoices i JOIN public.customers c ON c.id = i.customer_id WHERE NOT i.paid;
CREATE INDEX ON billing.invoices (customer_id);
INSERT INTO public.customers (name, email, city, created_at, profile, photo)
  SELECT 'Customer ' || g || CASE WHEN g % 7 = 0 THEN ' Ñandú 東京 🚀' ELSE '' END,
         'c' || g || '@example.test',
         (ARRAY['Cotabato', 'Zürich', 'São Paulo', 'Kraków', NULL])[1 + g % 5],
         timestamptz '2024-01-01 00:00:00+00' + g * interval '37 minutes',
         jsonb_build_object('tier', g % 3, 'tags', jsonb_build_array('a', g)),
         CASE WHEN g % 10 = 0 THEN decode(md5(g::text), 'hex') END
  FROM generate_series(1, 3000) g;
INSERT INTO billing.invoices (customer_id, amount, due, paid, lines)
  SELECT 1 + g % 3000, round((g * 17.31)::numeric % 10000, 2), date '2025-01-01' + g % 400, g % 4 = 0,
         ARRAY['line ' || g, 'tab	and "quote"', E'new\\nline']
  FROM generate_series(1, 4000) g;
INSERT INTO "Audit Log"."Events" (at, what) SELECT now(), 'event ' || g FROM generate_series(1, 1500) g;
SELECT lo_from_bytea(424242, convert_to(repeat('large object ✓ ', 5000), 'UTF8'));
`;

export async function createAppDatabase(pg: PgCluster, database: string): Promise<void> {
  await pg.psql('postgres', `CREATE DATABASE "${database}"`);
  await pg.psql(database, APP_SCHEMA_SQL);
}

/**
 * Adds `public.big`: rows of 1 KiB random bytes that zstd cannot shrink, so a dump or restore
 * of it takes long enough to be interrupted midway, and its size is predictable.
 */
export async function addIncompressibleTable(
  pg: PgCluster,
  database: string,
  rows: number,
  table = 'big',
): Promise<void> {
  await pg.psql(database, 'CREATE EXTENSION IF NOT EXISTS pgcrypto');
  await pg.psql(
    database,
    `CREATE TABLE ${table} AS SELECT g AS id, gen_random_bytes(1024) AS blob FROM generate_series(1, ${rows}) g`,
  );
}

/** Per table: row count and a hash of every row's text; plus sequences and large objects. */
export async function fingerprint(pg: PgCluster, database: string): Promise<Record<string, string>> {
  const out = await pg.psql(
    database,
    `SELECT n.nspname || '.' || c.relname || '=' ||
       (xpath('/row/h/text()', query_to_xml(format(
         'SELECT count(*) || '':'' || md5(coalesce(string_agg(t::text, E''\\n'' ORDER BY t::text), '''')) AS h FROM %I.%I t',
         n.nspname, c.relname), false, true, '')))[1]::text
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'v') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
     UNION ALL
     SELECT 'sequence ' || schemaname || '.' || sequencename || '=' || coalesce(last_value::text, 'null') FROM pg_sequences
     UNION ALL
     SELECT 'large object ' || oid || '=' || md5(lo_get(oid)) FROM pg_largeobject_metadata
     ORDER BY 1`,
  );
  return Object.fromEntries(
    out.split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
}

/** A media tree: nested dirs, text, binary, empty, unicode and space names, a symlink. */
export function makeMediaDir(root: string, options: { bigFileBytes?: number } = {}): void {
  mkdirSync(join(root, 'uploads/2025/10'), { recursive: true });
  mkdirSync(join(root, 'avatars'), { recursive: true });
  mkdirSync(join(root, 'empty dir'), { recursive: true });
  writeFileSync(join(root, 'uploads/2025/10/report.pdf'), randomBytes(200_000));
  writeFileSync(join(root, 'uploads/2025/10/notes.txt'), 'Minutes of the meeting\n'.repeat(500));
  writeFileSync(join(root, 'avatars/ñandú 東京.png'), randomBytes(30_000));
  writeFileSync(join(root, 'avatars/with space.jpg'), randomBytes(10_000));
  writeFileSync(join(root, 'empty.txt'), '');
  symlinkSync('uploads/2025/10/notes.txt', join(root, 'latest-notes'));
  if (options.bigFileBytes) writeFileSync(join(root, 'uploads/big.bin'), randomBytes(options.bigFileBytes));
}

/** Relative path → sha256 of content (files), 'dir', or 'link → target'. */
export function treeDigest(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (entry.isSymbolicLink()) out[rel] = `link → ${readlinkSync(path)}`;
      else if (entry.isDirectory()) {
        out[rel] = 'dir';
        walk(path);
      } else out[rel] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(root);
  return out;
}

/** Password of every LOGIN role of the shop fixture (roles are cluster-wide; tests log in as them). */
export const SHOP_ROLE_PASSWORD = 'shop-role-pw';

/**
 * The roles of the shop fixture, created only where missing: a second database in the same
 * cluster (or a second run) reuses them. app_ro is NOLOGIN; reporter is named by no object, only
 * by its membership in app_ro; app_backup is the least-privilege backup role the README describes.
 */
export const SHOP_ROLES_SQL = `
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES
      ('app_owner', 'LOGIN'), ('app_rw', 'LOGIN'), ('app_ro', 'NOLOGIN'),
      ('reporter', 'LOGIN CONNECTION LIMIT 5'), ('app_backup', 'LOGIN BYPASSRLS')) AS v(name, attrs)
  LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r.name) THEN
      EXECUTE format('CREATE ROLE %I %s', r.name, r.attrs);
      IF r.attrs LIKE 'LOGIN%' THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', r.name, '${SHOP_ROLE_PASSWORD}');
      END IF;
    END IF;
  END LOOP;
  IF NOT pg_has_role('reporter', 'app_ro', 'MEMBER') THEN GRANT app_ro TO reporter; END IF;
  IF NOT pg_has_role('app_backup', 'pg_read_all_data', 'MEMBER') THEN GRANT pg_read_all_data TO app_backup; END IF;
END $$;
ALTER ROLE reporter SET work_mem TO '16MB';
COMMENT ON ROLE app_ro IS E'Read-only; for reports\nand dashboards';
`;

/** The database's own properties, set as its superuser: ACL, settings, role-in-database settings. */
const shopDatabaseSql = (db: string) => `
REVOKE CONNECT, TEMPORARY ON DATABASE "${db}" FROM PUBLIC;
GRANT CONNECT ON DATABASE "${db}" TO app_owner, app_rw, app_ro, app_backup;
GRANT TEMPORARY ON DATABASE "${db}" TO app_rw;
ALTER DATABASE "${db}" SET timezone TO 'Europe/Zurich';
ALTER DATABASE "${db}" SET work_mem TO '8MB';
ALTER ROLE app_rw IN DATABASE "${db}" SET statement_timeout TO '5s';
`;

/**
 * What an application database holds, created as its owner: two schemas, a partitioned table
 * with a primary key, serials, a view, a materialized view, a trigger, row-level security with
 * policies naming roles, default privileges, a column grant, comments, an extension, odd names.
 * The extension is the superuser's, as a DBA creates it: pg_restore cannot give an extension
 * another owner than the restoring role (there is no ALTER EXTENSION … OWNER).
 */
export const SHOP_SCHEMA_SQL = `
CREATE EXTENSION pgcrypto;
SET ROLE app_owner;
CREATE SCHEMA sales;
COMMENT ON SCHEMA sales IS 'Orders, customers and what they bought';
ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA sales GRANT SELECT ON TABLES TO app_ro;
ALTER DEFAULT PRIVILEGES FOR ROLE app_owner GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app_rw;
ALTER DEFAULT PRIVILEGES FOR ROLE app_owner GRANT USAGE, SELECT ON SEQUENCES TO app_rw;
GRANT USAGE ON SCHEMA sales TO app_ro, app_rw;
CREATE TABLE sales.customers (
  id serial PRIMARY KEY, name text NOT NULL, region text NOT NULL, secret bytea, updated_at timestamptz);
COMMENT ON TABLE sales.customers IS 'People who order';
CREATE TABLE sales.orders (
  id bigserial, customer_id int NOT NULL REFERENCES sales.customers(id), region text NOT NULL,
  placed_at date NOT NULL, amount numeric(10,2) NOT NULL, PRIMARY KEY (id, placed_at)
) PARTITION BY RANGE (placed_at);
CREATE TABLE sales.orders_2024 PARTITION OF sales.orders FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE sales.orders_2025 PARTITION OF sales.orders FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE sales."order items" (
  order_id bigint NOT NULL, placed_at date NOT NULL, line int NOT NULL, sku text NOT NULL, qty int NOT NULL,
  PRIMARY KEY (order_id, placed_at, line), FOREIGN KEY (order_id, placed_at) REFERENCES sales.orders);
CREATE SEQUENCE sales.invoice_number START 1000;
CREATE TABLE public."Ünïcode ✓ ""quoted"" name" (id int PRIMARY KEY, note text);
CREATE VIEW sales.order_totals AS
  SELECT o.id, o.placed_at, o.region, sum(i.qty) AS items FROM sales.orders o
  JOIN sales."order items" i ON i.order_id = o.id AND i.placed_at = o.placed_at GROUP BY o.id, o.placed_at, o.region;
CREATE MATERIALIZED VIEW sales.region_summary AS
  SELECT region, count(*) AS orders, sum(amount) AS amount FROM sales.orders GROUP BY region;
CREATE FUNCTION sales.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS
  $fn$ BEGIN NEW.updated_at := now(); RETURN NEW; END $fn$;
REVOKE EXECUTE ON FUNCTION sales.touch_updated_at() FROM PUBLIC;
CREATE TRIGGER customers_touch BEFORE UPDATE ON sales.customers
  FOR EACH ROW EXECUTE FUNCTION sales.touch_updated_at();
GRANT UPDATE (name) ON sales.customers TO app_ro;
ALTER TABLE sales.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY ro_north ON sales.customers FOR SELECT TO app_ro USING (region = 'north');
CREATE POLICY rw_all ON sales.customers TO app_rw USING (true) WITH CHECK (region IN ('north', 'south'));
ALTER TABLE sales.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY ro_north ON sales.orders FOR SELECT TO app_ro USING (region = 'north');
INSERT INTO sales.customers (name, region, secret)
  SELECT 'Customer ' || g || CASE WHEN g % 9 = 0 THEN ' Ñandú 東京' ELSE '' END,
         CASE WHEN g % 2 = 0 THEN 'north' ELSE 'south' END, gen_random_bytes(8)
  FROM generate_series(1, 600) g;
INSERT INTO sales.orders (customer_id, region, placed_at, amount)
  SELECT 1 + g % 600, CASE WHEN g % 3 = 0 THEN 'north' ELSE 'south' END,
         date '2024-03-01' + (g % 600), round((g * 7.13)::numeric % 900, 2)
  FROM generate_series(1, 3000) g;
INSERT INTO sales."order items" (order_id, placed_at, line, sku, qty)
  SELECT o.id, o.placed_at, l, 'SKU-' || (o.id * l) % 97, 1 + l FROM sales.orders o, generate_series(1, 2) l;
INSERT INTO public."Ünïcode ✓ ""quoted"" name" SELECT g, 'note ' || g FROM generate_series(1, 50) g;
REFRESH MATERIALIZED VIEW sales.region_summary;
RESET ROLE;
`;

/**
 * An application database like production ones (see SHOP_SCHEMA_SQL), owned by app_owner, with
 * the roles it needs (created where missing, so several such databases share one cluster).
 */
export async function createShopDatabase(pg: PgCluster, database: string): Promise<void> {
  await pg.psql('postgres', SHOP_ROLES_SQL);
  await pg.psql('postgres', `CREATE DATABASE "${database}" OWNER app_owner`);
  await pg.psql('postgres', shopDatabaseSql(database));
  await pg.psql(database, SHOP_SCHEMA_SQL);
}
