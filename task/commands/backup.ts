/**
 * `backupctl backup`: stream pg_dump and tar through zstd into the store, then write the manifest.
 *
 * Fail-closed order: every artifact streams into an upload whose body is ended only after all its
 * processes exited cleanly, and only after *every* artifact got that far; then the uploads
 * complete, then the manifest is written (never replacing one). Any failure destroys every body,
 * which aborts the multipart uploads: no object under a final key, no manifest.
 */
import { PassThrough } from 'node:stream';
import type { BackupConfig } from '../config.ts';
import { type BackupId, formatBackupId, formatTimestamp, isDatabaseName, type Tier } from '../core/ids.ts';
import { artifactKey, manifestKey } from '../core/keys.ts';
import { type Artifact, MANIFEST_FORMAT_VERSION, type Manifest } from '../core/manifest.ts';
import { choosePartSize, MIN_PART_SIZE } from '../core/part-size.ts';
import { BackupError, ConfigError, ConflictError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { assertMediaDir, directoryBytes, type TarListing, tarStep, zstdStep } from '../media.ts';
import { readDatabaseProperties } from '../pg-database-properties.ts';
import { readFingerprint } from '../pg-fingerprint.ts';
import { pgDumpAllGlobalsStep } from '../pg-globals.ts';
import { type PipelineResult, type Step, startPipeline } from '../pipeline.ts';
import {
  assertDumpCompatible,
  assertReadsEveryRow,
  clientVersion,
  inspectServer,
  libpqEnv,
  pgDumpStep,
  type RowCounts,
  SnapshotSession,
  transactionReader,
} from '../postgres.ts';
import type { ObjectStore } from '../store/store.ts';

export interface BackupOptions {
  readonly tier: Tier;
  /** Back up only the database or only the media. @default both (media only when MEDIA_DIR is set) */
  readonly only?: 'db' | 'media';
}

export interface BackupDeps {
  readonly config: BackupConfig;
  readonly store: ObjectStore;
  readonly logger: Logger;
  readonly toolVersion: string;
  readonly now: () => Date;
  /** Aborts the backup (SIGTERM from ECS, Ctrl-C). */
  readonly signal?: AbortSignal;
  /** @default 10 s, the progress log interval. */
  readonly progressIntervalMs?: number;
  /** libpq environment of the database to back up. @default libpqEnv() */
  readonly pgEnv?: NodeJS.ProcessEnv;
}

/** One artifact streaming into the store, held open until every artifact's processes are done. */
class ArtifactStream {
  private readonly body = new PassThrough({ highWaterMark: 1024 * 1024 });
  private readonly uploaded: Promise<void>;
  private readonly pipeline;
  private uploadError: Error | undefined;
  readonly startedAt = Date.now();

  constructor(
    readonly stage: string,
    store: ObjectStore,
    readonly key: string,
    steps: readonly Step[],
    partSize: number,
  ) {
    this.pipeline = startPipeline(steps, this.body);
    this.uploaded = store.upload(key, this.body, { partSize, contentType: 'application/zstd' });
    // An upload that fails while processes still run stops them at once.
    this.uploaded.catch((error: Error) => {
      this.uploadError = error;
      this.pipeline.fail(error);
    });
  }

  get bytes(): number {
    return this.pipeline.bytes;
  }

  /** Resolves when every process exited cleanly and all output is in the upload body. */
  processes(): Promise<PipelineResult> {
    return this.pipeline.result;
  }

  /** Ends the body: the store completes the object. */
  async complete(): Promise<void> {
    this.body.end();
    await this.uploaded;
  }

  /** Stops processes and destroys the body, which aborts the multipart upload; waits for both. */
  async abort(reason: Error): Promise<void> {
    this.pipeline.fail(reason);
    this.body.destroy(reason);
    await Promise.allSettled([this.uploaded, this.pipeline.result]);
  }

  /** The error the store reported, if the upload failed on its own. */
  get storeError(): Error | undefined {
    return this.uploadError;
  }
}

export async function runBackup(options: BackupOptions, deps: BackupDeps): Promise<Manifest> {
  const { config, store, logger } = deps;
  const wantDb = options.only !== 'media';
  const wantMedia = options.only !== 'db' && config.mediaDir !== undefined;
  if (options.only === 'media' && !config.mediaDir) {
    throw new ConfigError('--only media needs MEDIA_DIR, which is not set.');
  }
  if (wantMedia && config.mediaDir) await assertMediaDir(config.mediaDir);

  const startedAt = deps.now();
  // Preflight: everything that can be checked is checked before the first byte is uploaded.
  const pgEnv = deps.pgEnv ?? libpqEnv();
  const server = wantDb ? await inspectServer(pgEnv) : undefined;
  const pgDump = server ? await clientVersion('pg_dump') : undefined;
  if (server && pgDump) assertDumpCompatible(pgDump, server);
  if (server) await assertReadsEveryRow(transactionReader(pgEnv));
  const database = server?.database ?? pgEnv.PGDATABASE;
  if (!database) throw new ConfigError('A media-only backup needs PGDATABASE to name the backup.');
  if (!isDatabaseName(database)) {
    throw new ConfigError(
      `Database name ${database} cannot be used in a backup key (letters, digits, "_", ".", "-").`,
    );
  }
  const id: BackupId = { tier: options.tier, database, timestamp: formatTimestamp(startedAt) };
  const idText = formatBackupId(id);
  if (await store.exists(manifestKey(config.store.prefix, id))) {
    throw new ConflictError(
      `Backup ${idText} exists already (its manifest is present); it was not replaced.`,
    );
  }
  logger.info('backup started', {
    id: idText,
    tier: options.tier,
    database,
    parts: [wantDb && 'db', wantMedia && 'media'].filter(Boolean),
    ...(server ? { serverVersion: server.version, pgDumpVersion: pgDump?.version } : {}),
  });

  const streams: ArtifactStream[] = [];
  let current: ArtifactStream | undefined;
  const ticker = setInterval(() => {
    if (current)
      logger.progress({
        stage: current.stage,
        bytes: current.bytes,
        elapsedMs: Date.now() - current.startedAt,
      });
  }, deps.progressIntervalMs ?? 10_000);
  const onAbort = () => current?.abort(new BackupError('Backup interrupted by a signal; nothing was kept.'));
  deps.signal?.addEventListener('abort', onAbort);
  try {
    const artifacts: Artifact[] = [];
    let capture: Pick<Manifest, 'databaseProperties' | 'fingerprint'> = {};
    if (server) {
      const session = await SnapshotSession.open(pgEnv);
      try {
        current = new ArtifactStream(
          'database',
          store,
          artifactKey(config.store.prefix, id, 'postgres'),
          [
            pgDumpStep({ snapshot: session.snapshot, lockWaitTimeout: config.lockWaitTimeout, env: pgEnv }),
            zstdStep(config.zstdLevel),
          ],
          config.partSize ?? choosePartSize(server.sizeBytes),
        );
        streams.push(current);
        // One psql session: its reads run one after another, all in the dump's snapshot.
        const snapshotReads = (async () => {
          const counts = await session.countRows();
          const databaseProperties = await readDatabaseProperties(session.read);
          return { counts, databaseProperties, fingerprint: await readFingerprint(session.read) };
        })();
        const [result, { counts, ...captured }] = await Promise.all([current.processes(), snapshotReads]);
        artifacts.push(postgresArtifact(current, result, counts));
        capture = captured;
      } finally {
        session.kill();
      }
      checkAborted(deps.signal);
      current = new ArtifactStream(
        'globals',
        store,
        artifactKey(config.store.prefix, id, 'globals'),
        [pgDumpAllGlobalsStep({ database, env: pgEnv }), zstdStep(config.zstdLevel)],
        config.partSize ?? MIN_PART_SIZE,
      );
      streams.push(current);
      const globals = await current.processes();
      artifacts.push({ ...artifactFields(current, globals), kind: 'globals', format: 'sql' });
      checkAborted(deps.signal);
    }
    if (wantMedia && config.mediaDir) {
      const listing: TarListing = { fileCount: 0 };
      current = new ArtifactStream(
        'media',
        store,
        artifactKey(config.store.prefix, id, 'media'),
        [tarStep(config.mediaDir, listing), zstdStep(config.zstdLevel)],
        config.partSize ?? choosePartSize(await directoryBytes(config.mediaDir)),
      );
      streams.push(current);
      const result = await current.processes();
      const warnings = result.steps.flatMap((s) => (s.warning ? [s.warning] : []));
      for (const warning of warnings) logger.warn('media archive warning', { warning });
      artifacts.push({
        ...artifactFields(current, result),
        kind: 'media',
        format: 'tar',
        fileCount: listing.fileCount,
        warnings,
      });
      checkAborted(deps.signal);
    }
    current = undefined;
    for (const stream of streams) await stream.complete();
    const manifest: Manifest = {
      formatVersion: MANIFEST_FORMAT_VERSION,
      id: idText,
      tier: options.tier,
      database,
      startedAt: startedAt.toISOString(),
      finishedAt: deps.now().toISOString(),
      ...(server && pgDump ? { serverVersion: server.version, pgDumpVersion: pgDump.version } : {}),
      tool: { name: 'backupctl', version: deps.toolVersion },
      artifacts,
      ...capture,
    };
    await store.putIfAbsent(
      manifestKey(config.store.prefix, id),
      `${JSON.stringify(manifest, null, 2)}\n`,
      'application/json',
    );
    logger.info('backup finished', {
      id: idText,
      seconds: Math.round((Date.now() - startedAt.getTime()) / 100) / 10,
      artifacts: artifacts.map((a) => ({
        kind: a.kind,
        key: a.key,
        bytes: a.bytes,
        sha256: a.sha256,
        ms: a.durationMs,
      })),
    });
    return manifest;
  } catch (error) {
    const stored = streams.find((s) => s.storeError)?.storeError;
    const reason = stored ?? (error as Error);
    await Promise.all(streams.map((s) => s.abort(reason)));
    throw reason;
  } finally {
    clearInterval(ticker);
    deps.signal?.removeEventListener('abort', onAbort);
  }
}

function artifactFields(stream: ArtifactStream, result: PipelineResult) {
  return {
    key: stream.key,
    compression: 'zstd' as const,
    bytes: result.bytes,
    sha256: result.sha256,
    durationMs: Date.now() - stream.startedAt,
  };
}

function postgresArtifact(stream: ArtifactStream, result: PipelineResult, counts: RowCounts): Artifact {
  return { ...artifactFields(stream, result), kind: 'postgres', format: 'custom', ...counts };
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BackupError('Backup interrupted by a signal; nothing was kept.');
}
