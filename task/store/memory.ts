/**
 * An ObjectStore held in memory, with S3's semantics for everything the store contract names
 * (conditional writes, uploads that appear only when their body ends cleanly, key-ordered
 * listings, common prefixes). It passes the same contract suite as S3Store; tests use it where
 * a bucket's contents matter but the wire does not, and read its request log to check costs.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { ObjectInfo, ObjectStore, UploadOptions } from './store.ts';

interface Stored {
  readonly body: Buffer;
  readonly etag: string;
  readonly lastModified: Date;
}

export interface StoreRequest {
  readonly operation:
    | 'upload'
    | 'putIfAbsent'
    | 'replace'
    | 'put'
    | 'read'
    | 'get'
    | 'exists'
    | 'list'
    | 'listFolders';
  readonly key: string;
}

export class MemoryStore implements ObjectStore {
  readonly location: string;
  /** Every call, in order: what a test reads to check how many requests an operation costs. */
  readonly requests: StoreRequest[] = [];
  private readonly objects = new Map<string, Stored>();

  constructor(name = 'memory') {
    this.location = `memory://${name}`;
  }

  /** Writes an object as it is, replacing any (test set-up: planted or tampered objects). */
  set(key: string, body: string | Buffer, lastModified = new Date()): void {
    const bytes = Buffer.from(body);
    this.objects.set(key, { body: bytes, etag: etagOf(bytes), lastModified });
  }

  /** Removes an object (test set-up: a lost artifact). */
  delete(key: string): void {
    this.objects.delete(key);
  }

  keys(prefix = ''): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async upload(key: string, body: Readable, _options: UploadOptions): Promise<void> {
    this.log('upload', key);
    const chunks: Buffer[] = [];
    // A destroyed body rejects the iteration: nothing is stored, as an aborted multipart upload.
    for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
    if (this.objects.has(key))
      throw new ConflictError(`${this.location}/${key} exists already; it was not replaced.`);
    this.set(key, Buffer.concat(chunks));
  }

  async putIfAbsent(key: string, body: string): Promise<string> {
    this.log('putIfAbsent', key);
    if (this.objects.has(key))
      throw new ConflictError(`${this.location}/${key} exists already; it was not replaced.`);
    this.set(key, body);
    return this.etag(key);
  }

  async replace(key: string, body: string, _contentType: string, etag: string): Promise<string> {
    this.log('replace', key);
    if (this.objects.get(key)?.etag !== etag) {
      throw new ConflictError(`${this.location}/${key} was changed by someone else; it was not replaced.`);
    }
    this.set(key, body);
    return this.etag(key);
  }

  async put(key: string, body: string): Promise<void> {
    this.log('put', key);
    this.set(key, body);
  }

  async read(key: string): Promise<{ text: string; etag: string }> {
    this.log('read', key);
    const stored = this.stored(key);
    return { text: stored.body.toString('utf8'), etag: stored.etag };
  }

  async getText(key: string): Promise<string> {
    return (await this.read(key)).text;
  }

  async get(key: string): Promise<Readable> {
    this.log('get', key);
    return Readable.from([this.stored(key).body]);
  }

  async exists(key: string): Promise<boolean> {
    this.log('exists', key);
    return this.objects.has(key);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.log('list', prefix);
    for (const key of this.keys(prefix)) {
      const stored = this.objects.get(key);
      if (stored) yield { key, size: stored.body.length, lastModified: stored.lastModified };
    }
  }

  async listFolders(prefix: string): Promise<string[]> {
    this.log('listFolders', prefix);
    const folders = new Set<string>();
    for (const key of this.keys(prefix)) {
      const rest = key.slice(prefix.length);
      if (rest.includes('/')) folders.add(`${prefix}${rest.slice(0, rest.indexOf('/') + 1)}`);
    }
    return [...folders].sort();
  }

  private stored(key: string): Stored {
    const stored = this.objects.get(key);
    if (!stored) throw new NotFoundError(`read of ${key} in ${this.location} failed: no such object.`);
    return stored;
  }

  private etag(key: string): string {
    return this.stored(key).etag;
  }

  private log(operation: StoreRequest['operation'], key: string): void {
    this.requests.push({ operation, key });
  }
}

function etagOf(body: Buffer): string {
  return `"${createHash('md5').update(body).digest('hex')}"`;
}
