/**
 * The one place that runs child processes as a stream pipeline: spawn, connect, hash and count,
 * await every exit status, and on any failure stop everything.
 *
 * Processes are connected at the OS level (each child's stdin is the previous child's stdout
 * pipe), so data between them never passes through JavaScript; only the source (an S3 download)
 * and the last process's output pass through here, hashed and counted. The sink is never ended
 * here: the caller ends it only after `result` resolved, i.e. after every process exited
 * cleanly, because an ended stream is a complete object to S3 even when pg_dump died halfway.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { IntegrityError, PipelineError, StoreError } from './errors.ts';

export interface Step {
  /** Stage name used in messages, e.g. 'pg_dump'. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Exit codes that mean "complete, with a warning" (GNU tar's 1: file changed as we read it). */
  readonly warningExitCodes?: readonly number[];
  /** Sees every stderr line; returning false keeps the line out of the error tail (e.g. a listing). */
  readonly onStderrLine?: (line: string) => boolean;
}

export interface StepOutcome {
  readonly name: string;
  readonly exitCode: number;
  /** Set when the exit code was a warning code: the step's stderr tail. */
  readonly warning?: string;
}

export interface Digest {
  readonly bytes: number;
  readonly sha256: string;
}

export interface PipelineResult extends Digest {
  /** Bytes and SHA-256 above are of the last process's output. */
  readonly steps: readonly StepOutcome[];
  /** Bytes and SHA-256 of the source, when there was one. */
  readonly input?: Digest;
}

export interface PipelineSource {
  readonly stream: Readable;
  /** Names the source in messages, e.g. 'S3 read of daily/app/…/db.dump.zst'. */
  readonly name: string;
  /**
   * When set, the last chunk is held back until the whole source was hashed: on a mismatch the
   * pipeline fails before the final bytes reach the first process, so zstd can never finish the
   * frame and nothing downstream (pg_restore) can commit a damaged archive.
   */
  readonly expect?: Digest;
}

export interface RunningPipeline {
  /** Resolves once every process exited cleanly and all output was written to the sink. */
  readonly result: Promise<PipelineResult>;
  /** Output bytes so far. */
  readonly bytes: number;
  /** The steps' process ids, in order (progress reads what each has read from /proc). */
  readonly pids: readonly (number | undefined)[];
  /** Stops the pipeline: kills every process still running; `result` rejects with `error`. */
  fail(error: Error): void;
}

const TAIL_LINES = 8;
const KILL_GRACE_MS = 5_000;
const BROKEN_PIPE_GRACE_MS = 1_000;

export function startPipeline(
  steps: readonly Step[],
  sink: Writable,
  options: { readonly source?: PipelineSource } = {},
): RunningPipeline {
  if (steps.length === 0) throw new Error('a pipeline needs at least one step');
  const { source } = options;
  const abort = new AbortController();
  let firstError: Error | undefined;
  const children: ChildProcess[] = [];
  let upstream: Readable | null = null;
  // All spawns happen in one synchronous run: the parent's copy of each intermediate pipe is
  // closed before the event loop could read from it, so no byte is lost between processes.
  for (const step of steps) {
    const child: ChildProcess = spawn(step.command, [...step.args], {
      stdio: [upstream ?? (source ? 'pipe' : 'ignore'), 'pipe', 'pipe'],
      env: step.env ?? process.env,
      cwd: step.cwd,
    });
    upstream?.destroy();
    upstream = child.stdout;
    children.push(child);
  }

  const fail = (error: Error) => {
    if (firstError) return;
    firstError = error;
    abort.abort(error);
    const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const child of running) child.kill('SIGTERM');
    if (running.length > 0) {
      setTimeout(() => {
        for (const child of running)
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, KILL_GRACE_MS).unref();
    }
  };
  // A writer that hit a broken pipe is a symptom: the reader after it failed. Give the reader a
  // moment to report first, so the message names the cause.
  const failSoon = async (error: Error) => {
    if (error instanceof PipelineError && error.brokenPipe) await delay(BROKEN_PIPE_GRACE_MS);
    fail(error);
  };

  const exits = children.map((child, i) =>
    awaitExit(child, steps[i] as Step).catch(async (error: PipelineError) => {
      await failSoon(error);
      throw error;
    }),
  );
  let input: Digest | undefined;
  const firstStdin = children[0]?.stdin;
  const feeding = (
    source && firstStdin ? feedSource(source, firstStdin, abort.signal) : Promise.resolve(undefined)
  ).then((digest) => {
    input = digest;
  }, failSoon);

  const hash = createHash('sha256');
  let bytes = 0;
  const output = upstream;
  // 'data' events, not an async iterator: its promise per 64 KiB chunk cost ~0.2 s CPU per GB.
  const draining = new Promise<void>((resolve, reject) => {
    if (!output) throw new PipelineError(steps.at(-1)?.name ?? 'pipeline', 'has no output', '');
    // Destroyed, not only paused: a child's 'close' waits for its stdout to close too.
    const stop = () => {
      output.off('data', onData);
      output.destroy();
      resolve();
    };
    const onData = (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (!sink.write(chunk)) {
        output.pause();
        sink.once('drain', () => output.resume());
      }
    };
    if (abort.signal.aborted) return stop();
    abort.signal.addEventListener('abort', stop, { once: true });
    output.on('data', onData);
    output.once('end', () => {
      abort.signal.removeEventListener('abort', stop);
      resolve();
    });
    output.once('error', reject);
  }).catch((error: Error) => {
    fail(abort.signal.aborted ? (firstError ?? error) : error);
  });

  const result = Promise.allSettled([...exits, draining, feeding]).then((settled) => {
    if (firstError) throw firstError;
    const outcomes = settled
      .slice(0, children.length)
      .map((s) => (s as PromiseFulfilledResult<StepOutcome>).value);
    return { bytes, sha256: hash.digest('hex'), steps: outcomes, ...(input ? { input } : {}) };
  });
  return {
    result,
    fail,
    pids: children.map((c) => c.pid),
    get bytes() {
      return bytes;
    },
  };
}

/** Writes the source into the first process, hashing it; holds the last chunk back when `expect` is set. */
async function feedSource(
  source: PipelineSource,
  stdin: Writable,
  signal: AbortSignal,
): Promise<Digest | undefined> {
  const hash = createHash('sha256');
  let bytes = 0;
  let held: Buffer | undefined;
  // A write that fails means the first process stopped reading: a symptom, reported as a broken
  // pipe so the process's own exit names the cause. The last, held-back chunk included.
  const write = async (chunk: Buffer) => {
    try {
      if (!stdin.write(chunk)) await once(stdin, 'drain', { signal });
    } catch (error) {
      if (signal.aborted) return;
      throw new PipelineError('input', 'the first process stopped reading', '', {
        cause: error,
        brokenPipe: true,
      });
    }
  };
  stdin.on('error', () => {}); // EPIPE: surfaces through the write above, after the reader's own exit
  try {
    for await (const chunk of source.stream as AsyncIterable<Buffer>) {
      if (signal.aborted) return undefined;
      hash.update(chunk);
      bytes += chunk.length;
      if (source.expect) {
        if (held) await write(held);
        held = chunk;
      } else {
        await write(chunk);
      }
    }
  } catch (error) {
    if (signal.aborted) return undefined;
    if (error instanceof PipelineError) throw error;
    const e = error as NodeJS.ErrnoException;
    throw new StoreError(`${source.name} failed: ${e.code ?? e.message}`, { cause: error });
  }
  const sha256 = hash.digest('hex');
  const { expect } = source;
  if (expect && (bytes !== expect.bytes || sha256 !== expect.sha256)) {
    throw new IntegrityError(
      `${source.name}: content does not match the manifest (expected ${expect.bytes} bytes, sha256 ${expect.sha256}; ` +
        `got ${bytes} bytes, sha256 ${sha256}); the backup is damaged.`,
    );
  }
  if (held) await write(held);
  stdin.end();
  return { bytes, sha256 };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the step's outcome on a clean (or warning) exit; rejects with a PipelineError otherwise. */
function awaitExit(child: ChildProcess, step: Step): Promise<StepOutcome> {
  const tail: string[] = [];
  let partial = '';
  const keep = (line: string) => {
    if (line.trim() === '' || (step.onStderrLine && !step.onStderrLine(line))) return;
    tail.push(line.trim());
    if (tail.length > TAIL_LINES) tail.shift();
  };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) keep(line);
  });
  return new Promise((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      const detail =
        error.code === 'ENOENT' ? `${step.command} was not found on PATH` : `could not start ${step.command}`;
      reject(new PipelineError(step.name, detail, error.message, { cause: error }));
    });
    child.once('close', (code, signal) => {
      keep(partial);
      const stderrTail = tail.join(' | ');
      if (code === 0) resolve({ name: step.name, exitCode: 0 });
      else if (code !== null && step.warningExitCodes?.includes(code)) {
        resolve({ name: step.name, exitCode: code, warning: stderrTail || `exited with code ${code}` });
      } else {
        const detail = signal ? `killed by signal ${signal}` : `exited with code ${code}`;
        // Node connects processes with socket pairs: a writer whose reader exited with bytes still
        // unread gets ECONNRESET ("Connection reset by peer") instead of EPIPE.
        const brokenPipe = signal === 'SIGPIPE' || /broken pipe|connection reset by peer/i.test(stderrTail);
        reject(new PipelineError(step.name, detail, stderrTail, { brokenPipe }));
      }
    });
  });
}

/**
 * Runs one command to completion and returns its stdout (for short outputs: psql queries,
 * `--version`). Fails like a pipeline step, naming the stage and its stderr tail.
 */
export async function runCommand(
  step: Step,
  input?: string | Buffer,
  options: RunOptions = {},
): Promise<string> {
  const { stdout, error } = await runCommandRaw(step, input, options);
  if (error) throw error;
  return stdout.toString('utf8');
}

export interface RunOptions {
  /** Kills the command (SIGTERM) when it fires: a restore stopped by a signal leaves no psql behind. */
  readonly signal?: AbortSignal;
}

/** Like runCommand, but returns stdout's bytes together with the failure instead of throwing. */
export async function runCommandRaw(
  step: Step,
  input?: string | Buffer,
  options: RunOptions = {},
): Promise<{ stdout: Buffer; error?: Error }> {
  const child = spawn(step.command, [...step.args], {
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: step.env ?? process.env,
    cwd: step.cwd,
  });
  const kill = () => child.kill('SIGTERM');
  if (options.signal?.aborted) kill();
  options.signal?.addEventListener('abort', kill, { once: true });
  child.once('close', () => options.signal?.removeEventListener('abort', kill));
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  if (input !== undefined) {
    child.stdin?.on('error', () => {}); // a process that exits early surfaces through its exit code
    child.stdin?.end(input);
  }
  const error = await awaitExit(child, step).then(
    () => undefined,
    (e: Error) => e,
  );
  return { stdout: Buffer.concat(chunks), ...(error ? { error } : {}) };
}
