/**
 * The program the Fargate image runs is the esbuild bundle `npm run build:backupctl` makes. No
 * Docker here, so this builds that bundle and runs it: a bundle that loads but never calls main()
 * would exit 0 having backed up nothing. `npx backupctl` (task/backupctl.js) runs the same bundle
 * while it is current, and the TypeScript source once a file it was built from changed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgCluster, startPostgres } from '../../tools/local/postgres.ts';
import { type S3Emulator, startS3 } from '../../tools/local/s3.ts';
import { backupctl, expectFailure, ROOT } from '../support/backupctl.ts';
import { createAppDatabase, makeMediaDir } from '../support/fixtures.ts';
import { sh } from '../support/shell.ts';

const BUCKET = 'bundle-backups';
const BUNDLE = join(ROOT, 'dist', 'backupctl.mjs');
let pg: PgCluster;
let s3: S3Emulator;
let work: string;

beforeAll(async () => {
  [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  await s3.createBucket(BUCKET);
  await createAppDatabase(pg, 'app');
  work = mkdtempSync(join(tmpdir(), 'spb-bundle-'));
  makeMediaDir(join(work, 'media'));
  await sh(`cd '${ROOT}' && npm run --silent build:backupctl`);
});

afterAll(async () => {
  await Promise.all([s3?.stop(), pg?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

const run = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
  backupctl(args, {
    program: BUNDLE,
    env: { ...pg.env('app'), ...s3.env(BUCKET), MEDIA_DIR: join(work, 'media'), ...extra },
  });

describe('the bundled backupctl (the container image program)', () => {
  it('backs up, lists and verifies like the source', async () => {
    const backup = await run(['backup']);
    expect(backup.code, backup.stderr).toBe(0);
    const id = String(backup.logs.find((l) => l.message === 'backup finished')?.id);
    expect(await s3.keys(BUCKET, `${id}/`)).toEqual(
      ['db.dump.zst', 'globals.sql.zst', 'manifest.json', 'media.tar.zst'].map((f) => `${id}/${f}`),
    );

    const list = await run(['list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).map((b: { id: string }) => b.id)).toEqual([id]);

    const verify = await run(['verify', 'latest', '--json']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ id, ok: true });
  });

  it('exits non-zero with the cause when the backup fails', async () => {
    const result = await run(['backup'], { PGDATABASE: 'no_such_db' });
    expectFailure(result, /no_such_db/, 1);
  });

  it('is the file the Dockerfile builds with the same script and runs as its entrypoint', () => {
    const dockerfile = readFileSync(join(ROOT, 'task', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^RUN npm run build:backupctl$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/src\/dist\/backupctl\.mjs \/app\/backupctl\.mjs$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "\/app\/backupctl\.mjs"\]$/m);
  });

  it('is what npx backupctl runs while no file it was built from changed, else the source', async () => {
    // A failure's stack (--verbose) says which program ran.
    const program = async () => {
      const result = await backupctl(['list', '--verbose'], { env: { PGDATABASE: 'app' } });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^backupctl: BACKUP_BUCKET is not set/);
      return result.stderr.match(/at main \((\S+?):\d+:\d+\)/)?.[1];
    };
    expect(await program()).toBe(`file://${BUNDLE}`);

    const record = join(ROOT, 'dist', 'backupctl.inputs.json');
    const built = readFileSync(record, 'utf8');
    const { inputs } = JSON.parse(built) as { inputs: string[] };
    expect(inputs).toEqual(expect.arrayContaining(['task/cli.ts', 'task/main.ts']));
    try {
      // As if task/main.ts had been edited after the build started.
      writeFileSync(record, JSON.stringify({ ...JSON.parse(built), startedAt: 0 }));
      expect(await program()).toBe(join(ROOT, 'task', 'main.ts'));
    } finally {
      writeFileSync(record, built);
    }
  });
});
