/**
 * One object streamed to S3 with lib-storage's Upload, made to fail closed and on time.
 *
 * lib-storage sends its requests without an abort signal and, once a part failed, waits for the
 * other parts before it aborts the multipart upload; a part that never answers then holds the
 * upload open for ever. So the Upload gets a view of the client whose `send` carries this
 * upload's signal and a deadline per part, and notes the first request S3 failed: that request
 * stops the upload at once (its other requests are cancelled, its body destroyed) and is the one
 * the message names. AbortMultipartUpload gets a short deadline of its own, so that cleaning up
 * after a hung endpoint cannot hang too.
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type CompleteMultipartUploadCommandInput,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ConflictError } from '../errors.ts';
import {
  holdsObject,
  isLostAnswerRefusal,
  multipartObject,
  singleObject,
  type WrittenObject,
} from './own-write.ts';

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
  /** PutObject parameters without the body (Bucket, Key, ContentType, SSE, IfNoneMatch …). */
  readonly params: PutObjectCommandInput & { Bucket: string; Key: string };
  readonly body: Readable;
  readonly partSize: number;
  readonly answerTimeoutMs: number;
  readonly signal?: AbortSignal;
  /** Turns the failure of one request, named by `operation`, into the operator's sentence. */
  readonly describe: (error: unknown, operation: string) => Error;
}

export async function uploadToS3(request: S3UploadRequest): Promise<void> {
  const { client, params, body, signal, describe } = request;
  const { Bucket, Key } = params;
  const stop = new AbortController();
  let failure: Error | undefined;
  let bodyError: unknown;
  const partBytes = new Map<number, number>();

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

  const operation = (command: unknown): string => {
    const step =
      command instanceof UploadPartCommand
        ? `UploadPart ${command.input.PartNumber}`
        : command instanceof CompleteMultipartUploadCommand
          ? 'CompleteMultipartUpload'
          : command instanceof CreateMultipartUploadCommand
            ? 'CreateMultipartUpload'
            : 'PutObject';
    return `upload of ${Key} (${step})`;
  };

  /** After a lost answer: the object is there, and it is the one we sent, or we say so exactly. */
  const recognise = async (error: unknown, expected: WrittenObject, step: string) => {
    if (await holdsObject(client, Bucket, Key, expected, AbortSignal.timeout(CLEANUP_DEADLINE_MS))) {
      return { $metadata: {}, Bucket, Key, ETag: expected.etag };
    }
    throw new ConflictError(
      `The object s3://${Bucket}/${Key} exists and S3 refused this run's ${step} for it: it may be this run's own upload ` +
        'whose answer was lost, but its size and checksum do not prove it; nothing was replaced, so run the backup again.',
      { cause: error },
    );
  };

  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof AbortMultipartUploadCommand) {
      return client.send(command, { abortSignal: AbortSignal.timeout(CLEANUP_DEADLINE_MS) });
    }
    if (command instanceof UploadPartCommand) {
      command.middlewareStack.add(unsignedPayloadOverTls, {
        step: 'build',
        name: 'unsignedPayloadOverTls',
        override: true,
      });
    }
    const deadline =
      command instanceof UploadPartCommand
        ? request.answerTimeoutMs + (1000 * byteLength(command.input.Body)) / MIN_PART_BYTES_PER_S
        : undefined;
    try {
      // biome-ignore lint/suspicious/noExplicitAny: lib-storage sends the commands of this client.
      const output = await client.send(command as any, {
        abortSignal: stop.signal,
        ...(deadline ? { requestTimeout: Math.max(deadline, 4 * request.answerTimeoutMs) } : {}),
      });
      if (command instanceof UploadPartCommand) {
        partBytes.set(command.input.PartNumber ?? 0, byteLength(command.input.Body));
      }
      return output;
    } catch (error) {
      if (stop.signal.aborted) throw error;
      let reason: unknown = error;
      if (isLostAnswerRefusal(error)) {
        try {
          if (command instanceof CompleteMultipartUploadCommand) {
            return await recognise(error, sentObject(command.input, partBytes), 'CompleteMultipartUpload');
          }
          if (command instanceof PutObjectCommand && command.input.Body instanceof Uint8Array) {
            return await recognise(error, singleObject(command.input.Body), 'PutObject');
          }
        } catch (refusal) {
          reason = refusal;
        }
      }
      failure ??= describe(reason, operation(command));
      stop.abort(reason);
      body.destroy();
      throw reason;
    }
  };
  const scoped: S3Client = Object.create(client);
  scoped.send = send as S3Client['send'];

  try {
    await new Upload({
      client: scoped,
      // IfNoneMatch reaches PutObject and CompleteMultipartUpload: an existing object is never replaced.
      params: { ...params, Body: body, IfNoneMatch: '*' },
      partSize: request.partSize,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    }).done();
  } catch (error) {
    if (failure) throw failure;
    if (signal?.aborted) throw signal.reason;
    // The caller destroyed the body with its own reason (a process failed): that is the cause.
    if (bodyError !== undefined && error === bodyError) throw error;
    throw describe(error, `upload of ${Key}`);
  } finally {
    body.off('error', onBodyError);
    signal?.removeEventListener('abort', onSignal);
  }
}

function sentObject(
  input: CompleteMultipartUploadCommandInput,
  partBytes: Map<number, number>,
): WrittenObject {
  const parts = input.MultipartUpload?.Parts ?? [];
  return multipartObject(parts.map((p) => ({ ...p, bytes: partBytes.get(p.PartNumber ?? 0) ?? -1 })));
}

function byteLength(body: unknown): number {
  return body instanceof Uint8Array
    ? body.byteLength
    : typeof body === 'string'
      ? Buffer.byteLength(body)
      : 0;
}
