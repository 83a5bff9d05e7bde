/**
 * Test data that looks like an application's: several schemas, a sequence, a view, a large
 * object, unicode, a few thousand rows; and a media tree with nested, binary and oddly named
 * files. Plus fingerprints to compare a restore with its source, row for row and byte for byte.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { PgCluster } from './postgres.ts';

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
