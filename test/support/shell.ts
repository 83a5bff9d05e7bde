import { spawn } from 'node:child_process';
import { PG_BIN } from '../../tools/local/postgres.ts';

/** Runs a bash pipeline (pipefail) with the PostgreSQL 15 binaries first on PATH; rejects on failure. */
export function sh(
  script: string,
  options: { input?: Buffer; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const child = spawn('bash', ['-o', 'pipefail', '-c', script], {
    env: { ...process.env, ...options.env, PATH: `${PG_BIN}:${process.env.PATH}` },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => {
    stdout += t;
  });
  child.stderr.setEncoding('utf8').on('data', (t: string) => {
    stderr += t;
  });
  child.stdin.on('error', () => {});
  child.stdin.end(options.input);
  return new Promise((resolve, reject) => {
    child.once('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`${script} exited ${code}: ${stderr.trim()}`)),
    );
  });
}
