/**
 * The database's own properties (owner, encoding, locale, connection limit, ACL, settings,
 * role-in-database settings): what a restore needs to create the database as it was. pg_dump's
 * archive holds them too, but only a restore that creates the database applies them; the
 * manifest keeps them so a restore can create it first and a check can compare.
 */
import { type DatabaseProperties, databasePropertiesSchema } from './core/manifest.ts';
import { readJson, type SqlReader } from './postgres.ts';

// to_jsonb(d) rather than column names: the locale columns differ between majors (15 and 16
// have daticulocale, 17 renamed it datlocale and added the builtin provider; 16 added
// daticurules; 13 and 14 have no provider at all).
const PROPERTIES_SQL = `
SELECT jsonb_build_object(
  'owner', pg_get_userbyid(d.datdba),
  'encoding', pg_encoding_to_char(d.encoding),
  'collate', d.datcollate,
  'ctype', d.datctype,
  'row', to_jsonb(d) - 'datacl',
  'connectionLimit', d.datconnlimit,
  'acl', d.datacl::text[],
  'tablespace', (SELECT spcname FROM pg_tablespace WHERE oid = d.dattablespace),
  'settings', coalesce((SELECT setconfig FROM pg_db_role_setting
                        WHERE setdatabase = d.oid AND setrole = 0), '{}'),
  'roleSettings', coalesce((SELECT jsonb_agg(jsonb_build_object('role', r.rolname, 'settings', s.setconfig)
                                            ORDER BY r.rolname)
                            FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                            WHERE s.setdatabase = d.oid), '[]'),
  'bootstrapSuperuser', (SELECT rolname FROM pg_roles WHERE oid = 10)
)::text
FROM pg_database d WHERE d.datname = current_database();`;

const PROVIDERS: Readonly<Record<string, DatabaseProperties['localeProvider']>> = {
  c: 'libc',
  i: 'icu',
  b: 'builtin',
};

/** Reads the properties of the database `read` is connected to. */
export async function readDatabaseProperties(read: SqlReader): Promise<DatabaseProperties> {
  const { row, ...value } = (await readJson(read, PROPERTIES_SQL)) as { row: Record<string, unknown> };
  const text = (key: string) => (typeof row[key] === 'string' && row[key] !== '' ? row[key] : undefined);
  const locale = text('datlocale') ?? text('daticulocale');
  const icuRules = text('daticurules');
  return databasePropertiesSchema.parse({
    ...value,
    localeProvider: PROVIDERS[text('datlocprovider') ?? 'c'],
    ...(locale ? { locale } : {}),
    ...(icuRules ? { icuRules } : {}),
  });
}
