/**
 * One logger for backupctl: JSON lines on stdout when it is not a TTY (CloudWatch reads one
 * event per line), readable lines and a live progress line when it is. A fixed message phrase
 * plus data; callers never pass secrets (settings are logged by name, never by value).
 */
import { formatSize } from './core/format.ts';
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Progress {
  readonly stage: string;
  readonly bytes: number;
  readonly elapsedMs: number;
  /** Set when the stream's size could be estimated (task/progress.ts). */
  readonly percent?: number;
  readonly etaSeconds?: number;
}

export interface Logger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
  progress(progress: Progress): void;
}

export function mbPerSecond(bytes: number, elapsedMs: number): number {
  return elapsedMs > 0 ? Math.round((bytes / 1e6 / (elapsedMs / 1000)) * 10) / 10 : 0;
}

export function createLogger(options: {
  readonly json: boolean;
  readonly verbose?: boolean;
  readonly out?: NodeJS.WritableStream;
}): Logger {
  const out = options.out ?? process.stdout;
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown) out.write('\r\x1b[K');
    progressShown = false;
  };
  const write = (level: Level, message: string, data: Record<string, unknown> = {}) => {
    if (level === 'debug' && !options.verbose) return;
    if (options.json) {
      out.write(`${JSON.stringify({ level, time: new Date().toISOString(), message, ...data })}\n`);
      return;
    }
    clearProgress();
    const fields = Object.entries(data)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    out.write(`${level === 'info' ? '' : `${level}: `}${message}${fields ? `  ${fields}` : ''}\n`);
  };
  return {
    debug: (m, d) => write('debug', m, d),
    info: (m, d) => write('info', m, d),
    warn: (m, d) => write('warn', m, d),
    error: (m, d) => write('error', m, d),
    progress: ({ stage, bytes, elapsedMs, percent, etaSeconds }) => {
      const rate = mbPerSecond(bytes, elapsedMs);
      const estimate = percent === undefined ? {} : { percent, etaSeconds };
      if (options.json) {
        write('info', 'progress', {
          stage,
          bytes,
          mbPerSecond: rate,
          elapsedSeconds: Math.round(elapsedMs / 1000),
          ...estimate,
        });
        return;
      }
      const eta =
        percent === undefined
          ? ''
          : `  ${percent}%${etaSeconds ? `  ETA ${formatDuration(etaSeconds)}` : ''}`;
      out.write(
        `\r\x1b[K${stage}: ${formatSize(bytes)}  ${rate} MB/s  ${Math.round(elapsedMs / 1000)} s${eta}`,
      );
      progressShown = true;
    },
  };
}

/** `45 s`, `3 min 20 s`, `2 h 05 min`: an ETA as an operator reads it. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
