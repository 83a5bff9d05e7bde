/**
 * `backupctl verify`: prove a backup restorable. Each artifact streams back from the store; the
 * database is restored into a scratch server and its row counts compared with the manifest; the
 * media archive is listed and its files counted. The record of what was proven is written next to
 * the manifest, and only a backup that passed every check exits 0.
 */
import { lines, streamArtifact, zstdDecompressStep } from '../artifacts.ts';
import type { BackupConfig } from '../config.ts';
import { parseBackupId } from '../core/ids.ts';
import { verificationKey } from '../core/keys.ts';
import type { Manifest, MediaArtifact, PostgresArtifact } from '../core/manifest.ts';
import { type Check, diffRowCounts, type Verification } from '../core/verification.ts';
import { BackupError, CheckFailedError, IntegrityError, PipelineError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { countRows } from '../postgres.ts';
import { startScratchServer } from '../scratch-postgres.ts';
import type { ObjectStore } from '../store/store.ts';

export interface VerifyDeps {
  readonly config: BackupConfig;
  readonly store: ObjectStore;
  readonly logger: Logger;
  readonly toolVersion: string;
  readonly now: () => Date;
}

type Artifact = PostgresArtifact | MediaArtifact;

/** Which check a streaming failure belongs to: the first one it disproves. */
function failedCheck(error: unknown, artifact: Artifact): Check['name'] {
  if (error instanceof IntegrityError) return 'checksum';
  if (error instanceof PipelineError && error.stage === 'zstd') return 'decode';
  if (artifact.kind === 'media') return 'archive';
  const text = (error as Error).message;
  return /valid archive|magic string|unsupported version|unexpected end of file|could not read input file/i.test(
    text,
  )
    ? 'archive'
    : 'restore';
}

export async function runVerify(manifest: Manifest, deps: VerifyDeps): Promise<Verification> {
  const { store, logger } = deps;
  const checks: Check[] = [];
  let restoreSeconds: number | undefined;
  const record = (artifact: Artifact, name: Check['name'], started: number, ok: boolean, detail?: string) => {
    const check: Check = {
      artifact: artifact.kind,
      name,
      ok,
      ms: Date.now() - started,
      ...(detail ? { detail } : {}),
    };
    checks.push(check);
    (ok ? logger.info : logger.error)(ok ? 'check passed' : 'check failed', { ...check });
  };
  logger.info('verify started', { id: manifest.id });

  for (const artifact of manifest.artifacts) {
    // The globals are proven with the database once the drill restores the way `--create` does.
    if (artifact.kind === 'globals') continue;
    const started = Date.now();
    try {
      if (artifact.kind === 'postgres') {
        const server = await startScratchServer();
        try {
          await streamArtifact(store, artifact, [
            zstdDecompressStep(),
            {
              name: 'pg_restore',
              command: 'pg_restore',
              args: ['--exit-on-error', '--no-owner', '--no-privileges', `--dbname=${server.database}`],
              env: server.env,
            },
          ]);
          restoreSeconds = Math.round((Date.now() - started) / 100) / 10;
          for (const name of ['checksum', 'decode', 'archive', 'restore'] as const)
            record(artifact, name, started, true);
          const countStarted = Date.now();
          const found = await countRows(server.env);
          const problems = diffRowCounts(artifact.tables, found.tables);
          if (found.largeObjects !== artifact.largeObjects) {
            problems.push(
              `${found.largeObjects} large objects, the backup recorded ${artifact.largeObjects}`,
            );
          }
          record(
            artifact,
            'row counts',
            countStarted,
            problems.length === 0,
            problems.slice(0, 5).join('; '),
          );
        } finally {
          await server.stop();
        }
      } else {
        let files = 0;
        await streamArtifact(
          store,
          artifact,
          [zstdDecompressStep(), { name: 'tar', command: 'tar', args: ['--list', '--file=-'] }],
          lines((line) => {
            if (line.startsWith('./') && !line.endsWith('/')) files++;
          }),
        );
        for (const name of ['checksum', 'decode', 'archive'] as const) record(artifact, name, started, true);
        const ok = files === artifact.fileCount;
        record(
          artifact,
          'file count',
          started,
          ok,
          ok ? undefined : `${files} files, the backup recorded ${artifact.fileCount}`,
        );
      }
    } catch (error) {
      if (!(error instanceof BackupError) || error instanceof CheckFailedError) throw error;
      // A failure of the scratch server itself says nothing about the backup: not a verdict.
      if (error.message.includes('scratch PostgreSQL') || error.message.includes('server binaries'))
        throw error;
      record(artifact, failedCheck(error, artifact), started, false, error.message);
    }
  }

  const verification: Verification = {
    formatVersion: 1,
    id: manifest.id,
    verifiedAt: deps.now().toISOString(),
    ok: checks.length > 0 && checks.every((c) => c.ok),
    checks,
    ...(restoreSeconds === undefined ? {} : { restoreSeconds }),
    tool: { name: 'backupctl', version: deps.toolVersion },
  };
  const id = parseBackupId(manifest.id);
  if (id.ok) {
    await store.put(
      verificationKey(deps.config.store.prefix, id.id),
      `${JSON.stringify(verification, null, 2)}\n`,
      'application/json',
    );
  }
  logger.info(verification.ok ? 'verify passed' : 'verify failed', {
    id: manifest.id,
    restoreSeconds,
    failed: checks.filter((c) => !c.ok).map((c) => `${c.artifact} ${c.name}`),
  });
  return verification;
}

/** The exit verdict: throws naming the first failed check. */
export function assertVerified(verification: Verification): void {
  const failed = verification.checks.find((c) => !c.ok);
  if (failed) {
    throw new CheckFailedError(
      `Backup ${verification.id} failed verification at the ${failed.artifact} ${failed.name} check: ${failed.detail ?? 'no detail'}`,
    );
  }
}
