/** Runs the real backupctl CLI as a child process, the way an operator or the Fargate task does. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { PG_BIN } from '../../tools/local/postgres.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
export const BACKUPCTL = join(ROOT, 'task', 'backupctl.js');

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stderr's JSON log lines, parsed (data goes to stdout, logs to stderr). */
  readonly logs: Record<string, unknown>[];
}

export interface RunOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Directories put first on PATH (fake programs). */
  readonly pathFirst?: readonly string[];
  /** Replaces PATH entirely (a program made missing). */
  readonly path?: string;
  /** Called once the child runs, e.g. to kill a grandchild midway. */
  readonly onSpawn?: (pid: number) => void;
  /** The program node runs. @default BACKUPCTL, the launcher npx runs (the bundle while current, else the source) */
  readonly program?: string;
}

export function backupctl(args: readonly string[], options: RunOptions): Promise<CliResult> {
  const path =
    options.path ?? [...(options.pathFirst ?? []), PG_BIN, process.env.PATH ?? '/usr/bin:/bin'].join(':');
  const child = spawn(process.execPath, [options.program ?? BACKUPCTL, ...args], {
    env: { PATH: path, HOME: process.env.HOME ?? '/tmp', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid) options.onSpawn?.(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => {
    stdout += t;
  });
  child.stderr.setEncoding('utf8').on('data', (t: string) => {
    stderr += t;
  });
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      const logs = stderr
        .split('\n')
        .filter((l) => l.startsWith('{"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, signal, stdout, stderr, logs });
    });
  });
}

/** A failure as an operator sees it: the exit code, one sentence naming the cause, no stack trace. */
export function expectFailure(result: CliResult, cause: RegExp, code?: number): void {
  if (code === undefined) expect(result.code, result.stderr).not.toBe(0);
  else expect(result.code, result.stderr).toBe(code);
  expect(result.code).not.toBeNull();
  expect(result.stderr).toMatch(cause);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}
