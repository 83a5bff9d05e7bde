import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, formatDuration } from '../../task/log.ts';
import { bytesReadBy, estimateProgress } from '../../task/progress.ts';

describe('estimateProgress', () => {
  it('gives the share read and the time left at the rate so far', () => {
    // Prepare: a quarter of 400 MB read in 10 s. Act / Assess: 25 %, 30 s to go.
    expect(estimateProgress(100e6, 400e6, 10_000)).toEqual({ percent: 25, etaSeconds: 30 });
  });

  it('never says 100 % while running, even when the estimate was too small', () => {
    const estimate = estimateProgress(500e6, 400e6, 10_000);
    expect(estimate?.percent).toBe(99);
    expect(estimate?.etaSeconds).toBe(0);
  });

  it('rounds the percent down, so 99.9 % of a stream is not shown as done', () => {
    expect(estimateProgress(399.6e6, 400e6, 10_000)?.percent).toBe(99);
    expect(estimateProgress(1, 3, 1000)?.percent).toBe(33);
  });

  it('gives no estimate without a size, without a reading, or before anything was read', () => {
    expect(estimateProgress(undefined, 400e6, 10_000)).toBeUndefined();
    expect(estimateProgress(100e6, undefined, 10_000)).toBeUndefined();
    expect(estimateProgress(100e6, 0, 10_000)).toBeUndefined();
    expect(estimateProgress(100e6, Number.NaN, 10_000)).toBeUndefined();
    expect(estimateProgress(0, 400e6, 10_000)).toBeUndefined();
    expect(estimateProgress(100e6, 400e6, 0)).toBeUndefined();
  });
});

describe('bytesReadBy', () => {
  it("reads a live process's read bytes from /proc, and grows as it reads", () => {
    const before = bytesReadBy(process.pid);
    expect(before).toBeGreaterThan(0);
    readFileSync('/proc/self/stat'); // a read(), so rchar moves
    expect(bytesReadBy(process.pid)).toBeGreaterThan(before ?? 0);
  });

  it('is undefined for a process that is gone or unknown', () => {
    expect(bytesReadBy(undefined)).toBeUndefined();
    expect(bytesReadBy(2 ** 22 + 12345)).toBeUndefined();
  });
});

describe('progress lines', () => {
  const capture = (json: boolean) => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => {
      text += c.toString();
    });
    return { logger: createLogger({ json, out }), text: () => text };
  };

  it('carry percent and etaSeconds in JSON logs', () => {
    const { logger, text } = capture(true);
    logger.progress({ stage: 'database', bytes: 50e6, elapsedMs: 10_000, percent: 25, etaSeconds: 30 });
    expect(JSON.parse(text())).toMatchObject({
      message: 'progress',
      stage: 'database',
      percent: 25,
      etaSeconds: 30,
    });
  });

  it('show percent and ETA on a terminal, and leave them out when unknown', () => {
    const known = capture(false);
    known.logger.progress({ stage: 'media', bytes: 50e6, elapsedMs: 10_000, percent: 40, etaSeconds: 200 });
    expect(known.text()).toContain('40%  ETA 3 min 20 s');
    const unknown = capture(false);
    unknown.logger.progress({ stage: 'globals', bytes: 1000, elapsedMs: 1000 });
    expect(unknown.text()).not.toContain('%');
    expect(unknown.text()).not.toContain('ETA');
  });

  it('format durations as an operator reads them', () => {
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(7500)).toBe('2 h 05 min');
  });
});
