/**
 * `backupctl restore`: put a backup back, safely.
 *
 * Every refusal (no such backup, a key outside the prefix, the wrong kind of artifact, a
 * confirmation that does not name the target, a target that does not exist without --create or
 * exists with it, a restoring role without the privileges, a running backup or restore, an older
 * server) happens before the target is touched. The database is built beside the live one and
 * swapped in after its rows and catalog matched the manifest, the replaced one kept as the undo
 * (task/restore-database.ts). Media is extracted beside the live directory and swapped in,
 * keeping the old one, after a pre-restore safety backup of the media.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { assertArtifactKind, streamArtifact, zstdDecompressStep } from '../artifacts.ts';
import { type Catalog, restoreNeeds } from '../catalog.ts';
import type { BackupConfig } from '../config.ts';
import { formatTimestamp, isDatabaseName } from '../core/ids.ts';
import {
  databaseCapture,
  type Manifest,
  type MediaArtifact,
  type PostgresArtifact,
} from '../core/manifest.ts';
import { BackupError, CheckFailedError, ConfigError, InterruptedError, PreflightError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { runCommand } from '../pipeline.ts';
import { clientVersion, libpqEnv } from '../postgres.ts';
import {
  type DatabaseRestoreRequest,
  type PreparedDatabaseRestore,
  prepareDatabaseRestore,
  type RestoredDatabase,
  readTarget,
  restoreDatabase,
  startPreflightReads,
} from '../restore-database.ts';
import type { ObjectStore } from '../store/store.ts';
import { type RestoredTables, restoreTables } from '../table-restore.ts';
import type { TableRequest } from '../table-selection.ts';
import { runBackup } from './backup.ts';

export interface RestoreOptions {
  /** `latest` or a backup id. */
  readonly ref: string;
  /** Must equal the target database's name. */
  readonly confirm: string | undefined;
  /** @default the backed-up database (PGDATABASE) */
  readonly targetDatabase?: string;
  readonly only?: 'db' | 'media';
  /** The target database must not exist; it is created (disaster recovery). @default false */
  readonly create?: boolean;
  /** Only these tables (`schema.name`), into a new side database (needs targetDatabase and create). */
  readonly tables?: readonly string[];
  /** Only the tables of these schemas, like `tables`. */
  readonly schemas?: readonly string[];
}

export interface RestoreDeps {
  readonly config: BackupConfig;
  readonly store: ObjectStore;
  readonly catalog: Catalog;
  readonly logger: Logger;
  readonly toolVersion: string;
  readonly now: () => Date;
  readonly env?: NodeJS.ProcessEnv;
  /** SIGTERM/SIGINT: stops every child, drops what was being built. */
  readonly signal?: AbortSignal;
}

export interface RestorePlan {
  readonly manifest: Manifest;
  readonly target: string;
  readonly targetEnv: NodeJS.ProcessEnv;
  readonly database?: PreparedDatabaseRestore;
  readonly media?: MediaArtifact;
  /** A table restore: what to take from the dump. */
  readonly tables?: TableRequest;
}

export interface RestoreResult {
  readonly id: string;
  readonly target: string;
  /** What the database restore did: kept database, undo, roles to give passwords. */
  readonly database?: RestoredDatabase;
  /** The safety backup of the media taken first (the database's undo is the kept database). */
  readonly safetyBackupId?: string;
  /** Where the media directory that was replaced now lives. */
  readonly previousMediaDir?: string;
  /** A table restore: the side database and the tables in it. */
  readonly tables?: RestoredTables;
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
  if (options.create && options.only === 'media')
    throw new ConfigError('--create creates a database; it does not go with --only media.');
  const tables = tableRequest(options, source);
  const only = tables ? 'db' : options.only;
  // Connect to the maintenance database: with --create the target does not exist yet.
  const targetEnv = libpqEnv({ ...env, PGDATABASE: target });
  // The reads below do not depend on each other, and the server's and pg_restore's not even on
  // the backup: all start at once, then are judged in the order of the refusals (the backup, the
  // artifacts' kind, the server, pg_restore, the target, the roles), so the first refusal is the
  // same whichever read answers first. A refusal stops those still running.
  const server = only === 'media' ? undefined : readTarget(targetEnv, target);
  const pgRestore = only === 'media' ? undefined : clientVersion('pg_restore');
  for (const started of [server, pgRestore]) started?.catch(() => {});
  const manifest = await catalog.resolve(options.ref, source, { needs: restoreNeeds(only) });
  const dump =
    only === 'media'
      ? undefined
      : manifest.artifacts.find((a): a is PostgresArtifact => a.kind === 'postgres');
  const media =
    only === 'db' ? undefined : manifest.artifacts.find((a): a is MediaArtifact => a.kind === 'media');
  if (media && !config.mediaDir) {
    throw new ConfigError(
      `Backup ${manifest.id} holds media but MEDIA_DIR is not set; set it, or restore with --only db.`,
    );
  }
  const planning = new AbortController();
  const signal = deps.signal ? AbortSignal.any([deps.signal, planning.signal]) : planning.signal;
  const request: DatabaseRestoreRequest | undefined = dump && {
    store,
    artifact: dump,
    capture: databaseCapture(manifest),
    database: target,
    env: targetEnv,
    mode: options.create ? 'create' : 'replace',
    now: deps.now(),
    logger: deps.logger,
    signal,
  };
  const kinds = [dump, media].map((artifact) => artifact && assertArtifactKind(store, artifact));
  const reads = request && server && startPreflightReads(request, server);
  for (const kind of kinds) kind?.catch(() => {});
  let database: PreparedDatabaseRestore | undefined;
  try {
    for (const kind of kinds) await kind;
    if (request && reads && pgRestore) {
      const { serverMajor, serverVersion } = await reads.target;
      if (serverMajor < major(manifest.serverVersion)) {
        throw new PreflightError(
          `The target server runs PostgreSQL ${serverVersion}, older than the backup's ${manifest.serverVersion}; restore onto ${major(manifest.serverVersion)} or newer.`,
        );
      }
      const client = await pgRestore;
      if (client.major < major(manifest.pgDumpVersion)) {
        throw new PreflightError(
          `pg_restore ${client.version} cannot read archives of pg_dump ${manifest.pgDumpVersion}; use pg_restore ${major(manifest.pgDumpVersion)} or newer.`,
        );
      }
      database = await prepareDatabaseRestore(request, reads);
    }
  } catch (error) {
    planning.abort();
    throw error;
  }
  return {
    manifest,
    target,
    targetEnv,
    ...(database ? { database } : {}),
    ...(media ? { media } : {}),
    ...(tables ? { tables } : {}),
  };
}

/**
 * A table restore's request, or undefined for a whole-database restore. It only ever creates a
 * side database: never the live one (`source`), never one that exists.
 */
function tableRequest(options: RestoreOptions, source: string): TableRequest | undefined {
  const names = options.tables ?? [];
  const schemas = options.schemas ?? [];
  if (names.length === 0 && schemas.length === 0) return undefined;
  const target = options.targetDatabase;
  if (!target || !options.create)
    throw new ConfigError(
      'A table restore goes into a new side database only: add --target-database <new name> --create (then copy the rows back with SQL, see the README).',
    );
  if (target === source)
    throw new ConfigError(
      `A table restore never writes into the live database ${source}; name a new side database with --target-database.`,
    );
  if (options.only === 'media')
    throw new ConfigError('--table and --schema restore tables; they do not go with --only media.');
  const tables = names.map((name) => {
    const dot = name.indexOf('.');
    if (dot <= 0 || dot === name.length - 1)
      throw new ConfigError(`--table must be schema.name (e.g. public.orders), got: ${name}`);
    return { schema: name.slice(0, dot), table: name.slice(dot + 1) };
  });
  return { tables, schemas };
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

  let safetyBackupId: string | undefined;
  if (plan.media) {
    try {
      safetyBackupId = (
        await runBackup({ tier: 'pre-restore', only: 'media' }, { ...deps, pgEnv: plan.targetEnv })
      ).id;
    } catch (error) {
      throw new BackupError(
        `The pre-restore safety backup of ${target}'s media failed, so nothing was restored: ${(error as Error).message}`,
        { cause: error },
      );
    }
    logger.info('safety backup taken', { id: safetyBackupId });
  }

  if (plan.tables && plan.database) return restoreSomeTables(plan, plan.database, plan.tables, deps, started);

  let database: RestoredDatabase | undefined;
  if (plan.database) {
    const prepared: PreparedDatabaseRestore = {
      ...plan.database,
      request: { ...plan.database.request, ...(deps.signal ? { signal: deps.signal } : {}) },
    };
    try {
      database = await restoreDatabase(prepared);
    } catch (error) {
      if (error instanceof InterruptedError) throw error;
      const Failure = error instanceof CheckFailedError ? CheckFailedError : BackupError;
      throw new Failure(
        `Restore of ${target} failed and the new database was dropped; ${plan.database.request.mode === 'create' ? `${target} was not created` : `${target} is unchanged`}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (database.withoutGuarantees)
      logger.warn('restored without the format-2 guarantees', { reason: database.withoutGuarantees });
    logger.info('database restored', { target, kept: database.kept, rolesCreated: database.rolesCreated });
  }

  let previousMediaDir: string | undefined;
  if (plan.media && config.mediaDir)
    previousMediaDir = await restoreMedia(store, plan.media, config.mediaDir, deps.now());

  const result: RestoreResult = {
    id: manifest.id,
    target,
    ...(database ? { database } : {}),
    ...(safetyBackupId ? { safetyBackupId } : {}),
    ...(previousMediaDir ? { previousMediaDir } : {}),
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
  logger.info('restore finished', {
    id: result.id,
    target,
    seconds: result.seconds,
    ...(database?.kept ? { kept: database.kept, undo: database.undo, dropKept: database.dropKept } : {}),
    ...(database?.rolesCreated.length ? { rolesCreated: database.rolesCreated } : {}),
    ...(database?.passwordsToSet.length ? { passwordsToSet: database.passwordsToSet } : {}),
    ...(safetyBackupId
      ? { safetyBackupId, undoMedia: `backupctl restore ${safetyBackupId} --confirm ${target} --only media` }
      : {}),
    ...(previousMediaDir ? { previousMediaDir } : {}),
  });
  return result;
}

async function restoreSomeTables(
  plan: RestorePlan,
  prepared: PreparedDatabaseRestore,
  request: TableRequest,
  deps: RestoreDeps,
  started: number,
): Promise<RestoreResult> {
  const { manifest, target } = plan;
  let tables: RestoredTables;
  try {
    tables = await restoreTables(
      { ...prepared, request: { ...prepared.request, ...(deps.signal ? { signal: deps.signal } : {}) } },
      request,
    );
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    const Failure = error instanceof CheckFailedError ? CheckFailedError : BackupError;
    throw new Failure(
      `Table restore into ${target} failed and ${target} was not created; nothing else was touched: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  deps.logger.info('restore finished', {
    id: manifest.id,
    target,
    seconds,
    tables: tables.tables,
    ...(tables.foreignKeysLeftOut.length ? { foreignKeysLeftOut: tables.foreignKeysLeftOut } : {}),
  });
  return { id: manifest.id, target, tables, seconds };
}

/** What to tell the operator once a restore succeeded: how to undo it and what is left to do. */
export function describeRestore(result: RestoreResult): string {
  const db = result.database;
  const tables = result.tables;
  if (tables)
    return [
      `Tables ${tables.tables.join(', ')} of backup ${result.id} were restored into the new database ${result.target} in ${result.seconds} s; their row counts equal the backup's.`,
      tables.foreignKeysLeftOut.length > 0 &&
        `Foreign keys left out (they reference tables not restored; add those with --table to keep them): ${tables.foreignKeysLeftOut.join(', ')}.`,
      tables.rolesCreated.length > 0 &&
        `Roles created (without passwords): ${tables.rolesCreated.join(', ')}.`,
      `Copy rows back with SQL (README: "Getting one table back"); when done: DROP DATABASE ${result.target}`,
    ]
      .filter((line): line is string => typeof line === 'string')
      .join('\n');
  return [
    `Backup ${result.id} was restored into ${result.target} in ${result.seconds} s.`,
    db?.kept && `The replaced database is kept as ${db.kept}. To undo (swap it back): ${db.undo}`,
    db?.kept && `When satisfied, remove it: ${db.dropKept}`,
    db?.rolesCreated.length && `Roles created (without passwords): ${db.rolesCreated.join(', ')}.`,
    db?.passwordsToSet.length && `Set the passwords of the login roles: ${db.passwordsToSet.join('; ')}`,
    db?.withoutGuarantees && `Restored without the format-2 guarantees: ${db.withoutGuarantees}.`,
    result.previousMediaDir && `The replaced media directory is kept at ${result.previousMediaDir}.`,
    result.safetyBackupId &&
      `To undo the media: backupctl restore ${result.safetyBackupId} --confirm ${result.target} --only media`,
  ]
    .filter((line): line is string => typeof line === 'string' && line !== '')
    .join('\n');
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
