/**
 * S3 that misbehaves, through the fault proxy (tools/local/fault-proxy.ts) in front of the
 * emulator: a part that never answers, SIGTERM while it hangs, persistent throttling, and a
 * CompleteMultipartUpload whose answer is lost. Each ends with the exit code and one sentence an
 * operator can act on, no backup objects left behind, no lock held, the earlier backup intact.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FaultProxy, on, startFaultProxy } from '../../tools/local/fault-proxy.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, type CliResult, expectFailure } from '../support/backupctl.ts';
import { addIncompressibleTable, createAppDatabase } from '../support/fixtures.ts';

const BUCKET = 'fault-backups';
/** Seconds S3 may stay silent: short, so a hung part fails within seconds, not minutes. */
const ANSWER_TIMEOUT_S = 4;
const DUMP_KEY = /^daily\/app\/\d{8}T\d{6}Z\/db\.dump\.zst$/;
let pg: PgCluster;
let s3: S3Emulator;
let proxy: FaultProxy;
let goodKeys: string[];
let goodManifestKey: string;
let goodManifest: string;
let seenBefore: number;

const env = (extra: NodeJS.ProcessEnv = {}) => ({
  ...pg.env('app'),
  ...s3.env(BUCKET),
  AWS_ENDPOINT_URL_S3: proxy.endpoint,
  BACKUP_PART_SIZE: '5',
  ...extra,
});
const seen = () => proxy.seen.slice(seenBefore);

async function backupKeys(): Promise<string[]> {
  return (await s3.keys(BUCKET)).filter((k) => !k.startsWith('locks/'));
}

async function lock(): Promise<{ released: boolean; expiresAt: string }> {
  return JSON.parse((await getObjectBytes(s3.client, BUCKET, 'locks/app.json')).toString());
}

/** No object and no manifest of the failed backup, its upload aborted, the earlier backup untouched. */
async function expectNothingLeft(): Promise<void> {
  expect(await backupKeys()).toEqual(goodKeys);
  expect((await getObjectBytes(s3.client, BUCKET, goodManifestKey)).toString()).toBe(goodManifest);
  const created = seen().filter((r) => r.operation === 'CreateMultipartUpload');
  const aborted = seen().filter((r) => r.operation === 'AbortMultipartUpload' && r.status === 204);
  expect(aborted.length).toBe(created.length);
}

function expectNoInternalError(result: CliResult): void {
  expect(result.stderr).not.toMatch(/Internal error|AbortError|\n\s+at /);
}

/**
 * Runs a backup whose part `part` never gets an answer and whose other parts are slow (so pg_dump
 * and zstd are still running), and sends SIGTERM once the proxy holds that part.
 */
async function backupInterruptedAt(part: number, onSignal: () => void = () => {}) {
  proxy.rules([
    { match: on('UploadPart', { partNumber: part }), fault: { kind: 'hang' } },
    { match: on('UploadPart'), fault: { kind: 'delay', ms: 1_000 } },
  ]);
  let pid = 0;
  let children: number[] = [];
  let signalledAt = 0;
  const watch = setInterval(() => {
    if (!pid || signalledAt || !seen().some((r) => r.partNumber === part)) return;
    const listed = execFileSync('sh', ['-c', `pgrep -P ${pid} || true`]).toString();
    children = listed.split('\n').filter(Boolean).map(Number);
    onSignal();
    signalledAt = Date.now();
    process.kill(pid, 'SIGTERM');
  }, 100);
  const result = await backupctl(['backup', '--only', 'db'], {
    env: env({ BACKUP_S3_TIMEOUT: '60' }),
    onSpawn: (p) => (pid = p),
  });
  clearInterval(watch);
  return { result, children, exitedAfterMs: Date.now() - signalledAt, signalled: signalledAt > 0 };
}

/** True once none of `pids` runs any more (a killed child may need a moment to go). */
async function allGone(pids: readonly number[]): Promise<boolean> {
  const alive = () =>
    pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
  for (let i = 0; i < 30 && alive().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return alive().length === 0;
}

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  proxy = await startFaultProxy(s3.endpoint);
  await s3.createBucket(BUCKET);
  await createAppDatabase(pg, 'app');
  // ~40 MB of incompressible rows: eight 5 MiB parts, more than the upload buffers, so pg_dump
  // still runs while parts are slow.
  await addIncompressibleTable(pg, 'app', 40_000);
  const good = await backupctl(['backup', '--only', 'db'], { env: env() });
  expect(good.code, good.stderr).toBe(0);
  goodKeys = await backupKeys();
  goodManifestKey = goodKeys.find((k) => k.endsWith('manifest.json')) ?? '';
  goodManifest = (await getObjectBytes(s3.client, BUCKET, goodManifestKey)).toString();
});

beforeEach(() => {
  seenBefore = proxy.seen.length;
});

afterEach(() => proxy.rules([]));

afterAll(async () => {
  await proxy?.close();
  await Promise.all([s3?.stop(), pg?.stop()]);
});

describe('backupctl backup against a misbehaving S3', () => {
  it('fails naming the part that got no answer, aborts the upload and releases the lock', async () => {
    proxy.rules([{ match: on('UploadPart', { partNumber: 2 }), fault: { kind: 'hang' } }]);
    const started = Date.now();
    const result = await backupctl(['backup', '--only', 'db'], {
      env: env({ BACKUP_S3_TIMEOUT: String(ANSWER_TIMEOUT_S) }),
    });
    expectFailure(
      result,
      /S3 upload of daily\/app\/\d{8}T\d{6}Z\/db\.dump\.zst \(UploadPart 2\) in s3:\/\/fault-backups .*got no answer within 4 s \(4 attempts\)/,
      1,
    );
    // Four attempts of 4 s plus backoff; generous for a loaded machine, far below "for ever".
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(seen().filter((r) => r.partNumber === 2).length).toBe(4);
    await expectNothingLeft();
    expect((await lock()).released).toBe(true);
  });

  it('stops within seconds on SIGTERM while a part hangs: children dead, upload aborted, lock released', async () => {
    const { result, children, exitedAfterMs, signalled } = await backupInterruptedAt(2);
    expect(signalled).toBe(true);
    expectFailure(result, /Backup interrupted by a signal; nothing was kept\./, 1);
    // The answer timeout is 60 s here: only cancelling the hung request gets this out in seconds.
    expect(exitedAfterMs).toBeLessThan(10_000);
    expect(children.length).toBeGreaterThan(0);
    expect(await allGone(children)).toBe(true);
    await expectNothingLeft();
    expect((await lock()).released).toBe(true);
  });

  it('exits on SIGTERM even when the lock release hangs too, and logs that the lock expires by itself', async () => {
    const { result, exitedAfterMs } = await backupInterruptedAt(2, () =>
      proxy.rules([
        { match: on('UploadPart', { partNumber: 2 }), fault: { kind: 'hang' } },
        { match: on('PutObject', { keyPart: 'locks/' }), fault: { kind: 'hang' } },
      ]),
    );
    expectFailure(result, /Backup interrupted by a signal; nothing was kept\./, 1);
    // The release's own deadline (5 s), not the 60 s answer timeout, bounds the exit.
    expect(exitedAfterMs).toBeLessThan(20_000);
    const warning = result.logs.find((l) => l.message === 'lock not released; it expires by itself');
    expect(warning).toMatchObject({ database: 'app', reason: 'no answer within 5 s' });
    expect(Date.parse(String(warning?.expiresAt))).toBeGreaterThan(Date.now());
    expect(await backupKeys()).toEqual(goodKeys);
    // Let the next test take the lock, as its expiry would.
    proxy.rules([]);
    const held = await lock();
    expect(held.released).toBe(false);
    await s3.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'locks/app.json',
        Body: JSON.stringify({ ...held, expiresAt: new Date(Date.now() - 1000).toISOString() }),
      }),
    );
  });

  it('names S3 throttling and what to do when every part gets 503 SlowDown', async () => {
    proxy.rules([{ match: on('UploadPart'), fault: { kind: 'status', status: 503, code: 'SlowDown' } }]);
    const result = await backupctl(['backup', '--only', 'db'], { env: env() });
    expectFailure(
      result,
      /S3 is throttling requests to s3:\/\/fault-backups .*: the upload of daily\/app\/.*db\.dump\.zst \(UploadPart \d\) got 503 SlowDown 4 times; retry later, or lower the request rate/,
      1,
    );
    expectNoInternalError(result);
    await expectNothingLeft();
    expect((await lock()).released).toBe(true);
  });

  it('completes the backup when the answer of a successful CompleteMultipartUpload is lost', async () => {
    // The proxy forwards the completion (the object exists), drops the answer, and refuses the
    // SDK's retry with 412 as real S3 does for If-None-Match: *.
    proxy.rules([{ match: on('CompleteMultipartUpload'), fault: { kind: 'lose-answer' }, times: 1 }]);
    const result = await backupctl(['backup', '--only', 'db'], { env: env() });
    expect(result.code, result.stderr).toBe(0);
    const completions = seen().filter((r) => r.operation === 'CompleteMultipartUpload');
    expect(completions.map((r) => r.status)).toEqual([undefined, 412]);
    const id = String(result.logs.find((l) => l.message === 'backup finished')?.id);
    const manifest = JSON.parse((await getObjectBytes(s3.client, BUCKET, `${id}/manifest.json`)).toString());
    const [dump] = manifest.artifacts;
    expect(dump.key).toMatch(DUMP_KEY);
    const stored = await getObjectBytes(s3.client, BUCKET, dump.key);
    expect(stored.length).toBe(dump.bytes);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(dump.sha256);
    expect((await lock()).released).toBe(true);
  });
});
