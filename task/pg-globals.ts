/**
 * The globals artifact: `pg_dumpall --globals-only --no-role-passwords` (roles, their attributes,
 * settings, comments and memberships; no passwords, which needs no superuser and is all RDS
 * allows), and the statements a restore runs from it to create the roles a target server lacks.
 */
import type { Step } from './pipeline.ts';
import { libpqEnv } from './postgres.ts';

export function pgDumpAllGlobalsStep(options: { database: string; env?: NodeJS.ProcessEnv }): Step {
  return {
    name: 'pg_dumpall',
    command: 'pg_dumpall',
    // --database: connect to the database being backed up, which the backup role may connect to;
    // pg_dumpall would otherwise try "postgres", then "template1".
    args: ['--globals-only', '--no-role-passwords', '--no-password', `--database=${options.database}`],
    env: options.env ?? libpqEnv(),
  };
}

/**
 * Roles that belong to a server, never created by a restore: PostgreSQL's predefined roles
 * (pg_*), the bootstrap superuser of the backed-up server, and RDS's own (rdsadmin, rds_*, rdstopmgr).
 */
export function isServerRole(role: string, bootstrapSuperuser: string): boolean {
  return role === bootstrapSuperuser || /^pg_/.test(role) || new RegExp(RDS_ROLES).test(role);
}

/**
 * RDS's own roles (a POSIX regex, also used in SQL): they exist on RDS servers only, so neither a
 * restore elsewhere nor the drill's scratch server can have them; the fingerprint leaves them out.
 */
export const RDS_ROLES = '^(rdsadmin|rdstopmgr|rds_.*)$';

export interface RolePlan {
  /** Roles to create, in the order the globals list them. */
  readonly roles: readonly string[];
  /** To run in order: each role's CREATE ROLE, attributes, settings, comments; then memberships. */
  readonly statements: readonly string[];
  /** Role statements of the globals not run, each with the reason (for the restore's output). */
  readonly omitted: readonly { readonly statement: string; readonly reason: string }[];
}

/**
 * From the globals SQL, the statements that create the roles `existingRoles` lacks, with their
 * attributes, settings and comments, and the memberships that involve a created role. An
 * existing role is never altered, dropped or given a membership between two existing roles.
 * `GRANTED BY` is dropped from memberships: the grantor (usually the source's superuser) may not
 * exist on the target, and from PostgreSQL 16 only a superuser may name another grantor.
 */
export function planMissingRoles(
  globalsSql: string,
  options: { readonly existingRoles: Iterable<string>; readonly bootstrapSuperuser: string },
): RolePlan {
  const existing = new Set(options.existingRoles);
  const statements = splitStatements(globalsSql).map(classify);
  const created = new Set<string>();
  for (const s of statements) {
    if (s.kind === 'create' && !existing.has(s.role) && !isServerRole(s.role, options.bootstrapSuperuser))
      created.add(s.role);
  }
  const available = (role: string) => existing.has(role) || created.has(role);
  const roleStatements: string[] = [];
  const memberships: string[] = [];
  const omitted: { statement: string; reason: string }[] = [];
  for (const s of statements) {
    if (s.kind === 'session') continue;
    if (s.kind === 'other') {
      omitted.push({ statement: s.text, reason: 'not a role statement (tablespaces are not restored)' });
    } else if (s.kind === 'membership') {
      const missing = [s.role, s.member].find((r) => !available(r));
      if (missing !== undefined)
        omitted.push({ statement: s.text, reason: `role ${missing} does not exist on the target` });
      else if (created.has(s.role) || created.has(s.member)) memberships.push(s.grant);
    } else if (created.has(s.role)) {
      if (s.inDatabase)
        omitted.push({ statement: s.text, reason: 'role-in-database settings come with the database' });
      else roleStatements.push(s.text);
    }
  }
  return { roles: [...created], statements: [...roleStatements, ...memberships], omitted };
}

type Statement =
  | { readonly kind: 'session'; readonly text: string }
  | { readonly kind: 'other'; readonly text: string }
  | {
      readonly kind: 'create' | 'role';
      readonly text: string;
      readonly role: string;
      readonly inDatabase: boolean;
    }
  | {
      readonly kind: 'membership';
      readonly text: string;
      readonly role: string;
      readonly member: string;
      readonly grant: string;
    };

const ROLE_STATEMENT =
  /^(?:ALTER ROLE|COMMENT ON ROLE|SECURITY LABEL(?: FOR (?:"(?:[^"]|"")*"|\S+))? ON ROLE)\s+/;
const IDENT = /^(?:"((?:[^"]|"")*)"|([^\s",;]+))/;
const GRANTED_BY = /\s+GRANTED BY\s+(?:"(?:[^"]|"")*"|[^\s"]+)\s*$/;

function classify(text: string): Statement {
  if (/^(SET|RESET)\s/.test(text)) return { kind: 'session', text };
  if (text.startsWith('CREATE ROLE ')) {
    const role = identAt(text, 'CREATE ROLE '.length);
    if (role) return { kind: 'create', text, role: role.name, inDatabase: false };
  }
  const prefix = ROLE_STATEMENT.exec(text);
  if (prefix) {
    const role = identAt(text, prefix[0].length);
    if (role) {
      const inDatabase = /^\s+IN DATABASE\s/.test(text.slice(role.end));
      return { kind: 'role', text, role: role.name, inDatabase };
    }
  }
  // pg_dumpall grants one role to one member: GRANT <role> TO <member> [WITH …] [GRANTED BY …]
  if (text.startsWith('GRANT ')) {
    const role = identAt(text, 'GRANT '.length);
    const to = role && /^\s+TO\s+/.exec(text.slice(role.end));
    const member = role && to ? identAt(text, role.end + to[0].length) : undefined;
    if (role && member) {
      return {
        kind: 'membership',
        text,
        role: role.name,
        member: member.name,
        grant: text.replace(GRANTED_BY, ''),
      };
    }
  }
  return { kind: 'other', text };
}

/** The identifier starting at `at` (quoted or not) and where it ends. */
function identAt(text: string, at: number): { name: string; end: number } | undefined {
  const m = IDENT.exec(text.slice(at));
  if (!m) return undefined;
  const name = m[1] !== undefined ? m[1].replaceAll('""', '"') : (m[2] ?? '');
  return { name, end: at + m[0].length };
}

/**
 * Splits pg_dumpall's output into statements (without the ';'), skipping comments and psql
 * meta-commands (`\restrict`). Knows single-quoted strings and double-quoted identifiers, which
 * is all pg_dumpall writes in globals (a role's comment may hold ';' or a newline).
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let current = '';
  let i = 0;
  let lineStart = true;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (lineStart && current.trim() === '' && c === '\\') {
      i = endOfLine(sql, i);
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      i = endOfLine(sql, i);
      continue;
    }
    if (c === "'" || c === '"') {
      const end = closingQuote(sql, i, c);
      current += sql.slice(i, end);
      i = end;
      lineStart = false;
      continue;
    }
    if (c === ';') {
      if (current.trim() !== '') out.push(current.trim());
      current = '';
    } else current += c;
    lineStart = c === '\n';
    i++;
  }
  if (current.trim() !== '') out.push(current.trim());
  return out;
}

function endOfLine(sql: string, from: number): number {
  const end = sql.indexOf('\n', from);
  return end === -1 ? sql.length : end;
}

/** Index just past the quote closing the one at `start`; a doubled quote is an escaped one. */
function closingQuote(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return sql.length;
}
