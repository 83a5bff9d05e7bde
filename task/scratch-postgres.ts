/**
 * A throwaway PostgreSQL server for test restores: initdb in a private temp dir, reachable only
 * through a Unix socket in that dir, durability off (it is deleted afterwards). Uses the server
 * binaries beside pg_restore on PATH (the image ships them), or PG_SERVER_BIN.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { chmod, chown } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { PreflightError } from './errors.ts';
import { runCommand } from './pipeline.ts';

const exec = promisify(execFile);

export interface ScratchServer {
  /** libpq environment for the scratch database `verify`. */
  readonly env: NodeJS.ProcessEnv;
  readonly database: string;
  stop(): Promise<void>;
}

function serverBinDir(env: NodeJS.ProcessEnv): string {
  const candidates = [env.PG_SERVER_BIN, ...(env.PATH ?? '').split(delimiter)].filter((dir): dir is string =>
    Boolean(dir),
  );
  const found = candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
  if (!found) {
    throw new PreflightError(
      'A test restore needs the PostgreSQL server binaries (initdb, pg_ctl) on PATH or in PG_SERVER_BIN.',
    );
  }
  return found;
}

export async function startScratchServer(env: NodeJS.ProcessEnv = process.env): Promise<ScratchServer> {
  const bin = serverBinDir(env);
  const dir = mkdtempSync(join(env.TMPDIR || tmpdir(), 'backupctl-verify-'));
  // PostgreSQL refuses to run as root: on a root shell the server runs as the `postgres` user.
  const asRoot = process.getuid?.() === 0;
  const run = async (program: string, args: string[]) => {
    const [command, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]]
      : [join(bin, program), args];
    await runCommand({ name: program, command, args: argv });
  };
  try {
    if (asRoot) {
      const { stdout } = await exec('id', ['-u', 'postgres']).catch(() => {
        throw new PreflightError(
          'Running as root, a test restore needs a `postgres` OS user to run the server.',
        );
      });
      const { stdout: gid } = await exec('id', ['-g', 'postgres']);
      await chown(dir, Number(stdout), Number(gid));
    }
    await chmod(dir, 0o700);
    const data = join(dir, 'data');
    await run('initdb', [
      `--pgdata=${data}`,
      '--username=verify',
      '--auth=trust',
      '--no-sync',
      '--encoding=UTF8',
    ]);
    const options = [
      "-c listen_addresses=''",
      '-p 5432', // explicit: the server would otherwise take PGPORT from the environment
      `-k ${dir}`,
      '-c fsync=off',
      '-c full_page_writes=off',
      '-c synchronous_commit=off',
      '-c wal_level=minimal',
      '-c max_wal_senders=0',
    ].join(' ');
    await run('pg_ctl', [
      `--pgdata=${data}`,
      '--wait',
      `--log=${join(dir, 'server.log')}`,
      `--options=${options}`,
      'start',
    ]);
    // Only this server's settings: none of the production connection's (password, TLS) apply here.
    const { PGPASSWORD: _p, PGSSLMODE: _m, PGSSLROOTCERT: _r, PGSERVICE: _s, ...rest } = env;
    const serverEnv: NodeJS.ProcessEnv = {
      ...rest,
      PGHOST: dir,
      PGPORT: '5432',
      PGUSER: 'verify',
      PGDATABASE: 'postgres',
    };
    await runCommand({
      name: 'createdb',
      command: 'psql',
      args: ['--no-psqlrc', '--command=CREATE DATABASE verify'],
      env: serverEnv,
    });
    return {
      env: { ...serverEnv, PGDATABASE: 'verify' },
      database: 'verify',
      stop: async () => {
        await run('pg_ctl', [`--pgdata=${data}`, '--mode=immediate', 'stop']).catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error instanceof PreflightError
      ? error
      : new PreflightError(
          `Could not start a scratch PostgreSQL for the test restore: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
  }
}
