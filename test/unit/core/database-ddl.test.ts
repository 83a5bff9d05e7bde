import { describe, expect, it } from 'vitest';
import {
  createDatabaseSql,
  MAX_IDENTIFIER_BYTES,
  parseAclItem,
  propertiesSql,
  restoringPrefix,
  sideName,
} from '../../../task/core/database-ddl.ts';
import type { DatabaseProperties } from '../../../task/core/manifest.ts';

const props: DatabaseProperties = {
  owner: 'app_owner',
  encoding: 'UTF8',
  collate: 'C.UTF-8',
  ctype: 'C.UTF-8',
  localeProvider: 'libc',
  connectionLimit: -1,
  acl: ['app_owner=CTc/app_owner', 'app_rw=Tc*/app_owner', '"odd ""one"""=c/app_owner', 'reporter=c/app_rw'],
  tablespace: 'pg_default',
  settings: ['TimeZone=Europe/Zurich', 'search_path="$user", public'],
  roleSettings: [{ role: 'app_rw', settings: ['statement_timeout=5s'] }],
  bootstrapSuperuser: 'postgres',
};

describe('sideName', () => {
  it.each([
    ['shop', 'shop__restoring_20261126T020000Z'],
    ['a'.repeat(35), `${'a'.repeat(35)}__restoring_20261126T020000Z`],
  ])('keeps %s whole when it fits', (db, expected) => {
    expect(sideName(db, 'restoring', '20261126T020000Z')).toBe(expected);
  });

  it('cuts long (multi-byte) names to 63 bytes on a character boundary, with a hash that tells them apart', () => {
    const a = sideName(`${'ü'.repeat(40)}a`, 'before', '20261126T020000Z');
    const b = sideName(`${'ü'.repeat(40)}b`, 'before', '20261126T020000Z');
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(MAX_IDENTIFIER_BYTES);
    expect(a).toMatch(/^ü+_[0-9a-f]{8}__before_20261126T020000Z$/);
    expect(a).not.toBe(b);
  });

  it('names leftovers by a prefix every stamp of the same database starts with', () => {
    expect(sideName('shop', 'restoring', '20261126T020000Z').startsWith(restoringPrefix('shop'))).toBe(true);
    expect(restoringPrefix('shop')).toBe('shop__restoring_');
    const long = 'ü'.repeat(40);
    expect(sideName(long, 'restoring', '20261126T020000Z').startsWith(restoringPrefix(long))).toBe(true);
  });
});

describe('parseAclItem', () => {
  it.each([
    ['app_rw=Tc*/app_owner', { grantee: 'app_rw', privileges: 'Tc*', grantor: 'app_owner' }],
    ['=c/app_owner', { grantee: '', privileges: 'c', grantor: 'app_owner' }],
    ['"odd ""one"""=c/"own/er"', { grantee: 'odd "one"', privileges: 'c', grantor: 'own/er' }],
  ])('parses %s', (text, expected) => {
    expect(parseAclItem(text)).toEqual(expected);
  });
});

describe('the database statements', () => {
  it('creates from template0 with the encoding and locale, ICU only when the backup used it', () => {
    expect(createDatabaseSql('shop__restoring_x', props)).toBe(
      `CREATE DATABASE "shop__restoring_x" WITH TEMPLATE = template0 ENCODING = 'UTF8' LC_COLLATE = 'C.UTF-8' LC_CTYPE = 'C.UTF-8'`,
    );
    expect(createDatabaseSql('d', { ...props, localeProvider: 'icu', locale: 'de-CH' })).toContain(
      `LOCALE_PROVIDER = icu ICU_LOCALE = 'de-CH'`,
    );
  });

  it('rebuilds owner, ACL (as the grantor), settings (lists verbatim) and role settings', () => {
    expect(propertiesSql('new', props)).toEqual([
      'ALTER DATABASE "new" OWNER TO "app_owner"',
      'REVOKE ALL ON DATABASE "new" FROM PUBLIC',
      'REVOKE ALL ON DATABASE "new" FROM "app_owner"',
      'GRANT CREATE, TEMPORARY, CONNECT ON DATABASE "new" TO "app_owner"',
      'GRANT TEMPORARY ON DATABASE "new" TO "app_rw"',
      'GRANT CONNECT ON DATABASE "new" TO "app_rw" WITH GRANT OPTION',
      'GRANT CONNECT ON DATABASE "new" TO "odd ""one"""',
      'SET ROLE "app_rw"',
      'GRANT CONNECT ON DATABASE "new" TO "reporter"',
      'RESET ROLE',
      `ALTER DATABASE "new" SET "TimeZone" TO 'Europe/Zurich'`,
      'ALTER DATABASE "new" SET "search_path" TO "$user", public',
      `ALTER ROLE "app_rw" IN DATABASE "new" SET "statement_timeout" TO '5s'`,
    ]);
  });

  it('leaves a never-granted ACL at its default and sets a connection limit last', () => {
    const sql = propertiesSql('new', {
      ...props,
      acl: null,
      settings: [],
      roleSettings: [],
      connectionLimit: 3,
    });
    expect(sql).toEqual([
      'ALTER DATABASE "new" OWNER TO "app_owner"',
      'ALTER DATABASE "new" CONNECTION LIMIT 3',
    ]);
  });
});
