/**
 * The pipeline helper with real processes: when a reader dies, its writer fails too, and the
 * message must name the reader (the cause), not the writer (the symptom).
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PipelineError } from '../../task/errors.ts';
import { type Step, startPipeline } from '../../task/pipeline.ts';

/** Writes 200 MB of random bytes, more than any pipe buffer holds. */
const writer: Step = { name: 'writer', command: 'head', args: ['-c', '200000000', '/dev/urandom'] };

/** Runs the pipeline into a sink that discards; returns how it failed. */
async function failure(steps: readonly Step[]): Promise<PipelineError> {
  const sink = new PassThrough();
  sink.resume();
  const error = await startPipeline(steps, sink).result.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PipelineError);
  return error as PipelineError;
}

describe('startPipeline', () => {
  // Node connects the processes with socket pairs, so the writer sees "Connection reset by peer"
  // (ECONNRESET), not "Broken pipe", at about the moment the reader exits: which exit is seen
  // first is a race that the message must not depend on.
  it.each([
    ['without reading its input', 'sleep 0.3; exit 3'],
    ['after closing its unread input', 'exec 0<&-; sleep 0.3; exit 3'],
  ])('names the failing reader, not the writer it cut off, when the reader exits %s', async (_, script) => {
    const error = await failure([writer, { name: 'reader', command: 'sh', args: ['-c', script] }]);

    expect(error.stage).toBe('reader');
    expect(error.message).toMatch(/^reader failed: exited with code 3/);
  });

  it('names the writer when the writer itself fails', async () => {
    const error = await failure([
      { name: 'writer', command: 'head', args: ['-c', '10', '/nonexistent/file'] },
      { name: 'reader', command: 'cat', args: [] },
    ]);

    expect(error.stage).toBe('writer');
    expect(error.message).toContain('No such file or directory');
  });
});
