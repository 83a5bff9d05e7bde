/**
 * `backupctl restore`: put a backup back, safely.
 *
 * Every refusal (no such backup, a key outside the prefix, the wrong kind of artifact, a
 * confirmation that does not name the target, a running backup or restore, an older server)
 * happens before the target is touched. Then a pre-restore safety backup of the target is taken;
 * the database is restored in one transaction while the stream's SHA-256 is checked (any error or
 * mismatch rolls back); media is extracted beside the live directory and swapped in, keeping the
 * old one. Finally the restored row counts are compared with the manifest.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { assertArtifactKind, streamArtifact, zstdDecompressStep } from '../artifacts.ts';
import type { Catalog } from '../catalog.ts';
import type { BackupConfig } from '../config.ts';
import { formatTimestamp, isDatabaseName } from '../core/ids.ts';
import type { Manifest, MediaArtifact, PostgresArtifact } from '../core/manifest.ts';
import { diffRowCounts } from '../core/verification.ts';
import { BackupError, CheckFailedError, ConfigError, PreflightError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { runCommand } from '../pipeline.ts';
import { clientVersion, countRows, inspectServer, libpqEnv } from '../postgres.ts';
import type { ObjectStore } from '../store/store.ts';
import { runBackup } from './backup.ts';

export interface RestoreOptions {
  /** `latest` or a backup id. */
  readonly ref: string;
  /** Must equal the target database's name. */
  readonly confirm: string | undefined;
  /** @default the backed-up database (PGDATABASE) */
  readonly targetDatabase?: string;
  readonly only?: 'db' | 'media';
}

export interface RestoreDeps {
  readonly config: BackupConfig;
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly logger: Logger;
  readonly toolVersion: string;
  readonly now: () => Date;
  readonly env?: NodeJS.ProcessEnv;
}

export interface RestorePlan {
  readonly manifest: Manifest;
  readonly target: string;
  readonly targetEnv: NodeJS.ProcessEnv;
  readonly database?: PostgresArtifact;
  readonly media?: MediaArtifact;
}

export interface RestoreResult {
  readonly id: string;
  readonly target: string;
  /** The safety backup taken first: restore it to undo. */
  readonly safetyBackupId: string;
  /** Where the media directory that was replaced now lives. */
  readonly previousMediaDir?: string;
  readonly seconds: number;
}

const major = (version: string | undefined) => Number(version?.split('.')[0] ?? 0);

/** Every check that can refuse the restore, in order; touches nothing. */
export async function planRestore(options: RestoreOptions, deps: RestoreDeps): Promise<RestorePlan> {
  const { config, store, catalog } = deps;
  const env = deps.env ?? process.env;
  const source = env.PGDATABASE;
  if (!source)
    throw new ConfigError('PGDATABASE is not set: it names the database whose backups are restored.');
  const target = options.targetDatabase ?? source;
  if (!isDatabaseName(target))
    throw new ConfigError(`--target-database is not a valid database name, got: ${target}`);
  if (options.confirm !== target) {
    throw new ConfigError(
      `--confirm must name the target database exactly: expected ${target}, got: ${options.confirm ?? '(nothing)'}. Nothing was changed.`,
    );
  }
  // The database unless --only media: `latest` is then the newest backup that holds it.
  const manifest = await catalog.resolve(options.ref, source, {
    needs: [options.only === 'media' ? 'media' : 'postgres'],
  });
  const database =
    options.only === 'media'
      ? undefined
      : manifest.artifacts.find((a): a is PostgresArtifact => a.kind === 'postgres');
  const media =
    options.only === 'db'
      ? undefined
      : manifest.artifacts.find((a): a is MediaArtifact => a.kind === 'media');
  if (media && !config.mediaDir) {
    throw new ConfigError(
      `Backup ${manifest.id} holds media but MEDIA_DIR is not set; set it, or restore with --only db.`,
    );
  }
  for (const artifact of [database, media]) {
    if (artifact) await assertArtifactKind(store, artifact);
  }
  const targetEnv = libpqEnv({ ...env, PGDATABASE: target });
  if (database) {
    const server = await inspectServer(targetEnv);
    if (server.major < major(manifest.serverVersion)) {
      throw new PreflightError(
        `The target server runs PostgreSQL ${server.version}, older than the backup's ${manifest.serverVersion}; restore onto ${major(manifest.serverVersion)} or newer.`,
      );
    }
    const pgRestore = await clientVersion('pg_restore');
    if (pgRestore.major < major(manifest.pgDumpVersion)) {
      throw new PreflightError(
        `pg_restore ${pgRestore.version} cannot read archives of pg_dump ${manifest.pgDumpVersion}; use pg_restore ${major(manifest.pgDumpVersion)} or newer.`,
      );
    }
  }
  return { manifest, target, targetEnv, ...(database ? { database } : {}), ...(media ? { media } : {}) };
}

/** Runs a planned restore; the caller holds the target's lock. */
export async function executeRestore(plan: RestorePlan, deps: RestoreDeps): Promise<RestoreResult> {
  const { config, store, logger } = deps;
  const started = Date.now();
  const { manifest, target } = plan;
  logger.info('restore started', {
    id: manifest.id,
    target,
    parts: [plan.database && 'db', plan.media && 'media'].filter(Boolean),
  });

  let safety: Manifest;
  try {
    safety = await runBackup(
      {
        tier: 'pre-restore',
        ...(plan.database && plan.media ? {} : { only: plan.database ? 'db' : 'media' }),
      },
      { ...deps, pgEnv: plan.targetEnv },
    );
  } catch (error) {
    throw new BackupError(
      `The pre-restore safety backup of ${target} failed, so nothing was restored: ${(error as Error).message}`,
      { cause: error },
    );
  }
  logger.info('safety backup taken', { id: safety.id });

  if (plan.database) {
    await streamArtifact(store, plan.database, [
      zstdDecompressStep(),
      {
        name: 'pg_restore',
        command: 'pg_restore',
        // One transaction: an error, a kill, or a checksum mismatch (the last bytes are held back
        // until the SHA-256 matched) leaves the database exactly as it was.
        args: [
          '--single-transaction',
          '--exit-on-error',
          '--clean',
          '--if-exists',
          '--no-owner',
          `--dbname=${target}`,
        ],
        env: plan.targetEnv,
      },
    ]).catch((error: Error) => {
      throw new BackupError(
        `Restore of ${target} failed and was rolled back; the database is unchanged: ${error.message}`,
        {
          cause: error,
        },
      );
    });
    const found = await countRows(plan.targetEnv);
    const problems = diffRowCounts(plan.database.tables, found.tables);
    if (problems.length > 0) {
      throw new CheckFailedError(
        `Restored ${target}, but its row counts differ from the backup (${problems.slice(0, 3).join('; ')}); undo with: backupctl restore ${safety.id} --confirm ${target}`,
      );
    }
    logger.info('database restored', { target, tables: found.tables.length });
  }

  let previousMediaDir: string | undefined;
  if (plan.media && config.mediaDir)
    previousMediaDir = await restoreMedia(store, plan.media, config.mediaDir, deps.now());

  const result: RestoreResult = {
    id: manifest.id,
    target,
    safetyBackupId: safety.id,
    ...(previousMediaDir ? { previousMediaDir } : {}),
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
  logger.info('restore finished', { ...result, undo: `backupctl restore ${safety.id} --confirm ${target}` });
  return result;
}

/**
 * Extracts beside the live directory, checks it, then swaps; the old directory is kept, and the
 * staging directory is removed on every failure. Media trees may nest deeper than PATH_MAX (4096
 * bytes), where any absolute path fails with ENAMETOOLONG: so extraction (bsdtar: GNU tar 1.34
 * cannot create such paths), counting (find) and removal (rm) are done by tools that walk
 * relative to directory handles, never by building absolute paths here.
 */
async function restoreMedia(
  store: ObjectStore,
  artifact: MediaArtifact,
  live: string,
  now: Date,
): Promise<string> {
  const stamp = formatTimestamp(now);
  const staging = join(dirname(live), `.${basename(live)}.restoring-${stamp}`);
  const previous = join(dirname(live), `${basename(live)}.before-restore-${stamp}`);
  await removeTree(staging);
  mkdirSync(staging, { recursive: true });
  try {
    await streamArtifact(store, artifact, [
      zstdDecompressStep(),
      {
        name: 'bsdtar',
        command: 'bsdtar',
        // bsdtar refuses '..', absolute names and extraction through symlinks by default. Owners
        // are not restored: the task runs as an unprivileged user that could not, and as root
        // bsdtar 3.6 fails to chown directories beyond PATH_MAX.
        args: ['-x', '-p', '--no-same-owner', '-f', '-', '-C', staging],
      },
    ]);
    const files = await countFiles(staging);
    if (files !== artifact.fileCount) {
      throw new CheckFailedError(
        `The extracted media holds ${files} files, the backup recorded ${artifact.fileCount}.`,
      );
    }
  } catch (error) {
    await removeTree(staging).catch(() => {});
    throw new BackupError(`Media restore failed; ${live} is unchanged: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    if (existsSync(live)) await rename(live, previous);
    try {
      await rename(staging, live);
    } catch (error) {
      if (existsSync(previous)) await rename(previous, live);
      throw error;
    }
  } catch (error) {
    await removeTree(staging).catch(() => {});
    throw new BackupError(
      `Could not swap the restored media into ${live}; it is unchanged: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return previous;
}

/** Non-directory entries below `dir` (files, symlinks …), as the backup's tar listing counts them. */
async function countFiles(dir: string): Promise<number> {
  const dots = await runCommand({
    name: 'find',
    command: 'find',
    args: [dir, '-mindepth', '1', '!', '-type', 'd', '-printf', '.'],
  });
  return dots.length;
}

/** Removes a tree of any depth (rm walks it with openat); absent is fine. */
async function removeTree(dir: string): Promise<void> {
  await runCommand({ name: 'rm', command: 'rm', args: ['-rf', '--one-file-system', '--', dir] });
}
