/**
 * `npm run demo`: the whole job on one machine. Starts a throwaway PostgreSQL and the S3
 * emulator, creates a sample application (database + media), then backs up, lists, verifies,
 * checks health, survives a simulated disaster by restoring, and shows the alert a failing backup
 * sends. Prints what it proves; exits 0 only if everything held; cleans up after itself.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decideTaskAlert, TaskEventTracker } from '../functions/task-alert/core.ts';
import type { HealthReport } from '../task/core/health.ts';
import { backupctl, type CliResult } from '../test/support/backupctl.ts';
import { createAppDatabase, fingerprint, makeMediaDir, treeDigest } from '../test/support/fixtures.ts';
import { type PgCluster, startPostgres } from '../tools/local/postgres.ts';
import { type S3Emulator, startS3 } from '../tools/local/s3.ts';

// The SDK's Node 20 deprecation notice is noise in the demo's narration, as in backupctl's stderr.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'demo-backups';
const proofs: { claim: string; held: boolean }[] = [];

function step(title: string): void {
  console.log(`\n\x1b[1m▶ ${title}\x1b[0m`);
}

function prove(claim: string, held: boolean): void {
  proofs.push({ claim, held });
  console.log(`  ${held ? '\x1b[32m✔ proved\x1b[0m' : '\x1b[31m✘ FAILED\x1b[0m'}: ${claim}`);
}

/** Shows a backupctl run the way an operator reads it: its data, then its JSON log lines as short lines. */
function show(command: string, result: CliResult): void {
  console.log(`  $ backupctl ${command}   → exit ${result.code}`);
  for (const line of `${result.stdout}\n${result.stderr}`.split('\n').filter(Boolean)) {
    if (!line.startsWith('{"')) {
      console.log(`    ${line}`);
      continue;
    }
    const { level, time: _time, message, ...data } = JSON.parse(line) as Record<string, unknown>;
    const fields = Object.entries(data)
      .filter(([k]) => !['artifacts', 'checks'].includes(k))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    console.log(`    ${level === 'info' ? '' : `${level}: `}${message}  ${fields}`.trimEnd());
  }
}

async function main(): Promise<number> {
  let pg: PgCluster | undefined;
  let s3: S3Emulator | undefined;
  const work = mkdtempSync(join(tmpdir(), 'backupctl-demo-'));
  try {
    step('Starting a throwaway PostgreSQL 15 and the S3 emulator on 127.0.0.1');
    [pg, s3] = await Promise.all([startPostgres(), startS3()]);
    await s3.createBucket(BUCKET);
    console.log(`  PostgreSQL on 127.0.0.1:${pg.port}, S3 at ${s3.endpoint}, bucket ${BUCKET}`);

    step('Creating the sample application: database "shop" and its media directory');
    await createAppDatabase(pg, 'shop');
    const media = join(work, 'media');
    makeMediaDir(media);
    const original = await fingerprint(pg, 'shop');
    const originalMedia = treeDigest(media);
    console.log(
      `  ${Object.keys(original).length} tables/sequences/large objects, ${Object.keys(originalMedia).length} media entries`,
    );
    const env = { ...pg.env('shop'), ...s3.env(BUCKET), MEDIA_DIR: media };
    const run = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
      const result = await backupctl(args, { env: { ...env, ...extra } });
      show(args.join(' '), result);
      return result;
    };

    step('Daily backup: pg_dump and tar streamed through zstd into S3, manifest written last');
    const backup = await run(['backup', '--tier', 'daily']);
    prove('the backup exits 0 and writes its manifest', backup.code === 0);
    const id = String(backup.logs.find((l) => l.message === 'backup finished')?.id);

    step('Listing complete backups');
    const list = await run(['list']);
    prove('the new backup is listed', list.code === 0 && list.stdout.includes(id));

    step('Verifying: checksums, zstd, and a test restore into a scratch PostgreSQL with row counts');
    const verify = await run(['verify', 'latest']);
    prove('the backup is restorable (verify exits 0)', verify.code === 0);

    step("Health: the monitor's policy from the shell (fresh? verified? sizes and rows as usual?)");
    await run(['status', '--database', 'shop']);
    const health = await backupctl(['status', '--database', 'shop', '--json'], { env });
    const daily = (JSON.parse(health.stdout) as HealthReport).verdicts.find((v) => v.tier === 'daily');
    prove('the daily tier is healthy: fresh, verified, of normal size', daily?.status === 'ok');
    console.log(
      '  (weekly and monthly have not run yet: a tier counts as missing once backups began longer ago than its limit, 8 and 32 days)',
    );

    step('Disaster: invoices deleted, customers overwritten, media files removed');
    await pg.psql(
      'shop',
      'DELETE FROM billing.invoices WHERE id % 2 = 0; UPDATE public.customers SET email = NULL',
    );
    unlinkSync(join(media, 'uploads/2025/10/report.pdf'));
    writeFileSync(join(media, 'avatars/defaced.png'), 'oops');
    const damaged = await fingerprint(pg, 'shop');
    console.log(
      `  billing.invoices: ${original['billing.invoices']?.split(':')[0]} → ${damaged['billing.invoices']?.split(':')[0]} rows`,
    );

    step('Restore refuses a confirmation that does not name the database');
    const refused = await run(['restore', 'latest', '--confirm', 'shopp']);
    prove(
      'a wrong --confirm is refused with exit 2 and nothing changes',
      refused.code === 2 && JSON.stringify(await fingerprint(pg, 'shop')) === JSON.stringify(damaged),
    );

    step(
      'Restore: built beside the live database, checked against the manifest, swapped in; media swapped too',
    );
    const restore = await run(['restore', 'latest', '--confirm', 'shop']);
    prove('the restore exits 0', restore.code === 0);
    prove(
      'every table, sequence and large object equals the original',
      JSON.stringify(await fingerprint(pg, 'shop')) === JSON.stringify(original),
    );
    prove(
      'the media directory equals the original, file for file',
      JSON.stringify(treeDigest(media)) === JSON.stringify(originalMedia),
    );
    const kept = String(restore.logs.find((l) => l.message === 'restore finished')?.kept);
    prove(
      'the replaced database is kept beside it, as it was before the restore (the undo)',
      (await pg.psql(kept, 'SELECT count(*) FROM billing.invoices').catch(() => '')) === '2000',
    );

    step('A failing backup: wrong password');
    const failed = await run(['backup'], { PGPASSWORD: 'wrong' });
    prove(
      'it exits non-zero and names the cause',
      failed.code !== 0 && failed.stderr.includes('password authentication failed'),
    );
    prove(
      'it leaves no partial backup behind',
      (await s3.keys(BUCKET, 'daily/')).filter((k) => !k.startsWith(`${id}/`)).length === 0,
    );
    const alert = decideTaskAlert(
      {
        'detail-type': 'ECS Task State Change',
        region: 'eu-west-1',
        detail: {
          taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/backups/0f1e2d3c4b5a',
          taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/backup-shop:3',
          lastStatus: 'STOPPED',
          version: 3,
          stopCode: 'EssentialContainerExited',
          stoppedReason: 'Essential container in task exited',
          overrides: { containerOverrides: [{ name: 'backupctl', command: ['backup', '--tier', 'daily'] }] },
          containers: [{ name: 'backupctl', exitCode: failed.code ?? undefined }],
        },
      },
      {
        logGroupName: '/backups/task',
        logStreamPrefix: 'backup',
        containerName: 'backupctl',
        families: { 'backup-shop': 'shop' },
      },
      new TaskEventTracker(),
    );
    console.log('  In AWS, the task-alert Lambda would email:');
    if (alert.action === 'alert')
      for (const line of [`Subject: ${alert.subject}`, '', ...alert.message.split('\n')])
        console.log(`    | ${line}`);
    prove('a failed task produces an alert email', alert.action === 'alert');
  } finally {
    step('Cleaning up');
    await Promise.all([s3?.stop(), pg?.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
  const failures = proofs.filter((p) => !p.held);
  console.log(
    `\n${failures.length === 0 ? '\x1b[32mAll' : '\x1b[31mNot all'} ${proofs.length} claims held.\x1b[0m ${failures.map((f) => `\n  failed: ${f.claim}`).join('')}`,
  );
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: Error) => {
    console.error(`demo failed: ${error.message}`);
    process.exitCode = 1;
  },
);
