/**
 * Reading artifacts back: streamed from the store into processes (zstd -d, pg_restore, tar) with
 * the manifest's byte count and SHA-256 enforced on the way, and a check of what an artifact
 * really holds before anything is restored from it.
 */
import { Writable } from 'node:stream';
import type { Artifact } from './core/manifest.ts';
import { CheckFailedError } from './errors.ts';
import { type PipelineResult, runCommandRaw, type Step, startPipeline } from './pipeline.ts';
import type { ObjectReader } from './store/store.ts';

/** A sink that drops everything (pg_restore and tar -x write nothing worth keeping to stdout). */
export function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/** A sink that calls `onLine` for every output line. */
export function lines(onLine: (line: string) => void): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) onLine(line);
      done();
    },
    final(done) {
      if (partial) onLine(partial);
      done();
    },
  });
}

/**
 * Streams an artifact into `steps`; fails with IntegrityError before the last bytes if it is
 * damaged. `signal` stops the pipeline, killing every process, and the call rejects with its reason.
 */
export async function streamArtifact(
  store: ObjectReader,
  artifact: Artifact,
  steps: readonly Step[],
  sink: Writable = discard(),
  signal?: AbortSignal,
): Promise<PipelineResult> {
  signal?.throwIfAborted();
  const stream = await store.get(artifact.key);
  const pipeline = startPipeline(steps, sink, {
    source: {
      stream,
      name: `S3 read of ${artifact.key}`,
      expect: { bytes: artifact.bytes, sha256: artifact.sha256 },
    },
  });
  const stop = () => pipeline.fail(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal?.addEventListener('abort', stop, { once: true });
  try {
    const result = await pipeline.result;
    sink.end();
    return result;
  } finally {
    signal?.removeEventListener('abort', stop);
    stream.destroy();
  }
}

export function zstdDecompressStep(): Step {
  return { name: 'zstd', command: 'zstd', args: ['--decompress', '--stdout', '--quiet'] };
}

const PEEK_COMPRESSED_BYTES = 256 * 1024;

/** The first decompressed bytes of an artifact (from its first 256 KiB: no full download). */
async function peek(store: ObjectReader, key: string): Promise<Buffer> {
  const stream = await store.get(key);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= PEEK_COMPRESSED_BYTES) break;
    }
  } finally {
    stream.destroy();
  }
  // A cut-off frame makes zstd exit non-zero after writing what it could decode: that is enough.
  const { stdout } = await runCommandRaw(zstdDecompressStep(), Buffer.concat(chunks));
  return stdout;
}

/**
 * Refuses an artifact whose content does not start like its kind (pg_dump's `PGDMP`, tar's
 * `ustar`). Where it is stored was checked by the catalog when the backup was resolved.
 */
export async function assertArtifactKind(store: ObjectReader, artifact: Artifact): Promise<void> {
  const head = await peek(store, artifact.key);
  const isDump = head.subarray(0, 5).toString('latin1') === 'PGDMP';
  const isTar = head.subarray(257, 262).toString('latin1') === 'ustar';
  if (artifact.kind === 'postgres' && !isDump) {
    throw new CheckFailedError(
      `${artifact.key} is not a pg_dump archive${isTar ? ' but a tar archive' : ''}; refusing to restore it into a database.`,
    );
  }
  if (artifact.kind === 'media' && !isTar) {
    throw new CheckFailedError(
      `${artifact.key} is not a tar archive${isDump ? ' but a pg_dump archive' : ''}; refusing to extract it as media.`,
    );
  }
}
