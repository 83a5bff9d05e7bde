/**
 * The roles a restore creates from the globals artifact, decided from real pg_dumpall output:
 * the shop fixture's roles as pg_dumpall 15.x wrote them (`--globals-only --no-role-passwords`,
 * as app_backup), and the membership syntax of pg_dumpall 16+.
 */
import { describe, expect, it } from 'vitest';
import { isServerRole, planMissingRoles, splitStatements } from '../../task/pg-globals.ts';

const PG15_GLOBALS = `--
-- PostgreSQL database cluster dump
--

\\restrict nZSaB46oxj9e2LykgU2Qs5nZa9ByQpdRJ3rQZ9ayANgvh6KhvoLe3Mv8KIDxVKu

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE app_backup;
ALTER ROLE app_backup WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION BYPASSRLS;
CREATE ROLE app_owner;
ALTER ROLE app_owner WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE app_ro;
ALTER ROLE app_ro WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
COMMENT ON ROLE app_ro IS 'Read-only; for reports
and dashboards';
CREATE ROLE app_rw;
ALTER ROLE app_rw WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
CREATE ROLE reporter;
ALTER ROLE reporter WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5;

--
-- User Configurations
--

--
-- User Config "reporter"
--

ALTER ROLE reporter SET work_mem TO '16MB';


--
-- Role memberships
--

GRANT app_ro TO reporter GRANTED BY postgres;
GRANT pg_read_all_data TO app_backup GRANTED BY postgres;






\\unrestrict nZSaB46oxj9e2LykgU2Qs5nZa9ByQpdRJ3rQZ9ayANgvh6KhvoLe3Mv8KIDxVKu

--
-- PostgreSQL database cluster dump complete
--

`;

const BARE_SERVER = ['postgres', 'pg_read_all_data', 'pg_database_owner', 'pg_monitor'];

describe('planMissingRoles', () => {
  it('creates every application role on a bare server, with attributes, settings, comments and memberships', () => {
    const plan = planMissingRoles(PG15_GLOBALS, {
      existingRoles: BARE_SERVER,
      bootstrapSuperuser: 'postgres',
    });
    expect(plan.roles).toEqual(['app_backup', 'app_owner', 'app_ro', 'app_rw', 'reporter']);
    expect(plan.statements).toEqual([
      'CREATE ROLE app_backup',
      'ALTER ROLE app_backup WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION BYPASSRLS',
      'CREATE ROLE app_owner',
      'ALTER ROLE app_owner WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS',
      'CREATE ROLE app_ro',
      'ALTER ROLE app_ro WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS',
      "COMMENT ON ROLE app_ro IS 'Read-only; for reports\nand dashboards'",
      'CREATE ROLE app_rw',
      'ALTER ROLE app_rw WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS',
      'CREATE ROLE reporter',
      'ALTER ROLE reporter WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5',
      "ALTER ROLE reporter SET work_mem TO '16MB'",
      'GRANT app_ro TO reporter',
      'GRANT pg_read_all_data TO app_backup',
    ]);
    expect(plan.omitted).toEqual([]);
  });

  it('never touches a role the target has: no ALTER, and no membership between two existing roles', () => {
    const plan = planMissingRoles(PG15_GLOBALS, {
      existingRoles: [...BARE_SERVER, 'app_ro', 'app_backup', 'app_owner', 'app_rw'],
      bootstrapSuperuser: 'postgres',
    });
    expect(plan.roles).toEqual(['reporter']);
    expect(plan.statements.filter((s) => !/ reporter\b/.test(s))).toEqual([]);
    expect(plan.statements).toContain('GRANT app_ro TO reporter');
    expect(plan.statements.join('\n')).not.toMatch(/app_backup|app_ro WITH/);
  });

  it('skips the source bootstrap superuser even when the target names its own differently', () => {
    const plan = planMissingRoles(PG15_GLOBALS, {
      existingRoles: ['rdsadmin', 'pg_read_all_data'],
      bootstrapSuperuser: 'postgres',
    });
    expect(plan.roles).not.toContain('postgres');
    expect(plan.statements.join('\n')).not.toMatch(/ROLE postgres/);
  });

  it('leaves out a membership in a role the target lacks, saying which', () => {
    const plan = planMissingRoles(PG15_GLOBALS, {
      existingRoles: ['postgres'],
      bootstrapSuperuser: 'postgres',
    });
    expect(plan.statements).not.toContain('GRANT pg_read_all_data TO app_backup');
    expect(plan.omitted).toEqual([
      {
        statement: 'GRANT pg_read_all_data TO app_backup GRANTED BY postgres',
        reason: 'role pg_read_all_data does not exist on the target',
      },
    ]);
  });

  it.each<[string, string, string[]]>([
    [
      'pg_dumpall 16+ membership options, quoted names',
      'CREATE ROLE "Ops ""Team""";\nGRANT app_ro TO "Ops ""Team""" WITH INHERIT TRUE, SET FALSE GRANTED BY "Old Admin";',
      ['CREATE ROLE "Ops ""Team"""', 'GRANT app_ro TO "Ops ""Team""" WITH INHERIT TRUE, SET FALSE'],
    ],
    [
      'an admin option',
      'CREATE ROLE lead;\nGRANT app_ro TO lead WITH ADMIN OPTION GRANTED BY postgres;',
      ['CREATE ROLE lead', 'GRANT app_ro TO lead WITH ADMIN OPTION'],
    ],
    [
      'a role-in-database setting (it comes with the database) and a security label',
      "CREATE ROLE lead;\nALTER ROLE lead IN DATABASE shop SET work_mem TO '1MB';\nSECURITY LABEL FOR selinux ON ROLE lead IS 'x';",
      ['CREATE ROLE lead', "SECURITY LABEL FOR selinux ON ROLE lead IS 'x'"],
    ],
  ])('handles %s', (_, sql, statements) => {
    const plan = planMissingRoles(sql, {
      existingRoles: ['app_ro', 'postgres'],
      bootstrapSuperuser: 'postgres',
    });
    expect(plan.statements).toEqual(statements);
  });

  it('does not restore tablespaces (server paths), saying so', () => {
    const plan = planMissingRoles("CREATE TABLESPACE fast OWNER postgres LOCATION '/ssd';", {
      existingRoles: ['postgres'],
      bootstrapSuperuser: 'postgres',
    });
    expect(plan.statements).toEqual([]);
    expect(plan.omitted[0]?.reason).toMatch(/tablespaces are not restored/);
  });
});

describe('splitStatements', () => {
  it("skips comments and psql's \\restrict lines and keeps ';' inside quotes", () => {
    expect(
      splitStatements(
        "\\restrict abc\n-- a comment; with a semicolon\nCOMMENT ON ROLE \"a;b\" IS 'x; ''y''\nz';\n\\unrestrict abc\n",
      ),
    ).toEqual(["COMMENT ON ROLE \"a;b\" IS 'x; ''y''\nz'"]);
  });
});

describe('isServerRole', () => {
  it.each([
    ['pg_read_all_data', true],
    ['postgres', true],
    ['rdsadmin', true],
    ['rds_superuser', true],
    ['rdstopmgr', true],
    ['app_owner', false],
    ['rdsmith', false],
  ])('%s → %s', (role, expected) => {
    expect(isServerRole(role, 'postgres')).toBe(expected);
  });
});
