/**
 * The S3 emulator (fauxqs) in-process on 127.0.0.1, one per test file, with a log of every
 * request it received: fauxqs does not list open multipart uploads, so tests prove "created and
 * then completed or aborted" from what the server was asked.
 */
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';

export interface S3Request {
  readonly method: string;
  readonly url: string;
}

/** What a fault-injection hook may answer instead of the emulator. */
export interface FaultResponse {
  readonly status: number;
  readonly code: string;
}

export type RequestHook = (
  request: S3Request,
) => FaultResponse | undefined | Promise<FaultResponse | undefined>;

export interface S3Emulator {
  readonly endpoint: string;
  readonly client: S3Client;
  readonly requests: S3Request[];
  /** libpq-free environment for backupctl pointing at this emulator. */
  env(bucket: string, prefix?: string): NodeJS.ProcessEnv;
  createBucket(name: string): Promise<void>;
  keys(bucket: string, prefix?: string): Promise<string[]>;
  /** Runs `hook` on every request before fauxqs handles it: delay it, or answer with an error. */
  onRequest(hook: RequestHook | undefined): void;
  stop(): Promise<void>;
}

/** The part of fastify's reply the hook uses (fastify is fauxqs's dependency, not ours). */
interface FaultReply {
  code(status: number): { header(name: string, value: string): { send(body: string): unknown } };
}

export const TEST_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
};

export async function startS3(): Promise<S3Emulator> {
  const app = buildApp({ logger: false });
  const requests: S3Request[] = [];
  let hook: RequestHook | undefined;
  app.addHook('onRequest', async (request: S3Request & { raw: NodeJS.ReadableStream }, reply: FaultReply) => {
    const entry = { method: request.method, url: request.url };
    requests.push(entry);
    const fault = await hook?.(entry);
    if (fault) {
      // As S3 does, read the request body before answering: an answer sent while the client is
      // still writing a part can leave the client waiting for its own write (a hang, not the error).
      await new Promise<void>((resolve) => {
        request.raw.once('end', resolve).once('error', () => resolve());
        request.raw.resume();
      });
      const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected</Message></Error>`;
      return reply.code(fault.status).header('content-type', 'application/xml').send(xml);
    }
    return undefined;
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const endpoint = address.replace('localhost', '127.0.0.1');
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: TEST_CREDENTIALS.AWS_REGION,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return {
    endpoint,
    client,
    requests,
    env: (bucket, prefix) => ({
      ...TEST_CREDENTIALS,
      AWS_ENDPOINT_URL_S3: endpoint,
      BACKUP_BUCKET: bucket,
      ...(prefix ? { BACKUP_PREFIX: prefix } : {}),
    }),
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async keys(bucket, prefix) {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) if (o.Key) out.push(o.Key);
        token = page.NextContinuationToken;
      } while (token);
      return out.sort();
    },
    onRequest(h) {
      hook = h;
    },
    async stop() {
      client.destroy();
      await app.close();
    },
  };
}

/** Multipart uploads created but neither completed nor aborted, judged from the request log. */
export function openMultipartUploads(requests: readonly S3Request[]): string[] {
  const created = new Set<string>();
  const finished = new Set<string>();
  for (const r of requests) {
    const url = new URL(r.url, 'http://x');
    const path = url.pathname;
    if (r.method === 'POST' && url.searchParams.has('uploads')) created.add(path);
    if ((r.method === 'POST' || r.method === 'DELETE') && url.searchParams.has('uploadId'))
      finished.add(path);
  }
  return [...created].filter((p) => !finished.has(p));
}

export async function getObjectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from((await response.Body?.transformToByteArray()) ?? []);
}

/** Writes (or replaces) an object; multipart in 5 MiB parts, as the emulator takes at most 11 MiB a request. */
export async function putObjectBytes(
  client: S3Client,
  bucket: string,
  key: string,
  body: Buffer | string,
): Promise<void> {
  const data = Buffer.from(body);
  const partSize = 5 * 1024 * 1024;
  if (data.length <= partSize) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data }));
    return;
  }
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const Parts = [];
  for (let offset = 0, PartNumber = 1; offset < data.length; offset += partSize, PartNumber++) {
    const Body = data.subarray(offset, offset + partSize);
    const { ETag } = await client.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber, Body }),
    );
    Parts.push({ PartNumber, ETag });
  }
  await client.send(
    new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts } }),
  );
}
