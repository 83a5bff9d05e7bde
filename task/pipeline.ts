/**
 * The one place that runs child processes as a stream pipeline: spawn, connect, hash and count
 * the output, await every exit status, and on any failure stop everything.
 *
 * Processes are connected at the OS level (each child's stdin is the previous child's stdout
 * pipe), so data between them never passes through JavaScript; only the last process's output
 * is read here, hashed, counted and written to the sink. The sink is never ended here: the caller
 * ends it only after `result` resolved, i.e. after every process exited cleanly, because an
 * ended stream is a complete object to S3 even when pg_dump died halfway.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { PipelineError } from './errors.ts';

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

export interface PipelineResult {
  readonly bytes: number;
  readonly sha256: string;
  readonly steps: readonly StepOutcome[];
}

export interface RunningPipeline {
  /** Resolves once every process exited cleanly and all output was written to the sink. */
  readonly result: Promise<PipelineResult>;
  /** Output bytes so far. */
  readonly bytes: number;
  /** Stops the pipeline: kills every process still running; `result` rejects with `error`. */
  fail(error: Error): void;
}

const TAIL_LINES = 8;
const KILL_GRACE_MS = 5_000;
const BROKEN_PIPE_GRACE_MS = 1_000;

export function startPipeline(steps: readonly Step[], sink: Writable): RunningPipeline {
  if (steps.length === 0) throw new Error('a pipeline needs at least one step');
  const abort = new AbortController();
  let firstError: Error | undefined;
  const children: ChildProcess[] = [];
  let upstream: Readable | null = null;
  // All spawns happen in one synchronous run: the parent's copy of each intermediate pipe is
  // closed before the event loop could read from it, so no byte is lost between processes.
  for (const step of steps) {
    const child: ChildProcess = spawn(step.command, [...step.args], {
      stdio: [upstream ?? 'ignore', 'pipe', 'pipe'],
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

  const hash = createHash('sha256');
  let bytes = 0;
  const exits = children.map((child, i) =>
    awaitExit(child, steps[i] as Step).catch(async (error: PipelineError) => {
      // A writer killed by a broken pipe is a symptom: the reader after it failed. Give the
      // reader a moment to report first, so the message names the cause.
      if (error.brokenPipe) await new Promise((resolve) => setTimeout(resolve, BROKEN_PIPE_GRACE_MS));
      fail(error);
      throw error;
    }),
  );
  const output = upstream;
  const feed = (async () => {
    if (!output) throw new PipelineError(steps.at(-1)?.name ?? 'pipeline', 'has no output', '');
    for await (const chunk of output as AsyncIterable<Buffer>) {
      if (abort.signal.aborted) return;
      hash.update(chunk);
      bytes += chunk.length;
      if (!sink.write(chunk)) await once(sink, 'drain', { signal: abort.signal });
    }
  })().catch((error: Error) => {
    fail(abort.signal.aborted ? (firstError ?? error) : error);
  });

  const result = Promise.allSettled([...exits, feed]).then((settled) => {
    if (firstError) throw firstError;
    const steps = settled
      .slice(0, children.length)
      .map((s) => (s as PromiseFulfilledResult<StepOutcome>).value);
    return { bytes, sha256: hash.digest('hex'), steps };
  });
  return {
    result,
    fail,
    get bytes() {
      return bytes;
    },
  };
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
        const brokenPipe = signal === 'SIGPIPE' || /broken pipe/i.test(stderrTail);
        reject(new PipelineError(step.name, detail, stderrTail, { brokenPipe }));
      }
    });
  });
}

/**
 * Runs one command to completion and returns its stdout (for short outputs: psql queries,
 * `--version`). Fails like a pipeline step, naming the stage and its stderr tail.
 */
export async function runCommand(step: Step, input?: string): Promise<string> {
  const child = spawn(step.command, [...step.args], {
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: step.env ?? process.env,
    cwd: step.cwd,
  });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  if (input !== undefined) {
    child.stdin?.on('error', () => {}); // a process that exits early surfaces through its exit code
    child.stdin?.end(input);
  }
  await awaitExit(child, step);
  return Buffer.concat(chunks).toString('utf8');
}
