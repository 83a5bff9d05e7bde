/**
 * `npm run bench`: backupctl against the ways people back up today, on the same generated
 * database, in one run, alternating the variants so drift on a shared machine hits all alike.
 *
 *   1 floor       pg_dump -Fc -Z0 > /dev/null
 *   2 pipeline    pg_dump -Fc -Z0 | zstd -T0 -3 > /dev/null            (the limit with no upload)
 *   3 aws-cli     pg_dump -Fc -Z0 | zstd -T0 -3 | aws s3 cp - s3://…   (same S3 emulator)
 *   4 old-way     pg_dump | gzip > file; cp file copy                   (the replaced scripts)
 *   5 backupctl   backupctl backup --only db                            (same S3 emulator)
 *
 * Each run is timed by GNU time: wall, CPU (user+sys of the whole process tree) and peak RSS (of
 * the largest process in the tree). Environment knobs: BENCH_SCALE_GB (1.6), BENCH_RUNS (3),
 * BENCH_SMALL_MB (100, the database for the constant-memory comparison), BENCH_VARIANTS (1,2,3,4,5).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { BACKUPCTL } from '../test/support/backupctl.ts';
import { PG_BIN, type PgCluster, startPostgres } from '../test/support/postgres.ts';
import { type S3Emulator, startS3, TEST_CREDENTIALS } from '../test/support/s3.ts';

const SCALE_GB = Number(process.env.BENCH_SCALE_GB ?? 1.6);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SMALL_MB = Number(process.env.BENCH_SMALL_MB ?? 100);
const VARIANTS = (process.env.BENCH_VARIANTS ?? '1,2,3,4,5').split(',').map(Number);
const BUCKET = 'bench-backups';
const MB = 1e6;

interface Measure {
  wall: number;
  cpu: number;
  rssMb: number;
}

/** Generates an application-like database of about `bytes`: pgbench tables, text, half-random bytea. */
async function generate(pg: PgCluster, database: string, bytes: number): Promise<void> {
  await pg.psql('postgres', `CREATE DATABASE ${database}`);
  const env = { ...process.env, ...pg.env(database), PATH: `${PG_BIN}:${process.env.PATH}` };
  // pgbench: ~16 MB per scale unit with indexes; 45% of the target.
  const scale = Math.max(1, Math.round((bytes * 0.45) / 16e6));
  execFileSync('pgbench', ['-i', '-q', '-s', String(scale), '--unlogged-tables', database], {
    env,
    stdio: 'ignore',
  });
  execFileSync(
    'psql',
    [
      '-q',
      '-d',
      database,
      '-c',
      'ALTER TABLE pgbench_accounts SET LOGGED; ALTER TABLE pgbench_history SET LOGGED; ALTER TABLE pgbench_tellers SET LOGGED; ALTER TABLE pgbench_branches SET LOGGED',
    ],
    { env, stdio: 'ignore' },
  );
  // Text: sentences from a small vocabulary with numbers, about 35%: compresses like prose, not like zeros.
  const textRows = Math.round((bytes * 0.35) / 420);
  await pg.psql(
    database,
    `SET synchronous_commit = off;
     CREATE TABLE sentences AS
       SELECT i, (SELECT string_agg((ARRAY['invoice','customer','shipped','pending','the','a','order','payment',
         'received','warehouse','Cotabato','delivery','address','note','refund','of','for','and','with','account',
         'status','updated','item','quantity','price','review','approved','returned','ticket','support'])[1 + floor(random() * 30)::int], ' ')
         FROM generate_series(1, 12 + i % 7)) AS s
       FROM generate_series(0, 999) i;
     CREATE TABLE notes (id bigint PRIMARY KEY, created timestamptz, body text);
     INSERT INTO notes
       SELECT g, timestamptz '2024-01-01' + g * interval '13 seconds',
              'Note ' || g || ': ' || a.s || '. ' || b.s || ' #' || (g * 7919 % 100000) || '. ' || c.s || '. ' || d.s || '.'
       FROM generate_series(1, ${textRows}) g
       JOIN sentences a ON a.i = g % 1000 JOIN sentences b ON b.i = (g * 7) % 1000
       JOIN sentences c ON c.i = (g * 13) % 1000 JOIN sentences d ON d.i = (g * 31) % 1000;`,
  );
  // Bytea: half random, half repetitive, about 20%.
  const blobRows = Math.round((bytes * 0.2) / 1100);
  await pg.psql(
    database,
    `SET synchronous_commit = off; CREATE EXTENSION IF NOT EXISTS pgcrypto;
     CREATE TABLE attachments (id bigint PRIMARY KEY, body bytea);
     INSERT INTO attachments SELECT g, gen_random_bytes(512) || convert_to(repeat('header;' || (g % 97) || ';', 50), 'UTF8')
       FROM generate_series(1, ${blobRows}) g;`,
  );
  await pg.psql(database, 'VACUUM ANALYZE');
}

function timed(script: string, env: NodeJS.ProcessEnv): Promise<Measure> {
  const out = join(tmpdir(), `bench-time-${process.pid}`);
  return new Promise((resolve, reject) => {
    const child = spawn(
      '/usr/bin/time',
      ['-f', '%e %U %S %M', '-o', out, 'bash', '-o', 'pipefail', '-c', script],
      {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => {
      stderr = (stderr + t).slice(-4000);
    });
    child.once('close', (code) => {
      const fields = readFileSync(out, 'utf8').trim().split('\n').at(-1)?.split(' ').map(Number) ?? [];
      rmSync(out, { force: true });
      const [wall = 0, user = 0, sys = 0, rssKb = 0] = fields;
      if (code !== 0) reject(new Error(`${script.slice(0, 60)}… exited ${code}: ${stderr}`));
      else resolve({ wall, cpu: user + sys, rssMb: rssKb / 1024 });
    });
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

function tmpEntries(): Set<string> {
  return new Set(
    readdirSync(tmpdir()).filter((n) => !n.startsWith('bench-time-') && !n.startsWith('spb-pg-')),
  );
}

async function main(): Promise<void> {
  let pg: PgCluster | undefined;
  let s3: S3Emulator | undefined;
  const work = mkdtempSync(join(tmpdir(), 'bench-work-'));
  const stop = async () => {
    await Promise.all([s3?.stop(), pg?.stop()]);
    rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    [pg, s3] = await Promise.all([startPostgres(), startS3()]);
    await s3.createBucket(BUCKET);
    console.log(`generating ${SCALE_GB} GB and ${SMALL_MB} MB databases…`);
    const t0 = Date.now();
    await generate(pg, 'big', SCALE_GB * 1e9);
    await generate(pg, 'small', SMALL_MB * MB);
    const size = async (db: string) => Number(await pg?.psql('postgres', `SELECT pg_database_size('${db}')`));
    const [bigBytes, smallBytes] = [await size('big'), await size('small')];
    console.log(
      `generated in ${Math.round((Date.now() - t0) / 1000)} s: big ${(bigBytes / 1e9).toFixed(2)} GB, small ${(smallBytes / MB).toFixed(0)} MB`,
    );

    const base = {
      ...process.env,
      PATH: `${PG_BIN}:${process.env.PATH}`,
      ...TEST_CREDENTIALS,
      AWS_DEFAULT_REGION: 'us-east-1',
    };
    const envFor = (db: string) => ({ ...base, ...pg?.env(db), ...s3?.env(BUCKET, `bench-${db}`) });
    const file = join(work, 'old.sql.gz');
    const scripts: Record<number, { name: string; script: string }> = {
      1: { name: '1 pg_dump -Fc -Z0 > /dev/null', script: 'pg_dump -Fc -Z0 > /dev/null' },
      2: {
        name: '2 pg_dump | zstd -T0 -3 > /dev/null',
        script: 'pg_dump -Fc -Z0 | zstd -q -T0 -3 > /dev/null',
      },
      3: {
        name: '3 pg_dump | zstd | aws s3 cp -',
        script: `pg_dump -Fc -Z0 | zstd -q -T0 -3 | aws --endpoint-url ${s3.endpoint} s3 cp --only-show-errors - s3://${BUCKET}/cli/dump.zst`,
      },
      4: {
        name: '4 old: pg_dump | gzip > file; copy',
        script: `pg_dump --clean --if-exists --no-owner | gzip > ${file} && cp ${file} ${file}.copy && rm -f ${file} ${file}.copy`,
      },
      5: { name: '5 backupctl backup --only db', script: `node ${BACKUPCTL} backup --only db > /dev/null` },
    };
    const results = new Map<number, Measure[]>();
    const cleanBucket = async () => {
      for (const key of await (s3 as S3Emulator).keys(BUCKET)) {
        await s3?.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
      }
    };
    let leftovers: string[] = [];
    for (let round = 1; round <= RUNS; round++) {
      for (const v of VARIANTS) {
        const variant = scripts[v];
        if (!variant) throw new Error(`unknown variant ${v}`);
        const before = v === 5 ? tmpEntries() : undefined;
        const m = await timed(variant.script, envFor('big'));
        if (before) leftovers = [...tmpEntries()].filter((n) => !before.has(n));
        await cleanBucket();
        results.set(v, [...(results.get(v) ?? []), m]);
        console.log(
          `round ${round}: ${variant.name.padEnd(38)} ${m.wall.toFixed(1)} s wall, ${m.cpu.toFixed(1)} s CPU, ${m.rssMb.toFixed(0)} MB peak RSS`,
        );
      }
    }
    const small: Measure[] = [];
    if (VARIANTS.includes(5)) {
      for (let i = 0; i < RUNS; i++) {
        small.push(await timed(scripts[5]?.script ?? '', envFor('small')));
        await cleanBucket();
      }
    }

    const med = (v: number) => {
      const ms = results.get(v) ?? [];
      return {
        wall: median(ms.map((m) => m.wall)),
        cpu: median(ms.map((m) => m.cpu)),
        rssMb: Math.max(...ms.map((m) => m.rssMb)),
      };
    };
    console.log(
      `\nbig database ${(bigBytes / 1e9).toFixed(2)} GB, ${RUNS} rounds, medians (peak RSS: the largest process, max over rounds)`,
    );
    console.log(
      `${'variant'.padEnd(40)} ${'wall s'.padStart(8)} ${'CPU s'.padStart(8)} ${'RSS MB'.padStart(8)}`,
    );
    for (const v of VARIANTS) {
      const m = med(v);
      console.log(
        `${(scripts[v]?.name ?? '').padEnd(40)} ${m.wall.toFixed(1).padStart(8)} ${m.cpu.toFixed(1).padStart(8)} ${m.rssMb.toFixed(0).padStart(8)}`,
      );
    }
    const ratio = (a: number, b: number) => med(a).wall / med(b).wall;
    const check = (label: string, value: number, ok: boolean, target: string) =>
      console.log(
        `${label.padEnd(44)} ${value.toFixed(2).padStart(6)}  target ${target.padEnd(8)} ${ok ? 'PASS' : 'MISS'}`,
      );
    console.log('');
    if (VARIANTS.includes(5) && VARIANTS.includes(3))
      check('5/3 backupctl vs aws-cli pipeline', ratio(5, 3), ratio(5, 3) <= 1.0, '<= 1.0');
    if (VARIANTS.includes(5) && VARIANTS.includes(2))
      check('5/2 backupctl vs local pipeline', ratio(5, 2), ratio(5, 2) <= 1.35, '<= 1.35');
    if (VARIANTS.includes(4) && VARIANTS.includes(5))
      check('4/5 old scripts vs backupctl', ratio(4, 5), ratio(4, 5) >= 3.5, '>= 3.5');
    if (small.length > 0) {
      const bigRss = med(5).rssMb;
      const smallRss = Math.max(...small.map((m) => m.rssMb));
      check('backupctl peak RSS MB, big database', bigRss, bigRss <= 200, '<= 200');
      check(
        `big/small peak RSS (small: ${smallRss.toFixed(0)} MB)`,
        bigRss / smallRss,
        bigRss / smallRss <= 1.2,
        '<= 1.20',
      );
      console.log(
        `${'temporary files left by backupctl'.padEnd(44)} ${String(leftovers.length).padStart(6)}  target 0        ${leftovers.length === 0 ? 'PASS' : `MISS ${leftovers.join(' ')}`}`,
      );
    }
  } finally {
    await stop();
  }
}

main().catch((error: Error) => {
  console.error(`bench failed: ${error.message}`);
  process.exitCode = 1;
});
