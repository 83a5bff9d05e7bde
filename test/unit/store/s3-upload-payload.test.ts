/**
 * What an UploadPart request carries: over TLS no SHA-256 of the payload (the node process's
 * largest hash), but always the part's CRC32, which S3 verifies; over plain HTTP a signed payload.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { uploadToS3 } from '../../../task/store/s3-upload.ts';

interface Sent {
  readonly method: string;
  readonly query: Record<string, unknown>;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** An S3 client whose requests are answered here, as S3 would, and recorded after signing. */
function recordingClient(endpoint: string): { client: S3Client; sent: Sent[] } {
  const sent: Sent[] = [];
  const xml = (text: string) => Readable.from([Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>${text}`)]);
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    requestHandler: {
      handle: async (request: {
        method: string;
        query: Record<string, unknown>;
        headers: Record<string, string>;
        body: unknown;
      }) => {
        const body = Buffer.isBuffer(request.body)
          ? request.body
          : request.body instanceof Uint8Array
            ? Buffer.from(request.body)
            : Buffer.from(typeof request.body === 'string' ? request.body : '');
        sent.push({ method: request.method, query: request.query, headers: request.headers, body });
        const headers: Record<string, string> = {};
        let out = Readable.from([]);
        if ('uploads' in request.query) {
          out = xml(
            '<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>',
          );
        } else if ('partNumber' in request.query) {
          headers.etag = `"${createHash('md5').update(body).digest('hex')}"`;
        } else if ('uploadId' in request.query) {
          out = xml(
            '<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"e-2"</ETag></CompleteMultipartUploadResult>',
          );
        }
        return { response: { statusCode: 200, reason: 'OK', headers, body: out } };
      },
    } as never,
  });
  return { client, sent };
}

async function uploadTwoParts(endpoint: string): Promise<{ parts: Sent[]; data: Buffer }> {
  const { client, sent } = recordingClient(endpoint);
  const data = Buffer.alloc(5 * 1024 * 1024 + 1000, 7);
  await uploadToS3({
    client,
    params: { Bucket: 'b', Key: 'k' },
    body: Readable.from([data.subarray(0, 3_000_000), data.subarray(3_000_000)]),
    partSize: 5 * 1024 * 1024,
    answerTimeoutMs: 10_000,
    describe: (error) => error as Error,
  });
  return { parts: sent.filter((r) => 'partNumber' in r.query), data };
}

const crc32Base64 = (b: Buffer) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(b) >>> 0);
  return out.toString('base64');
};

describe('UploadPart requests', () => {
  it('over TLS: the payload is not hashed for the signature, and each part carries its CRC32', async () => {
    const { parts } = await uploadTwoParts('https://s3.example.test');
    expect(parts).toHaveLength(2);
    for (const part of parts) {
      expect(part.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(part.headers['x-amz-checksum-crc32']).toBe(crc32Base64(part.body));
      expect(part.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    }
  });

  it('over plain HTTP: the payload stays signed (its SHA-256), with the CRC32 too', async () => {
    const { parts } = await uploadTwoParts('http://127.0.0.1:9');
    expect(parts).toHaveLength(2);
    for (const part of parts) {
      expect(part.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(part.body).digest('hex'));
      expect(part.headers['x-amz-checksum-crc32']).toBe(crc32Base64(part.body));
    }
  });
});
