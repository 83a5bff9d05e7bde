/**
 * A throwaway PostgreSQL 15 cluster for one test file: a temp dir owned by `postgres` (initdb
 * refuses root), scram-sha-256 auth, listening on 127.0.0.1 only, stopped and removed after.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
export const SUPERUSER = 'postgres';

export interface PgCluster {
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

export async function startPostgres(): Promise<PgCluster> {
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
    ...asPostgres(join(PG_BIN, 'initdb'), [
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
  const pgCtl = (args: string[]) => run(...asPostgres(join(PG_BIN, 'pg_ctl'), [`--pgdata=${data}`, ...args]));
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
