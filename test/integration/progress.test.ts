/**
 * Progress an operator can plan by: a backup's progress lines say how far each stream is
 * (percent of the estimated size) and how long is left, rising towards 100 as it runs.
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectServer } from '../../task/postgres.ts';
import { PG_BIN, type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, type CliResult } from '../support/backupctl.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'progress-backups';
let pg: PgCluster;
let s3: S3Emulator;
let work: string;
let result: CliResult;

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await pg.psql('postgres', 'CREATE DATABASE app');
  // ~60 MB of application-like rows (wide text, a little compressible) and 20 MB of bytea, which
  // a dump writes as hex (40 MB); analyzed, as autovacuum would.
  await pg.psql(
    'app',
    `CREATE EXTENSION pgcrypto;
     CREATE TABLE notes AS
       SELECT g AS id, now() AS created_at,
              (SELECT string_agg(md5((g * 16 + k)::text), ' ') FROM generate_series(1, 12) k) AS body
       FROM generate_series(1, 150000) g;
     CREATE TABLE scans AS SELECT g AS id, gen_random_bytes(1000) AS content FROM generate_series(1, 20000) g;
     ANALYZE;`,
  );
  work = mkdtempSync(join(tmpdir(), 'spb-progress-'));
  const media = join(work, 'media');
  mkdirSync(media);
  for (let i = 0; i < 6; i++) writeFileSync(join(media, `scan-${i}.bin`), randomBytes(6 * 1024 * 1024));
  result = await backupctl(['backup'], {
    env: {
      ...pg.env('app'),
      ...s3.env(BUCKET, ''),
      MEDIA_DIR: media,
      BACKUP_PART_SIZE: '5',
      BACKUPCTL_PROGRESS_SECONDS: '0.1',
    },
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

const progress = (stage: string) =>
  result.logs.filter((l) => l.message === 'progress' && l.stage === stage && l.percent !== undefined);

describe("the dump's size estimate", () => {
  it('is within 5 % of what pg_dump writes, bytea counted as the hex it becomes', async () => {
    const env = { ...pg.env('app'), PATH: `${PG_BIN}:${process.env.PATH}` };
    const { tableBytes } = await inspectServer(env);
    const dumped = Number((await sh('pg_dump --format=custom --compress=0 | wc -c', { env })).trim());
    expect(tableBytes / dumped).toBeGreaterThan(0.95);
    expect(tableBytes / dumped).toBeLessThan(1.05);
  });
});

describe('backup progress', () => {
  it('the backup succeeds', () => {
    expect(result.code, result.stderr).toBe(0);
  });

  it("the database's progress lines carry a percent that rises to about 100, and an ETA", () => {
    const lines = progress('database');
    const percents = lines.map((l) => l.percent as number);
    expect(percents.length, result.stderr).toBeGreaterThanOrEqual(2);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(percents[0]).toBeLessThan(80);
    expect(Math.max(...percents)).toBeGreaterThanOrEqual(80);
    expect(Math.max(...percents)).toBeLessThanOrEqual(99);
    for (const line of lines) expect(line.etaSeconds).toBeGreaterThanOrEqual(0);
  });

  it("media's progress lines carry a percent of the directory's bytes", () => {
    const percents = progress('media').map((l) => l.percent as number);
    expect(percents.length, result.stderr).toBeGreaterThanOrEqual(1);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    for (const p of percents) expect(p).toBeLessThanOrEqual(99);
  });

  it('the globals, whose size is not known, show bytes without a made-up percent', () => {
    const globals = result.logs.filter((l) => l.message === 'progress' && l.stage === 'globals');
    for (const line of globals) expect(line.percent).toBeUndefined();
  });
});
