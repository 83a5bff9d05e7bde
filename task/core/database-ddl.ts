/**
 * The SQL a restore runs to build a database beside the live one with the backup's own
 * properties, and the names it builds and keeps it under. Pure: task/restore-database.ts runs it.
 */
import { createHash } from 'node:crypto';
import type { DatabaseProperties } from './manifest.ts';

/** PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_BYTES = 63;

export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
export const quoteLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/**
 * `<db>__<tag>_<stamp>`, at most 63 bytes: a longer database name is cut (on a character
 * boundary) and given 8 hex digits of its SHA-256, so two long names never share a side name.
 */
export function sideName(database: string, tag: 'restoring' | 'before' | 'restored', stamp: string): string {
  const suffix = `__${tag}_${stamp}`;
  if (Buffer.byteLength(database) + suffix.length <= MAX_IDENTIFIER_BYTES) return `${database}${suffix}`;
  const hash = `_${createHash('sha256').update(database).digest('hex').slice(0, 8)}`;
  let head = '';
  for (const char of database) {
    if (Buffer.byteLength(head + char) + hash.length + suffix.length > MAX_IDENTIFIER_BYTES) break;
    head += char;
  }
  return `${head}${hash}${suffix}`;
}

/** formatTimestamp's length: every stamp cuts a long name at the same place. */
const STAMP_LENGTH = '20261126T020000Z'.length;

/** The prefix of every side database a restore of `database` builds (leftovers of a killed run). */
export function restoringPrefix(database: string): string {
  return sideName(database, 'restoring', '0'.repeat(STAMP_LENGTH)).slice(0, -STAMP_LENGTH);
}

/**
 * CREATE DATABASE with the backup's encoding and locale, from template0 (a template1 with local
 * additions would put objects in that are not in the backup). Owner, ACL, settings and the
 * connection limit come after the data (`propertiesSql`): a limit of 0 or a revoked CONNECT
 * could lock the restoring role out of its own restore.
 */
export function createDatabaseSql(name: string, props: DatabaseProperties | undefined): string {
  const options = ['TEMPLATE = template0'];
  if (props) {
    options.push(
      `ENCODING = ${quoteLiteral(props.encoding)}`,
      `LC_COLLATE = ${quoteLiteral(props.collate)}`,
      `LC_CTYPE = ${quoteLiteral(props.ctype)}`,
    );
    // Servers before 15 know no LOCALE_PROVIDER: say it only when it is not libc.
    if (props.localeProvider === 'icu') {
      options.push('LOCALE_PROVIDER = icu');
      if (props.locale) options.push(`ICU_LOCALE = ${quoteLiteral(props.locale)}`);
      if (props.icuRules) options.push(`ICU_RULES = ${quoteLiteral(props.icuRules)}`);
    } else if (props.localeProvider === 'builtin') {
      options.push('LOCALE_PROVIDER = builtin');
      if (props.locale) options.push(`BUILTIN_LOCALE = ${quoteLiteral(props.locale)}`);
    }
  }
  return `CREATE DATABASE ${quoteIdent(name)} WITH ${options.join(' ')}`;
}

/** Settings whose stored value is already an SQL list (pg_dump's variable_is_guc_list_quote). */
const LIST_SETTINGS = new Set([
  'local_preload_libraries',
  'search_path',
  'session_preload_libraries',
  'shared_preload_libraries',
  'temp_tablespaces',
  'unix_socket_directories',
]);

/** `name=value` as pg_db_role_setting stores it → `"name" TO value`. */
function setClause(setting: string): string {
  const at = setting.indexOf('=');
  const name = setting.slice(0, at);
  const value = setting.slice(at + 1);
  return `SET ${quoteIdent(name)} TO ${LIST_SETTINGS.has(name.toLowerCase()) ? value : quoteLiteral(value)}`;
}

export interface AclItem {
  /** '' is PUBLIC. */
  readonly grantee: string;
  readonly grantor: string;
  /** Privilege letters, each followed by '*' when held with grant option. */
  readonly privileges: string;
}

/** Parses an aclitem's text (`"odd ""name"""=Tc*\/app_owner`, `=c/app_owner` for PUBLIC). */
export function parseAclItem(text: string): AclItem {
  let i = 0;
  const name = (): string => {
    if (text[i] !== '"') {
      const start = i;
      while (i < text.length && text[i] !== '=' && text[i] !== '/') i++;
      return text.slice(start, i);
    }
    let out = '';
    i++;
    while (i < text.length) {
      if (text[i] === '"' && text[i + 1] === '"') {
        out += '"';
        i += 2;
      } else if (text[i] === '"') {
        i++;
        break;
      } else out += text[i++];
    }
    return out;
  };
  const grantee = name();
  if (text[i++] !== '=') throw new Error(`not an aclitem: ${text}`);
  const slash = text.indexOf('/', i);
  if (slash === -1) throw new Error(`not an aclitem: ${text}`);
  const privileges = text.slice(i, slash);
  i = slash + 1;
  return { grantee, privileges, grantor: name() };
}

const DATABASE_PRIVILEGES: Readonly<Record<string, string>> = { C: 'CREATE', T: 'TEMPORARY', c: 'CONNECT' };

/**
 * The statements that give database `name` the backup's owner, ACL, settings, role-in-database
 * settings and connection limit, run once the data is in. The ACL is rebuilt the way pg_dump
 * does: everything revoked, then each item granted, as its grantor when that is not the owner.
 */
export function propertiesSql(name: string, props: DatabaseProperties): string[] {
  const db = quoteIdent(name);
  const out = [`ALTER DATABASE ${db} OWNER TO ${quoteIdent(props.owner)}`];
  if (props.acl !== null) {
    out.push(
      `REVOKE ALL ON DATABASE ${db} FROM PUBLIC`,
      `REVOKE ALL ON DATABASE ${db} FROM ${quoteIdent(props.owner)}`,
    );
    for (const item of props.acl.map(parseAclItem)) {
      const grantee = item.grantee === '' ? 'PUBLIC' : quoteIdent(item.grantee);
      const plain: string[] = [];
      const withOption: string[] = [];
      for (const [index, letter] of [...item.privileges].entries()) {
        const privilege = DATABASE_PRIVILEGES[letter];
        if (!privilege) continue;
        (item.privileges[index + 1] === '*' ? withOption : plain).push(privilege);
      }
      const asGrantor = item.grantor !== props.owner;
      if (asGrantor) out.push(`SET ROLE ${quoteIdent(item.grantor)}`);
      if (plain.length > 0) out.push(`GRANT ${plain.join(', ')} ON DATABASE ${db} TO ${grantee}`);
      if (withOption.length > 0)
        out.push(`GRANT ${withOption.join(', ')} ON DATABASE ${db} TO ${grantee} WITH GRANT OPTION`);
      if (asGrantor) out.push('RESET ROLE');
    }
  }
  for (const setting of props.settings) out.push(`ALTER DATABASE ${db} ${setClause(setting)}`);
  for (const { role, settings } of props.roleSettings) {
    for (const setting of settings)
      out.push(`ALTER ROLE ${quoteIdent(role)} IN DATABASE ${db} ${setClause(setting)}`);
  }
  if (props.connectionLimit !== -1)
    out.push(`ALTER DATABASE ${db} CONNECTION LIMIT ${props.connectionLimit}`);
  return out;
}
