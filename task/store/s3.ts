/**
 * The S3 store: the reader (s3-reader.ts) plus the writes. Streams go through our multipart
 * writer (s3-upload.ts); small records are single conditional PutObjects.
 */
import type { Readable } from 'node:stream';
import { PutObjectCommand, type PutObjectCommandInput, S3ServiceException } from '@aws-sdk/client-s3';
import { isTier, type Tier } from '../core/ids.ts';
import { ConflictError } from '../errors.ts';
import { holdsObject, isLostAnswerRefusal, singleObject } from './own-write.ts';
import { DEFAULT_ANSWER_TIMEOUT_MS, type S3Location, S3Reader } from './s3-reader.ts';
import { CLEANUP_DEADLINE_MS, uploadToS3 } from './s3-upload.ts';
import type { ObjectStore, UploadOptions, WriteOptions } from './store.ts';

export interface S3StoreSettings extends S3Location {
  /** When set, every put asks for SSE-KMS with this key. */
  readonly kmsKeyId?: string;
  /** Key prefix of the backups ('' or ending in '/'): the tier is the segment after it. @default '' */
  readonly prefix?: string;
  /**
   * When set, every object written below a tier is locked for that tier's days from the write
   * (lifecycle expires it as many days after its creation); other keys (locks/) get none.
   */
  readonly objectLock?: ObjectLockSettings;
  /** The clock the retain-until dates count from. @default () => new Date() */
  readonly now?: () => Date;
}

export interface ObjectLockSettings {
  readonly mode: 'GOVERNANCE' | 'COMPLIANCE';
  readonly days: Readonly<Record<Tier, number>>;
}

const DAY_MS = 86_400_000;

export class S3Store extends S3Reader implements ObjectStore {
  private readonly sse: { ServerSideEncryption?: 'aws:kms'; SSEKMSKeyId?: string };
  private readonly lockSettings: S3StoreSettings;

  constructor(client: ConstructorParameters<typeof S3Reader>[0], settings: S3StoreSettings) {
    super(client, settings);
    this.lockSettings = settings;
    this.sse = settings.kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: settings.kmsKeyId } : {};
  }

  upload(key: string, body: Readable, options: UploadOptions): Promise<void> {
    return uploadToS3({
      client: this.client,
      params: this.params(key, options.contentType),
      body,
      partSize: options.partSize,
      answerTimeoutMs: this.settings.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS,
      ...(options.signal ? { signal: options.signal } : {}),
      describe: (error, operation) => this.wrap(error, operation),
    });
  }

  putIfAbsent(key: string, body: string, contentType: string): Promise<string> {
    return this.putSmall(
      { ...this.params(key, contentType), Body: body, IfNoneMatch: '*' },
      'exists already',
    );
  }

  replace(
    key: string,
    body: string,
    contentType: string,
    etag: string,
    options?: WriteOptions,
  ): Promise<string> {
    return this.putSmall(
      { ...this.params(key, contentType), Body: body, IfMatch: etag },
      'was changed by someone else',
      options?.signal,
    );
  }

  async put(key: string, body: string, contentType: string): Promise<void> {
    await this.putSmall({ ...this.params(key, contentType), Body: body }, 'could not be written');
  }

  private params(key: string, contentType: string) {
    return {
      Bucket: this.settings.bucket,
      Key: key,
      ContentType: contentType,
      ...this.sse,
      ...this.retention(key),
    };
  }

  /** The Object Lock of a write to `key`: its tier's mode and retain-until date, or none. */
  private retention(
    key: string,
  ): Pick<PutObjectCommandInput, 'ObjectLockMode' | 'ObjectLockRetainUntilDate'> {
    const { objectLock, prefix = '', now = () => new Date() } = this.lockSettings;
    if (!objectLock || !key.startsWith(prefix)) return {};
    const tier = key.slice(prefix.length).split('/', 1)[0] ?? '';
    if (!isTier(tier)) return {};
    return {
      ObjectLockMode: objectLock.mode,
      ObjectLockRetainUntilDate: new Date(now().getTime() + objectLock.days[tier] * DAY_MS),
    };
  }

  /**
   * A small PutObject; a failed precondition (412, or 409 for a concurrent conditional write) is
   * a ConflictError, unless the object there is byte for byte this write: a first attempt that
   * succeeded but whose answer was lost, refused on retry.
   */
  private async putSmall(
    input: PutObjectCommandInput & { Bucket: string; Key: string; Body: string },
    conflict: string,
    signal?: AbortSignal,
  ): Promise<string> {
    try {
      return (
        (await this.client.send(new PutObjectCommand(input), signal ? { abortSignal: signal } : {})).ETag ??
        ''
      );
    } catch (error) {
      const written = singleObject(Buffer.from(input.Body));
      const lost =
        input.IfNoneMatch !== undefined &&
        isLostAnswerRefusal(error) &&
        (await holdsObject(
          this.client,
          input.Bucket,
          input.Key,
          written,
          AbortSignal.timeout(CLEANUP_DEADLINE_MS),
        ));
      if (lost) return written.etag;
      const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
      if (status === 412 || status === 409) {
        throw new ConflictError(`${this.location}/${input.Key} ${conflict}; it was not replaced.`, {
          cause: error,
        });
      }
      throw this.wrap(error, `write of ${input.Key}`);
    }
  }
}
