/**
 * `npm run bench`: backupctl against the ways people back up today, on the same generated
 * database, in one run, alternating the variants so drift on a shared machine hits all alike.
 *
 *   1 floor       pg_dump -Fc -Z0 > /dev/null
 *   2 pipeline    pg_dump -Fc -Z0 | zstd -T0 -3 > /dev/null            (the limit with no upload)
 *   3 aws-cli     pg_dump -Fc -Z0 | zstd -T0 -3 | aws s3 cp - s3://…   (same S3 emulator)
 *   4 old way     pg_dump | gzip > file; cp file copy                   (the replaced scripts)
 *   5 backupctl   backupctl backup --only db                            (same S3 emulator)
 *   6 npx         npx backupctl backup --only db                        (as a user runs it)
 *   7 before      BENCH_BACKUPCTL_BEFORE's bundle backup --only db      (a baseline build, alternating)
 *   8 pg_restore  pg_restore of the same dump from a local file into a new database
 *   9 restore     backupctl restore latest --confirm big (build beside, check, swap)
 *
 * Every run is timed by GNU time: wall, CPU (user+sys of the whole process tree) and peak RSS
 * (of the largest process in the tree). For backupctl the node process's own peak RSS (VmHWM)
 * and CPU are sampled from /proc as well, and the S3 emulator's CPU (it runs inside this process)
 * is measured for variants 3 and 5: GNU time does not see it.
 *
 * Knobs: BENCH_SCALE_GB (1.6), BENCH_RUNS (3), BENCH_SMALL_MB (100: the database of the
 * constant-memory comparison; 0 skips it), BENCH_VARIANTS (1,2,3,4,5), BENCH_BACKUPCTL_NODE_FLAGS
 * (extra node flags for backupctl, e.g. `--cpu-prof --cpu-prof-dir=.bench/prof`).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { inspectServer } from '../task/postgres.ts';
import { ROOT } from '../test/support/backupctl.ts';
import { PG_BIN, type PgCluster, startPostgres } from '../tools/local/postgres.ts';
import { getObjectBytes, type S3Emulator, startS3, TEST_CREDENTIALS } from '../tools/local/s3.ts';
import { nodeHashCosts, pythonHashCosts } from './upload-costs.ts';

const SCALE_GB = Number(process.env.BENCH_SCALE_GB ?? 1.6);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SMALL_MB = Number(process.env.BENCH_SMALL_MB ?? 100);
const VARIANTS = (process.env.BENCH_VARIANTS ?? '1,2,3,4,5,6,8,9').split(',').map(Number);
/** A second backupctl bundle (e.g. one built from the previous commit) run as variant 7. */
const BEFORE = process.env.BENCH_BACKUPCTL_BEFORE;
/** When set, backupctl's log lines of every timed run are kept there (phase timings). */
const LOG_DIR = process.env.BENCH_LOG_DIR;
/** Extra node flags for backupctl only, e.g. `--cpu-prof --cpu-prof-dir=.bench/prof` to profile it. */
const NODE_FLAGS = (process.env.BENCH_BACKUPCTL_NODE_FLAGS ?? '').split(' ').filter(Boolean);
/** Extra environment for variant 5 only, `K=V K=V` (e.g. glibc malloc tunables), against 7 as the control. */
const BACKUPCTL_ENV = Object.fromEntries(
  (process.env.BENCH_BACKUPCTL_ENV ?? '')
    .split(' ')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const BUCKET = 'bench-backups';
/** The restore variants' backup lives apart: the backup variants' objects are deleted after each run. */
const RESTORE_BUCKET = 'bench-restore';
/** The program the container image runs (`npm run build:backupctl`), built at the start. */
const BACKUPCTL = join(ROOT, 'dist', 'backupctl.mjs');
const MB = 1024 * 1024;
const CLK_TCK = 100;

const run = promisify(execFile);

interface Measure {
  readonly wall: number;
  /** user+sys of the timed process tree (GNU time). */
  readonly cpu: number;
  /** Max RSS of the largest process in the tree (GNU time %M). */
  readonly treeRssMb: number;
  /** The first process's own peak RSS (VmHWM) and CPU, sampled from /proc (backupctl only). */
  readonly ownRssMb?: number;
  readonly ownCpu?: number;
  /** CPU this process (the in-process S3 emulator) used during the run. */
  readonly emulatorCpu: number;
  /** CPU of the PostgreSQL server's processes (backends serving pg_dump and psql) during the run. */
  readonly serverCpu: number;
  /** backupctl: seconds from start to its 'backup started' log line, and from 'backup finished' to exit. */
  readonly startupS?: number;
  readonly exitS?: number;
  /** Bytes of the compressed result (object or file), when known. */
  readonly outBytes?: number;
  /** CPU of the `aws` process alone (variant 3: its own GNU time). */
  readonly awsCpu?: number;
}

interface Variant {
  readonly id: number;
  readonly name: string;
  readonly argv: (db: string) => string[];
  readonly uploads?: boolean;
  readonly own?: boolean;
  /** Run from this directory (npx finds the project's bin there). */
  readonly cwd?: string;
  /** Restore variants: run after the backup rounds, against the restore bucket. */
  readonly restore?: boolean;
}

/** Runs `cmd` under GNU time in its own process group, so a Ctrl-C can stop the whole tree. */
let running: ChildProcess | undefined;

/** CPU seconds of the postmaster and its exited children (backends are reaped by it). */
function serverCpu(postmaster: number): number {
  const stat = readFileSync(`/proc/${postmaster}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i]), 0) / CLK_TCK;
}

/** The backupctl node process in the tree under `root`: `node [flags] …/backupctl(.js|.mjs) …` (the bundle or npx's bin). */
function backupctlPid(root: number): number | undefined {
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const script = argv.slice(1).find((arg) => !arg.startsWith('-')) ?? ''; // after node's own flags
      if (/node$/.test(argv[0] ?? '') && /backupctl([^/]*\.m?js)?$/.test(script)) return pid;
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
        if (children) queue.push(...children.split(' ').map(Number));
      }
    } catch {
      // exited meanwhile
    }
  }
  return undefined;
}

function timed(
  argv: string[],
  env: NodeJS.ProcessEnv,
  work: string,
  own: boolean,
  postmaster: number,
  cwd?: string,
): Promise<Measure> {
  const out = join(work, 'time.out');
  const cpu0 = process.cpuUsage();
  const server0 = serverCpu(postmaster);
  const t0 = performance.now();
  let started: number | undefined;
  let finished: number | undefined;
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', out, ...argv], {
      env,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(cwd ? { cwd } : {}),
    });
    running = child;
    let stderr = '';
    let log = '';
    child.stderr?.setEncoding('utf8').on('data', (t: string) => {
      stderr = (stderr + t).slice(-4000);
      if (own) log += t;
      // backupctl's JSON log lines (on stderr) mark its phases: startup and preflight, streaming, completion.
      if (/"(backup|restore) started"/.test(t)) started ??= performance.now();
      if (/"(backup|restore) finished"/.test(t)) finished ??= performance.now();
    });
    // The timed program is GNU time's only child: sample its VmHWM and CPU until it exits.
    let pid: number | undefined;
    let hwmKb = 0;
    let ticks = 0;
    const sampler = own
      ? setInterval(() => {
          try {
            pid ??= backupctlPid(child.pid as number);
            if (!pid) return;
            const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
            hwmKb = Math.max(hwmKb, Number(hwm ?? 0));
            const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
            const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
            ticks = Math.max(ticks, Number(fields[11]) + Number(fields[12]));
          } catch {
            // exited between reads: the last sample stands
          }
        }, 50)
      : undefined;
    child.once('close', async (code, signal) => {
      const closed = performance.now();
      clearInterval(sampler);
      running = undefined;
      const cpu = process.cpuUsage(cpu0);
      await delay(200); // the postmaster reaps the last backends
      const server = serverCpu(postmaster) - server0;
      let fields: number[] = [];
      try {
        fields = readFileSync(out, 'utf8').trim().split('\n').at(-1)?.split(' ').map(Number) ?? [];
        rmSync(out, { force: true });
      } catch {}
      const [wall = 0, user = 0, sys = 0, rssKb = 0] = fields;
      const awsTimes = readTimes(join(work, 'aws.time'));
      if (own && LOG_DIR) {
        mkdirSync(LOG_DIR, { recursive: true });
        writeFileSync(
          join(
            LOG_DIR,
            `${argv
              .slice(-5)
              .join('-')
              .replace(/[^\w.-]+/g, '_')}-${Date.now()}.log`,
          ),
          log,
        );
      }
      if (code !== 0 || fields.length !== 4) {
        reject(new Error(`${argv.join(' ').slice(0, 200)} failed (${signal ?? `exit ${code}`}): ${stderr}`));
        return;
      }
      resolve({
        wall,
        cpu: user + sys,
        treeRssMb: rssKb / 1024,
        ...(own ? { ownRssMb: hwmKb / 1024, ownCpu: ticks / CLK_TCK } : {}),
        emulatorCpu: (cpu.user + cpu.system) / 1e6,
        serverCpu: server,
        ...(started !== undefined ? { startupS: (started - t0) / 1000 } : {}),
        ...(finished !== undefined ? { exitS: (closed - finished) / 1000 } : {}),
        ...(awsTimes ? { awsCpu: (awsTimes[1] ?? 0) + (awsTimes[2] ?? 0) } : {}),
      });
    });
  });
}

/** GNU time's `%e %U %S %M` line from `file` (then deleted), or undefined when absent. */
function readTimes(file: string): number[] | undefined {
  try {
    const fields = readFileSync(file, 'utf8').trim().split('\n').at(-1)?.split(' ').map(Number);
    rmSync(file, { force: true });
    return fields;
  } catch {
    return undefined;
  }
}

/**
 * An application-like database of at least `bytes`: pgbench tables (~30%), a text table of
 * messages built from a vocabulary, with names, numbers and ids (~40%), and a bytea table whose
 * values are half random bytes, half structured (the rest).
 */
async function generate(pg: PgCluster, database: string, bytes: number): Promise<void> {
  await pg.psql('postgres', `CREATE DATABASE ${database}`);
  const env = { ...process.env, ...pg.env(database), PATH: `${PG_BIN}:${process.env.PATH}` };
  const scale = Math.max(1, Math.round((bytes * 0.3) / 15.6e6));
  await run('pgbench', ['-i', '-q', '-I', 'dtgvp', '-s', String(scale), database], { env });
  const size = async () => Number(await pg.psql(database, 'SELECT pg_database_size(current_database())'));
  await pg.psql(
    database,
    `CREATE EXTENSION pgcrypto;
     CREATE TABLE words AS
       SELECT i, w FROM unnest(string_to_array(
         'invoice customer shipped pending the a an order payment received warehouse delivery address note ' ||
         'refund of for and with account status updated item quantity price review approved returned ticket ' ||
         'support please thanks regarding request issue resolved escalated manager team schedule meeting ' ||
         'tomorrow yesterday today week month report attached draft final version contract renewal discount ' ||
         'shipping tracking number carrier package damaged replacement credit card declined balance due ' ||
         'overdue reminder subscription plan upgrade downgrade cancel login password reset email phone call ' ||
         'back urgent low priority high medium feature bug crash error timeout slow page loading mobile app ' ||
         'browser version release notes changelog migration database backup restore server region latency ' ||
         'is was will be has have had not can could should would may might must our your their we you they ' ||
         'it this that these those from to in on at by about after before during between under over again', ' '))
         WITH ORDINALITY AS t(w, i);
     CREATE TABLE sentences AS
       SELECT s.i, initcap(string_agg(w.w, ' ' ORDER BY k.k)) AS s
       FROM generate_series(0, 4999) s(i)
       CROSS JOIN LATERAL generate_series(1, 6 + s.i % 11) k(k)
       JOIN words w ON w.i = 1 + (hashint4(s.i * 64 + k.k) & 2147483647) % 200
       GROUP BY s.i;
     CREATE TABLE names AS
       SELECT i, (ARRAY['Maria','Jose','Ana','Juan','Li','Wei','Fatima','Omar','Anna','Peter','Sofia','Ivan',
                        'Amina','Raj','Priya','Kenji','Yuki','Lucas','Emma','Noah'])[1 + i % 20] || ' ' ||
                 (ARRAY['Santos','Reyes','Cruz','Garcia','Wang','Chen','Khan','Ali','Schmidt','Muller','Rossi',
                        'Petrov','Diallo','Patel','Sharma','Tanaka','Sato','Silva','Dubois','Smith'])[1 + (i / 20) % 20]
                 AS n
       FROM generate_series(0, 399) i;
     CREATE TABLE messages (
       id bigint PRIMARY KEY, uuid uuid NOT NULL, created_at timestamptz NOT NULL, author text NOT NULL,
       email text NOT NULL, subject text NOT NULL, body text NOT NULL, amount numeric(12,2));
     CREATE TABLE attachments (
       id bigint PRIMARY KEY, message_id bigint NOT NULL, filename text NOT NULL, content bytea NOT NULL);`,
  );
  // Messages up to ~70% of the target, attachments up to the target, in batches sized from the growth.
  const fill = async (until: number, first: number, insert: (from: number, to: number) => string) => {
    let next = 1;
    let batch = first;
    for (let now = await size(); now < until; ) {
      await pg.psql(database, `SET synchronous_commit = off; ${insert(next, next + batch - 1)}`);
      next += batch;
      const after = await size();
      const perRow = Math.max(1, (after - now) / batch);
      now = after;
      batch = Math.min(first * 20, Math.max(1000, Math.ceil((until - now) / perRow)));
    }
    return next - 1;
  };
  const messages = await fill(
    bytes * 0.7,
    20_000,
    (from, to) => `INSERT INTO messages
         SELECT g, md5(g::text)::uuid, timestamptz '2023-01-01' + g * interval '7 seconds',
                n.n, lower(replace(n.n, ' ', '.')) || (g % 997) || '@example.com',
                a.s || ' #' || (g * 7919 % 1000003),
                'Hello ' || split_part(n.n, ' ', 1) || ', ' || a.s || '. ' || b.s || ' ' || (g % 10007) ||
                  '. ' || c.s || '? ' || d.s || ', ref ' || upper(substr(md5((g * 31)::text), 1, 10)) ||
                  '. ' || e.s || '.',
                round((hashint8(g) & 1048575) / 100.0, 2)
         FROM generate_series(${from}::bigint, ${to}) g
         JOIN names n ON n.i = g % 400
         JOIN sentences a ON a.i = (hashint8(g) & 2147483647) % 5000
         JOIN sentences b ON b.i = (hashint8(g + 1) & 2147483647) % 5000
         JOIN sentences c ON c.i = (hashint8(g + 2) & 2147483647) % 5000
         JOIN sentences d ON d.i = (hashint8(g + 3) & 2147483647) % 5000
         JOIN sentences e ON e.i = (hashint8(g + 4) & 2147483647) % 5000;`,
  );
  // ~1.9 kB values stay inline (no TOAST compression): 800 random bytes, a structured part, 100 random.
  await fill(
    bytes,
    5_000,
    (from, to) => `INSERT INTO attachments
         SELECT g, 1 + g * 13 % ${messages}, 'scan-' || g || '.bin',
                gen_random_bytes(800) ||
                convert_to(repeat('<row id="' || g || '" status="' || (g % 7) || '" total="' || (g % 1000) || '.00"/>', 16), 'UTF8') ||
                gen_random_bytes(100)
         FROM generate_series(${from}::bigint, ${to}) g;`,
  );
  await pg.psql(database, 'VACUUM ANALYZE');
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};
const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;

/** Top-level entries of /tmp and $TMPDIR, to see whether backupctl leaves anything behind. */
function tmpEntries(): Set<string> {
  const dirs = [...new Set(['/tmp', tmpdir()])];
  return new Set(dirs.flatMap((d) => readdirSync(d).map((n) => join(d, n))));
}

/**
 * Files backupctl creates, from an strace of one run: every successful open with O_CREAT, mkdir
 * or rename outside /dev and /proc.
 */
async function createdFiles(
  argv: string[],
  env: NodeJS.ProcessEnv,
  work: string,
): Promise<string[] | undefined> {
  const trace = join(work, 'strace.out');
  try {
    await run(
      'strace',
      [
        '-f',
        '-qq',
        '--seccomp-bpf',
        '-e',
        'trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2',
        '-o',
        trace,
        ...argv,
      ],
      {
        env,
        maxBuffer: 64 * MB,
      },
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const created = new Set<string>();
  for (const line of readFileSync(trace, 'utf8').split('\n')) {
    if (!/(O_CREAT|mkdir|rename)/.test(line) || / = -1 /.test(line)) continue;
    for (const m of line.matchAll(/"([^"]+)"/g)) {
      const path = m[1] ?? '';
      if (path.startsWith('/') && !/^\/(dev|proc|sys)\//.test(path)) created.add(path);
    }
  }
  rmSync(trace, { force: true });
  return [...created].sort();
}

async function main(): Promise<void> {
  let pg: PgCluster | undefined;
  let s3: S3Emulator | undefined;
  const work = mkdtempSync(join(tmpdir(), 'bench-work-'));
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      if (running?.pid) {
        try {
          process.kill(-running.pid, 'SIGTERM');
        } catch {}
      }
      await Promise.allSettled([s3?.stop(), pg?.stop()]);
      rmSync(work, { recursive: true, force: true });
    })();
    return stopped;
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`\n${sig}: stopping the cluster and the emulator…`);
      void stop().then(() => process.exit(130));
    });
  }
  try {
    const version = async (cmd: string, args: string[]) =>
      (
        await run(cmd, args, { env: { ...process.env, PATH: `${PG_BIN}:${process.env.PATH}` } }).then(
          ({ stdout, stderr }) => `${stdout}${stderr}`,
        )
      )
        .trim()
        .split('\n')[0];
    console.log(
      `machine: ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}; node ${process.version}; ${await version('pg_dump', ['--version'])}; ` +
        `${await version('zstd', ['--version'])}; ${await version('gzip', ['--version'])}; ${await version('aws', ['--version'])}`,
    );
    await run('npm', ['run', '--silent', 'build:backupctl'], { cwd: ROOT });
    [pg, s3] = await Promise.all([startPostgres(), startS3()]);
    const cluster = pg;
    const emulator = s3;
    await emulator.createBucket(BUCKET);
    const postmaster = Number(
      readFileSync(join(cluster.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0],
    );
    const t0 = Date.now();
    console.log(
      `generating the ${SCALE_GB} GB database${SMALL_MB > 0 ? ` and the ${SMALL_MB} MB one` : ''}…`,
    );
    await generate(cluster, 'big', SCALE_GB * 1e9);
    if (SMALL_MB > 0) await generate(cluster, 'small', SMALL_MB * 1e6);
    const dbSize = async (db: string) =>
      Number(await cluster.psql('postgres', `SELECT pg_database_size('${db}')`));
    const tables = await cluster.psql(
      'big',
      `SELECT string_agg(relname || ' ' || round(pg_total_relation_size(oid) / 1e6) || ' MB', ', ' ORDER BY relname)
       FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND pg_total_relation_size(oid) > 1e6`,
    );
    console.log(
      `generated in ${Math.round((Date.now() - t0) / 1000)} s: big ${gb(await dbSize('big'))} (${tables})` +
        (SMALL_MB > 0 ? `, small ${mb(await dbSize('small'))}` : ''),
    );

    const base: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${PG_BIN}:${process.env.PATH}`,
      ...TEST_CREDENTIALS,
      AWS_DEFAULT_REGION: TEST_CREDENTIALS.AWS_REGION,
    };
    const envFor = (db: string) => ({ ...base, ...cluster.env(db), ...emulator.env(BUCKET, `bench-${db}/`) });
    const oldFile = join(work, 'db.sql.gz');
    const restoreDump = join(work, 'restore.dump');
    const sh = (script: string) => ['bash', '-o', 'pipefail', '-c', script];
    const all: Variant[] = [
      { id: 1, name: '1 pg_dump -Fc -Z0 > /dev/null', argv: () => sh('pg_dump -Fc -Z0 > /dev/null') },
      {
        id: 2,
        name: '2 pg_dump | zstd -T0 -3 > /dev/null',
        argv: () => sh('pg_dump -Fc -Z0 | zstd -q -T0 -3 > /dev/null'),
      },
      {
        id: 3,
        name: '3 pg_dump | zstd | aws s3 cp -',
        uploads: true,
        argv: (db) =>
          sh(
            `pg_dump -Fc -Z0 | zstd -q -T0 -3 | /usr/bin/time -f '%e %U %S %M' -o ${join(work, 'aws.time')} aws --endpoint-url ${emulator.endpoint} s3 cp --only-show-errors - s3://${BUCKET}/cli-${db}/db.dump.zst`,
          ),
      },
      {
        id: 4,
        name: '4 old: pg_dump | gzip > file; cp',
        argv: () =>
          sh(`pg_dump --clean --if-exists --no-owner | gzip > ${oldFile} && cp ${oldFile} ${oldFile}.upload`),
      },
      {
        id: 5,
        name: '5 backupctl backup --only db',
        uploads: true,
        own: true,
        argv: () => [process.execPath, ...NODE_FLAGS, BACKUPCTL, 'backup', '--only', 'db'],
      },
      {
        id: 6,
        name: '6 npx backupctl backup --only db',
        uploads: true,
        own: true,
        cwd: ROOT,
        argv: () => ['npx', '--no-install', 'backupctl', 'backup', '--only', 'db'],
      },
      ...(BEFORE
        ? [
            {
              id: 7,
              name: '7 before: backupctl backup --only db',
              uploads: true,
              own: true,
              argv: () => [process.execPath, ...NODE_FLAGS, BEFORE, 'backup', '--only', 'db'],
            },
          ]
        : []),
      {
        id: 8,
        name: '8 pg_restore file into a new database',
        restore: true,
        argv: () => sh(`createdb bench_plain && pg_restore --exit-on-error -d bench_plain ${restoreDump}`),
      },
      {
        id: 9,
        name: '9 backupctl restore latest --confirm big',
        restore: true,
        own: true,
        argv: () => [process.execPath, BACKUPCTL, 'restore', 'latest', '--confirm', 'big', '--only', 'db'],
      },
    ];
    const variants = all.filter((v) => VARIANTS.includes(v.id) || (v.id === 7 && BEFORE));
    for (const v of VARIANTS) if (!variants.some((x) => x.id === v)) throw new Error(`unknown variant ${v}`);
    const backups = variants.filter((v) => !v.restore);
    const restores = variants.filter((v) => v.restore);

    /** Sums the sizes of the uploaded objects, then deletes them: the emulator keeps them in memory. */
    const collect = async (): Promise<number> => {
      let total = 0;
      const page = await emulator.client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
      for (const o of page.Contents ?? []) {
        if (o.Key?.endsWith('.zst')) total += o.Size ?? 0;
        await emulator.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: o.Key }));
      }
      return total;
    };

    // One untimed dump first: warms the page cache for every variant alike and gives the sizes.
    const [dumpBytes = 0, zstdBytes = 0] = await run(
      'bash',
      ['-o', 'pipefail', '-c', 'pg_dump -Fc -Z0 | tee >(wc -c >&2) | zstd -q -T0 -3 | wc -c'],
      {
        env: envFor('big'),
      },
    ).then(({ stdout, stderr }) => [Number(stderr.trim()), Number(stdout.trim())]);
    // What backupctl's progress takes for 100 % of the dump (the dumped tables' size, bytea as hex).
    const { tableBytes } = await inspectServer(envFor('big'));
    console.log(
      `dump (-Fc -Z0) ${mb(dumpBytes)}, zstd -3 ${mb(zstdBytes)} (ratio ${(dumpBytes / zstdBytes).toFixed(2)}); ` +
        `progress estimate ${mb(tableBytes)}, ${((100 * tableBytes) / dumpBytes).toFixed(0)} % of the dump\n`,
    );

    const results = new Map<number, Measure[]>();
    const leftovers = new Set<string>();
    const measure = async (v: Variant, db: string): Promise<Measure> => {
      const before = v.own ? tmpEntries() : undefined;
      const env = v.restore
        ? { ...envFor(db), ...emulator.env(RESTORE_BUCKET, '') }
        : { ...envFor(db), ...(v.id === 5 ? BACKUPCTL_ENV : {}) };
      const m = await timed(v.argv(db), env, work, v.own ?? false, postmaster, v.cwd);
      if (before) for (const entry of tmpEntries()) if (!before.has(entry)) leftovers.add(entry);
      let outBytes: number | undefined;
      if (v.uploads) outBytes = await collect();
      if (v.id === 4) {
        outBytes = statSync(oldFile).size;
        rmSync(oldFile, { force: true });
        rmSync(`${oldFile}.upload`, { force: true });
      }
      return { ...m, ...(outBytes === undefined ? {} : { outBytes }) };
    };
    const line = (label: string, m: Measure) =>
      console.log(
        `${label} ${m.wall.toFixed(1).padStart(6)} s wall ${m.cpu.toFixed(1).padStart(6)} s CPU ` +
          `${m.treeRssMb.toFixed(0).padStart(4)} MB max RSS` +
          (m.ownRssMb === undefined
            ? ''
            : ` (node ${m.ownRssMb.toFixed(0)} MB, ${m.ownCpu?.toFixed(1)} s CPU)`) +
          (m.outBytes === undefined ? '' : `, ${mb(m.outBytes)} out`) +
          (m.emulatorCpu > 0.5 ? `, emulator ${m.emulatorCpu.toFixed(1)} s CPU` : '') +
          `, PG server ${m.serverCpu.toFixed(1)} s CPU` +
          (m.startupS === undefined ? '' : `; startup ${m.startupS.toFixed(1)} s`) +
          (m.exitS === undefined ? '' : `, finish-to-exit ${m.exitS.toFixed(1)} s`),
      );
    for (let round = 1; round <= RUNS; round++) {
      for (const v of backups) {
        const m = await measure(v, 'big');
        results.set(v.id, [...(results.get(v.id) ?? []), m]);
        line(`round ${round}: ${v.name.padEnd(36)}`, m);
      }
    }
    if (restores.length > 0) {
      // One backup (untimed) to restore from, and the same dump as a local file for pg_restore.
      await emulator.createBucket(RESTORE_BUCKET);
      await run(process.execPath, [BACKUPCTL, 'backup', '--only', 'db'], {
        env: { ...envFor('big'), ...emulator.env(RESTORE_BUCKET, '') },
      });
      const listing = await emulator.client.send(new ListObjectsV2Command({ Bucket: RESTORE_BUCKET }));
      const dumpKey = listing.Contents?.map((o) => o.Key ?? '').find((k) => k.endsWith('db.dump.zst'));
      writeFileSync(
        `${restoreDump}.zst`,
        await getObjectBytes(emulator.client, RESTORE_BUCKET, dumpKey ?? ''),
      );
      await run('zstd', ['-q', '-d', '-f', '--rm', `${restoreDump}.zst`, '-o', restoreDump]);
      // Between runs: drop what a run left (the plain copy, the database a restore replaced).
      const tidy = async () => {
        const extra = await cluster.psql(
          'postgres',
          "SELECT string_agg(quote_ident(datname), ' ') FROM pg_database WHERE datname = 'bench_plain' OR datname LIKE 'big\\_\\_%'",
        );
        for (const name of extra.split(' ').filter(Boolean))
          await cluster.psql('postgres', `DROP DATABASE ${name}`);
      };
      for (let round = 1; round <= RUNS; round++) {
        for (const v of restores) {
          const m = await measure(v, 'big');
          await tidy();
          results.set(v.id, [...(results.get(v.id) ?? []), m]);
          line(`restore ${round}: ${v.name.padEnd(34)}`, m);
        }
      }
      rmSync(restoreDump, { force: true });
    }
    const backupctl = variants.find((v) => v.id === 5);
    const small: Measure[] = [];
    if (backupctl && SMALL_MB > 0) {
      for (let i = 1; i <= RUNS; i++) {
        const m = await measure(backupctl, 'small');
        small.push(m);
        line(`small ${i}: ${backupctl.name.padEnd(36)}`, m);
      }
    }
    const created = backupctl
      ? await createdFiles(
          [process.execPath, BACKUPCTL, 'backup', '--only', 'db'],
          envFor(SMALL_MB > 0 ? 'small' : 'big'),
          work,
        )
      : undefined;
    if (backupctl) await collect();

    const med = (v: number, pick: (m: Measure) => number | undefined) =>
      median((results.get(v) ?? []).map(pick).filter((x): x is number => x !== undefined));
    /** CPU seconds per GB uploaded (of the compressed output). */
    const perGb = (v: number, pick: (m: Measure) => number | undefined) =>
      med(v, (m) => {
        const cpu = pick(m);
        return cpu === undefined || !m.outBytes ? undefined : cpu / (m.outBytes / 1e9);
      });
    console.log(
      `\nbig database ${gb(await dbSize('big'))}, dump ${mb(dumpBytes)}; medians of ${RUNS} round(s); ` +
        'CPU = user+sys of the process tree; RSS = max RSS of the largest process in the tree',
    );
    const cols = (cells: readonly string[]) =>
      (cells[0] ?? '').padEnd(38) +
      cells
        .slice(1)
        .map((c, i) => c.padStart(i === 0 ? 7 : 9))
        .join('');
    const f = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '');
    console.log(cols(['variant', 'wall s', 'CPU s', 'RSS MB', 'out MB', 'emu CPU', 'PG CPU', 'all CPU']));
    for (const v of variants) {
      const get = (pick: (m: Measure) => number | undefined) => med(v.id, pick);
      const all = get((m) => m.cpu + m.emulatorCpu + m.serverCpu);
      console.log(
        cols([
          v.name,
          f(get((m) => m.wall)),
          f(get((m) => m.cpu)),
          f(
            get((m) => m.treeRssMb),
            0,
          ),
          v.id === 1 || v.id === 2 ? '' : f(get((m) => m.outBytes) / 1e6, 0),
          v.uploads ? f(get((m) => m.emulatorCpu)) : '',
          f(get((m) => m.serverCpu)),
          f(all),
        ]),
      );
    }
    for (const [id, label] of [
      [3, '  3: of which the aws process'],
      [5, '  5: of which the backupctl node process'],
      [6, '  6: of which the backupctl node process'],
      [7, '  7: of which the backupctl node process'],
    ] as const) {
      if (!results.has(id)) continue;
      const cpu = (m: Measure) => (id === 3 ? m.awsCpu : m.ownCpu);
      console.log(
        `${cols([
          label,
          '',
          f(med(id, cpu)),
          id === 3
            ? ''
            : f(
                med(id, (m) => m.ownRssMb),
                0,
              ),
        ])}` + `   ${f(perGb(id, cpu), 2)} CPU s per GB uploaded`,
      );
    }
    if (backupctl && results.has(5)) {
      console.log(
        `  backupctl phases (medians): start to 'backup started' ${f(med(5, (m) => m.startupS))} s, ` +
          `'backup finished' to exit ${f(med(5, (m) => m.exitS))} s`,
      );
    }
    console.log(
      'CPU s = user+sys of the timed process tree (GNU time); RSS MB = max RSS of the largest process in\n' +
        "the tree (GNU time %M); emu CPU = the S3 emulator (in this process); PG CPU = the PostgreSQL server's\n" +
        'backends; all CPU = the three together, what the 2 cores had to do. out MB = object or file size.',
    );

    console.log(
      `load average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const has = (...ids: number[]) => ids.every((id) => results.has(id));
    const ratio = (a: number, b: number) => med(a, (m) => m.wall) / med(b, (m) => m.wall);
    const check = (label: string, value: number, ok: boolean, target: string) =>
      console.log(
        `${label.padEnd(50)}${value.toFixed(2).padStart(8)}  target ${target.padEnd(9)}${ok ? 'PASS' : 'FAIL'}`,
      );
    console.log('');
    if (has(5, 3))
      check('5/3 backupctl vs the aws-cli pipeline (wall)', ratio(5, 3), ratio(5, 3) <= 1.0, '<= 1.0');
    if (has(6, 3))
      check('6/3 npx backupctl vs the aws-cli pipeline (wall)', ratio(6, 3), ratio(6, 3) <= 1.0, '<= 1.0');
    if (has(5, 7)) check('5/7 backupctl vs the before build (wall)', ratio(5, 7), true, '(info)');
    const awsPerGb = perGb(3, (m) => m.awsCpu);
    for (const id of [5, 6, 7]) {
      if (!has(id, 3)) continue;
      const own = perGb(id, (m) => m.ownCpu);
      check(`${id}/3 node CPU per GB vs the aws process's`, own / awsPerGb, own <= awsPerGb, '<= 1.0');
    }
    if (has(5, 3)) {
      // The accounting: both processes hash every byte for SigV4 (plain HTTP) and CRC32 it; only
      // backupctl also hashes the whole artifact (the manifest's SHA-256). What that costs per GB,
      // in this node and in the aws CLI's python, measured now.
      const node = nodeHashCosts();
      const python = pythonHashCosts();
      console.log(
        `  CPU per GB of SHA-256 / CRC32 now: node ${f(node.sha256, 2)} / ${f(node.crc32, 2)} s, ` +
          `python3 (aws) ${f(python.sha256, 2)} / ${f(python.crc32, 2)} s`,
      );
      const own = perGb(5, (m) => m.ownCpu) - node.sha256;
      check("5/3 node CPU per GB less the artifact's SHA-256", own / awsPerGb, true, '(info)');
    }
    if (has(9, 8))
      check('9/8 backupctl restore vs pg_restore (wall)', ratio(9, 8), ratio(9, 8) <= 1.3, '<= 1.3');
    if (has(5, 2))
      check('5/2 backupctl vs the local pipeline (wall)', ratio(5, 2), ratio(5, 2) <= 1.35, '<= 1.35');
    if (has(4, 5)) check('4/5 old scripts vs backupctl (wall)', ratio(4, 5), ratio(4, 5) >= 3.5, '>= 3.5');
    if (has(5)) {
      const own = Math.max(...(results.get(5) ?? []).map((m) => m.ownRssMb ?? 0));
      check('backupctl node peak RSS MB, big (max of runs)', own, own <= 200, '<= 200');
      if (small.length > 0) {
        const ownSmall = Math.max(...small.map((m) => m.ownRssMb ?? 0));
        check(
          `  big / small (${ownSmall.toFixed(0)} MB on ${SMALL_MB} MB)`,
          own / ownSmall,
          own / ownSmall <= 1.2,
          '<= 1.20',
        );
      }
      console.log(
        `${'new entries in /tmp, $TMPDIR after backupctl runs'.padEnd(50)}${String(leftovers.size).padStart(8)}  target 0        ${leftovers.size === 0 ? 'PASS' : `FAIL ${[...leftovers].join(' ')} (may be another process's)`}`,
      );
      if (created) {
        console.log(
          `${'files created by a backupctl run (strace)'.padEnd(50)}${String(created.length).padStart(8)}  target 0        ${created.length === 0 ? 'PASS' : `FAIL ${created.join(' ')}`}`,
        );
      }
    }
  } finally {
    await stop();
  }
}

main().catch((error: Error) => {
  console.error(`bench failed: ${error.message}`);
  process.exitCode = 1;
});
