/**
 * Reads the catalog fingerprint (task/core/fingerprint.ts) of the database a reader is connected
 * to: in the backup's snapshot session, or on a restored database to compare with the manifest.
 *
 * What it covers: the database (owner, effective ACL, encoding, locale, connection limit,
 * settings, role-in-database settings); every schema, table, partitioned table, sequence, view,
 * materialized view, foreign table, function, procedure and aggregate (owner, effective ACL, row
 * security), column privileges, policies (command, roles, expressions), default privileges and
 * extensions (owner, schema); the roles all of these name, every role that is a member of those
 * (recursively: they hold the privileges too), and the memberships.
 *
 * Chosen so that a faithful restore compares equal: ACLs are effective (a NULL ACL and the
 * explicit default are the same privileges), objects of extensions are left out (CREATE
 * EXTENSION makes them), extensions in pg_catalog (plpgsql) are left out (every database has
 * them, owned by the server's bootstrap superuser), extension versions are left out (a newer
 * server installs its own), and the bootstrap superuser and predefined roles are named without
 * attributes (they belong to the server).
 */
import { type CatalogFingerprint, type FingerprintObjects, fingerprintOf } from './core/fingerprint.ts';
import { RDS_ROLES } from './pg-globals.ts';
import { readJson, type SqlReader } from './postgres.ts';

// search_path = pg_catalog: function signatures and expressions print schema-qualified, the
// same whatever search_path the backup or the restore role has. jit off: the planner's estimates
// for the set-returning functions make JIT compile for seconds a query that runs in milliseconds.
const FINGERPRINT_SQL = `
SET LOCAL search_path = pg_catalog;
SET LOCAL jit = off;
WITH RECURSIVE
nsp AS (
  SELECT n.oid, n.nspname, n.nspowner, n.nspacl FROM pg_namespace n
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
    AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_namespace'::regclass AND e.objid = n.oid
                    AND e.deptype = 'e')),
db AS (SELECT * FROM pg_database WHERE datname = current_database()),
-- object name, owner, ACL, other properties, roles named otherwise
obj(object, owner, acl, props, roles) AS (
  SELECT 'database', d.datdba, coalesce(d.datacl, acldefault('d', d.datdba)),
         jsonb_build_object('encoding', pg_encoding_to_char(d.encoding), 'collate', d.datcollate,
           'ctype', d.datctype, 'connection limit', d.datconnlimit::text,
           'locale provider', CASE to_jsonb(d)->>'datlocprovider' WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' ELSE 'libc' END,
           'locale', coalesce(to_jsonb(d)->>'datlocale', to_jsonb(d)->>'daticulocale'),
           'icu rules', to_jsonb(d)->>'daticurules'), NULL::oid[]
  FROM db d
  UNION ALL
  SELECT CASE WHEN s.setrole = 0 THEN 'database settings'
              ELSE 'database settings of role ' || quote_ident(pg_get_userbyid(s.setrole)) END,
         NULL, NULL,
         (SELECT jsonb_object_agg(split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)) FROM unnest(s.setconfig) c),
         CASE WHEN s.setrole = 0 THEN NULL ELSE ARRAY[s.setrole] END
  FROM pg_db_role_setting s JOIN db d ON d.oid = s.setdatabase
  UNION ALL
  SELECT 'schema ' || quote_ident(n.nspname), n.nspowner, coalesce(n.nspacl, acldefault('n', n.nspowner)), NULL, NULL
  FROM nsp n
  UNION ALL
  SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
           WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'foreign table' END
           || ' ' || format('%I.%I', n.nspname, c.relname),
         c.relowner, coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner)),
         CASE WHEN c.relkind IN ('r', 'p') THEN jsonb_build_object('row security',
           CASE WHEN NOT c.relrowsecurity THEN 'off' WHEN c.relforcerowsecurity THEN 'forced' ELSE 'on' END) END,
         NULL
  FROM pg_class c JOIN nsp n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relpersistence <> 't'
    AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid
                    AND e.deptype = 'e')
  UNION ALL
  -- every column of a table (a column added or changed since the backup is a named difference),
  -- and the column grants of any relation
  SELECT 'column ' || format('%I.%I.%I', n.nspname, c.relname, a.attname), NULL, a.attacl,
         CASE WHEN c.relkind IN ('r', 'p') THEN jsonb_build_object('type', format_type(a.atttypid, a.atttypmod),
           'not null', a.attnotnull::text, 'default', pg_get_expr(ad.adbin, ad.adrelid),
           'identity', nullif(a.attidentity, ''), 'generated', nullif(a.attgenerated, '')) END,
         NULL
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN nsp n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relpersistence <> 't'
    AND (a.attacl IS NOT NULL OR c.relkind IN ('r', 'p'))
    AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid
                    AND e.deptype = 'e')
  UNION ALL
  SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END || ' '
           || format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
         p.proowner, coalesce(p.proacl, acldefault('f', p.proowner)), NULL, NULL
  FROM pg_proc p JOIN nsp n ON n.oid = p.pronamespace
  WHERE NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid
                    AND e.deptype = 'e')
  UNION ALL
  SELECT 'extension ' || quote_ident(x.extname), x.extowner, NULL,
         jsonb_build_object('schema', x.extnamespace::regnamespace::text), NULL
  FROM pg_extension x WHERE x.extnamespace <> 'pg_catalog'::regnamespace
  UNION ALL
  SELECT 'policy ' || format('%I.%I', n.nspname, c.relname) || ' ' || quote_ident(pol.polname), NULL, NULL,
         jsonb_build_object(
           'command', CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                        WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
           'kind', CASE WHEN pol.polpermissive THEN 'permissive' ELSE 'restrictive' END,
           'roles', (SELECT string_agg(r.name, ',' ORDER BY r.name) FROM (
                       SELECT CASE WHEN o = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(o)) END AS name
                       FROM unnest(pol.polroles) o) r),
           'using', pg_get_expr(pol.polqual, pol.polrelid),
           'with check', pg_get_expr(pol.polwithcheck, pol.polrelid)),
         pol.polroles
  FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN nsp n ON n.oid = c.relnamespace
  UNION ALL
  SELECT 'default privileges of ' || quote_ident(pg_get_userbyid(d.defaclrole))
           || CASE WHEN d.defaclnamespace = 0 THEN ' in every schema'
                   ELSE ' in schema ' || d.defaclnamespace::regnamespace::text END
           || ' on ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                          WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END,
         NULL, d.defaclacl, NULL, ARRAY[d.defaclrole]
  FROM pg_default_acl d
),
named(role) AS (
  SELECT owner FROM obj WHERE owner IS NOT NULL
  UNION SELECT (aclexplode(acl)).grantee FROM obj
  UNION SELECT (aclexplode(acl)).grantor FROM obj
  UNION SELECT unnest(roles) FROM obj
),
-- members of a named role hold its privileges: reporter, named by nothing, logs in as app_ro
reach(role) AS (
  SELECT role FROM named WHERE role <> 0
  UNION SELECT m.member FROM pg_auth_members m JOIN reach r ON m.roleid = r.role
),
-- RDS's own roles exist on RDS only: no other server (nor the drill's) can have them or their memberships
rds(role) AS (SELECT oid FROM pg_roles WHERE rolname ~ '${RDS_ROLES}'),
edge AS (
  SELECT roleid, member, admin_option FROM pg_auth_members
  WHERE (roleid IN (SELECT role FROM reach) OR member IN (SELECT role FROM reach))
    AND roleid NOT IN (SELECT role FROM rds) AND member NOT IN (SELECT role FROM rds)
),
role_obj AS (
  SELECT 'role ' || quote_ident(r.rolname) AS object,
         CASE WHEN r.oid = 10 THEN jsonb_build_object('server role', 'bootstrap superuser')
              WHEN r.rolname ~ '^pg_' THEN jsonb_build_object('server role', 'predefined')
              ELSE jsonb_build_object('superuser', r.rolsuper::text, 'inherit', r.rolinherit::text,
                'create role', r.rolcreaterole::text, 'create database', r.rolcreatedb::text,
                'login', r.rolcanlogin::text, 'replication', r.rolreplication::text,
                'bypass rls', r.rolbypassrls::text, 'connection limit', r.rolconnlimit::text,
                'valid until', r.rolvaliduntil::text) END AS props
  FROM pg_roles r
  WHERE r.oid IN (SELECT role FROM reach UNION SELECT roleid FROM edge UNION SELECT member FROM edge)
    AND r.oid NOT IN (SELECT role FROM rds)
  UNION ALL
  SELECT 'membership of ' || quote_ident(pg_get_userbyid(e.member)) || ' in ' || quote_ident(pg_get_userbyid(e.roleid)),
         jsonb_build_object('admin option', e.admin_option::text)
  FROM edge e
)
SELECT coalesce(jsonb_object_agg(object, props), '{}')::text FROM (
  SELECT object, jsonb_strip_nulls(coalesce(props, '{}') || jsonb_build_object(
           'owner', pg_get_userbyid(owner),
           'acl', CASE WHEN acl IS NOT NULL THEN
                    '{' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(acl) a), '') || '}'
                  END)) AS props
  FROM obj
  UNION ALL
  SELECT object, jsonb_strip_nulls(props) FROM role_obj
) everything;`;

/** The fingerprint of the database `read` is connected to. */
export async function readFingerprint(read: SqlReader): Promise<CatalogFingerprint> {
  return fingerprintOf((await readJson(read, FINGERPRINT_SQL)) as FingerprintObjects);
}
