/**
 * A throwaway PostgreSQL server for test restores: initdb in a private temp dir, reachable only
 * through a Unix socket in that dir, durability off (it is deleted afterwards). Uses the server
 * binaries beside pg_restore on PATH (the image ships them), or PG_SERVER_BIN.
 *
 * The server can fail on its own (TMPDIR full, out of memory, killed), and pg_restore then fails
 * too with nothing but "server closed the connection unexpectedly". So the server's own log and
 * `pg_ctl status` decide whether it failed, here, and a failure is a ScratchServerError: the
 * drill's fault, never the backup's.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { chmod, chown, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { PreflightError, ScratchServerError } from './errors.ts';
import { runCommand, runCommandRaw } from './pipeline.ts';

const exec = promisify(execFile);

export interface ScratchServer {
  /** libpq environment for the scratch database `verify`. */
  readonly env: NodeJS.ProcessEnv;
  readonly database: string;
  /**
   * Throws ScratchServerError when the server failed (its log reports a PANIC, a full disk, lack
   * of memory or a killed process, or it no longer runs); `cause` is the error that made us ask.
   */
  assertHealthy(cause: unknown): Promise<void>;
  stop(): Promise<void>;
}

/** ENOSPC, as the server, initdb, psql and Node word it. */
const DISK_FULL = /No space left on device/i;
/** Server log lines that mean the server itself failed, whatever pg_restore was doing. */
const SERVER_FAULT = new RegExp(`PANIC|${DISK_FULL.source}|terminated by signal|out of memory`, 'i');
const QUOTED_LOG_LINES = 3;

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

export interface ScratchOptions {
  /**
   * The bootstrap superuser's name: the backed-up server's, so objects it owned (extensions) and
   * ACLs it granted restore under the same name. @default 'verify'
   */
  readonly superuser?: string;
}

export async function startScratchServer(
  env: NodeJS.ProcessEnv = process.env,
  options: ScratchOptions = {},
): Promise<ScratchServer> {
  const superuser = options.superuser ?? 'verify';
  const bin = serverBinDir(env);
  const parent = env.TMPDIR || tmpdir();
  let dir: string;
  try {
    dir = mkdtempSync(join(parent, 'backupctl-verify-'));
  } catch (error) {
    const evidence = (error as Error).message;
    throw new ScratchServerError(
      `Could not create the scratch PostgreSQL's directory in ${parent} (${evidence}); ${advice(evidence, parent)}.`,
      { cause: error },
    );
  }
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  // PostgreSQL refuses to run as root: on a root shell the server runs as the `postgres` user.
  const asRoot = process.getuid?.() === 0;
  const run = async (program: string, args: string[]) => {
    const [command, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]]
      : [join(bin, program), args];
    await runCommand({ name: program, command, args: argv });
  };
  /** The log lines that say the server itself failed, joined; undefined when there are none. */
  const logFaults = async (): Promise<string | undefined> => {
    const text = await readFile(log, 'utf8').catch(() => '');
    const faults = text.split('\n').filter((line) => SERVER_FAULT.test(line));
    return faults.length > 0
      ? `server log: ${faults
          .slice(0, QUOTED_LOG_LINES)
          .map((line) => line.trim())
          .join(' | ')}`
      : undefined;
  };
  const isRunning = async () =>
    !(
      await runCommandRaw(
        asRoot
          ? {
              name: 'pg_ctl',
              command: 'runuser',
              args: ['-u', 'postgres', '--', join(bin, 'pg_ctl'), 'status', `--pgdata=${data}`],
            }
          : { name: 'pg_ctl', command: join(bin, 'pg_ctl'), args: ['status', `--pgdata=${data}`] },
      )
    ).error;
  const failure = (evidence: string, cause: unknown) =>
    new ScratchServerError(
      `The scratch PostgreSQL of the test restore in ${dir} failed (${evidence}); ${advice(evidence, parent)}.`,
      { cause },
    );
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
    await run('initdb', [
      `--pgdata=${data}`,
      `--username=${superuser}`,
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
    await run('pg_ctl', [`--pgdata=${data}`, '--wait', `--log=${log}`, `--options=${options}`, 'start']);
    // Only this server's settings: none of the production connection's (password, TLS) apply here.
    const { PGPASSWORD: _p, PGSSLMODE: _m, PGSSLROOTCERT: _r, PGSERVICE: _s, ...rest } = env;
    const serverEnv: NodeJS.ProcessEnv = {
      ...rest,
      PGHOST: dir,
      PGPORT: '5432',
      PGUSER: superuser,
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
      assertHealthy: async (cause) => {
        const evidence = (await logFaults()) ?? ((await isRunning()) ? undefined : 'it is no longer running');
        if (evidence) throw failure(evidence, cause);
      },
      stop: async () => {
        await run('pg_ctl', [`--pgdata=${data}`, '--mode=immediate', 'stop']).catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    // initdb and psql report a full disk on their own stderr, a started server in its log.
    const evidence =
      error instanceof PreflightError ? undefined : ((await logFaults()) ?? (error as Error).message);
    await run('pg_ctl', [`--pgdata=${data}`, '--mode=immediate', 'stop']).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw evidence === undefined ? error : failure(`could not start: ${evidence}`, error);
  }
}

/** What to do about a failed scratch server, from what it reported. */
function advice(evidence: string, parent: string): string {
  return DISK_FULL.test(evidence)
    ? `give TMPDIR (${parent}) room for the whole database (task.ephemeralStorageGiB) and run the drill again`
    : 'if it ran out of memory or was killed, give the task more memory (task.memoryMiB); then run the drill again';
}
