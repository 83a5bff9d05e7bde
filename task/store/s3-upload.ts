/**
 * One object streamed to S3 as a multipart upload, made to fail closed and on time.
 *
 * The body's chunks are copied once into part buffers from a small fixed set (part-buffers.ts),
 * reused from part to part: one being filled, QUEUE_SIZE in flight; while none is free the body
 * is not read, so the pipeline before it waits. A body no larger than one part is a single
 * PutObject. Every request carries this upload's signal, and UploadPart a deadline of its own;
 * the first request S3 failed stops the upload at once (its other requests are cancelled, its
 * body destroyed) and is the one the message names. Any failure aborts the multipart upload,
 * with a short deadline of its own, so that cleaning up after a hung endpoint cannot hang too.
 * PutObject and CompleteMultipartUpload carry If-None-Match: *: an existing object is never
 * replaced, and a refusal after a lost answer is recognised as our own write (own-write.ts).
 */
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { MAX_PARTS } from '../core/part-size.ts';
import { ConflictError, StoreError } from '../errors.ts';
import {
  holdsObject,
  isLostAnswerRefusal,
  multipartObject,
  type SentPart,
  singleObject,
  type WrittenObject,
} from './own-write.ts';
import { PartBuffers } from './part-buffers.ts';

/** Parallel part uploads per object: enough to keep a Fargate task's network busy, bounded memory. */
const QUEUE_SIZE = 4;
/** AbortMultipartUpload and the lost-answer check: small requests, so a few seconds with retries. */
export const CLEANUP_DEADLINE_MS = 10_000;
/**
 * The slowest a part may travel before its attempt is given up (32 KiB/s, a quarter-megabit
 * link per parallel part): a backstop behind the answer timeout, for a server that trickles.
 */
const MIN_PART_BYTES_PER_S = 32 * 1024;

/**
 * Over TLS a part's payload is not hashed for the signature (UNSIGNED-PAYLOAD), as the AWS CLI
 * does: SHA-256 of every byte is the largest hash the node process computes. Integrity stays:
 * each part carries its CRC32 (computed natively, zlib's), which S3 verifies, TLS protects the
 * transport, and the artifact's SHA-256 is in the manifest. Plain HTTP keeps the signed payload.
 */
export function unsignedPayloadOverTls<A extends { request: unknown }, R>(
  next: (args: A) => Promise<R>,
): (args: A) => Promise<R> {
  return (args) => {
    const request = args.request as { protocol?: string; headers?: Record<string, string> };
    if (request.protocol === 'https:' && request.headers) {
      request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    }
    return next(args);
  };
}

export interface S3UploadRequest {
  readonly client: S3Client;
  /** PutObject parameters without the body (Bucket, Key, ContentType, SSE, Object Lock …). */
  readonly params: PutObjectCommandInput & { Bucket: string; Key: string };
  readonly body: Readable;
  readonly partSize: number;
  readonly answerTimeoutMs: number;
  readonly signal?: AbortSignal;
  /** Turns the failure of one request, named by `operation`, into the operator's sentence. */
  readonly describe: (error: unknown, operation: string) => Error;
}

type Command =
  | PutObjectCommand
  | CreateMultipartUploadCommand
  | UploadPartCommand
  | CompleteMultipartUploadCommand;

interface UploadedPart extends SentPart {
  readonly PartNumber: number;
}

export async function uploadToS3(request: S3UploadRequest): Promise<void> {
  const { client, body, signal, describe, partSize } = request;
  // IfNoneMatch reaches PutObject and CompleteMultipartUpload: an existing object is never replaced.
  const params = { ...request.params, IfNoneMatch: '*' };
  const { Bucket, Key } = params;
  const stop = new AbortController();
  let failure: Error | undefined;
  let bodyError: unknown;

  const onBodyError = (error: unknown) => {
    bodyError ??= error;
    stop.abort(error);
  };
  const onSignal = () => {
    stop.abort(signal?.reason);
    body.destroy(signal?.reason);
  };
  body.once('error', onBodyError);
  signal?.addEventListener('abort', onSignal, { once: true });

  /**
   * One request of this upload. Its failure, unless the upload was stopped already, stops the
   * upload and is the one named; `written` is what a refusal after a lost answer must find there.
   */
  const send = async <O>(command: Command, step: string, written?: () => WrittenObject): Promise<O> => {
    const deadline =
      command instanceof UploadPartCommand
        ? request.answerTimeoutMs + (1000 * (command.input.Body as Buffer).byteLength) / MIN_PART_BYTES_PER_S
        : undefined;
    try {
      // biome-ignore lint/suspicious/noExplicitAny: one path for the four commands of this upload.
      return (await client.send(command as any, {
        abortSignal: stop.signal,
        ...(deadline ? { requestTimeout: Math.max(deadline, 4 * request.answerTimeoutMs) } : {}),
      })) as O;
    } catch (error) {
      if (stop.signal.aborted) throw error;
      let reason: unknown = error;
      if (written && isLostAnswerRefusal(error)) {
        try {
          return (await recognise(error, written(), step)) as O;
        } catch (refusal) {
          reason = refusal;
        }
      }
      failure ??= describe(reason, `upload of ${Key} (${step})`);
      stop.abort(reason);
      body.destroy();
      throw reason;
    }
  };

  /** After a lost answer: the object is there, and it is the one we sent, or we say so exactly. */
  const recognise = async (error: unknown, expected: WrittenObject, step: string): Promise<object> => {
    if (await holdsObject(client, Bucket, Key, expected, AbortSignal.timeout(CLEANUP_DEADLINE_MS))) return {};
    throw new ConflictError(
      `The object s3://${Bucket}/${Key} exists and S3 refused this run's ${step} for it: it may be this run's own upload ` +
        'whose answer was lost, but its size and checksum do not prove it; nothing was replaced, so run the backup again.',
      { cause: error },
    );
  };

  const buffers = new PartBuffers(partSize, QUEUE_SIZE + 1);
  const parts: UploadedPart[] = [];
  const sending: Promise<void>[] = [];
  let uploadId: Promise<string> | undefined;

  const createUpload = async (): Promise<string> => {
    const { Body: _, IfNoneMatch: __, ...create } = params;
    const output = await send<{ UploadId?: string }>(
      new CreateMultipartUploadCommand({ ...create, ChecksumAlgorithm: 'CRC32' }),
      'CreateMultipartUpload',
    );
    return output.UploadId ?? '';
  };

  /** Sends a full (or the last) part; its buffer goes back to the set once S3 answered or it failed. */
  const sendPart = (PartNumber: number, buffer: Buffer, bytes: number) => {
    const part = (async () => {
      try {
        uploadId ??= createUpload();
        const UploadId = await uploadId;
        const command = new UploadPartCommand({
          Bucket,
          Key,
          UploadId,
          PartNumber,
          Body: buffer.subarray(0, bytes),
          ChecksumAlgorithm: 'CRC32',
        });
        command.middlewareStack.add(unsignedPayloadOverTls, {
          step: 'build',
          name: 'unsignedPayloadOverTls',
          override: true,
        });
        const { ETag, ChecksumCRC32 } = await send<{ ETag?: string; ChecksumCRC32?: string }>(
          command,
          `UploadPart ${PartNumber}`,
        );
        parts.push({ PartNumber, ETag, ChecksumCRC32, bytes });
      } finally {
        buffers.give(buffer);
      }
    })();
    part.catch(() => {}); // observed through `sending` or, after a failure, through `failure`
    sending.push(part);
  };

  const complete = async () => {
    await Promise.all(sending);
    parts.sort((a, b) => a.PartNumber - b.PartNumber);
    await send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId: await uploadId,
        IfNoneMatch: '*',
        MultipartUpload: {
          Parts: parts.map(({ PartNumber, ETag, ChecksumCRC32 }) => ({ PartNumber, ETag, ChecksumCRC32 })),
        },
      }),
      'CompleteMultipartUpload',
      () => multipartObject(parts),
    );
  };

  let buffer = buffers.tryTake() as Buffer; // the first of a fresh set is always free
  let filled = 0;
  let partNumber = 1;
  const startNext = (next: Buffer) => {
    sendPart(partNumber++, buffer, filled);
    buffer = next;
    filled = 0;
  };
  /** Copies `chunk` in from `offset`; returns a promise only when it has to wait for a free buffer. */
  const copyIn = (chunk: Buffer, offset: number): Promise<void> | undefined => {
    while (offset < chunk.length) {
      // A full part goes out only once more bytes follow: a body of exactly one part is a PutObject.
      if (filled === partSize) {
        if (partNumber === MAX_PARTS) {
          throw new StoreError(
            `The upload of ${Key} needs more than ${MAX_PARTS} parts of ${partSize / (1024 * 1024)} MiB; set a larger BACKUP_PART_SIZE.`,
          );
        }
        // The next buffer first: while QUEUE_SIZE parts are in flight, this full one waits.
        const next = buffers.tryTake();
        if (!next) {
          return buffers.take(stop.signal).then((free) => {
            startNext(free);
            return copyIn(chunk, offset);
          });
        }
        startNext(next);
      }
      const n = Math.min(partSize - filled, chunk.length - offset);
      buffer.set(chunk.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
    }
    return undefined;
  };
  // The body is piped, not iterated: an async iterator's promise per chunk cost ~0.2 s CPU per GB.
  const sink = new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      try {
        const wait = copyIn(chunk, 0);
        if (wait) wait.then(() => callback(), callback);
        else callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });

  try {
    await pipeline(body, sink, { signal: stop.signal });
    if (partNumber === 1) {
      const Body = buffer.subarray(0, filled);
      await send(new PutObjectCommand({ ...params, Body }), 'PutObject', () => singleObject(Body));
    } else {
      sendPart(partNumber, buffer, filled);
      await complete();
    }
  } catch (error) {
    stop.abort(error);
    await Promise.allSettled(sending);
    await abortUpload(client, Bucket, Key, uploadId);
    if (failure) throw failure;
    if (signal?.aborted) throw signal.reason;
    // The caller destroyed the body with its own reason (a process failed): that is the cause.
    if (bodyError !== undefined) throw bodyError;
    throw describe(error, `upload of ${Key}`);
  } finally {
    body.off('error', onBodyError);
    signal?.removeEventListener('abort', onSignal);
  }
}

/** Aborts the multipart upload, if one was created; best effort, within its own deadline. */
async function abortUpload(
  client: S3Client,
  Bucket: string,
  Key: string,
  uploadId: Promise<string> | undefined,
): Promise<void> {
  const UploadId = await uploadId?.catch(() => undefined);
  if (!UploadId) return;
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }), {
      abortSignal: AbortSignal.timeout(CLEANUP_DEADLINE_MS),
    });
  } catch {
    // Lifecycle aborts incomplete uploads after a day; the failure that brought us here is the news.
  }
}
