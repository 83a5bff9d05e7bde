/**
 * Restoring a database: never in place. The backup is built into a new database beside the
 * target (`<db>__restoring_<ts>`), created with the backup's properties after the roles the
 * server lacks were created from the globals artifact, and pg_restore'd with owners and
 * privileges and without --clean (so partitioned tables, extensions and everything else come back
 * exactly, and nothing made after the backup survives). Its row counts and catalog fingerprint
 * are compared with the manifest; only then is it renamed in, the replaced database kept as
 * `<db>__before_<ts>` (the undo). Any failure, kill or signal drops the new database.
 *
 * The swap is three steps, and a kill between any two leaves a database under the live name:
 * 1. the live database stops taking connections (committed: new backends must see it);
 * 2. its sessions are terminated, waiting (with a deadline and a log line) until none is left;
 * 3. one transaction renames live → kept and new → live (ALTER DATABASE RENAME is transactional).
 * A run killed after step 1 leaves its `__restoring_` database behind: the next restore (under the
 * same lock) finds it, drops it and lets connections to the live database in again.
 *
 * `verify` runs the same build onto its bare scratch server (create semantics) and the same checks.
 */
import { Writable } from 'node:stream';
import { streamArtifact, zstdDecompressStep } from './artifacts.ts';
import {
  createDatabaseSql,
  propertiesSql,
  quoteIdent,
  quoteLiteral,
  restoringPrefix,
  sideName,
} from './core/database-ddl.ts';
import { diffFingerprints } from './core/fingerprint.ts';
import { formatTimestamp, timestampsFrom } from './core/ids.ts';
import type { DatabaseCapture, DatabaseProperties, PostgresArtifact } from './core/manifest.ts';
import { diffRowCounts } from './core/verification.ts';
import { BackupError, CheckFailedError, InterruptedError, PreflightError } from './errors.ts';
import type { Logger } from './log.ts';
import { readDatabaseProperties } from './pg-database-properties.ts';
import { readFingerprint } from './pg-fingerprint.ts';
import { planMissingRoles, type RolePlan } from './pg-globals.ts';
import { runCommandRaw } from './pipeline.ts';
import { countRows, libpqEnv, readJson, redactConnectionStrings, transactionReader } from './postgres.ts';
import type { ObjectReader } from './store/store.ts';

/** How long the swap waits for the live database's sessions to end after terminating them. */
export const SESSION_END_TIMEOUT_MS = 30_000;
// A terminated backend exits within milliseconds: look again soon.
const SESSION_POLL_MS = 100;
const WAIT_LOG_EVERY_MS = 5_000;
/** How long a failed restore keeps trying to drop what it built (the server may be restarting). */
const DROP_RETRY_MS = 30_000;
const DROP_RETRY_PAUSE_MS = 1_000;
/** Lock waits of the restore's own DDL (a rename waits for locks on the database's row). */
const LOCK_TIMEOUT = '30s';
/** Seconds from the run's start tried for the kept database's name. */
const KEPT_NAME_TRIES = 60;

export interface DatabaseRestoreRequest {
  readonly store: ObjectReader;
  readonly artifact: PostgresArtifact;
  /** What a format-2 backup captured; undefined for format 1 (restored without those guarantees). */
  readonly capture: DatabaseCapture | undefined;
  /** The name the restored database ends up under. */
  readonly database: string;
  /** libpq environment of the server (its PGDATABASE is not used). */
  readonly env: NodeJS.ProcessEnv;
  /** replace: the database exists and is swapped out; create: it must not exist (disaster recovery). */
  readonly mode: 'replace' | 'create';
  readonly now: Date;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
  /**
   * Loads the archive into the new database (its name, and the environment connecting to it).
   * @default - the whole archive, pg_restore'd from the stream
   */
  readonly load?: (database: string, env: NodeJS.ProcessEnv) => Promise<void>;
}

/** What the preflight found: everything the build needs, read before anything changed. */
export interface PreparedDatabaseRestore {
  readonly request: DatabaseRestoreRequest;
  readonly roles: RolePlan;
  /** The properties the new database is given: the backup's, or (format 1) the live database's. */
  readonly properties: DatabaseProperties | undefined;
  readonly restoringRole: string;
}

export interface RestoredDatabase {
  readonly database: string;
  /** The replaced database, kept as the undo; absent with --create. */
  readonly kept?: string;
  readonly rolesCreated: readonly string[];
  /** Created LOGIN roles come back without passwords: the statements to run. */
  readonly passwordsToSet: readonly string[];
  /** Undo command and the DROP for the kept database, when one was kept. */
  readonly undo?: string;
  readonly dropKept?: string;
  /** Set when the backup is format 1: what was not restored or checked. */
  readonly withoutGuarantees?: string;
}

/** Problems found comparing a built database with the manifest; empty lists when it is equal. */
export interface BuiltDatabaseCheck {
  readonly rows: string[];
  /** Undefined when the backup has no fingerprint (format 1). */
  readonly fingerprint: string[] | undefined;
}

/** Admin statements run from this database: the target itself may be renamed or not exist yet. */
function maintenanceDatabase(database: string): string {
  return database === 'postgres' ? 'template1' : 'postgres';
}

/** Every connection of this run carries this application name: a cleanup can end them all. */
function runApplicationName(): string {
  return `backupctl restore ${process.pid}`;
}

function connectionEnv(env: NodeJS.ProcessEnv, database: string): NodeJS.ProcessEnv {
  return { ...libpqEnv(env), PGDATABASE: database, PGAPPNAME: runApplicationName() };
}

/** Runs SQL through psql's stdin: statements in order, stopping at the first error. */
async function runSql(
  env: NodeJS.ProcessEnv,
  sql: string,
  options: { readonly singleTransaction?: boolean; readonly signal?: AbortSignal } = {},
): Promise<string[]> {
  const { lines, error } = await runSqlLines(env, sql, options);
  if (error) throw error;
  return lines;
}

/** Like runSql, but returns what psql printed up to a failure together with the failure. */
async function runSqlLines(
  env: NodeJS.ProcessEnv,
  sql: string,
  options: { readonly singleTransaction?: boolean; readonly signal?: AbortSignal } = {},
): Promise<{ lines: string[]; error?: Error }> {
  const { stdout, error } = await runCommandRaw(
    {
      name: 'psql',
      command: 'psql',
      args: [
        '--no-psqlrc',
        '--quiet',
        '--no-align',
        '--tuples-only',
        '--set=ON_ERROR_STOP=1',
        ...(options.singleTransaction ? ['--single-transaction'] : []),
        '--file=-',
      ],
      env,
    },
    sql,
    options.signal ? { signal: options.signal } : {},
  );
  const lines = stdout
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '');
  return { lines, ...(error ? { error } : {}) };
}

const statements = (list: readonly string[]) => list.map((s) => `${s};\n`).join('');

const TARGET_SQL = (database: string) => `
SELECT jsonb_build_object(
  'role', current_user,
  'superuser', r.rolsuper, 'createdb', r.rolcreatedb, 'createrole', r.rolcreaterole,
  'serverVersion', split_part(current_setting('server_version'), ' ', 1),
  'serverMajor', current_setting('server_version_num')::int / 10000,
  'roles', (SELECT jsonb_agg(rolname) FROM pg_roles),
  'memberOf', (SELECT jsonb_agg(rolname) FROM pg_roles WHERE pg_has_role(current_user, oid, 'MEMBER')),
  'exists', EXISTS (SELECT FROM pg_database WHERE datname = ${quoteLiteral(database)})
)::text FROM pg_roles r WHERE r.rolname = current_user;`;

/** The target server as the restore's preflight reads it, in one query. */
export interface TargetState {
  readonly serverVersion: string;
  readonly serverMajor: number;
  readonly role: string;
  readonly superuser: boolean;
  readonly createdb: boolean;
  readonly createrole: boolean;
  readonly roles: string[];
  readonly memberOf: string[];
  readonly exists: boolean;
}

/** The server's version, the restoring role's privileges and whether the target exists (one query). */
export async function readTarget(env: NodeJS.ProcessEnv, database: string): Promise<TargetState> {
  const admin = connectionEnv(env, maintenanceDatabase(database));
  try {
    return (await readJson((sql) => runSql(admin, sql), TARGET_SQL(database))) as TargetState;
  } catch (error) {
    throw new PreflightError(
      `Could not read the target server's databases and roles (connecting to ${maintenanceDatabase(database)}): ${redactConnectionStrings((error as Error).message)}`,
      { cause: error },
    );
  }
}

/** Reads the globals artifact's SQL (small: roles only). */
export async function readGlobals(store: ObjectReader, capture: DatabaseCapture, signal?: AbortSignal) {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  await streamArtifact(store, capture.globals, [zstdDecompressStep()], sink, signal);
  return Buffer.concat(chunks).toString('utf8');
}

/** The preflight's reads, started at once: they do not depend on each other. */
export interface PreflightReads {
  readonly target: Promise<TargetState>;
  /** The globals artifact's SQL; '' for a format-1 backup. */
  readonly globals: Promise<string>;
}

/**
 * Starts the target server's read (unless the caller started it already) and the globals
 * download together, each a round trip of its own. Their failures are reported by whoever
 * awaits them, in the preflight's order of refusals.
 */
export function startPreflightReads(
  request: DatabaseRestoreRequest,
  target: Promise<TargetState> = readTarget(request.env, request.database),
): PreflightReads {
  const reads = {
    target,
    globals: request.capture
      ? readGlobals(request.store, request.capture, request.signal)
      : Promise.resolve(''),
  };
  // Awaited later (or not at all when an earlier check refused): never an unhandled rejection.
  for (const read of Object.values(reads)) read.catch(() => {});
  return reads;
}

/**
 * Every refusal the target server can cause, before anything changes: the database exists (or,
 * with --create, does not), and the restoring role may create the database, the missing roles,
 * and give objects to their owners.
 */
export async function prepareDatabaseRestore(
  request: DatabaseRestoreRequest,
  started: PreflightReads = startPreflightReads(request),
): Promise<PreparedDatabaseRestore> {
  const { database, capture, mode } = request;
  const target = await started.target;
  if (mode === 'replace' && !target.exists) {
    throw new PreflightError(
      `Database ${database} does not exist on the target server; to create it from the backup (disaster recovery onto a new server), add --create.`,
    );
  }
  if (mode === 'create' && target.exists) {
    throw new PreflightError(
      `Database ${database} exists, and --create only restores where it does not; leave out --create to replace it (the current one is kept beside it). Nothing was changed.`,
    );
  }
  const globalsSql = await started.globals;
  const roles = capture
    ? planMissingRoles(globalsSql, {
        existingRoles: target.roles,
        bootstrapSuperuser: capture.databaseProperties.bootstrapSuperuser,
      })
    : { roles: [], statements: [], omitted: [] };
  const properties =
    capture?.databaseProperties ??
    (mode === 'replace'
      ? await readDatabaseProperties(transactionReader(connectionEnv(request.env, database)))
      : undefined);
  if (!target.superuser) {
    const missing: string[] = [];
    if (!target.createdb) missing.push('CREATEDB (to create the new database)');
    if (roles.roles.length > 0 && !target.createrole)
      missing.push(`CREATEROLE (to create the missing roles ${roles.roles.join(', ')})`);
    const owners = new Set<string>(properties ? [properties.owner] : []);
    for (const props of Object.values(capture?.fingerprint.objects ?? {}))
      if (props.owner && props.owner !== capture?.databaseProperties.bootstrapSuperuser)
        owners.add(props.owner);
    const created = new Set(roles.roles);
    const unowned = [...owners].filter(
      (o) => o !== target.role && (created.has(o) || !target.memberOf.includes(o)),
    );
    if (unowned.length > 0)
      missing.push(`membership in ${unowned.sort().join(', ')} (to give them their objects)`);
    if (missing.length > 0) {
      throw new PreflightError(
        `The restoring role ${target.role} lacks ${missing.join(', ')}; restore as a superuser (on RDS, the master user, after GRANT of the owning roles to it) or grant what is missing. Nothing was changed.`,
      );
    }
  }
  return { request, roles, properties, restoringRole: target.role };
}

/**
 * Builds the backup into a new database beside the target and returns its name: leftovers of a
 * killed run dropped, missing roles created, the database created with the backup's properties,
 * pg_restore'd with owners and privileges. On any failure the new database is dropped.
 */
export async function buildBeside(
  prepared: PreparedDatabaseRestore,
): Promise<{ name: string; rolesCreated: string[] }> {
  const { request, roles, properties } = prepared;
  const { database, logger, signal } = request;
  const admin = connectionEnv(request.env, maintenanceDatabase(database));
  const name = sideName(database, 'restoring', formatTimestamp(request.now));
  let rolesCreated: string[] = [];
  // Until psql reached CREATE DATABASE, there is nothing to drop (and no reason to wait for a
  // server that is not answering).
  let created = true;
  try {
    // One psql session for what comes before the data: a killed run's leftovers, the missing
    // roles (in one transaction: a failure creates no role at all), the new database.
    const { lines, error } = await runSqlLines(
      admin,
      [
        leftoversSql(database),
        ...(roles.statements.length > 0
          ? ['BEGIN;\n', statements(roles.statements), 'COMMIT;\n', `\\echo ${ROLES_CREATED}\n`]
          : []),
        `\\echo ${CREATING}\n${createDatabaseSql(name, properties)};\n`,
      ].join(''),
      { signal },
    );
    created = lines.includes(CREATING);
    for (const line of lines)
      if (line.startsWith(LEFTOVER))
        logger.warn('dropping the database an interrupted restore left', {
          database: line.slice(LEFTOVER.length),
        });
    if (lines.includes(ROLES_CREATED)) {
      rolesCreated = [...roles.roles];
      logger.info('roles created', { roles: rolesCreated });
    }
    if (error) throw error;
    for (const { statement, reason } of roles.omitted)
      logger.debug('role statement not run', { statement, reason });
    logger.info('database created', { database: name });
    if (request.load) await request.load(name, connectionEnv(request.env, name));
    else
      await streamArtifact(
        request.store,
        request.artifact,
        [
          zstdDecompressStep(),
          {
            name: 'pg_restore',
            command: 'pg_restore',
            // Owners and privileges kept; no --clean: the database is new, and holds only the backup.
            args: ['--exit-on-error', '--no-password', `--dbname=${name}`],
            env: connectionEnv(request.env, name),
          },
        ],
        undefined,
        signal,
      );
    if (properties) {
      await runSql(
        admin,
        `SET lock_timeout = '${LOCK_TIMEOUT}';\n${statements(propertiesSql(name, properties))}`,
        {
          singleTransaction: true,
          signal,
        },
      );
    }
    logger.info('database built', { database: name });
    return { name, rolesCreated };
  } catch (error) {
    if (created) await dropDatabase(request, name);
    throw interrupted(request) ?? error;
  }
}

/** Row counts and (format 2) the catalog fingerprint of the built database, against the manifest. */
export async function checkBuilt(
  prepared: PreparedDatabaseRestore,
  name: string,
): Promise<BuiltDatabaseCheck> {
  const { request } = prepared;
  const env = connectionEnv(request.env, name);
  // Two sessions at once: the counts read every table, the fingerprint only the catalog, and
  // nothing else writes to the new database meanwhile.
  const [found, catalog] = await Promise.all([
    countRows(env),
    request.capture ? readFingerprint(transactionReader(env)) : undefined,
  ]);
  const rows = diffRowCounts(request.artifact.tables, found.tables);
  if (found.largeObjects !== request.artifact.largeObjects)
    rows.push(`${found.largeObjects} large objects, the backup recorded ${request.artifact.largeObjects}`);
  const fingerprint =
    request.capture && catalog ? diffFingerprints(request.capture.fingerprint, catalog) : undefined;
  return { rows, fingerprint };
}

/** The whole restore: build beside, check, put in place. The new database never outlives a failure. */
export async function restoreDatabase(prepared: PreparedDatabaseRestore): Promise<RestoredDatabase> {
  const { request } = prepared;
  const { database, logger } = request;
  const { name, rolesCreated } = await buildBeside(prepared);
  let kept: string | undefined;
  try {
    const check = await checkBuilt(prepared, name);
    const problems = [
      ...check.rows.map((p) => `rows: ${p}`),
      ...(check.fingerprint ?? []).map((p) => `catalog: ${p}`),
    ];
    if (problems.length > 0) {
      throw new CheckFailedError(
        `the restored database differs from the backup (${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''})`,
      );
    }
    logger.info('database checked', {
      database: name,
      rows: 'equal',
      catalog: check.fingerprint ? 'equal' : 'not recorded',
    });
    throwIfInterrupted(request);
    kept = request.mode === 'replace' ? await swapIn(request, name) : await renameIn(request, name);
  } catch (error) {
    await dropDatabase(request, name);
    throw interrupted(request) ?? error;
  }
  const passwordsToSet = await loginRoles(request, rolesCreated);
  return {
    database,
    rolesCreated,
    passwordsToSet: passwordsToSet.map((role) => `ALTER ROLE ${quoteIdent(role)} PASSWORD '…'`),
    ...(kept
      ? {
          kept,
          undo: undoCommand(database, kept, sideName(database, 'restored', formatTimestamp(request.now))),
          dropKept: `DROP DATABASE ${quoteIdent(kept)}`,
        }
      : {}),
    ...(request.capture
      ? {}
      : {
          withoutGuarantees:
            'a format-1 backup: no roles were created, the database properties are the replaced one’s, and the catalog (owners, privileges, policies) was not compared',
        }),
  };
}

/** psql that swaps the kept database back in one transaction (it fails, changing nothing, while sessions remain). */
function undoCommand(database: string, kept: string, restored: string): string {
  const sql = (s: string) => `--command=${shellQuote(s)}`;
  return [
    'psql',
    `--dbname=${maintenanceDatabase(database)}`,
    '--single-transaction',
    sql(`ALTER DATABASE ${quoteIdent(database)} RENAME TO ${quoteIdent(restored)}`),
    sql(`ALTER DATABASE ${quoteIdent(kept)} RENAME TO ${quoteIdent(database)}`),
  ].join(' ');
}

const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

async function loginRoles(request: DatabaseRestoreRequest, roles: readonly string[]): Promise<string[]> {
  if (roles.length === 0) return [];
  const list = roles.map(quoteLiteral).join(', ');
  return runSql(
    connectionEnv(request.env, maintenanceDatabase(request.database)),
    `SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolname IN (${list}) ORDER BY rolname;`,
  );
}

/** --create: nothing lives under the name; the built database is renamed to it. */
export async function renameIn(request: DatabaseRestoreRequest, name: string): Promise<undefined> {
  const admin = connectionEnv(request.env, maintenanceDatabase(request.database));
  await runSql(admin, `ALTER DATABASE ${quoteIdent(name)} RENAME TO ${quoteIdent(request.database)};`);
  request.logger.info('database renamed in', { database: request.database });
  return undefined;
}

/** The three-step swap (see the top of the file); returns the kept database's name. */
async function swapIn(request: DatabaseRestoreRequest, name: string): Promise<string> {
  const { database, logger } = request;
  const admin = connectionEnv(request.env, maintenanceDatabase(database));
  const live = quoteIdent(database);
  let kept: string;
  try {
    // Steps 1 and 2 start in one psql session: the ALTER commits before the sessions are ended;
    // meanwhile the kept name is chosen (the lock keeps other restores of this database out).
    [kept] = await Promise.all([
      freeKeptName(request, admin),
      endSessions(request, admin, `ALTER DATABASE ${live} WITH ALLOW_CONNECTIONS false;\n`),
    ]);
    // Not interruptible: it is one short transaction, and once it committed the restore is done.
    await runSql(
      admin,
      `SET lock_timeout = '${LOCK_TIMEOUT}';
       ALTER DATABASE ${live} RENAME TO ${quoteIdent(kept)};
       ALTER DATABASE ${quoteIdent(name)} RENAME TO ${live};
       ALTER DATABASE ${quoteIdent(kept)} WITH ALLOW_CONNECTIONS true;`,
      { singleTransaction: true },
    );
  } catch (error) {
    await runSql(admin, `ALTER DATABASE ${live} WITH ALLOW_CONNECTIONS true;`).catch((e: Error) =>
      logger.error('connections to the live database not re-allowed', {
        database,
        reason: e.message,
        sql: `ALTER DATABASE ${live} WITH ALLOW_CONNECTIONS true`,
      }),
    );
    throw error;
  }
  logger.info('database swapped in', { database, kept });
  return kept;
}

/**
 * `<db>__before_<ts>` with the first second from the run's start whose name no database has: a
 * restore within the same second as the one before it keeps its replaced database too.
 */
async function freeKeptName(request: DatabaseRestoreRequest, admin: NodeJS.ProcessEnv): Promise<string> {
  const candidates = timestampsFrom(request.now, KEPT_NAME_TRIES).map((stamp) =>
    sideName(request.database, 'before', stamp),
  );
  const taken = new Set(
    await runSql(
      admin,
      `SELECT datname FROM pg_database WHERE datname IN (${candidates.map(quoteLiteral).join(', ')});`,
    ),
  );
  const kept = candidates.find((name) => !taken.has(name));
  if (!kept) {
    throw new BackupError(
      `${KEPT_NAME_TRIES} databases kept by earlier restores, ${candidates[0]} on, hold every name this restore could keep ${request.database} under; drop the ones no longer needed and run it again.`,
    );
  }
  return kept;
}

/**
 * Terminates the live database's sessions until none is left, logging while it waits; `first`
 * is SQL sent ahead of the first round.
 */
async function endSessions(
  request: DatabaseRestoreRequest,
  admin: NodeJS.ProcessEnv,
  first: string,
): Promise<void> {
  const { database, logger, signal } = request;
  const started = Date.now();
  let logged = 0;
  for (let before = first; ; before = '') {
    const sessions = (await readJson(
      (sql) => runSql(admin, before + sql, signal ? { signal } : {}),
      `SELECT coalesce(jsonb_agg(jsonb_build_object('pid', pid, 'user', usename, 'application', application_name,
                'state', state, 'terminated', pg_terminate_backend(pid))), '[]')::text
       FROM pg_stat_activity WHERE datname = ${quoteLiteral(database)} AND pid <> pg_backend_pid();`,
    )) as { pid: number; user: string; application: string; state: string }[];
    if (sessions.length === 0) return;
    const elapsed = Date.now() - started;
    if (elapsed >= logged) {
      logger.info('ending sessions of the live database', {
        database,
        sessions: sessions.length,
        states: [...new Set(sessions.map((s) => s.state))],
        waitedSeconds: Math.round(elapsed / 1000),
      });
      logged = elapsed + WAIT_LOG_EVERY_MS;
    }
    if (elapsed > SESSION_END_TIMEOUT_MS) {
      const shown = sessions
        .slice(0, 3)
        .map((s) => `pid ${s.pid} (${s.user}, ${s.application || 'no application name'}, ${s.state})`)
        .join(', ');
      throw new BackupError(
        `${sessions.length} session(s) of ${database} did not end within ${SESSION_END_TIMEOUT_MS / 1000} s of being terminated (${shown})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, SESSION_POLL_MS));
    throwIfInterrupted(request);
  }
}

/**
 * Drops the database this run built, first ending this run's own connections to the server (a
 * killed psql's CREATE DATABASE or COPY may still be running). Never interrupted: it is the cleanup.
 */
export async function dropDatabase(request: DatabaseRestoreRequest, name: string): Promise<void> {
  const admin = connectionEnv(request.env, maintenanceDatabase(request.database));
  const started = Date.now();
  const sql = `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`;
  // The server may be restarting (it was killed mid-restore): keep trying for a while.
  for (let attempt = 0; ; attempt++) {
    try {
      await runSql(
        admin,
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = ${quoteLiteral(runApplicationName())} AND pid <> pg_backend_pid();`,
      );
      await runSql(admin, `${sql};`);
      request.logger.info('new database dropped', { database: name });
      return;
    } catch (error) {
      const reason = redactConnectionStrings((error as Error).message);
      if (Date.now() - started > DROP_RETRY_MS) {
        request.logger.error('new database not dropped; the next restore drops it', {
          database: name,
          reason,
          sql,
        });
        return;
      }
      if (attempt % 5 === 0)
        request.logger.warn('waiting to drop the new database', { database: name, reason });
      await new Promise((resolve) => setTimeout(resolve, DROP_RETRY_PAUSE_MS));
    }
  }
}

const LEFTOVER = 'leftover ';
const ROLES_CREATED = 'roles created';
const CREATING = 'creating the database';

/**
 * What a killed run left: its `__restoring_` database, and (killed between swap steps 1 and 3) a
 * live database refusing connections. Under the lock, nobody else is building one. Connections are
 * let in again before the leftover is dropped: a kill in between leaves the leftover to find.
 */
function leftoversSql(database: string): string {
  const leftover = `FROM pg_database WHERE starts_with(datname, ${quoteLiteral(restoringPrefix(database))})`;
  return `SELECT ${quoteLiteral(LEFTOVER)} || datname ${leftover} ORDER BY datname;
SELECT format('ALTER DATABASE %I WITH ALLOW_CONNECTIONS true', datname) FROM pg_database
WHERE datname = ${quoteLiteral(database)} AND EXISTS (SELECT ${leftover}) \\gexec
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname) ${leftover} \\gexec
`;
}

function interrupted(request: DatabaseRestoreRequest): InterruptedError | undefined {
  if (!request.signal?.aborted) return undefined;
  const reason: unknown = request.signal.reason;
  if (reason instanceof InterruptedError) return reason;
  // A plain abort() is SIGTERM/SIGINT; an Error reason is the lock found taken over.
  const why =
    reason instanceof Error && reason.name !== 'AbortError'
      ? `its lock was lost (${reason.message})`
      : 'by a signal';
  return new InterruptedError(
    `The restore of ${request.database} was stopped ${why.startsWith('by') ? why : `because ${why}`}; the new database was dropped and ${request.database} is ${request.mode === 'create' ? 'not created' : 'unchanged'}.`,
  );
}

function throwIfInterrupted(request: DatabaseRestoreRequest): void {
  const error = interrupted(request);
  if (error) throw error;
}
