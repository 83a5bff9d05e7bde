/**
 * `backupctl verify`: prove a backup restorable. Each artifact streams back from the store; the
 * database is restored into a bare scratch server exactly the way `restore --create` does it (roles
 * from the globals, the database with its properties, owners and privileges:
 * task/restore-database.ts), and its row counts and catalog fingerprint compared with the
 * manifest (a format-1 backup: restored without owners, row counts only); the media archive is
 * listed and its files counted. The record of what was proven is written next to
 * the manifest, and only a backup that passed every check exits 0.
 *
 * Only the backup's own faults are a verdict: bytes that differ from the manifest, a frame zstd
 * cannot decode, a dump pg_restore cannot read or restore, counts that differ. A failure of the
 * drill itself (the S3 read failed or was cut, the scratch server could not start, filled its
 * disk, ran out of memory or died) proves nothing about the backup: it fails the run with a
 * DrillError and records nothing, so an earlier passing record stands.
 */
import { lines, streamArtifact, zstdDecompressStep } from '../artifacts.ts';
import type { BackupConfig } from '../config.ts';
import { parseBackupId } from '../core/ids.ts';
import { verificationKey } from '../core/keys.ts';
import {
  type DatabaseCapture,
  databaseCapture,
  type Manifest,
  type MediaArtifact,
  type PostgresArtifact,
} from '../core/manifest.ts';
import { type Check, diffRowCounts, type Verification } from '../core/verification.ts';
import {
  ArchiveError,
  BackupError,
  CheckFailedError,
  DrillError,
  IntegrityError,
  PipelineError,
  PreflightError,
  ScratchServerError,
  StoreError,
} from '../errors.ts';
import type { Logger } from '../log.ts';
import { countRows } from '../postgres.ts';
import {
  type BuiltDatabaseCheck,
  buildBeside,
  checkBuilt,
  prepareDatabaseRestore,
} from '../restore-database.ts';
import { type ScratchServer, startScratchServer } from '../scratch-postgres.ts';
import type { ObjectStore } from '../store/store.ts';

export interface VerifyDeps {
  readonly config: BackupConfig;
  readonly store: ObjectStore;
  readonly logger: Logger;
  readonly toolVersion: string;
  readonly now: () => Date;
}

type Artifact = PostgresArtifact | MediaArtifact;

/** Which check a failure of the backup's own belongs to: the first one it disproves. */
function failedCheck(error: BackupError, artifact: Artifact): Check['name'] {
  if (error instanceof IntegrityError) return 'checksum';
  if (error instanceof PipelineError && error.stage === 'zstd') return 'decode';
  if (error instanceof ArchiveError || artifact.kind === 'media') return 'archive';
  return 'restore';
}

/** Failures of the drill itself (S3, the scratch server, its binaries): no verdict on the backup. */
function isDrillFault(error: unknown): boolean {
  return (
    error instanceof StoreError || error instanceof ScratchServerError || error instanceof PreflightError
  );
}

/** pg_restore's own words for "this is not an archive I can read": its only signal for it. */
const INVALID_ARCHIVE =
  /valid archive|magic string|unsupported version|unexpected end of file|could not read input file/i;

/**
 * Restores the dump into the scratch server: a format-2 backup as `restore --create` does, a
 * format-1 one without owners or privileges (its roles are not in the backup). A failure that is
 * not plainly the stored bytes' is typed here: first ScratchServerError when the server itself
 * failed (pg_restore only sees the connection drop), then ArchiveError when pg_restore says it
 * cannot read the archive. Returns what the checks found.
 */
async function restoreDump(
  store: ObjectStore,
  manifest: Manifest,
  artifact: PostgresArtifact,
  capture: DatabaseCapture | undefined,
  server: ScratchServer,
  deps: VerifyDeps,
): Promise<() => Promise<BuiltDatabaseCheck>> {
  try {
    if (capture) {
      const prepared = await prepareDatabaseRestore({
        store,
        artifact,
        capture,
        database: manifest.database,
        env: server.env,
        mode: 'create',
        now: deps.now(),
        logger: deps.logger,
      });
      const { name } = await buildBeside(prepared);
      return () => checkBuilt(prepared, name);
    }
    await streamArtifact(store, artifact, [
      zstdDecompressStep(),
      {
        name: 'pg_restore',
        command: 'pg_restore',
        args: ['--exit-on-error', '--no-owner', '--no-privileges', `--dbname=${server.database}`],
        env: server.env,
      },
    ]);
    return async () => {
      const found = await countRows(server.env);
      const rows = diffRowCounts(artifact.tables, found.tables);
      if (found.largeObjects !== artifact.largeObjects)
        rows.push(`${found.largeObjects} large objects, the backup recorded ${artifact.largeObjects}`);
      return { rows, fingerprint: undefined };
    };
  } catch (error) {
    if (error instanceof IntegrityError || error instanceof StoreError) throw error;
    await server.assertHealthy(error);
    if (
      error instanceof PipelineError &&
      error.stage === 'pg_restore' &&
      INVALID_ARCHIVE.test(error.stderrTail)
    )
      throw new ArchiveError(error.message, { cause: error });
    throw error;
  }
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
        const capture = databaseCapture(manifest);
        const server = await startScratchServer(
          process.env,
          capture ? { superuser: capture.databaseProperties.bootstrapSuperuser } : {},
        );
        try {
          const check = await restoreDump(store, manifest, artifact, capture, server, deps);
          restoreSeconds = Math.round((Date.now() - started) / 100) / 10;
          for (const name of ['checksum', 'decode', 'archive', 'restore'] as const)
            record(artifact, name, started, true);
          const countStarted = Date.now();
          const found = await check().catch(async (error: unknown) => {
            await server.assertHealthy(error);
            throw error;
          });
          // Each comparison is a check of its own; a format-1 backup has no fingerprint to compare.
          const compared = [
            ['row counts', found.rows],
            ['fingerprint', found.fingerprint],
          ] as const;
          for (const [name, problems] of compared) {
            if (problems)
              record(artifact, name, countStarted, problems.length === 0, problems.slice(0, 5).join('; '));
          }
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
      if (isDrillFault(error)) {
        const cause = (error as Error).message;
        logger.error('drill failed', { id: manifest.id, artifact: artifact.kind, cause });
        throw new DrillError(
          `The restore drill of ${manifest.id} could not judge the backup, so nothing was recorded and its last verification stands: ${cause}${error instanceof StoreError ? '; check the connection to S3 and run the drill again' : ''}`,
          { cause: error },
        );
      }
      if (!(error instanceof BackupError) || error instanceof CheckFailedError) throw error;
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
