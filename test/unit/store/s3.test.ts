/**
 * What real S3 does and the emulator does not: a 412 on a conditional write, the If-None-Match
 * header on every object write, a retried completion refused after its lost answer, checksums
 * under SSE-KMS. Proven against a mocked client.
 */

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, StoreError } from '../../../task/errors.ts';
import { S3Store } from '../../../task/store/s3.ts';

const s3 = mockClient(S3Client);
const config = {
  bucket: 'my-backups',
  prefix: '',
  region: 'eu-west-1',
  kmsKeyId: 'arn:aws:kms:eu-west-1:1:key/k',
};
const store = () => new S3Store(new S3Client({ region: 'eu-west-1' }), config);

/** An error as the SDK raises it for an S3 error response. */
function s3Error(name: string, httpStatusCode: number, message: string): S3ServiceException {
  return new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode }, message });
}

const preconditionFailed = () =>
  s3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold');

const MIB = 1024 * 1024;
const md5 = (data: Uint8Array) => createHash('md5').update(data).digest();
const crc = (data: Uint8Array) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32(data) >>> 0);
  return b;
};
/** Two parts of 5 MiB and 1 KiB, each of its own byte value. */
const partsData = [Buffer.alloc(5 * MIB, 1), Buffer.alloc(1024, 2)];
const uploadParts = () =>
  store().upload('k/db.dump.zst', Readable.from(partsData.map((p) => Buffer.from(p))), {
    partSize: 5 * MIB,
    contentType: 'application/zstd',
  });

/** S3 answers UploadPart with the part's MD5 as ETag and its CRC32; CompleteMultipartUpload with `complete`. */
function multipartUploadAnswers(complete: () => Promise<never>): void {
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
  s3.on(UploadPartCommand).callsFake((input: { Body: Uint8Array }) => ({
    ETag: `"${md5(input.Body).toString('hex')}"`,
    ChecksumCRC32: crc(input.Body).toString('base64'),
  }));
  s3.on(CompleteMultipartUploadCommand).callsFake(complete);
  s3.on(AbortMultipartUploadCommand).resolves({});
}

const totalBytes = partsData.reduce((n, p) => n + p.length, 0);
const multipartEtag = `"${createHash('md5')
  .update(Buffer.concat(partsData.map(md5)))
  .digest('hex')}-2"`;
const compositeCrc = `${crc(Buffer.concat(partsData.map(crc))).toString('base64')}-2`;

afterEach(() => s3.reset());

describe('S3Store', () => {
  it('fails with ConflictError when a conditional put finds the object exists (HTTP 412)', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(preconditionFailed());
    // Act
    const write = store().putIfAbsent('daily/app/20261126T020000Z/manifest.json', '{}', 'application/json');
    // Assess
    await expect(write).rejects.toThrow(ConflictError);
    await expect(write).rejects.toThrow(
      's3://my-backups/daily/app/20261126T020000Z/manifest.json exists already',
    );
  });

  it('sends If-None-Match and SSE-KMS on a manifest write', async () => {
    s3.on(PutObjectCommand).resolves({});
    await store().putIfAbsent('k/manifest.json', '{}', 'application/json');
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
      IfNoneMatch: '*',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: config.kmsKeyId,
    });
  });

  it('completes a multipart upload only with If-None-Match, so an existing artifact is never replaced', async () => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
    s3.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3.on(CompleteMultipartUploadCommand).rejects(preconditionFailed());
    const body = Readable.from([Buffer.alloc(6 * 1024 * 1024), Buffer.alloc(1024)]);
    const upload = store().upload('k/db.dump.zst', body, {
      partSize: 5 * 1024 * 1024,
      contentType: 'application/zstd',
    });
    await expect(upload).rejects.toThrow(ConflictError);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input.IfNoneMatch).toBe('*');
  });

  it('names the operation, bucket and S3 error code when S3 refuses', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403, 'denied'));
    const write = store().put('k/verification.json', '{}', 'application/json');
    await expect(write).rejects.toThrow(StoreError);
    await expect(write).rejects.toThrow(
      'S3 write of k/verification.json in s3://my-backups failed: AccessDenied (HTTP 403)',
    );
  });

  it('says the bucket does not exist, not that an object is missing, when S3 answers NoSuchBucket', async () => {
    s3.on(GetObjectCommand).rejects(s3Error('NoSuchBucket', 404, 'The specified bucket does not exist'));
    const read = store().getText('locks/app.json');
    // A StoreError, not a NotFoundError: "lock absent" or "no manifest yet" would be the wrong reading.
    await expect(read).rejects.toThrow(StoreError);
    await expect(read).rejects.not.toThrow(NotFoundError);
    await expect(read).rejects.toThrow(
      'S3 read of locks/app.json in s3://my-backups failed: the bucket does not exist (NoSuchBucket); check BACKUP_BUCKET and AWS_REGION.',
    );
  });

  it.each([
    ['412 on the retried completion', preconditionFailed],
    [
      'NoSuchUpload on the retried completion',
      () => s3Error('NoSuchUpload', 404, 'The upload does not exist'),
    ],
  ])('completes when the object is its own upload whose answer was lost (%s)', async (_case, refusal) => {
    // Prepare: S3 completed the upload, the answer was lost, the retry was refused.
    multipartUploadAnswers(() => Promise.reject(refusal()));
    s3.on(HeadObjectCommand).resolves({ ContentLength: totalBytes, ETag: multipartEtag });
    // Act, Assess
    await expect(uploadParts()).resolves.toBeUndefined();
    expect(s3.commandCalls(AbortMultipartUploadCommand)).toHaveLength(0);
  });

  it('recognises its own upload by the composite CRC32 when the ETag is no MD5 (SSE-KMS)', async () => {
    multipartUploadAnswers(() => Promise.reject(preconditionFailed()));
    s3.on(HeadObjectCommand).resolves({
      ContentLength: totalBytes,
      ETag: '"kms-etag-2"',
      ChecksumCRC32: compositeCrc,
    });
    await expect(uploadParts()).resolves.toBeUndefined();
    expect(s3.commandCalls(HeadObjectCommand)[0]?.args[0].input.ChecksumMode).toBe('ENABLED');
  });

  it('fails with ConflictError saying exactly what happened when the object there is not provably its own', async () => {
    multipartUploadAnswers(() => Promise.reject(preconditionFailed()));
    s3.on(HeadObjectCommand).resolves({ ContentLength: totalBytes - 1, ETag: multipartEtag });
    const upload = uploadParts();
    await expect(upload).rejects.toThrow(ConflictError);
    await expect(upload).rejects.toThrow(
      "The object s3://my-backups/k/db.dump.zst exists and S3 refused this run's CompleteMultipartUpload for it: " +
        "it may be this run's own upload whose answer was lost, but its size and checksum do not prove it; " +
        'nothing was replaced, so run the backup again.',
    );
  });

  it('takes a manifest write refused after its lost answer as done when the object is byte for byte its own', async () => {
    const body = '{"id":"daily/app/20261126T020000Z"}\n';
    s3.on(PutObjectCommand).rejects(preconditionFailed());
    s3.on(HeadObjectCommand).resolves({
      ContentLength: Buffer.byteLength(body),
      ETag: `"${md5(Buffer.from(body)).toString('hex')}"`,
    });
    await expect(store().putIfAbsent('k/manifest.json', body, 'application/json')).resolves.toMatch(
      /^"[0-9a-f]{32}"$/,
    );
  });

  it('names S3 throttling and what to do, not an internal error, on 503 SlowDown', async () => {
    const slowDown = s3Error('SlowDown', 503, 'Please reduce your request rate.');
    slowDown.$metadata.attempts = 4;
    s3.on(PutObjectCommand).rejects(slowDown);
    const write = store().put('k/verification.json', '{}', 'application/json');
    await expect(write).rejects.toThrow(StoreError);
    await expect(write).rejects.toThrow(
      'S3 is throttling requests to s3://my-backups: the write of k/verification.json got 503 SlowDown 4 times; ' +
        'retry later, or lower the request rate (a larger BACKUP_PART_SIZE sends fewer parts).',
    );
  });

  it('names the request that got no answer and the timeout', async () => {
    s3.on(GetObjectCommand).rejects(Object.assign(new Error('socket timed out'), { name: 'TimeoutError' }));
    await expect(store().getText('locks/app.json')).rejects.toThrow(
      'S3 read of locks/app.json in s3://my-backups got no answer within 30 s; check the network path to S3',
    );
  });
});
