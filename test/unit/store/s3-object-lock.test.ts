/**
 * Object Lock per tier on every write, asserted on the requests sent (the emulator does not
 * enforce locks): each object below a tier carries the mode and a retain-until date that tier's
 * days after the write; the lock records get none, and without lock settings no write carries it.
 */
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../task/config.ts';
import type { Tier } from '../../../task/core/ids.ts';
import { ConfigError } from '../../../task/errors.ts';
import { S3Store, type S3StoreSettings } from '../../../task/store/s3.ts';

const s3 = mockClient(S3Client);
const NOW = new Date('2026-11-26T02:00:00Z');
const DAYS: Record<Tier, number> = { daily: 30, weekly: 90, monthly: 365, 'pre-restore': 14 };
const settings: S3StoreSettings = {
  bucket: 'my-backups',
  region: 'eu-west-1',
  prefix: 'prod/',
  objectLock: { mode: 'COMPLIANCE', days: DAYS },
  now: () => NOW,
};
const store = (overrides: Partial<S3StoreSettings> = {}) =>
  new S3Store(new S3Client({ region: 'eu-west-1' }), { ...settings, ...overrides });
const after = (days: number) => new Date(NOW.getTime() + days * 86_400_000);
const MIB = 1024 * 1024;

afterEach(() => s3.reset());

function acceptWrites(): void {
  s3.on(PutObjectCommand).resolves({ ETag: '"e"' });
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
  s3.on(UploadPartCommand).resolves({ ETag: '"p"' });
  s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"c-2"' });
}

/** Every object-creating request sent: PutObject and CreateMultipartUpload, with their inputs. */
function writesSent() {
  return [
    ...s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input),
    ...s3.commandCalls(CreateMultipartUploadCommand).map((c) => c.args[0].input),
  ];
}

describe('S3Store with Object Lock', () => {
  it.each<[Tier, number]>([
    ['daily', 30],
    ['weekly', 90],
    ['monthly', 365],
    ['pre-restore', 14],
  ])('locks every %s write, streamed or small, for %i days from the write', async (tier, days) => {
    // Prepare
    acceptWrites();
    const folder = `prod/${tier}/app/20261126T020000Z`;
    // Act: a multipart artifact, a small artifact (one PutObject), the manifest, a rewritten record
    await store().upload(`${folder}/db.dump.zst`, Readable.from([Buffer.alloc(6 * MIB), Buffer.alloc(1)]), {
      partSize: 5 * MIB,
      contentType: 'application/zstd',
    });
    await store().upload(`${folder}/globals.sql.zst`, Readable.from([Buffer.from('roles')]), {
      partSize: 5 * MIB,
      contentType: 'application/zstd',
    });
    await store().putIfAbsent(`${folder}/manifest.json`, '{}', 'application/json');
    await store().put(`${folder}/verification.json`, '{}', 'application/json');
    // Assess
    const writes = writesSent();
    expect(writes.map((w) => w.Key).sort()).toEqual(
      ['db.dump.zst', 'globals.sql.zst', 'manifest.json', 'verification.json'].map((f) => `${folder}/${f}`),
    );
    for (const write of writes) {
      expect(write).toMatchObject({ ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: after(days) });
    }
  });

  it('sends no lock with the lock records, which are rewritten and are no backup', async () => {
    acceptWrites();
    await store().putIfAbsent('prod/locks/app.json', '{}', 'application/json');
    await store().replace('prod/locks/app.json', '{}', 'application/json', '"e"');
    const writes = writesSent();
    expect(writes).toHaveLength(2);
    for (const write of writes) {
      expect(write.ObjectLockMode).toBeUndefined();
      expect(write.ObjectLockRetainUntilDate).toBeUndefined();
    }
  });

  it('sends no lock on any write without lock settings', async () => {
    acceptWrites();
    const { objectLock: _none, ...unlocked } = settings;
    const plain = new S3Store(new S3Client({ region: 'eu-west-1' }), unlocked);
    await plain.putIfAbsent('prod/daily/app/20261126T020000Z/manifest.json', '{}', 'application/json');
    await plain.upload(
      'prod/daily/app/20261126T020000Z/db.dump.zst',
      Readable.from([Buffer.alloc(6 * MIB)]),
      {
        partSize: 5 * MIB,
        contentType: 'application/zstd',
      },
    );
    for (const write of writesSent()) expect(write.ObjectLockMode).toBeUndefined();
  });
});

describe('loadConfig Object Lock settings', () => {
  const base = { BACKUP_BUCKET: 'my-backups', AWS_REGION: 'eu-west-1' };
  const days = JSON.stringify(DAYS);

  it('reads the mode and the days per tier into the store settings', () => {
    const config = loadConfig({
      ...base,
      BACKUP_OBJECT_LOCK_MODE: 'GOVERNANCE',
      BACKUP_OBJECT_LOCK_DAYS: days,
    });
    expect(config.store.objectLock).toEqual({ mode: 'GOVERNANCE', days: DAYS });
  });

  it.each([
    [
      'the days without the mode',
      { BACKUP_OBJECT_LOCK_DAYS: days },
      /set together, got: no BACKUP_OBJECT_LOCK_MODE/,
    ],
    [
      'an unknown mode',
      { BACKUP_OBJECT_LOCK_MODE: 'STRICT', BACKUP_OBJECT_LOCK_DAYS: days },
      /GOVERNANCE or COMPLIANCE, got: STRICT/,
    ],
    [
      'a tier without days',
      { BACKUP_OBJECT_LOCK_MODE: 'GOVERNANCE', BACKUP_OBJECT_LOCK_DAYS: '{"daily":30}' },
      /BACKUP_OBJECT_LOCK_DAYS must give whole days \(1-36500\) for every tier/,
    ],
    [
      'a replication window that is no number',
      { BACKUP_REPLICATION_WINDOW_HOURS: 'soon' },
      /BACKUP_REPLICATION_WINDOW_HOURS must be whole hours/,
    ],
  ])('fails naming the variable for %s', (_case, env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
});
