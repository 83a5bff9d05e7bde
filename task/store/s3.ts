import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  paginateListObjectsV2,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { StoreConfig } from '../config.ts';
import { ConflictError, NotFoundError, StoreError } from '../errors.ts';
import type { ObjectInfo, ObjectStore, UploadOptions } from './store.ts';

/** Parallel part uploads per object: enough to keep a Fargate task's network busy, bounded memory. */
const QUEUE_SIZE = 4;

export function createS3Client(config: StoreConfig): S3Client {
  return new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: true } : {}),
    maxAttempts: 4,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
  });
}

export class S3Store implements ObjectStore {
  readonly location: string;
  private readonly sse: { ServerSideEncryption?: 'aws:kms'; SSEKMSKeyId?: string };

  constructor(
    private readonly client: S3Client,
    private readonly config: StoreConfig,
  ) {
    this.location = `s3://${config.bucket}`;
    this.sse = config.kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: config.kmsKeyId } : {};
  }

  async upload(key: string, body: Readable, options: UploadOptions): Promise<void> {
    const upload = new Upload({
      client: this.client,
      // IfNoneMatch reaches PutObject and CompleteMultipartUpload: an existing object is never replaced.
      params: { ...this.params(key, options.contentType), Body: body, IfNoneMatch: '*' },
      partSize: options.partSize,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    if (options.onProgress) {
      const report = options.onProgress;
      upload.on('httpUploadProgress', (p) => report(p.loaded ?? 0));
    }
    try {
      await upload.done();
    } catch (error) {
      throw this.wrap(error, `upload of ${key}`);
    }
  }

  putIfAbsent(key: string, body: string, contentType: string): Promise<string> {
    return this.putSmall(
      { ...this.params(key, contentType), Body: body, IfNoneMatch: '*' },
      'exists already',
    );
  }

  replace(key: string, body: string, contentType: string, etag: string): Promise<string> {
    return this.putSmall(
      { ...this.params(key, contentType), Body: body, IfMatch: etag },
      'was changed by someone else',
    );
  }

  async put(key: string, body: string, contentType: string): Promise<void> {
    await this.putSmall({ ...this.params(key, contentType), Body: body }, 'could not be written');
  }

  async get(key: string): Promise<Readable> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
      return response.Body as Readable;
    } catch (error) {
      throw this.wrap(error, `read of ${key}`);
    }
  }

  async read(key: string): Promise<{ text: string; etag: string }> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
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
      await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: key }));
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
        { Bucket: this.config.bucket, Prefix: prefix },
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
        { Bucket: this.config.bucket, Prefix: prefix, Delimiter: '/' },
      );
      for await (const page of pages) {
        for (const p of page.CommonPrefixes ?? []) if (p.Prefix) folders.push(p.Prefix);
      }
    } catch (error) {
      throw this.wrap(error, `listing of ${prefix || '/'}`);
    }
    return folders.sort();
  }

  private params(key: string, contentType: string) {
    return { Bucket: this.config.bucket, Key: key, ContentType: contentType, ...this.sse };
  }

  /** A small PutObject; a failed precondition (412, or 409 for a concurrent conditional write) is a ConflictError. */
  private async putSmall(input: PutObjectCommandInput, conflict: string): Promise<string> {
    try {
      return (await this.client.send(new PutObjectCommand(input))).ETag ?? '';
    } catch (error) {
      const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
      if (status === 412 || status === 409) {
        throw new ConflictError(`${this.location}/${input.Key} ${conflict}; it was not replaced.`, {
          cause: error,
        });
      }
      throw this.wrap(error, `write of ${input.Key}`);
    }
  }

  /** Turns an SDK or network error into one sentence naming the operation, the bucket and the cause. */
  private wrap(error: unknown, operation: string): Error {
    if (error instanceof ConflictError || error instanceof StoreError) return error;
    const where = `${this.location}${this.config.endpoint ? ` at ${this.config.endpoint}` : ''}`;
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
      return new StoreError(
        `S3 ${operation} in ${where} failed: ${error.name} (HTTP ${status}): ${error.message}`,
        {
          cause: error,
        },
      );
    }
    const e = error as NodeJS.ErrnoException;
    const code = e?.code ?? (e?.cause as NodeJS.ErrnoException | undefined)?.code;
    const reason = code
      ? `${code}${e.message && !e.message.includes(code) ? ` ${e.message}` : ''}`
      : e?.message;
    return new StoreError(`S3 ${operation} in ${where} failed: ${reason || String(error)}`, { cause: error });
  }
}
