/**
 * The storage interface backupctl writes to and reads from. S3 is the implementation in use;
 * commands see only this interface, so the fail-closed rules are stated once, here:
 * - `upload` makes an object appear only when its body ends cleanly; a body destroyed with an
 *   error, or stopped through `signal`, leaves no object and no open multipart upload behind;
 *   a request the store sends never waits for ever (each has a deadline).
 * - `putIfAbsent` never replaces an existing object (a manifest is written exactly once).
 */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

export interface UploadOptions {
  readonly partSize: number;
  readonly contentType: string;
  /**
   * Stops the upload: requests in flight are cancelled, the multipart upload is aborted, and
   * `upload` rejects with the signal's reason once that is done.
   */
  readonly signal?: AbortSignal;
}

export interface WriteOptions {
  /** Cancels the write (a deadline, a shutdown); it then rejects. */
  readonly signal?: AbortSignal;
}

/** Reading the bucket: all the catalog (list, verify, restore, status, the Lambdas) needs. */
export interface ObjectReader {
  /** A human name for messages, e.g. s3://bucket. */
  readonly location: string;
  /** A small object's text and ETag; NotFoundError when absent. */
  read(key: string): Promise<{ text: string; etag: string }>;
  /** The object's bytes as a stream; NotFoundError when absent. */
  get(key: string): Promise<Readable>;
  getText(key: string): Promise<string>;
  exists(key: string): Promise<boolean>;
  /** Every object below `prefix`, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** The next path level below `prefix` (S3 common prefixes), each ending in '/'. */
  listFolders(prefix: string): Promise<string[]>;
}

export interface ObjectStore extends ObjectReader {
  /** Streams `body` to `key`, refusing to replace an existing object. Resolves when the object exists. */
  upload(key: string, body: Readable, options: UploadOptions): Promise<void>;
  /** Writes a small object only if `key` does not exist; ConflictError when it does. Returns the ETag. */
  putIfAbsent(key: string, body: string, contentType: string): Promise<string>;
  /** Replaces a small object only if its ETag is still `etag`; ConflictError otherwise. Returns the new ETag. */
  replace(
    key: string,
    body: string,
    contentType: string,
    etag: string,
    options?: WriteOptions,
  ): Promise<string>;
  /** Writes a small object, replacing any existing one (records that may be rewritten). */
  put(key: string, body: string, contentType: string): Promise<void>;
}
