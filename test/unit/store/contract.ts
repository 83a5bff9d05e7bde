/**
 * The ObjectStore contract (task/store/store.ts), one suite run against every implementation:
 * the in-memory store here, S3Store on the emulator in test/integration/store-contract.test.ts.
 */
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../../task/errors.ts';
import type { ObjectStore } from '../../../task/store/store.ts';

const OPTIONS = { partSize: 5 * 1024 * 1024, contentType: 'application/octet-stream' };

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function keysBelow(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  return keys;
}

/** `makeStore` returns a store whose keys below the given prefix are empty. */
export function describeStoreContract(name: string, makeStore: () => ObjectStore): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let n = 0;
    const fresh = () => `contract-${Date.now()}-${n++}/`;

    it('stores an uploaded body byte for byte, in several parts', async () => {
      const store = makeStore();
      const base = fresh();
      const body = Buffer.alloc(11 * 1024 * 1024 + 17, 7);
      body.write('head');

      await store.upload(`${base}a.bin`, Readable.from([body.subarray(0, 3e6), body.subarray(3e6)]), OPTIONS);

      expect((await readAll(await store.get(`${base}a.bin`))).equals(body)).toBe(true);
      const [info] = await (async () => {
        const out = [];
        for await (const o of store.list(base)) out.push(o);
        return out;
      })();
      expect(info).toMatchObject({ key: `${base}a.bin`, size: body.length });
    });

    it('leaves no object when the upload body is destroyed with an error', async () => {
      const store = makeStore();
      const base = fresh();
      const body = new PassThrough();
      const uploading = store.upload(`${base}partial.bin`, body, OPTIONS);
      body.write(Buffer.alloc(6 * 1024 * 1024, 1));
      setTimeout(() => body.destroy(new Error('pg_dump exited with code 1')), 50);

      await expect(uploading).rejects.toThrow();

      expect(await store.exists(`${base}partial.bin`)).toBe(false);
      expect(await keysBelow(store, base)).toEqual([]);
    });

    it('fails with ConflictError and keeps the object when an upload would replace it', async () => {
      const store = makeStore();
      const base = fresh();
      await store.putIfAbsent(`${base}manifest.json`, 'first', 'application/json');

      await expect(
        store.upload(`${base}manifest.json`, Readable.from([Buffer.from('second')]), OPTIONS),
      ).rejects.toBeInstanceOf(ConflictError);

      expect(await store.getText(`${base}manifest.json`)).toBe('first');
    });

    it('fails with ConflictError when putIfAbsent finds the key taken, keeping the first write', async () => {
      const store = makeStore();
      const key = `${fresh()}lock.json`;
      const etag = await store.putIfAbsent(key, 'first', 'application/json');

      await expect(store.putIfAbsent(key, 'second', 'application/json')).rejects.toBeInstanceOf(
        ConflictError,
      );

      expect(await store.read(key)).toEqual({ text: 'first', etag });
    });

    it('replaces only while the ETag is current, and fails with ConflictError once it is not', async () => {
      const store = makeStore();
      const key = `${fresh()}lock.json`;
      const first = await store.putIfAbsent(key, 'v1', 'application/json');
      const second = await store.replace(key, 'v2', 'application/json', first);

      await expect(store.replace(key, 'v3', 'application/json', first)).rejects.toBeInstanceOf(ConflictError);

      expect(await store.read(key)).toEqual({ text: 'v2', etag: second });
    });

    it('fails with NotFoundError reading an absent object, and exists() says false', async () => {
      const store = makeStore();
      const key = `${fresh()}absent.json`;

      await expect(store.read(key)).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.get(key)).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.exists(key)).toBe(false);
    });

    it('overwrites with put', async () => {
      const store = makeStore();
      const key = `${fresh()}verification.json`;
      await store.put(key, 'old', 'application/json');
      await store.put(key, 'new', 'application/json');

      expect(await store.getText(key)).toBe('new');
    });

    it('lists every object below a prefix in key order across pages, and nothing beside it', async () => {
      const store = makeStore();
      const base = fresh();
      const keys = Array.from({ length: 1003 }, (_, i) => `${base}app/${String(i).padStart(4, '0')}`);
      for (let i = 0; i < keys.length; i += 50)
        await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, 'x', 'text/plain')));
      await store.put(`${base}app2/0000`, 'x', 'text/plain');

      expect(await keysBelow(store, `${base}app/`)).toEqual(keys);
    });

    it('lists the next folder level below a prefix, each ending in a slash', async () => {
      const store = makeStore();
      const base = fresh();
      for (const key of ['daily/b/1/m', 'daily/a/1/m', 'daily/a/2/m', 'daily/top', 'weekly/a/1/m'])
        await store.put(`${base}${key}`, 'x', 'text/plain');

      expect(await store.listFolders(`${base}daily/`)).toEqual([`${base}daily/a/`, `${base}daily/b/`]);
    });
  });
}
