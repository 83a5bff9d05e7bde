/**
 * `backupctl verify` proves a backup restorable, and names the first check a damaged one fails:
 * a flipped byte, a truncated upload, a manifest that lies about rows, a dump nothing can read.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../task/core/manifest.ts';
import type { Verification } from '../../task/core/verification.ts';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { getObjectBytes, putObjectBytes, type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl } from '../support/backupctl.ts';
import { createAppDatabase, makeMediaDir } from '../support/fixtures.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'verify-backups';
let pg: PgCluster;
let s3: S3Emulator;
let work: string;
let manifest: Manifest;
let originals: Map<string, Buffer>;

const env = () => ({ ...pg.env('app'), ...s3.env(BUCKET), MEDIA_DIR: join(work, 'media') });
const read = async (key: string) => getObjectBytes(s3.client, BUCKET, key);
const keyOf = (kind: 'postgres' | 'media') => manifest.artifacts.find((a) => a.kind === kind)?.key ?? '';
const manifestKey = () => `${manifest.id}/manifest.json`;

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createAppDatabase(pg, 'app');
  work = mkdtempSync(join(tmpdir(), 'spb-verify-'));
  makeMediaDir(join(work, 'media'));
  const result = await backupctl(['backup'], { env: env() });
  expect(result.code, result.stderr).toBe(0);
  const id = String(result.logs.find((l) => l.message === 'backup finished')?.id);
  manifest = JSON.parse((await read(`${id}/manifest.json`)).toString());
  originals = new Map();
  for (const key of [keyOf('postgres'), keyOf('media'), manifestKey()]) originals.set(key, await read(key));
});

// Each test damages the stored backup; put every object back as it was.
afterEach(async () => {
  for (const [key, bytes] of originals) await putObjectBytes(s3.client, BUCKET, key, bytes);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

async function verify(): Promise<{ code: number | null; stderr: string; record: Verification }> {
  const result = await backupctl(['verify', 'latest', '--json'], { env: env() });
  const record = JSON.parse((await read(`${manifest.id}/verification.json`)).toString()) as Verification;
  return { code: result.code, stderr: result.stderr, record };
}

describe('backupctl verify', () => {
  it('proves a good backup restorable and records every check with the restore time', async () => {
    const result = await backupctl(['verify', manifest.id, '--json'], { env: env() });
    expect(result.code, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout) as Verification;
    const stored = JSON.parse((await read(`${manifest.id}/verification.json`)).toString()) as Verification;
    expect(stored).toEqual(printed);
    expect(stored.ok).toBe(true);
    expect(stored.checks.map((c) => `${c.artifact} ${c.name} ${c.ok}`)).toEqual([
      'postgres checksum true',
      'postgres decode true',
      'postgres archive true',
      'postgres restore true',
      'postgres row counts true',
      'postgres fingerprint true',
      'media checksum true',
      'media decode true',
      'media archive true',
      'media file count true',
    ]);
    expect(stored.restoreSeconds).toBeGreaterThan(0);
  });

  it('fails at the checksum check when one byte of the stored dump is flipped', async () => {
    const bytes = Buffer.from(originals.get(keyOf('postgres')) ?? []);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    await putObjectBytes(s3.client, BUCKET, keyOf('postgres'), bytes);
    const { code, stderr, record } = await verify();
    expect(code).toBe(1);
    expect(stderr).toMatch(/failed verification at the postgres (checksum|decode) check/);
    expect(record.ok).toBe(false);
    expect(record.checks.find((c) => !c.ok)?.detail ?? '').toMatch(/does not match the manifest|zstd/);
  });

  it('refuses a backup whose stored dump was truncated, naming both sizes, before any test restore', async () => {
    const bytes = originals.get(keyOf('postgres')) ?? Buffer.alloc(0);
    await putObjectBytes(s3.client, BUCKET, keyOf('postgres'), bytes.subarray(0, bytes.length - 1000));
    const { code, stderr } = await verify();
    expect(code).toBe(1);
    expect(stderr).toMatch(
      new RegExp(
        `its database dump .*db\\.dump\\.zst is ${bytes.length - 1000} bytes, the manifest recorded ${bytes.length}`,
      ),
    );
  });

  it('fails at the row counts check when the manifest recorded other row counts than the dump holds', async () => {
    const lying = structuredClone(manifest);
    const db = lying.artifacts.find((a) => a.kind === 'postgres');
    if (db?.kind !== 'postgres') throw new Error('no dump');
    db.tables = db.tables.map((t) => (t.table === 'invoices' ? { ...t, rows: t.rows + 1 } : t));
    await putObjectBytes(s3.client, BUCKET, manifestKey(), JSON.stringify(lying));
    const { code, stderr } = await verify();
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /at the postgres row counts check: billing\.invoices has 4000 rows, the backup recorded 4001/,
    );
  });

  it('fails at the archive check when the dump is not something pg_restore can read', async () => {
    // A well-formed zstd frame of garbage, with a manifest whose checksum matches it.
    const garbage = Buffer.from(await sh('head -c 300000 /dev/urandom | zstd -q -c | base64 -w0'), 'base64');
    await putObjectBytes(s3.client, BUCKET, keyOf('postgres'), garbage);
    const patched = structuredClone(manifest);
    const db = patched.artifacts.find((a) => a.kind === 'postgres');
    if (!db) throw new Error('no dump');
    db.bytes = garbage.length;
    db.sha256 = createHash('sha256').update(garbage).digest('hex');
    await putObjectBytes(s3.client, BUCKET, manifestKey(), JSON.stringify(patched));
    const { code, stderr } = await verify();
    expect(code).toBe(1);
    expect(stderr).toMatch(/at the postgres archive check: pg_restore failed: .*(valid archive|magic)/);
  });

  it('fails at the file count check when the media archive holds fewer files than recorded', async () => {
    const patched = structuredClone(manifest);
    const media = patched.artifacts.find((a) => a.kind === 'media');
    if (media?.kind !== 'media') throw new Error('no media');
    media.fileCount += 1;
    await putObjectBytes(s3.client, BUCKET, manifestKey(), JSON.stringify(patched));
    const { code, stderr } = await verify();
    expect(code).toBe(1);
    expect(stderr).toMatch(/at the media file count check: 6 files, the backup recorded 7/);
  });

  it('exits non-zero naming the id when the backup does not exist', async () => {
    const result = await backupctl(['verify', 'daily/app/20200101T000000Z'], { env: env() });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Backup daily/app/20200101T000000Z does not exist or is incomplete');
  });
});
