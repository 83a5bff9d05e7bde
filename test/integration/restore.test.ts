/**
 * `backupctl restore`: puts data and media back exactly, refuses every unsafe request before
 * touching anything, and leaves the target as it was when anything goes wrong midway.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Manifest } from '../../task/core/manifest.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, putObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, type CliResult, expectFailure } from '../support/backupctl.ts';
import {
  addIncompressibleTable,
  createAppDatabase,
  fingerprint,
  makeMediaDir,
  treeDigest,
} from '../support/fixtures.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'restore-backups';
let pg: PgCluster;
let s3: S3Emulator;
let work: string;
let media: string;
let backup: Manifest;
let sourceRows: Record<string, string>;
let sourceMedia: Record<string, string>;

const env = (extra: NodeJS.ProcessEnv = {}) => ({
  ...pg.env('app'),
  ...s3.env(BUCKET),
  MEDIA_DIR: media,
  ...extra,
});
const read = async (key: string) => getObjectBytes(s3.client, BUCKET, key);
const restore = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
  backupctl(['restore', ...args], { env: env(extra) });

/** Damage done to the target so a restore has something to repair. */
async function disaster(): Promise<void> {
  await pg.psql(
    'app',
    "DELETE FROM billing.invoices WHERE id % 3 = 0; UPDATE public.customers SET name = 'x'; DROP TABLE public.empty_table",
  );
  unlinkSync(join(media, 'uploads/2025/10/report.pdf'));
  writeFileSync(join(media, 'avatars/intruder.txt'), 'not from the backup');
}

/** Refusals and failed restores exit 1 unless a usage error (2) is expected. */
const expectRefused = (result: CliResult, message: RegExp, code = 1) => expectFailure(result, message, code);

let targetRowsBefore: Record<string, string>;
let targetMediaBefore: Record<string, string>;
async function snapshotTarget(): Promise<void> {
  targetRowsBefore = await fingerprint(pg, 'app');
  targetMediaBefore = treeDigest(media);
}
async function expectTargetUnchanged(): Promise<void> {
  expect(await fingerprint(pg, 'app')).toEqual(targetRowsBefore);
  expect(treeDigest(media)).toEqual(targetMediaBefore);
}

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createAppDatabase(pg, 'app');
  // 30 MB of incompressible rows: long enough a restore to crash the server in the middle of it.
  await addIncompressibleTable(pg, 'app', 30_000);
  work = mkdtempSync(join(tmpdir(), 'spb-restore-'));
  media = join(work, 'srv', 'media');
  makeMediaDir(media);
  const result = await backupctl(['backup'], { env: env() });
  expect(result.code, result.stderr).toBe(0);
  const id = String(result.logs.find((l) => l.message === 'backup finished')?.id);
  backup = JSON.parse((await read(`${id}/manifest.json`)).toString());
  sourceRows = await fingerprint(pg, 'app');
  sourceMedia = treeDigest(media);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

describe('backupctl restore', () => {
  it('restores data and media after a disaster, equal to the source, keeping what it replaced', async () => {
    await disaster();
    const damaged = await fingerprint(pg, 'app');
    const result = await restore(['latest', '--confirm', 'app']);
    expect(result.code, result.stderr).toBe(0);
    expect(await fingerprint(pg, 'app')).toEqual(sourceRows);
    expect(treeDigest(media)).toEqual(sourceMedia);

    const finished = result.logs.find((l) => l.message === 'restore finished');
    expect(finished?.id).toBe(backup.id);
    // The replaced database is kept beside the live one, as it was: the undo.
    expect(String(finished?.kept)).toMatch(/^app__before_\d{8}T\d{6}Z$/);
    expect(await fingerprint(pg, String(finished?.kept))).toEqual(damaged);
    // Media: a safety backup of the media only, and the replaced directory kept beside the live one.
    expect(String(finished?.safetyBackupId)).toMatch(/^pre-restore\/app\/\d{8}T\d{6}Z$/);
    expect(await s3.keys(BUCKET, `${finished?.safetyBackupId}/db.dump.zst`)).toEqual([]);
    expect(treeDigest(String(finished?.previousMediaDir))['avatars/intruder.txt']).toBeDefined();
    const again = await restore([backup.id, '--confirm', 'app']);
    expect(again.code, again.stderr).toBe(0);
    expect(await fingerprint(pg, 'app')).toEqual(sourceRows);
  });

  it('keeps each replaced database when two restores run within the same second', async () => {
    // One fixed clock for both runs: the second's first kept name is the first's.
    const at = { BACKUPCTL_NOW: '2030-01-01T00:00:00Z' };
    const first = await restore([backup.id, '--confirm', 'app', '--only', 'db'], at);
    expect(first.code, first.stderr).toBe(0);
    await pg.psql('app', "UPDATE public.customers SET name = 'between the restores'");
    const between = await fingerprint(pg, 'app');
    const second = await restore([backup.id, '--confirm', 'app', '--only', 'db'], at);
    expect(second.code, second.stderr).toBe(0);
    const kept = [first, second].map((r) =>
      String(r.logs.find((l) => l.message === 'restore finished')?.kept),
    );
    expect(kept).toEqual(['app__before_20300101T000000Z', 'app__before_20300101T000001Z']);
    expect(await fingerprint(pg, kept[1] as string)).toEqual(between);
    expect(await fingerprint(pg, 'app')).toEqual(sourceRows);
  });

  it('restores into another database with --target-database, leaving the source alone', async () => {
    await pg.psql('postgres', 'CREATE DATABASE app_copy');
    const result = await restore([
      backup.id,
      '--confirm',
      'app_copy',
      '--target-database',
      'app_copy',
      '--only',
      'db',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(await fingerprint(pg, 'app_copy')).toEqual(sourceRows);
  });

  describe('refuses before touching anything', () => {
    beforeEach(snapshotTarget);
    afterEach(expectTargetUnchanged);

    it.each<[string, string[], RegExp, number]>([
      [
        'a backup that does not exist',
        ['daily/app/20200101T000000Z', '--confirm', 'app'],
        /daily\/app\/20200101T000000Z does not exist or is incomplete/,
        1,
      ],
      [
        'a path that climbs out of the prefix',
        ['daily/../other/20261126T020000Z', '--confirm', 'app'],
        /Backup id must look like/,
        2,
      ],
      [
        'an encoded traversal',
        ['daily/app%2F..%2Fother/20261126T020000Z', '--confirm', 'app'],
        /invalid database name/,
        2,
      ],
      [
        "another database's backup",
        ['daily/other/20261126T020000Z', '--confirm', 'app'],
        /belongs to database other, not app/,
        2,
      ],
      [
        'a confirmation naming another database',
        ['latest', '--confirm', 'ap'],
        /--confirm must name the target database exactly: expected app, got: ap/,
        2,
      ],
      [
        'no confirmation',
        ['latest'],
        /--confirm must name the target database exactly: expected app, got: \(nothing\)/,
        2,
      ],
      [
        'a confirmation of the source when the target differs',
        ['latest', '--confirm', 'app', '--target-database', 'app_copy'],
        /expected app_copy, got: app/,
        2,
      ],
      [
        'a target database that does not exist',
        ['latest', '--confirm', 'nope', '--target-database', 'nope', '--only', 'db'],
        /Database nope does not exist on the target server; .*add --create/,
        1,
      ],
    ])('refuses %s', async (_, args, message, code) => {
      expectRefused(await restore(args), message, code);
    });

    it('refuses while another backup or restore of the database holds the lock', async () => {
      const lock = {
        database: 'app',
        operation: 'backup',
        owner: 'ip-10-0-1-7 pid 1: daily backup',
        acquiredAt: new Date().toISOString(),
        expiresAt: new Date(Date.now() + 600_000).toISOString(),
        released: false,
      };
      const before = await read('locks/app.json');
      await putObjectBytes(s3.client, BUCKET, 'locks/app.json', JSON.stringify(lock));
      try {
        expectRefused(
          await restore(['latest', '--confirm', 'app']),
          /a backup of database app is running \(ip-10-0-1-7 pid 1: daily backup/,
        );
      } finally {
        await putObjectBytes(s3.client, BUCKET, 'locks/app.json', before);
      }
    });

    describe('a tampered backup', () => {
      const manifestKey = () => `${backup.id}/manifest.json`;
      afterEach(async () =>
        putObjectBytes(s3.client, BUCKET, manifestKey(), JSON.stringify(backup, null, 2)),
      );
      const tamper = async (change: (m: Manifest) => void) => {
        const m = structuredClone(backup);
        change(m);
        await putObjectBytes(s3.client, BUCKET, manifestKey(), JSON.stringify(m));
      };

      it('refuses a manifest that points the dump at the media archive', async () => {
        await tamper((m) => {
          const [db, files] = [
            m.artifacts.find((a) => a.kind === 'postgres'),
            m.artifacts.find((a) => a.kind === 'media'),
          ];
          if (db && files) Object.assign(db, { key: files.key, bytes: files.bytes, sha256: files.sha256 });
        });
        expectRefused(
          await restore(['latest', '--confirm', 'app']),
          /its manifest puts the database dump at .*media\.tar\.zst, not at .*db\.dump\.zst/,
        );
      });

      it('refuses a dump whose content is a tar archive (no PGDMP magic)', async () => {
        // A backup whose manifest is consistent (key, size, checksum) but whose "dump" is the media tar.
        const tarBytes = await read(backup.artifacts.find((a) => a.kind === 'media')?.key ?? '');
        const fakeId = 'daily/app/20200102T000000Z';
        const m = structuredClone(backup);
        m.id = fakeId;
        const globals = m.artifacts.find((a) => a.kind === 'globals');
        m.artifacts = m.artifacts
          .filter((a) => a.kind === 'postgres')
          .map((a) => ({
            ...a,
            key: `${fakeId}/db.dump.zst`,
            bytes: tarBytes.length,
            sha256: createHash('sha256').update(tarBytes).digest('hex'),
          }));
        if (globals) {
          m.artifacts.push({ ...globals, key: `${fakeId}/globals.sql.zst` });
          await putObjectBytes(s3.client, BUCKET, `${fakeId}/globals.sql.zst`, await read(globals.key));
        }
        await putObjectBytes(s3.client, BUCKET, `${fakeId}/db.dump.zst`, tarBytes);
        await putObjectBytes(s3.client, BUCKET, `${fakeId}/manifest.json`, JSON.stringify(m));
        expectRefused(
          await restore([fakeId, '--confirm', 'app']),
          /db\.dump\.zst is not a pg_dump archive but a tar archive; refusing/,
        );
      });

      it('refuses when the target server is older than the backup', async () => {
        await tamper((m) => Object.assign(m, { serverVersion: '99.1' }));
        expectRefused(
          await restore(['latest', '--confirm', 'app']),
          /target server runs PostgreSQL 15\.\d+, older than the backup's 99\.1/,
        );
      });
    });
  });

  describe('leaves the target as it was when it fails midway', () => {
    beforeEach(snapshotTarget);
    afterEach(expectTargetUnchanged);

    it('drops the new database when a byte of the stored dump is damaged', async () => {
      const dumpKey = backup.artifacts.find((a) => a.kind === 'postgres')?.key ?? '';
      const good = await read(dumpKey);
      const bad = Buffer.from(good);
      const at = bad.length - 200; // near the end: most of the data is already restored when it is read
      bad.writeUInt8(bad.readUInt8(at) ^ 0xff, at);
      await putObjectBytes(s3.client, BUCKET, dumpKey, bad);
      try {
        const result = await restore(['latest', '--confirm', 'app', '--only', 'db']);
        expectRefused(
          result,
          /Restore of app failed and the new database was dropped; app is unchanged: .*(does not match the manifest|zstd)/,
        );
      } finally {
        await putObjectBytes(s3.client, BUCKET, dumpKey, good);
      }
    });

    it('aborts, restoring nothing, when the safety backup of the media fails', async () => {
      const fake = mkdtempSync(join(work, 'fake-tar-'));
      const real = execFileSync('which', ['tar']).toString().trim();
      writeFileSync(
        join(fake, 'tar'),
        `#!/bin/sh\n[ "$1" = --version ] && exec ${real} --version\necho "tar: simulated disk failure" >&2\nexit 2\n`,
      );
      chmodSync(join(fake, 'tar'), 0o755);
      const result = await backupctl(['restore', 'latest', '--confirm', 'app'], {
        env: env(),
        pathFirst: [fake],
      });
      expectRefused(
        result,
        /pre-restore safety backup of app's media failed, so nothing was restored: tar failed: .*simulated disk failure/,
      );
    });

    it('leaves the database unchanged, and no new database behind, when the server is killed mid-restore', async () => {
      let crashed = false;
      let restarted: Promise<void> | undefined;
      const watcher = setInterval(async () => {
        if (crashed) return;
        const copying = await pg
          .psql(
            'postgres',
            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'COPY public.big%FROM stdin%'",
          )
          .catch(() => '0');
        if (copying !== '0' && !crashed) {
          crashed = true;
          await pg.crash();
          // Back a moment later, as a restarted instance would be: the restore then drops what it built.
          restarted = new Promise((resolve) => setTimeout(resolve, 1_000)).then(() => pg.start());
        }
      }, 50);
      try {
        const result = await restore(['latest', '--confirm', 'app', '--only', 'db']);
        expect(crashed).toBe(true);
        expectRefused(
          result,
          /Restore of app failed and the new database was dropped; app is unchanged: pg_restore failed/,
        );
        const left = "SELECT count(*) FROM pg_database WHERE position('__restoring' in datname) > 0";
        expect(await pg.psql('postgres', left)).toBe('0');
      } finally {
        clearInterval(watcher);
        await (restarted ?? pg.start());
      }
    });
  });

  it('restores with standard tools alone, as the README says (aws s3 cp | zstd -d | pg_restore)', async () => {
    await pg.psql('postgres', 'CREATE DATABASE by_hand');
    const key = backup.artifacts.find((a) => a.kind === 'postgres')?.key;
    await sh(
      `aws --endpoint-url ${s3.endpoint} s3 cp s3://${BUCKET}/${key} - | zstd -d | pg_restore --no-owner --exit-on-error --dbname=by_hand`,
      {
        env: {
          ...pg.env('by_hand'),
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          AWS_DEFAULT_REGION: 'us-east-1',
        },
      },
    );
    expect(await fingerprint(pg, 'by_hand')).toEqual(sourceRows);
  });
});
