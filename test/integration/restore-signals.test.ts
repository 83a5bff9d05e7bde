/**
 * A restore stopped from outside: SIGTERM (ECS stopping the task) or SIGINT while pg_restore
 * runs kills every child, drops the new database, releases the lock and exits non-zero with a
 * sentence; a SIGKILL in the middle of the swap leaves a database under the live name, and the
 * next restore cleans up what the killed one left.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_BIN, type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, putObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, expectFailure } from '../support/backupctl.ts';
import { addIncompressibleTable, createShopDatabase, fingerprint } from '../support/fixtures.ts';

const BUCKET = 'restore-signals';
let pg: PgCluster;
let s3: S3Emulator;
let work: string;
let sourceRows: Record<string, string>;

const env = () => ({ ...pg.env('shop'), ...s3.env(BUCKET) });
const sql = (text: string) => pg.psql('postgres', text);
const restoringDatabases = () =>
  sql("SELECT count(*) FROM pg_database WHERE position('__restoring' in datname) > 0");

/** Every process below `pid`, children first found first. */
function descendants(pid: number): number[] {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,ppid=']).toString();
  const children = new Map<number, number[]>();
  for (const line of out.trim().split('\n')) {
    const [child, parent] = line.trim().split(/\s+/).map(Number) as [number, number];
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      found.push(c);
      walk(c);
    }
  };
  walk(pid);
  return found;
}

/** Sends a signal to a process that may have exited meanwhile. */
const signalIfAlive = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createShopDatabase(pg, 'shop');
  // ~20 MB that zstd cannot shrink: pg_restore runs long enough to be stopped midway.
  await addIncompressibleTable(pg, 'shop', 20_000);
  work = mkdtempSync(join(tmpdir(), 'spb-restore-signals-'));
  const result = await backupctl(['backup'], { env: env() });
  expect(result.code, result.stderr).toBe(0);
  sourceRows = await fingerprint(pg, 'shop');
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a restore stopped by a signal', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s while pg_restore copies, kills every child, drops the new database and releases the lock',
    async (signal) => {
      await pg.psql('shop', 'UPDATE sales.customers SET name = name || $$ (changed)$$ WHERE id = 1');
      const before = await fingerprint(pg, 'shop');
      let children: number[] = [];
      let sent = false;
      const result = await backupctl(['restore', 'latest', '--confirm', 'shop'], {
        env: env(),
        onSpawn: (pid) => {
          const watcher = setInterval(async () => {
            const copying = await sql(
              "SELECT count(*) FROM pg_stat_activity WHERE position('__restoring' in datname) > 0 AND query ILIKE 'COPY public.big%'",
            ).catch(() => '0');
            if (copying === '0' || sent) return;
            sent = true;
            clearInterval(watcher);
            children = descendants(pid);
            signalIfAlive(pid, signal);
          }, 50);
        },
      });
      expect(sent).toBe(true);
      expectFailure(
        result,
        /The restore of shop was stopped by a signal; the new database was dropped and shop is unchanged\./,
        1,
      );
      expect(children.length).toBeGreaterThanOrEqual(2); // zstd and pg_restore at least
      expect(children.filter(alive)).toEqual([]);
      expect(await restoringDatabases()).toBe('0');
      expect(
        await sql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'backupctl%'"),
      ).toBe('0');
      const lock = JSON.parse((await getObjectBytes(s3.client, BUCKET, 'locks/shop.json')).toString());
      expect(lock.released).toBe(true);
      expect(await fingerprint(pg, 'shop')).toEqual(before);
    },
  );
});

/**
 * A restore with a psql on PATH that runs its input and then, when the input holds `statement`,
 * stalls: the restore and every process it started are SIGKILLed there.
 */
async function restoreKilledAfter(statement: string) {
  const dir = mkdtempSync(join(work, 'stalling-psql-'));
  const stalled = join(dir, 'stalled');
  writeFileSync(
    join(dir, 'psql'),
    `#!/bin/bash\nin=$(mktemp)\ncat > "$in"\n${PG_BIN}/psql "$@" < "$in"\nrc=$?\n` +
      `if grep -q '${statement}' "$in"; then touch ${stalled}; sleep 120; fi\nrm -f "$in"\nexit $rc\n`,
  );
  chmodSync(join(dir, 'psql'), 0o755);
  let orphans: number[] = [];
  const result = await backupctl(['restore', 'latest', '--confirm', 'shop'], {
    env: env(),
    pathFirst: [dir],
    onSpawn: (pid) => {
      const watcher = setInterval(() => {
        if (!existsSync(stalled)) return;
        clearInterval(watcher);
        orphans = descendants(pid);
        signalIfAlive(pid, 'SIGKILL');
      }, 50);
    },
  });
  for (const pid of orphans) signalIfAlive(pid, 'SIGKILL');
  return result;
}

/** The lock a killed run held has to expire or be cleared: clears it, as an operator does, and restores again. */
async function restoreAfterClearingLock() {
  const lockKey = 'locks/shop.json';
  const lock = JSON.parse((await getObjectBytes(s3.client, BUCKET, lockKey)).toString());
  await putObjectBytes(s3.client, BUCKET, lockKey, JSON.stringify({ ...lock, released: true }));
  return backupctl(['restore', 'latest', '--confirm', 'shop'], { env: env() });
}

describe('a restore killed during the swap', () => {
  it('leaves a database under the live name; the next restore drops the leftover and lets connections in', async () => {
    // A psql that stalls after the statement closing the live database to new connections: the
    // moment between the swap's first and last step, made long enough to kill the restore in.
    const result = await restoreKilledAfter('ALLOW_CONNECTIONS false');
    expect(result.signal).toBe('SIGKILL');
    // The live name resolves (to the database as it was; it refuses connections until cleaned up).
    expect(await sql("SELECT count(*) FROM pg_database WHERE datname = 'shop'")).toBe('1');
    expect(await restoringDatabases()).toBe('1');

    const again = await restoreAfterClearingLock();
    expect(again.code, again.stderr).toBe(0);
    expect(again.logs.some((l) => l.message === 'dropping the database an interrupted restore left')).toBe(
      true,
    );
    expect(await restoringDatabases()).toBe('0');
    expect(await sql("SELECT datallowconn FROM pg_database WHERE datname = 'shop'")).toBe('t');
    expect(await fingerprint(pg, 'shop')).toEqual(sourceRows);
  });
});

describe('a restore killed while it cleans up what a killed run left', () => {
  it('leaves the live database taking connections, or a leftover that tells the next restore to let them in', async () => {
    // What a run killed during the swap leaves: its new database, and the live one closed.
    const leftover = 'shop__restoring_20260101T000000Z';
    await sql(`CREATE DATABASE ${leftover}`);
    await sql('ALTER DATABASE shop WITH ALLOW_CONNECTIONS false');
    // A psql that stalls after the statements dropping the leftover: the restore is killed there.
    const result = await restoreKilledAfter('DROP DATABASE IF EXISTS');
    expect(result.signal).toBe('SIGKILL');
    const open = await sql("SELECT datallowconn FROM pg_database WHERE datname = 'shop'");
    const leftovers = await restoringDatabases();
    expect(open === 't' || leftovers !== '0', `datallowconn ${open}, ${leftovers} leftover(s)`).toBe(true);

    const again = await restoreAfterClearingLock();
    expect(again.code, again.stderr).toBe(0);
    expect(await restoringDatabases()).toBe('0');
    expect(await sql("SELECT datallowconn FROM pg_database WHERE datname = 'shop'")).toBe('t');
    expect(await fingerprint(pg, 'shop')).toEqual(sourceRows);
  });
});
