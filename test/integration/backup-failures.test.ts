/**
 * Fail-closed: every way a backup can break ends with a non-zero exit, a message naming the
 * cause, no object under the failed backup's keys, no manifest, no multipart upload left open,
 * and the earlier backup untouched.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort, PG_BIN, type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import {
  getObjectBytes,
  openMultipartUploads,
  putObjectBytes,
  type S3Emulator,
  startS3,
} from '../../tools/local/s3.ts';
import { backupctl, type CliResult, expectFailure } from '../support/backupctl.ts';
import { addIncompressibleTable, createAppDatabase, makeMediaDir } from '../support/fixtures.ts';
import { startProxy } from '../support/proxy.ts';

const BUCKET = 'failure-backups';
let pg: PgCluster;
let s3: S3Emulator;
let work: string;
let media: string;
let goodKeys: string[];
let goodManifest: string;
let goodManifestKey: string;
let requestsBefore: number;

/** A directory holding one fake program, put first on PATH. */
function fakeProgram(name: string, script: string): string {
  const dir = mkdtempSync(join(work, `fake-${name}-`));
  writeFileSync(join(dir, name), `#!/bin/sh\n${script}\n`);
  chmodSync(join(dir, name), 0o755);
  return dir;
}

const env = (extra: NodeJS.ProcessEnv = {}) => ({
  ...pg.env('app'),
  ...s3.env(BUCKET),
  MEDIA_DIR: media,
  BACKUP_PART_SIZE: '5',
  ...extra,
});

/** Slows part uploads so a 60 MB dump is still running when the test strikes. */
function slowPartsThen(action: () => void): void {
  let struck = false;
  s3.onRequest(async (request) => {
    if (request.method === 'PUT' && request.url.includes('partNumber=')) {
      if (!struck) {
        struck = true;
        action();
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    return undefined;
  });
}

function expectFailed(result: CliResult, cause: RegExp): void {
  expectFailure(result, cause);
  expect(result.stderr).not.toContain(pg.password);
}

/** Backup objects only: lock records under locks/ are checked separately. */
async function backupKeys(): Promise<string[]> {
  return (await s3.keys(BUCKET)).filter((k) => !k.startsWith('locks/'));
}

async function expectNothingLeft(options: { abortReachable?: boolean } = {}): Promise<void> {
  expect(await backupKeys()).toEqual(goodKeys);
  for (const key of await s3.keys(BUCKET, 'locks/')) {
    const lock = JSON.parse((await getObjectBytes(s3.client, BUCKET, key)).toString());
    // With S3 gone the release cannot be written: the lock then expires by itself within its TTL.
    if (options.abortReachable === false)
      expect(Date.parse(lock.expiresAt)).toBeLessThan(Date.now() + 16 * 60_000);
    else expect(lock.released, `${key} is still held`).toBe(true);
  }
  expect((await getObjectBytes(s3.client, BUCKET, goodManifestKey)).toString()).toBe(goodManifest);
  if (options.abortReachable !== false)
    expect(openMultipartUploads(s3.requests.slice(requestsBefore))).toEqual([]);
}

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createAppDatabase(pg, 'app');
  // 60 MB of incompressible rows: twelve 5 MiB parts, so a slow upload keeps pg_dump mid-table.
  await addIncompressibleTable(pg, 'app', 60_000);
  work = mkdtempSync(join(tmpdir(), 'spb-failures-'));
  media = join(work, 'media');
  makeMediaDir(media);
  const good = await backupctl(['backup'], { env: env() });
  expect(good.code, good.stderr).toBe(0);
  goodKeys = await backupKeys();
  goodManifestKey = goodKeys.find((k) => k.endsWith('manifest.json')) ?? '';
  goodManifest = (await getObjectBytes(s3.client, BUCKET, goodManifestKey)).toString();
});

afterEach(() => s3.onRequest(undefined));

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

describe('backupctl backup fails closed', () => {
  beforeEach(() => {
    requestsBefore = s3.requests.length;
  });

  it('fails on a wrong password, naming the authentication failure', async () => {
    const result = await backupctl(['backup'], { env: env({ PGPASSWORD: 'wrong' }) });
    expectFailed(
      result,
      /Could not connect to PostgreSQL: .*password authentication failed for user "postgres"/,
    );
    await expectNothingLeft();
  });

  it('fails when the database does not exist', async () => {
    const result = await backupctl(['backup'], { env: env({ PGDATABASE: 'nope' }) });
    expectFailed(result, /database "nope" does not exist/);
    await expectNothingLeft();
  });

  it('fails with exit 2 when the media directory is missing', async () => {
    const result = await backupctl(['backup'], { env: env({ MEDIA_DIR: join(work, 'no-such-dir') }) });
    expectFailed(result, /MEDIA_DIR .*no-such-dir does not exist/);
    expect(result.code).toBe(2);
    await expectNothingLeft();
  });

  it('fails when zstd fails, naming zstd and its error', async () => {
    const broken = fakeProgram(
      'zstd',
      'head -c 100000 >/dev/null; echo "zstd: simulated write error" >&2; exit 1',
    );
    const result = await backupctl(['backup'], { env: env(), pathFirst: [broken] });
    expectFailed(result, /zstd failed: exited with code 1: zstd: simulated write error/);
    await expectNothingLeft();
  });

  it('fails when zstd is not installed', async () => {
    const bin = join(work, 'bin-without-zstd');
    mkdirSync(bin);
    for (const tool of ['tar', 'du', 'sh'])
      symlinkSync(execFileSync('which', [tool]).toString().trim(), join(bin, tool));
    const result = await backupctl(['backup'], { env: env(), path: `${PG_BIN}:${bin}` });
    expectFailed(result, /zstd failed: zstd was not found on PATH/);
    await expectNothingLeft();
  });

  it('fails when tar cannot read the media (exit 2)', async () => {
    const tar = fakeProgram(
      'tar',
      '/bin/tar "$@"; echo "tar: ./secret: Cannot open: Permission denied" >&2; exit 2',
    );
    const result = await backupctl(['backup'], { env: env(), pathFirst: [tar] });
    expectFailed(result, /tar failed: exited with code 2: tar: \.\/secret: Cannot open: Permission denied/);
    await expectNothingLeft();
  });

  it('fails when the S3 endpoint is unreachable', async () => {
    const closed = await freePort();
    const result = await backupctl(['backup'], {
      env: env({ AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${closed}` }),
    });
    expectFailed(
      result,
      new RegExp(`S3 .* s3://${BUCKET} at http://127\\.0\\.0\\.1:${closed} failed: ECONNREFUSED`),
    );
    await expectNothingLeft();
  });

  it('aborts the multipart upload when S3 fails mid-upload', async () => {
    s3.onRequest((request) =>
      request.method === 'PUT' && request.url.includes('partNumber=2')
        ? { status: 500, code: 'InternalError' }
        : undefined,
    );
    const result = await backupctl(['backup'], { env: env() });
    expectFailed(result, /S3 upload of daily\/app\/\d{8}T\d{6}Z\/db\.dump\.zst .*failed: InternalError/);
    const sent = s3.requests.slice(requestsBefore);
    expect(sent.some((r) => r.method === 'DELETE' && r.url.includes('uploadId='))).toBe(true);
    await expectNothingLeft();
  });

  it('fails and leaves no object when the S3 endpoint goes away mid-upload', async () => {
    const proxy = await startProxy(Number(new URL(s3.endpoint).port));
    try {
      s3.onRequest((request) => {
        if (request.method === 'PUT' && request.url.includes('partNumber=')) proxy.cut();
        return undefined;
      });
      const result = await backupctl(['backup'], {
        env: env({ AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${proxy.port}` }),
      });
      expectFailed(
        result,
        /S3 upload of .*db\.dump\.zst .*failed: (ECONNREFUSED|ECONNRESET|socket hang up|EPIPE)/,
      );
      // The abort cannot reach a vanished endpoint: the bucket's lifecycle rule removes the parts after a day.
      await expectNothingLeft({ abortReachable: false });
    } finally {
      await proxy.close();
      // The unreleased lock would keep the next backups out for its TTL: age it past expiry, as
      // time would, so the next backup proves it takes over an expired lock.
      const lock = JSON.parse((await getObjectBytes(s3.client, BUCKET, 'locks/app.json')).toString());
      await putObjectBytes(
        s3.client,
        BUCKET,
        'locks/app.json',
        JSON.stringify({ ...lock, expiresAt: new Date(Date.now() - 1000).toISOString() }),
      );
    }
  });

  it('refuses to replace an existing manifest', async () => {
    const good = JSON.parse(goodManifest) as { startedAt: string; id: string };
    const result = await backupctl(['backup'], { env: env({ BACKUPCTL_NOW: good.startedAt }) });
    expectFailed(result, new RegExp(`Backup ${good.id} exists already`));
    await expectNothingLeft();
  });

  it('aborts when pg_dump is killed by a signal mid-dump', async () => {
    let pid = 0;
    slowPartsThen(() => execFileSync('pkill', ['-KILL', '-P', String(pid), '-x', 'pg_dump']));
    const result = await backupctl(['backup', '--only', 'db'], { env: env(), onSpawn: (p) => (pid = p) });
    expectFailed(result, /pg_dump failed: killed by signal SIGKILL/);
    await expectNothingLeft();
  });

  it('aborts when backupctl itself is stopped (SIGTERM from ECS) mid-upload', async () => {
    let pid = 0;
    slowPartsThen(() => process.kill(pid, 'SIGTERM'));
    const result = await backupctl(['backup', '--only', 'db'], { env: env(), onSpawn: (p) => (pid = p) });
    expectFailed(result, /interrupted by a signal; nothing was kept/);
    await expectNothingLeft();
  });

  it('aborts when the database server dies mid-dump', async () => {
    slowPartsThen(() => void pg.crash());
    try {
      const result = await backupctl(['backup', '--only', 'db'], { env: env() });
      expectFailed(
        result,
        /pg_dump failed: exited with code 1: .*(server closed the connection|terminating connection|connection to server)/,
      );
    } finally {
      await pg.start();
    }
    await expectNothingLeft();
  });

  it('records tar exit 1 ("file changed as we read it") as a warning and completes', async () => {
    const tar = fakeProgram(
      'tar',
      '/bin/tar "$@"; echo "tar: ./uploads: file changed as we read it" >&2; exit 1',
    );
    const result = await backupctl(['backup', '--tier', 'monthly'], { env: env(), pathFirst: [tar] });
    expect(result.code, result.stderr).toBe(0);
    const id = String(result.logs.find((l) => l.message === 'backup finished')?.id);
    const manifest = JSON.parse((await getObjectBytes(s3.client, BUCKET, `${id}/manifest.json`)).toString());
    const archive = manifest.artifacts.find((a: { kind: string }) => a.kind === 'media');
    expect(archive.warnings).toEqual(['tar: ./uploads: file changed as we read it']);
    expect(archive.fileCount).toBe(6);
  });
});
