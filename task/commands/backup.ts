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
import type { Logger, Progress } from '../log.ts';
import { assertMediaDir, directoryBytes, type TarListing, tarStep, zstdStep } from '../media.ts';
import { readDatabaseProperties } from '../pg-database-properties.ts';
import { readFingerprint } from '../pg-fingerprint.ts';
import { pgDumpAllGlobalsStep } from '../pg-globals.ts';
import { type PipelineResult, type Step, startPipeline } from '../pipeline.ts';
import {
  assertDumpCompatible,
  assertReadsEveryRow,
  type ClientVersion,
  clientVersion,
  inspectServer,
  libpqEnv,
  pgDumpStep,
  type RowCounts,
  type ServerInfo,
  SnapshotSession,
  transactionReader,
} from '../postgres.ts';
import { bytesReadBy, estimateProgress } from '../progress.ts';
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

/** How far an artifact's stream is: what its step `step` has read, of about `totalBytes`. */
interface SizeEstimate {
  readonly step: number;
  readonly totalBytes: number;
}

/** One artifact streaming into the store, held open until every artifact's processes are done. */
class ArtifactStream {
  private readonly body = new PassThrough({ highWaterMark: 1024 * 1024 });
  private readonly stop = new AbortController();
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
    private readonly estimate?: SizeEstimate,
  ) {
    this.pipeline = startPipeline(steps, this.body);
    this.uploaded = store.upload(key, this.body, {
      partSize,
      contentType: 'application/zstd',
      signal: this.stop.signal,
    });
    // An upload that fails while processes still run stops them at once. Rejecting with our own
    // abort reason is not a failure of the store's.
    this.uploaded.catch((error: Error) => {
      if (error !== this.stop.signal.reason) this.uploadError = error;
      this.pipeline.fail(error);
    });
  }

  progress(): Progress {
    const elapsedMs = Date.now() - this.startedAt;
    const { estimate } = this;
    const done = estimate ? bytesReadBy(this.pipeline.pids[estimate.step]) : undefined;
    return {
      stage: this.stage,
      bytes: this.pipeline.bytes,
      elapsedMs,
      ...estimateProgress(done, estimate?.totalBytes, elapsedMs),
    };
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

  /** Stops processes and the upload (requests in flight too), which aborts it; waits for both. */
  async abort(reason: Error): Promise<void> {
    this.pipeline.fail(reason);
    this.stop.abort(reason);
    this.body.destroy(reason);
    await Promise.allSettled([this.uploaded, this.pipeline.result]);
  }

  /** The error the store reported, if the upload failed on its own. */
  get storeError(): Error | undefined {
    return this.uploadError;
  }
}

/** What planBackup checked and learned; executeBackup writes exactly this backup. */
export interface BackupPlan {
  readonly id: BackupId;
  readonly options: BackupOptions;
  readonly startedAt: Date;
  readonly pgEnv: NodeJS.ProcessEnv;
  /** Set when the database is dumped. */
  readonly server?: ServerInfo;
  readonly pgDump?: ClientVersion;
  /** Set when media is archived. */
  readonly mediaDir?: string;
}

/** A backup: plan, then execute. The caller holds the database's lock (restore's safety backup). */
export async function runBackup(options: BackupOptions, deps: BackupDeps): Promise<Manifest> {
  return executeBackup(await planBackup(options, deps), deps);
}

/**
 * Every check that can be made before the first byte is uploaded; reads, never writes. It names
 * the database once for the lock and the id alike: for a database backup the server's
 * current_database() (what libpq connected to, PGDATABASE or not), for media only PGDATABASE.
 */
export async function planBackup(options: BackupOptions, deps: BackupDeps): Promise<BackupPlan> {
  const { config } = deps;
  const wantDb = options.only !== 'media';
  const mediaDir = options.only !== 'db' ? config.mediaDir : undefined;
  if (options.only === 'media' && !config.mediaDir) {
    throw new ConfigError('--only media needs MEDIA_DIR, which is not set.');
  }
  if (mediaDir) await assertMediaDir(mediaDir);

  const startedAt = deps.now();
  const pgEnv = deps.pgEnv ?? libpqEnv();
  const server = wantDb ? await inspectServer(pgEnv) : undefined;
  const pgDump = server ? await clientVersion('pg_dump') : undefined;
  if (server && pgDump) assertDumpCompatible(pgDump, server);
  if (server) await assertReadsEveryRow(transactionReader(pgEnv));
  const database = server ? server.database : pgEnv.PGDATABASE;
  if (!database) throw new ConfigError('A media-only backup needs PGDATABASE to name the backup.');
  if (!isDatabaseName(database)) {
    throw new ConfigError(
      `Database name ${database} cannot be used in a backup key (letters, digits, "_", ".", "-").`,
    );
  }
  const id: BackupId = { tier: options.tier, database, timestamp: formatTimestamp(startedAt) };
  return {
    id,
    options,
    startedAt,
    pgEnv,
    ...(server && pgDump ? { server, pgDump } : {}),
    ...(mediaDir ? { mediaDir } : {}),
  };
}

/** Streams the planned artifacts into the store, then writes the manifest; the caller holds the lock. */
export async function executeBackup(plan: BackupPlan, deps: BackupDeps): Promise<Manifest> {
  const { config, store, logger } = deps;
  const { id, options, startedAt, pgEnv, server, pgDump, mediaDir } = plan;
  const { database } = id;
  const idText = formatBackupId(id);
  // Checked under the lock: a backup of the same second that finished meanwhile is seen here.
  if (await store.exists(manifestKey(config.store.prefix, id))) {
    throw new ConflictError(
      `Backup ${idText} exists already (its manifest is present); it was not replaced.`,
    );
  }
  logger.info('backup started', {
    id: idText,
    tier: options.tier,
    database,
    parts: [server && 'db', mediaDir && 'media'].filter(Boolean),
    ...(server ? { serverVersion: server.version, pgDumpVersion: pgDump?.version } : {}),
  });

  const streams: ArtifactStream[] = [];
  let current: ArtifactStream | undefined;
  const ticker = setInterval(() => {
    if (current) logger.progress(current.progress());
  }, deps.progressIntervalMs ?? 10_000);
  // Every stream, not only the current one: an earlier artifact's upload may be the one hanging.
  const onAbort = () => {
    const reason = new BackupError('Backup interrupted by a signal; nothing was kept.');
    for (const stream of streams) void stream.abort(reason);
  };
  deps.signal?.addEventListener('abort', onAbort);
  try {
    checkAborted(deps.signal);
    const artifacts: Artifact[] = [];
    let capture: Pick<Manifest, 'databaseProperties' | 'fingerprint'> = {};
    if (server) {
      const session = await SnapshotSession.open(pgEnv);
      try {
        checkAborted(deps.signal);
        current = new ArtifactStream(
          'database',
          store,
          artifactKey(config.store.prefix, id, 'postgres'),
          [
            pgDumpStep({ snapshot: session.snapshot, lockWaitTimeout: config.lockWaitTimeout, env: pgEnv }),
            zstdStep(config.zstdLevel),
          ],
          config.partSize ?? choosePartSize(server.sizeBytes),
          // zstd reads what pg_dump writes.
          { step: 1, totalBytes: server.tableBytes },
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
    if (mediaDir) {
      const listing: TarListing = { fileCount: 0 };
      const mediaBytes = await directoryBytes(mediaDir);
      const partSize = config.partSize ?? choosePartSize(mediaBytes);
      checkAborted(deps.signal);
      current = new ArtifactStream(
        'media',
        store,
        artifactKey(config.store.prefix, id, 'media'),
        [tarStep(mediaDir, listing), zstdStep(config.zstdLevel)],
        partSize,
        // tar reads the files.
        { step: 0, totalBytes: mediaBytes },
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
    await Promise.all(streams.map((s) => s.abort(error as Error)));
    // Asked once every upload settled: a store failure (S3 throttling, a hung part) often shows
    // first as the pipeline's broken sink, and the store's own sentence names the cause.
    throw streams.find((s) => s.storeError)?.storeError ?? error;
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
