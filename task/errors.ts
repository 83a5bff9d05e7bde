/**
 * Errors meant for the operator. Each is one sentence naming what went wrong and what to do;
 * `cause` keeps the internal error for --verbose. Anything that is not a BackupError is a bug.
 * No exit codes here: the Lambdas share these types; backupctl's main maps them to exit codes.
 */
export class BackupError extends Error {
  /** The fix, where it is known (printed on its own line after the sentence): e.g. a missing --create. */
  readonly hint: string | undefined;

  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options);
    this.name = new.target.name;
    this.hint = options?.hint;
  }
}

/** Missing or invalid settings or arguments; nothing was read or written. backupctl exits 2. */
export class ConfigError extends BackupError {}

/** A check before any upload failed (connection, versions, source directory). */
export class PreflightError extends BackupError {}

/** A process of a stream pipeline failed (non-zero exit, signal, could not start). */
export class PipelineError extends BackupError {
  /** The process died writing to a pipe whose reader had gone: a symptom of the next stage failing. */
  readonly brokenPipe: boolean;

  constructor(
    readonly stage: string,
    detail: string,
    readonly stderrTail: string,
    options?: { cause?: unknown; brokenPipe?: boolean },
  ) {
    super(`${stage} failed: ${detail}${stderrTail ? `: ${stderrTail}` : ''}`, options);
    this.brokenPipe = options?.brokenPipe ?? false;
  }
}

/** Stored bytes differ from what the manifest recorded: the backup is damaged. */
export class IntegrityError extends BackupError {}

/** A restore or verify check failed (kind, version, row counts …). */
export class CheckFailedError extends BackupError {}

/** The object store refused or could not be reached. */
export class StoreError extends BackupError {}

/** The thing to be written exists already (a manifest, a lock). */
export class ConflictError extends BackupError {}

/** The backup or object asked for does not exist. */
export class NotFoundError extends BackupError {}

/** pg_restore cannot read the dump as an archive: the backup is damaged or is not a dump. */
export class ArchiveError extends BackupError {}

/**
 * The restore drill's own scratch PostgreSQL failed (could not start, died, disk full, out of
 * memory): a fault of the place the drill runs, not of the backup it was restoring.
 */
export class ScratchServerError extends BackupError {}

/** The restore drill could not reach a verdict (S3 read, scratch server): nothing was recorded. */
export class DrillError extends BackupError {}

/** SIGTERM or SIGINT stopped the run; what it was building was removed. */
export class InterruptedError extends BackupError {}
