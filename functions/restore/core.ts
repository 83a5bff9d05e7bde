/**
 * Decides whether a restore may start, and starts it. Every refusal backupctl would make before
 * touching the target (unknown database, an id that is malformed or names another database, no such
 * backup, a part that is absent or not where the layout puts its kind, a confirmation that does not
 * name the database, a held lock or a running task) is made here first, so the operator reads it in
 * the `aws lambda invoke` output instead of in a failed task's log. No AWS imports: S3 and ECS are
 * reached through the ports the handler passes in.
 */
import { z } from 'zod';
import { type Catalog, MissingPartError, restoreNeeds, UnusableBackupError } from '../../task/catalog.ts';
import { databaseNameSchema } from '../../task/core/ids.ts';
import type { ArtifactKind } from '../../task/core/keys.ts';
import { describeLock, lockIsHeld, lockKey, parseLock } from '../../task/core/lock.ts';
import type { Manifest } from '../../task/core/manifest.ts';
import { ConfigError, NotFoundError } from '../../task/errors.ts';
import {
  activeTasks,
  clusterSettingsSchema,
  type EcsPort,
  startTask,
  taskTargetSchema,
} from '../shared/run-task.ts';
import { logsConsoleUrl } from '../task-alert/core.ts';

/** What the operator sends with `aws lambda invoke`. */
export const restoreRequestSchema = z.strictObject({
  database: databaseNameSchema,
  /** `latest` or a backup id (`<tier>/<database>/<timestamp>`). */
  backup: z.string().min(1).max(200),
  /** Must repeat `database` exactly: the restore replaces that database. */
  confirm: z.string(),
  only: z.enum(['db', 'media']).optional(),
  /**
   * Disaster recovery: the database does not exist on the target server yet; the task creates
   * its missing roles, then the database with the backup's properties (`backupctl restore --create`).
   */
  create: z.boolean().optional(),
  /**
   * Only these tables (`schema.name`) / the tables of these schemas, into `targetDatabase`: a new
   * side database on the same server, never the live one (`backupctl restore --table … --create`).
   */
  tables: z
    .array(
      z
        .string()
        .min(3)
        .max(200)
        .regex(/^[^.]+\..+$/, 'must be schema.name'),
    )
    .min(1)
    .max(100)
    .optional(),
  schemas: z.array(z.string().min(1).max(63)).min(1).max(100).optional(),
  /** The new side database a table restore creates; required with tables or schemas. */
  targetDatabase: databaseNameSchema.optional(),
});
export type RestoreRequest = z.infer<typeof restoreRequestSchema>;

/** The deployment's facts, from the function's environment. */
export const restoreSettingsSchema = clusterSettingsSchema.extend({
  region: z.string().min(1),
  /** Normalized key prefix: '' or ending in '/'. */
  prefix: z.string(),
  logGroupName: z.string().min(1),
  logStreamPrefix: z.string().min(1),
  /** Reading a replica: hours a backup missing an artifact reads as "still replicating" (0: never). */
  replicationWindowHours: z.coerce
    .number()
    .int()
    .min(0)
    .max(24 * 30)
    .default(0),
  /** Per database its restore task definition; otherFamilies holds its backup task's family. */
  targets: z.record(
    z.string(),
    taskTargetSchema.extend({
      /** Whether the restore task mounts a media volume (sets MEDIA_DIR). */
      hasMedia: z.boolean(),
    }),
  ),
});
export type RestoreSettings = z.infer<typeof restoreSettingsSchema>;

export interface RestoreDeps {
  /** The backups, read as backupctl reads them. */
  readonly catalog: Catalog;
  readonly ecs: EcsPort;
  readonly now: Date;
}

export type RefusalCode =
  | 'INVALID_INPUT'
  | 'UNKNOWN_DATABASE'
  | 'INVALID_ID'
  | 'CONFIRMATION_MISMATCH'
  | 'NOT_FOUND'
  | 'KIND_MISMATCH'
  | 'LOCKED'
  | 'RUN_TASK_FAILED'
  | 'INTERNAL_ERROR';

export type RestoreResponse =
  | {
      readonly ok: true;
      readonly taskArn: string;
      readonly database: string;
      /** The resolved id: the task restores exactly this backup, never "latest". */
      readonly backupId: string;
      readonly parts: readonly ('db' | 'media')[];
      readonly logs: {
        readonly logGroup: string;
        readonly logStream: string;
        readonly consoleUrl: string;
        readonly followCommand: string;
      };
      readonly next: string;
    }
  | { readonly ok: false; readonly error: { readonly code: RefusalCode; readonly message: string } };

/** Value of `startedBy` on every task this function starts. */
export const STARTED_BY = 'restore';

const refuse = (code: RefusalCode, message: string): RestoreResponse => ({
  ok: false,
  error: { code, message: `${message} Nothing was started.` },
});

export async function requestRestore(
  event: unknown,
  settings: RestoreSettings,
  deps: RestoreDeps,
): Promise<RestoreResponse> {
  const parsed = restoreRequestSchema.safeParse(event);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`);
    return refuse(
      'INVALID_INPUT',
      `The request is invalid (${problems.join('; ')}); send {"database":"<name>","backup":"latest"|"<id>","confirm":"<name>","only":"db"|"media","create":true} (only and create are optional).`,
    );
  }
  const { database, backup, confirm, only, create, tables, schemas, targetDatabase } = parsed.data;
  const someTables = tables !== undefined || schemas !== undefined;
  const target = settings.targets[database];
  if (!target) {
    return refuse(
      'UNKNOWN_DATABASE',
      `Database ${database} is not configured in this stack (configured: ${Object.keys(settings.targets).join(', ')}).`,
    );
  }
  if (create && only === 'media') {
    return refuse('INVALID_INPUT', '"create" makes the database; it cannot go with "only":"media".');
  }
  if (someTables || targetDatabase !== undefined) {
    if (!someTables || !targetDatabase || only !== undefined || create !== undefined)
      return refuse(
        'INVALID_INPUT',
        'A table restore takes "tables" and/or "schemas" with "targetDatabase" (a new side database) and neither "only" nor "create".',
      );
    if (targetDatabase === database)
      return refuse(
        'INVALID_INPUT',
        `A table restore never writes into the live database ${database}; name a new side database in "targetDatabase".`,
      );
    if (confirm !== targetDatabase)
      return refuse(
        'CONFIRMATION_MISMATCH',
        `confirm must name the side database being created exactly: expected ${targetDatabase}, got: ${confirm || '(empty)'}.`,
      );
  } else if (confirm !== database) {
    return refuse(
      'CONFIRMATION_MISMATCH',
      `confirm must name the database being replaced exactly: expected ${database}, got: ${confirm || '(empty)'}.`,
    );
  }

  // The catalog makes every refusal backupctl would make about the backup itself.
  let manifest: Manifest;
  try {
    manifest = await deps.catalog.resolve(backup, database, {
      needs: restoreNeeds(someTables ? 'db' : only),
    });
  } catch (error) {
    const code = refusalCode(error);
    if (code) return refuse(code, (error as Error).message);
    throw error;
  }
  const backupId = manifest.id;
  const held = (['postgres', 'media'] as const).filter((kind) =>
    manifest.artifacts.some((a) => a.kind === kind),
  );
  const kinds: readonly ArtifactKind[] =
    only === 'db' || someTables ? ['postgres'] : only === 'media' ? ['media'] : held;
  if (kinds.includes('media') && !target.hasMedia) {
    return refuse(
      'KIND_MISMATCH',
      `Backup ${backupId} holds media but database ${database} has no media volume configured; restore with "only":"db".`,
    );
  }

  const lockAt = lockKey(settings.prefix, database);
  const lockText = await deps.catalog.store
    .read(lockAt)
    .then((o) => o.text)
    .catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
  if (lockText !== undefined) {
    const lock = parseLock(lockText);
    if (lock && lockIsHeld(lock, deps.now)) {
      return refuse(
        'LOCKED',
        `Refusing to restore: ${describeLock(lock, deps.now, `${deps.catalog.store.location}/${lockAt}`)}.`,
      );
    }
  }
  const running = await activeTasks(deps.ecs, settings, target);
  if (running.length > 0) {
    return refuse(
      'LOCKED',
      `A backup or restore task of database ${database} is running (${running.join(', ')}); wait for it to stop.`,
    );
  }

  const parts = kinds.map((kind) => (kind === 'postgres' ? 'db' : 'media') as 'db' | 'media');
  const started = await startTask(deps.ecs, settings, target, {
    startedBy: STARTED_BY,
    // An argument vector, never a shell line: a table name cannot become a flag or a command.
    command:
      someTables && targetDatabase
        ? [
            'restore',
            backupId,
            ...(tables ?? []).map((t) => `--table=${t}`),
            ...(schemas ?? []).map((s) => `--schema=${s}`),
            `--target-database=${targetDatabase}`,
            '--create',
            `--confirm=${targetDatabase}`,
          ]
        : [
            'restore',
            backupId,
            '--confirm',
            database,
            ...(only ? ['--only', only] : []),
            ...(create ? ['--create'] : []),
          ],
    tags: [
      { key: 'database', value: database },
      { key: 'action', value: 'restore' },
      { key: 'backup', value: backupId },
    ],
  });
  if (!started.ok) {
    return {
      ok: false,
      error: { code: 'RUN_TASK_FAILED', message: `RunTask failed: ${started.reasons.join('; ')}.` },
    };
  }
  const { taskArn } = started;
  const taskId = taskArn.split('/').at(-1) ?? taskArn;
  const logStream = `${settings.logStreamPrefix}/${settings.containerName}/${taskId}`;
  return {
    ok: true,
    taskArn,
    database,
    backupId,
    parts,
    logs: {
      logGroup: settings.logGroupName,
      logStream,
      consoleUrl: logsConsoleUrl(settings.region, settings.logGroupName, logStream),
      followCommand: `aws logs tail ${settings.logGroupName} --log-stream-names ${logStream} --follow`,
    },
    next: someTables
      ? `The task restores the chosen tables of ${backupId} into the new database ${targetDatabase} on the same server, checks their row counts against the manifest, and publishes the result to the alert topic; ${database} is not touched. Copy rows back with SQL (README: "Getting one table back").`
      : create
        ? "The task creates the missing roles (without passwords) and the database with the backup's properties, restores it and checks its row counts and catalog against the manifest. Its result (with the roles whose passwords to set) is published to the alert topic; a failed task is alerted there too."
        : 'The task builds the backup into a new database beside the live one, checks its row counts and catalog against the manifest, then swaps the names, keeping the replaced database as the undo. Its result (with the undo command) is published to the alert topic; a failed task is alerted there too; until the swap the live database is untouched.',
  };
}

/** The refusal a catalog error is, or undefined for a failure to read (an internal error). */
function refusalCode(error: unknown): RefusalCode | undefined {
  if (error instanceof UnusableBackupError) {
    return error.problem === 'foreign'
      ? 'INVALID_ID'
      : error.problem === 'misplaced'
        ? 'KIND_MISMATCH'
        : 'NOT_FOUND';
  }
  if (error instanceof MissingPartError) return 'KIND_MISMATCH';
  if (error instanceof NotFoundError) return 'NOT_FOUND';
  if (error instanceof ConfigError) return 'INVALID_ID';
  return undefined;
}
