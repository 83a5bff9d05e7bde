/**
 * What real S3 does and the emulator does not: a 412 on a conditional write, and the
 * If-None-Match header on every object write. Proven against a mocked client.
 */

import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
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
});
