/**
 * The multipart writer's own rules, against the S3 emulator: what the emulator holds is the
 * input byte for byte; parts go out in order from a fixed set of reused buffers; while no buffer
 * is free the body is not read; a failure leaves no object and no open upload.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StoreError } from '../../../task/errors.ts';
import { S3Store } from '../../../task/store/s3.ts';
import { createS3Client } from '../../../task/store/s3-reader.ts';
import {
  getObjectBytes,
  openMultipartUploads,
  type S3Emulator,
  startS3,
  TEST_CREDENTIALS,
} from '../../../tools/local/s3.ts';

const BUCKET = 'writer';
const MIB = 1024 * 1024;
const PART = 5 * MIB;
/** One being filled plus four in flight. */
const BUFFERS = 5;

let s3: S3Emulator;
let n = 0;

beforeAll(async () => {
  for (const [name, value] of Object.entries(TEST_CREDENTIALS)) vi.stubEnv(name, value);
  s3 = await startS3();
  await s3.createBucket(BUCKET);
});

afterEach(() => s3.onRequest(undefined));

afterAll(async () => {
  await s3?.stop();
  vi.unstubAllEnvs();
});

interface SentPart {
  readonly partNumber: number;
  readonly sha256: string;
  readonly memory: ArrayBufferLike;
}

/** A store on the emulator whose client notes each UploadPart as it is sent: number, bytes, memory. */
function recordingStore(): { store: S3Store; parts: SentPart[]; client: S3Client } {
  const settings = { bucket: BUCKET, region: TEST_CREDENTIALS.AWS_REGION, endpoint: s3.endpoint };
  const client = createS3Client(settings);
  const parts: SentPart[] = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      const input = args.input as { PartNumber?: number; Body?: Uint8Array };
      if (context.commandName === 'UploadPartCommand' && input.Body) {
        parts.push({
          partNumber: input.PartNumber ?? 0,
          sha256: sha256(input.Body),
          memory: input.Body.buffer,
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'recordParts' },
  );
  return { store: new S3Store(client, settings), parts, client };
}

/** `data` served in 64 KiB chunks as the body is read; `pulled` counts what the reader took. */
function source(data: Buffer): { body: Readable; pulled: () => number } {
  let offset = 0;
  const body = new Readable({
    read() {
      const chunk = data.subarray(offset, offset + 64 * 1024);
      offset += chunk.length;
      this.push(chunk.length > 0 ? chunk : null);
    },
  });
  return { body, pulled: () => offset };
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const nextKey = () => `k/${++n}/db.dump.zst`;
const requestsFor = (key: string) => s3.requests.filter((r) => r.url.includes(key));

describe('the multipart writer', () => {
  it.each([
    ['0 bytes', 0, 0],
    ['exactly one part', PART, 0],
    ['one part and one byte', PART + 1, 2],
    ['three parts and a bit, in chunks that do not align with parts', 3 * PART + 12_345, 4],
  ])('stores a body of %s as the emulator holds it, byte for byte', async (_name, size, partCount) => {
    // Prepare
    const { store, parts } = recordingStore();
    const data = randomBytes(size);
    const key = nextKey();
    // Act
    await store.upload(key, source(data).body, { partSize: PART, contentType: 'application/zstd' });
    // Assess
    expect(sha256(await getObjectBytes(s3.client, BUCKET, key))).toBe(sha256(data));
    expect(parts).toHaveLength(partCount);
    // A body of at most one part is one PutObject, with no multipart upload.
    const multipart = requestsFor(key).some((r) => r.url.includes('uploads'));
    expect(multipart).toBe(partCount > 0);
    expect(openMultipartUploads(requestsFor(key))).toEqual([]);
  });

  it('sends parts in order, each with its bytes, from at most five reused buffers', async () => {
    const { store, parts } = recordingStore();
    const data = randomBytes(11 * PART + 777);
    const key = nextKey();
    await store.upload(key, source(data).body, { partSize: PART, contentType: 'application/zstd' });

    expect(parts.map((p) => p.partNumber)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const part of parts) {
      const offset = (part.partNumber - 1) * PART;
      expect(part.sha256).toBe(sha256(data.subarray(offset, offset + PART)));
    }
    expect(new Set(parts.map((p) => p.memory)).size).toBeLessThanOrEqual(BUFFERS);
    expect(sha256(await getObjectBytes(s3.client, BUCKET, key))).toBe(sha256(data));
  });

  it('reads no further than its five buffers hold while four parts wait for S3', async () => {
    // Prepare: S3 holds every UploadPart until released.
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = 0;
    s3.onRequest(async (r) => {
      if (r.url.includes('partNumber=')) {
        held += 1;
        await released;
      }
      return undefined;
    });
    const { store } = recordingStore();
    const data = randomBytes(10 * PART);
    const { body, pulled } = source(data);
    const key = nextKey();
    // Act
    const upload = store.upload(key, body, { partSize: PART, contentType: 'application/zstd' });
    await vi.waitFor(() => expect(held).toBe(4), { timeout: 30_000, interval: 50 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Assess: four parts in flight, the fifth buffer filled, and no more than the write buffer beyond.
    expect(held).toBe(4);
    expect(pulled()).toBeGreaterThan(4 * PART);
    expect(pulled()).toBeLessThanOrEqual(BUFFERS * PART + MIB);
    release();
    await upload;
    expect(sha256(await getObjectBytes(s3.client, BUCKET, key))).toBe(sha256(data));
  });

  it('fails naming the part S3 refused, leaves no object and aborts the upload', async () => {
    s3.onRequest((r) =>
      r.url.includes('partNumber=2') && r.method === 'PUT'
        ? { status: 403, code: 'AccessDenied' }
        : undefined,
    );
    const { store } = recordingStore();
    const key = nextKey();
    const upload = store.upload(key, source(randomBytes(4 * PART)).body, {
      partSize: PART,
      contentType: 'application/zstd',
    });
    await expect(upload).rejects.toThrow(StoreError);
    await expect(upload).rejects.toThrow(`upload of ${key} (UploadPart 2)`);
    expect(await s3.keys(BUCKET, key)).toEqual([]);
    expect(requestsFor(key).some((r) => r.method === 'DELETE' && r.url.includes('uploadId='))).toBe(true);
    expect(openMultipartUploads(requestsFor(key))).toEqual([]);
  });

  it('rejects with the reason the body was destroyed with, leaves no object and aborts the upload', async () => {
    const { store } = recordingStore();
    const key = nextKey();
    const { body, pulled } = source(randomBytes(6 * PART));
    const upload = store.upload(key, body, { partSize: PART, contentType: 'application/zstd' });
    // Destroyed once the multipart upload exists and parts are on their way.
    await vi.waitFor(() => expect(requestsFor(key).some((r) => r.url.includes('partNumber='))).toBe(true), {
      timeout: 30_000,
      interval: 20,
    });
    expect(pulled()).toBeLessThan(6 * PART);
    const cause = new Error('pg_dump failed: exited with code 1');
    body.destroy(cause);
    await expect(upload).rejects.toBe(cause);
    expect(await s3.keys(BUCKET, key)).toEqual([]);
    expect(requestsFor(key).some((r) => r.method === 'DELETE' && r.url.includes('uploadId='))).toBe(true);
    expect(openMultipartUploads(requestsFor(key))).toEqual([]);
  });
});
