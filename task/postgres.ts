/**
 * The PostgreSQL source: server inspection, the snapshot that row counts and pg_dump share, and
 * the pg_dump step. Every connection goes through libpq's own programs (psql, pg_dump), so every
 * libpq setting (PGSSLMODE, PGSSLROOTCERT, PGPASSFILE, PGSERVICE …) works exactly as documented.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TableRowCount } from './core/manifest.ts';
import { IMAGE_PG_MAJORS } from './core/pg-majors.ts';
import { PreflightError } from './errors.ts';
import { runCommand, type Step } from './pipeline.ts';

export interface ServerInfo {
  readonly version: string;
  readonly major: number;
  readonly database: string;
  readonly sizeBytes: number;
  /**
   * What pg_dump will write, estimated: the size of the tables whose rows it copies (heap and
   * TOAST, no indexes, which a dump holds only as definitions) and of the large objects.
   */
  readonly tableBytes: number;
}

export interface ClientVersion {
  readonly version: string;
  readonly major: number;
}

/** Environment for libpq programs: the caller's, plus an application name and a connect timeout. */
export function libpqEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...env,
    PGAPPNAME: env.PGAPPNAME || 'backupctl',
    PGCONNECT_TIMEOUT: env.PGCONNECT_TIMEOUT || '10',
  };
}

const PSQL_ARGS = [
  '--no-psqlrc',
  '--quiet',
  '--no-align',
  '--tuples-only',
  '--set=ON_ERROR_STOP=1',
  '--field-separator=\t',
];

/** Runs SQL with psql against the configured server; rows as arrays of fields. */
export async function query(sql: string, env = libpqEnv()): Promise<string[][]> {
  const out = await runCommand({
    name: 'psql',
    command: 'psql',
    args: [...PSQL_ARGS, '--command', sql],
    env,
  });
  return out
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

/** Runs SQL and returns its output lines: one connection's reads, the snapshot session's or a new one's. */
export type SqlReader = (sql: string) => Promise<string[]>;

/**
 * A reader over a new connection per call, each call one read-only REPEATABLE READ transaction.
 * SQL given to a reader ends with ';' (the snapshot session runs it as psql input).
 */
export function transactionReader(env = libpqEnv()): SqlReader {
  return async (sql) => {
    const rows = await query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n${sql}\nCOMMIT;`, env);
    return rows.map((fields) => fields.join('\t'));
  };
}

/** The JSON value a query prints as its last line (jsonb's text form never spans lines). */
export async function readJson(read: SqlReader, sql: string): Promise<unknown> {
  const lines = await read(sql);
  const last = lines.at(-1);
  if (last === undefined) throw new PreflightError('PostgreSQL returned nothing for a catalog query.');
  return JSON.parse(last);
}

export async function inspectServer(env = libpqEnv()): Promise<ServerInfo> {
  let rows: string[][];
  try {
    rows = await query(
      `SELECT current_setting('server_version'), current_setting('server_version_num'),
              current_database(), pg_database_size(current_database()), (${TABLE_BYTES_SQL})`,
      env,
    );
  } catch (error) {
    throw new PreflightError(
      `Could not connect to PostgreSQL: ${redactConnectionStrings((error as Error).message)}`,
      { cause: error },
    );
  }
  const [version = '', num = '', database = '', size = '', tableBytes = ''] = rows[0] ?? [];
  return {
    version: version.split(' ')[0] ?? version,
    major: Math.floor(Number(num) / 10000),
    database,
    sizeBytes: Number(size),
    tableBytes: Number(tableBytes),
  };
}

/**
 * libpq's errors quote the names it was given (database, user, host). A connection URI or a
 * password=… pair put into one of the PG* variables would be echoed, password and all: cut them.
 */
export function redactConnectionStrings(text: string): string {
  return text
    .replace(/postgres(?:ql)?:\/\/[^\s"']*/gi, 'postgresql://…')
    .replace(/\b(password\s*=\s*)('[^']*'|[^\s"']+)/gi, '$1…');
}

/** Parses `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` and friends. */
export function parseClientVersion(output: string): ClientVersion | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!m) return undefined;
  const major = Number(m[1]);
  return { version: m[2] === undefined ? `${major}` : `${major}.${m[2]}`, major };
}

export async function clientVersion(program: 'pg_dump' | 'pg_restore' | 'psql'): Promise<ClientVersion> {
  let out: string;
  try {
    out = await runCommand({ name: program, command: program, args: ['--version'] });
  } catch (error) {
    throw new PreflightError(`Could not run ${program}: ${(error as Error).message}`, { cause: error });
  }
  const version = parseClientVersion(out);
  if (!version) throw new PreflightError(`Could not read ${program}'s version from: ${out.trim()}`);
  return version;
}

/** pg_dump refuses (or silently mis-dumps) servers newer than itself: check before uploading anything. */
export function assertDumpCompatible(dump: ClientVersion, server: ServerInfo): void {
  if (dump.major < server.major) {
    throw new PreflightError(
      `pg_dump ${dump.version} is older than the server (PostgreSQL ${server.version}); ` +
        `deploy the image with task.pgMajorVersion ${Math.max(server.major, IMAGE_PG_MAJORS[0])} or newer, or put pg_dump ${server.major} or newer first on PATH.`,
    );
  }
}

// The tables ROW_COUNTS_SQL counts (the ones whose rows pg_dump copies), then the large objects.
const DUMPED_TABLES_SQL = `
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

// COPY writes bytea as hex, twice its size: its columns count twice (their width from ANALYZE's
// statistics), and a row's header and line pointer (28 bytes) not at all; without statistics,
// the tables' size alone.
const TABLE_BYTES_SQL = `SELECT (coalesce(sum(pg_table_size(c.oid) - 28 * greatest(c.reltuples, 0)), 0) +
  pg_table_size('pg_largeobject') +
  coalesce(sum((SELECT sum(s.avg_width) FROM pg_stats s JOIN pg_attribute a ON a.attname = s.attname
                WHERE s.schemaname = n.nspname AND s.tablename = c.relname AND a.attrelid = c.oid
                  AND a.atttypid = 'bytea'::regtype AND NOT s.inherited) * greatest(c.reltuples, 0)), 0))::bigint
  ${DUMPED_TABLES_SQL}`;

const ROW_COUNTS_SQL = `
SELECT coalesce(json_agg(json_build_object('schema', n.nspname, 'table', c.relname, 'rows',
         (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
                false, true, '')))[1]::text::bigint) ORDER BY n.nspname, c.relname), '[]')
${DUMPED_TABLES_SQL};
SELECT count(*) FROM pg_largeobject_metadata;`;

export interface RowCounts {
  readonly tables: TableRowCount[];
  readonly largeObjects: number;
}

/** Per-table row counts of the database psql connects to, as of now (used by restore checks). */
export async function countRows(env = libpqEnv()): Promise<RowCounts> {
  const rows = await query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ${ROW_COUNTS_SQL} COMMIT;`, env);
  return parseRowCounts(rows.map((r) => r.join('\t')));
}

function parseRowCounts(lines: string[]): RowCounts {
  const [tables = '[]', largeObjects = '0'] = lines;
  return { tables: JSON.parse(tables) as TableRowCount[], largeObjects: Number(largeObjects) };
}

/**
 * A psql session holding a REPEATABLE READ transaction whose snapshot is exported: pg_dump
 * --snapshot dumps exactly what `countRows` counts. Must stay open until pg_dump has started.
 */
export class SnapshotSession {
  private readonly lines: AsyncIterator<string>;
  private readonly exited: Promise<string>;

  private constructor(
    private readonly child: ReturnType<typeof spawn>,
    readonly snapshot: string,
    lines: AsyncIterator<string>,
    exited: Promise<string>,
  ) {
    this.lines = lines;
    this.exited = exited;
  }

  static async open(env = libpqEnv()): Promise<SnapshotSession> {
    const child = spawn('psql', PSQL_ARGS, { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => {
      stderr = (stderr + t).slice(-2000);
    });
    child.stdin.on('error', () => {});
    const exited = new Promise<string>((resolve) => {
      child.once('error', (e) => resolve(e.message));
      child.once('close', (code, signal) =>
        resolve(stderr.trim() || `psql exited with ${signal ?? `code ${code}`}`),
      );
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const session = new SnapshotSession(child, '', lines, exited);
    const [snapshot] = await session.run(
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot();',
    );
    if (!snapshot) throw new PreflightError('PostgreSQL did not export a snapshot.');
    return new SnapshotSession(child, snapshot, lines, exited);
  }

  async countRows(): Promise<RowCounts> {
    return parseRowCounts(await this.run(ROW_COUNTS_SQL));
  }

  /** Reads in the exported snapshot; one query at a time (the session is one psql). */
  readonly read: SqlReader = (sql) => this.run(sql);

  /** Sends SQL and reads its output lines up to an end marker; rejects with psql's error if it exits. */
  private async run(sql: string): Promise<string[]> {
    const marker = `__backupctl_${Math.random().toString(36).slice(2)}__`;
    this.child.stdin?.write(`${sql}\n\\echo ${marker}\n`);
    const out: string[] = [];
    for (;;) {
      const next = await Promise.race([this.lines.next(), this.exited.then((reason) => ({ reason }))]);
      if ('reason' in next) throw new PreflightError(`PostgreSQL snapshot session failed: ${next.reason}`);
      if (next.done) throw new PreflightError(`PostgreSQL snapshot session ended: ${await this.exited}`);
      if (next.value === marker) return out;
      out.push(next.value);
    }
  }

  /** Ends the session once its reads are done: a read-only transaction has nothing to commit. */
  kill(): void {
    this.child.kill('SIGTERM');
  }
}

// Tables pg_dump copies (leaves, not partitioned parents) on which row-level security would apply
// to the current role: pg_dump sets row_security off and fails on them; counts would be filtered.
const RLS_BLOCKED_SQL = `
SELECT jsonb_build_object(
  'role', quote_ident(current_user),
  'privileged', (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user),
  'tables', coalesce((SELECT jsonb_agg(format('%I.%I', n.nspname, c.relname) ORDER BY n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND c.relrowsecurity
      AND (c.relforcerowsecurity OR NOT pg_has_role(current_user, c.relowner, 'USAGE'))), '[]'))::text;`;

/**
 * Refuses a backup role that row-level security would stop (pg_read_all_data alone reads every
 * table but bypasses no policy): pg_dump would fail halfway, after the upload started.
 */
export async function assertReadsEveryRow(read: SqlReader): Promise<void> {
  const { role, privileged, tables } = (await readJson(read, RLS_BLOCKED_SQL)) as {
    role: string;
    privileged: boolean;
    tables: string[];
  };
  if (privileged || tables.length === 0) return;
  const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ` and ${tables.length - 5} more` : '');
  throw new PreflightError(
    `Row-level security would hide rows of ${shown} from the backup role ${role}, which is neither superuser nor BYPASSRLS; ` +
      `run ALTER ROLE ${role} BYPASSRLS as a superuser (on RDS, the master user) and back up again.`,
  );
}

export function pgDumpStep(options: {
  snapshot: string;
  lockWaitTimeout: string;
  env?: NodeJS.ProcessEnv;
}): Step {
  return {
    name: 'pg_dump',
    command: 'pg_dump',
    // Custom format with its own compression off: zstd compresses better and faster, in parallel.
    args: [
      '--format=custom',
      '--compress=0',
      `--snapshot=${options.snapshot}`,
      `--lock-wait-timeout=${options.lockWaitTimeout}`,
      '--no-password',
    ],
    env: options.env ?? libpqEnv(),
  };
}
