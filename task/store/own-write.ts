/**
 * Telling our own write from someone else's after a lost answer. S3 completed a PutObject or a
 * CompleteMultipartUpload, the answer never arrived, the SDK retried with If-None-Match: * and
 * got 412 (or NoSuchUpload: the upload is gone because it completed). The object at the key is
 * ours if it has exactly the bytes we sent: same size, and the ETag or the CRC32 checksum S3
 * derives from them (the CRC32 also holds under SSE-KMS, where the ETag is no MD5).
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { HeadObjectCommand, type S3Client, S3ServiceException } from '@aws-sdk/client-s3';

export interface WrittenObject {
  readonly bytes: number;
  readonly etag: string;
  /** Base64, as S3 reports it; absent when the parts were sent without checksums. */
  readonly crc32?: string;
}

/** What S3 stores for a single PutObject of `body`. */
export function singleObject(body: Uint8Array): WrittenObject {
  return {
    bytes: body.byteLength,
    etag: `"${createHash('md5').update(body).digest('hex')}"`,
    crc32: crc32Base64(crc32(body)),
  };
}

export interface SentPart {
  readonly ETag?: string | undefined;
  readonly ChecksumCRC32?: string | undefined;
  readonly bytes: number;
}

/** What S3 stores for a multipart upload: MD5 of the parts' MD5s, and the composite CRC32, each "-N". */
export function multipartObject(parts: readonly SentPart[]): WrittenObject {
  const md5s = parts.map((p) => Buffer.from((p.ETag ?? '').replaceAll('"', ''), 'hex'));
  const etag = `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}"`;
  const sums = parts.map((p) => p.ChecksumCRC32);
  const composite = sums.every((s) => s !== undefined)
    ? `${crc32Base64(crc32(Buffer.concat(sums.map((s) => Buffer.from(s, 'base64')))))}-${parts.length}`
    : undefined;
  return {
    bytes: parts.reduce((n, p) => n + p.bytes, 0),
    etag,
    ...(composite ? { crc32: composite } : {}),
  };
}

/** True if the object at `key` is provably `expected`; false if it differs or cannot be read. */
export async function holdsObject(
  client: S3Client,
  bucket: string,
  key: string,
  expected: WrittenObject,
  signal: AbortSignal,
): Promise<boolean> {
  try {
    const head = await client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }),
      {
        abortSignal: signal,
      },
    );
    if (head.ContentLength !== expected.bytes) return false;
    return (
      head.ETag === expected.etag || (expected.crc32 !== undefined && head.ChecksumCRC32 === expected.crc32)
    );
  } catch {
    return false;
  }
}

/** A conditional write refused because the key exists, or a completion whose upload is gone. */
export function isLostAnswerRefusal(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.$metadata.httpStatusCode === 412 || error.name === 'NoSuchUpload')
  );
}

function crc32Base64(value: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b.toString('base64');
}
