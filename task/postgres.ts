/**
 * The PostgreSQL source: server inspection, the snapshot that row counts and pg_dump share, and
 * the pg_dump step. Every connection goes through libpq's own programs (psql, pg_dump), so every
 * libpq setting (PGSSLMODE, PGSSLROOTCERT, PGPASSFILE, PGSERVICE …) works exactly as documented.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TableRowCount } from './core/manifest.ts';
import { PreflightError } from './errors.ts';
import { runCommand, type Step } from './pipeline.ts';

export interface ServerInfo {
  readonly version: string;
  readonly major: number;
  readonly database: string;
  readonly sizeBytes: number;
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

export async function inspectServer(env = libpqEnv()): Promise<ServerInfo> {
  let rows: string[][];
  try {
    rows = await query(
      `SELECT current_setting('server_version'), current_setting('server_version_num'),
              current_database(), pg_database_size(current_database())`,
      env,
    );
  } catch (error) {
    throw new PreflightError(
      `Could not connect to PostgreSQL: ${redactConnectionStrings((error as Error).message)}`,
      { cause: error },
    );
  }
  const [version = '', num = '', database = '', size = ''] = rows[0] ?? [];
  return {
    version: version.split(' ')[0] ?? version,
    major: Math.floor(Number(num) / 10000),
    database,
    sizeBytes: Number(size),
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
        `install pg_dump ${server.major} or newer and put it first on PATH.`,
    );
  }
}

const ROW_COUNTS_SQL = `
SELECT coalesce(json_agg(json_build_object('schema', n.nspname, 'table', c.relname, 'rows',
         (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
                false, true, '')))[1]::text::bigint) ORDER BY n.nspname, c.relname), '[]')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e');
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

  async close(): Promise<void> {
    this.child.stdin?.end('ROLLBACK;\n');
    await this.exited;
  }

  /** Ends the session at once (the dump failed; nothing to commit, a read-only transaction). */
  kill(): void {
    this.child.kill('SIGTERM');
  }
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
