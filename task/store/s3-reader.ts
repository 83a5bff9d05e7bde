/**
 * The read side of the S3 store, and the S3 client settings and error mapping every S3 caller
 * shares. The Lambdas import this file alone: no uploader, no CLI exit codes.
 */
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { ConflictError, NotFoundError, StoreError } from '../errors.ts';
import type { ObjectInfo, ObjectReader } from './store.ts';

/**
 * How long S3 may stay silent: to accept a connection, or between any two bytes of a request or
 * response (socket inactivity, not the transfer's total time, so a slow link is not cut off).
 * S3 answers in milliseconds once it has a request's last byte; 30 s of silence is a dead
 * connection or a stuck server, and with four attempts a hung request fails within ~2 minutes.
 */
export const DEFAULT_ANSWER_TIMEOUT_MS = 30_000;
/** Attempts per request (the SDK's retry with backoff on throttling, 5xx, resets and timeouts). */
export const MAX_ATTEMPTS = 4;

export interface S3Settings {
  readonly region: string;
  /** Custom S3 endpoint (emulator, MinIO); implies path-style addressing. */
  readonly endpoint?: string;
  /** @default DEFAULT_ANSWER_TIMEOUT_MS */
  readonly answerTimeoutMs?: number;
}

/** Where the reader reads: the bucket, for messages, besides the client settings. */
export interface S3Location extends S3Settings {
  readonly bucket: string;
}

export function createS3Client(settings: S3Settings): S3Client {
  const answer = settings.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: answer,
      socketTimeout: answer,
      // A total deadline per attempt up to the answer's headers, as a backstop for a server that
      // trickles. Generous for small requests; UploadPart sets its own from the part's size.
      requestTimeout: 4 * answer,
      throwOnRequestTimeout: true,
    },
  });
}

/** What an S3 request was, for messages: "UploadPart 2 of daily/app/…/db.dump.zst", "read of …". */
export type S3Operation = string;

/**
 * The one mapping of an SDK or network error to an operator's sentence: what failed, where, why
 * and what to do. NotFoundError only for a missing object; ConflictError for a failed condition.
 */
export function describeS3Error(error: unknown, operation: S3Operation, location: S3Location): Error {
  if (error instanceof StoreError || error instanceof ConflictError || error instanceof NotFoundError)
    return error;
  const where = `s3://${location.bucket}${location.endpoint ? ` at ${location.endpoint}` : ''}`;
  const attempts = (error as { $metadata?: { attempts?: number } })?.$metadata?.attempts;
  const tries = attempts && attempts > 1 ? `, ${attempts} attempts` : '';
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode;
    // Not a NotFoundError: callers read that as "the object is absent", which a missing bucket is not.
    if (error.name === 'NoSuchBucket') {
      return new StoreError(
        `S3 ${operation} in ${where} failed: the bucket does not exist (NoSuchBucket); check BACKUP_BUCKET and AWS_REGION.`,
        { cause: error },
      );
    }
    if (status === 404 || error.name === 'NoSuchKey') {
      return new NotFoundError(`${operation} in ${where} failed: no such object.`, { cause: error });
    }
    if (status === 412) {
      return new ConflictError(`${operation} in ${where} refused: the object exists already.`, {
        cause: error,
      });
    }
    if (isThrottling(error)) {
      return new StoreError(
        `S3 is throttling requests to ${where}: the ${operation} got ${status} ${error.name}${attempts ? ` ${attempts} times` : ''}; ` +
          'retry later, or lower the request rate (a larger BACKUP_PART_SIZE sends fewer parts).',
        { cause: error },
      );
    }
    return new StoreError(
      `S3 ${operation} in ${where} failed: ${error.name} (HTTP ${status}${tries}): ${error.message}`,
      { cause: error },
    );
  }
  if ((error as Error)?.name === 'TimeoutError') {
    const seconds = (location.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS) / 1000;
    const total = (error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    return new StoreError(
      `S3 ${operation} in ${where} ${total ? 'did not finish in time' : `got no answer within ${seconds} s`}${attempts ? ` (${attempts} attempts)` : ''}; ` +
        'check the network path to S3 (or the endpoint), then retry.',
      { cause: error },
    );
  }
  const e = error as NodeJS.ErrnoException;
  const code = e?.code ?? (e?.cause as NodeJS.ErrnoException | undefined)?.code;
  const reason = code
    ? `${code}${e.message && !e.message.includes(code) ? ` ${e.message}` : ''}`
    : e?.message;
  return new StoreError(
    `S3 ${operation} in ${where} failed: ${reason || String(error)}${tries ? ` (${attempts} attempts)` : ''}`,
    {
      cause: error,
    },
  );
}

/** S3's "slow down" answers: 503 SlowDown, 429, and the SDK's other throttling codes. */
function isThrottling(error: S3ServiceException): boolean {
  return (
    error.$metadata.httpStatusCode === 429 ||
    error.$retryable?.throttling === true ||
    THROTTLING_CODES.has(error.name)
  );
}
const THROTTLING_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded']);

export class S3Reader implements ObjectReader {
  readonly location: string;

  constructor(
    protected readonly client: S3Client,
    protected readonly settings: S3Location,
  ) {
    this.location = `s3://${settings.bucket}`;
  }

  async get(key: string): Promise<Readable> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.settings.bucket, Key: key }),
      );
      return response.Body as Readable;
    } catch (error) {
      throw this.wrap(error, `read of ${key}`);
    }
  }

  async read(key: string): Promise<{ text: string; etag: string }> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.settings.bucket, Key: key }),
      );
      return { text: (await response.Body?.transformToString('utf8')) ?? '', etag: response.ETag ?? '' };
    } catch (error) {
      throw this.wrap(error, `read of ${key}`);
    }
  }

  async getText(key: string): Promise<string> {
    return (await this.read(key)).text;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: key }));
      return true;
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return false;
      throw this.wrap(error, `lookup of ${key}`);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    try {
      const pages = paginateListObjectsV2(
        { client: this.client },
        { Bucket: this.settings.bucket, Prefix: prefix },
      );
      for await (const page of pages) {
        for (const o of page.Contents ?? []) {
          if (o.Key) yield { key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) };
        }
      }
    } catch (error) {
      throw this.wrap(error, `listing of ${prefix || '/'}`);
    }
  }

  async listFolders(prefix: string): Promise<string[]> {
    const folders: string[] = [];
    try {
      const pages = paginateListObjectsV2(
        { client: this.client },
        { Bucket: this.settings.bucket, Prefix: prefix, Delimiter: '/' },
      );
      for await (const page of pages) {
        for (const p of page.CommonPrefixes ?? []) if (p.Prefix) folders.push(p.Prefix);
      }
    } catch (error) {
      throw this.wrap(error, `listing of ${prefix || '/'}`);
    }
    return folders.sort();
  }

  protected wrap(error: unknown, operation: S3Operation): Error {
    return describeS3Error(error, operation, this.settings);
  }
}
