/**
 * Percent and ETA of a stream whose size is known only as an estimate: the dump's from the dumped
 * tables' sizes, media's from the directory's bytes. Progress is what a process of the pipeline
 * has read so far (Linux /proc/<pid>/io `rchar`: exact and cheap), not the compressed output,
 * whose ratio changes from table to table.
 */
import { readFileSync } from 'node:fs';

export interface Estimate {
  /** 0–99 while running: the total is an estimate, so only the end of the stream says 100. */
  readonly percent: number;
  readonly etaSeconds: number;
}

/** Below this the rate is noise (the first tick of a stream that has barely begun). */
const MIN_FRACTION = 0.001;
const MAX_RUNNING_FRACTION = 0.99;

/** Percent and ETA after `doneBytes` of about `totalBytes` in `elapsedMs`; undefined when unknown. */
export function estimateProgress(
  doneBytes: number | undefined,
  totalBytes: number | undefined,
  elapsedMs: number,
): Estimate | undefined {
  if (doneBytes === undefined || totalBytes === undefined || !(totalBytes > 0) || !(elapsedMs > 0)) {
    return undefined;
  }
  const fraction = Math.min(doneBytes / totalBytes, MAX_RUNNING_FRACTION);
  if (!(fraction >= MIN_FRACTION)) return undefined;
  return {
    percent: Math.floor(fraction * 100),
    etaSeconds: Math.round(((elapsedMs / 1000) * (1 - fraction)) / fraction),
  };
}

/** Bytes the process has read so far (`rchar`), or undefined when /proc does not tell (not Linux, exited). */
export function bytesReadBy(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /^rchar:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
