/**
 * Decides whether a restore may start, and starts it. Every refusal backupctl would make before
 * touching the target (unknown database, an id that is malformed or names another database, no such
 * backup, a part that is absent or not where the layout puts its kind, a confirmation that does not
 * name the database, a held lock or a running task) is made here first, so the operator reads it in
 * the `aws lambda invoke` output instead of in a failed task's log. No AWS imports: S3 and ECS are
 * reached through the ports the handler passes in.
 */
import { z } from 'zod';
import {
  type BackupId,
  databaseNameSchema,
  formatBackupId,
  parseBackupId,
  SCHEDULED_TIERS,
} from '../../task/core/ids.ts';
import { type ArtifactKind, artifactKey, databaseTierPrefix, manifestKey } from '../../task/core/keys.ts';
import { describeLock, lockIsHeld, lockKey, lockSchema } from '../../task/core/lock.ts';
import { type Manifest, parseManifest } from '../../task/core/manifest.ts';
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
});
export type RestoreRequest = z.infer<typeof restoreRequestSchema>;

/** The deployment's facts, from the function's environment. */
export const restoreSettingsSchema = clusterSettingsSchema.extend({
  region: z.string().min(1),
  /** Normalized key prefix: '' or ending in '/'. */
  prefix: z.string(),
  logGroupName: z.string().min(1),
  logStreamPrefix: z.string().min(1),
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

/** Read access to the backup bucket. */
export interface BackupReader {
  /** Every key below `prefix`, all pages. */
  listKeys(prefix: string): Promise<string[]>;
  /** The object's text, or undefined when no such object exists. */
  readText(key: string): Promise<string | undefined>;
}

export interface RestoreDeps {
  readonly reader: BackupReader;
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
const READ_CONCURRENCY = 8;

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
      `The request is invalid (${problems.join('; ')}); send {"database":"<name>","backup":"latest"|"<id>","confirm":"<name>","only":"db"|"media"} (only is optional).`,
    );
  }
  const { database, backup, confirm, only } = parsed.data;
  const target = settings.targets[database];
  if (!target) {
    return refuse(
      'UNKNOWN_DATABASE',
      `Database ${database} is not configured in this stack (configured: ${Object.keys(settings.targets).join(', ')}).`,
    );
  }
  let requestedId: BackupId | undefined;
  if (backup !== 'latest') {
    const id = parseBackupId(backup);
    if (!id.ok) return refuse('INVALID_ID', `${capitalize(id.reason)}.`);
    if (id.id.database !== database) {
      return refuse('INVALID_ID', `Backup ${backup} belongs to database ${id.id.database}, not ${database}.`);
    }
    requestedId = id.id;
  }
  if (confirm !== database) {
    return refuse(
      'CONFIRMATION_MISMATCH',
      `confirm must name the database being replaced exactly: expected ${database}, got: ${confirm || '(empty)'}.`,
    );
  }

  const found = requestedId
    ? await readBackup(deps.reader, settings.prefix, requestedId)
    : await findLatest(deps.reader, settings.prefix, database);
  if (!found.ok) return refuse(found.code, found.message);
  const { manifest, id } = found;
  const backupId = formatBackupId(id);

  const kinds: readonly ArtifactKind[] =
    only === 'db'
      ? ['postgres']
      : only === 'media'
        ? ['media']
        : // The globals artifact is restored with the database, not a part of its own.
          manifest.artifacts.flatMap((a) => (a.kind === 'globals' ? [] : [a.kind]));
  for (const kind of kinds) {
    const artifact = manifest.artifacts.find((a) => a.kind === kind);
    if (!artifact) {
      return refuse(
        'KIND_MISMATCH',
        `Backup ${backupId} has no ${kind === 'postgres' ? 'database dump' : 'media archive'}; choose another backup or another "only".`,
      );
    }
    const expected = artifactKey(settings.prefix, id, kind);
    if (artifact.key !== expected) {
      return refuse(
        'KIND_MISMATCH',
        `The manifest of ${backupId} puts its ${kind} artifact at ${artifact.key}, not at ${expected}; refusing to use it.`,
      );
    }
  }
  if (kinds.includes('media') && !target.hasMedia) {
    return refuse(
      'KIND_MISMATCH',
      `Backup ${backupId} holds media but database ${database} has no media volume configured; restore with "only":"db".`,
    );
  }

  const lockText = await deps.reader.readText(lockKey(settings.prefix, database));
  if (lockText !== undefined) {
    // An unreadable lock is not a held one: backupctl overwrites it the same way.
    const lock = lockSchema.safeParse(safeJson(lockText));
    if (lock.success && lockIsHeld(lock.data, deps.now)) {
      return refuse('LOCKED', `Refusing to restore: ${describeLock(lock.data)}.`);
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
    command: ['restore', backupId, '--confirm', database, ...(only ? ['--only', only] : [])],
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
    next: 'The task first takes a pre-restore safety backup, then restores. Its result (with the safety backup id to undo it) is published to the alert topic; a failed task is alerted there too.',
  };
}

type Found =
  | { readonly ok: true; readonly manifest: Manifest; readonly id: BackupId }
  | { readonly ok: false; readonly code: 'NOT_FOUND' | 'INVALID_ID'; readonly message: string };

async function readBackup(reader: BackupReader, prefix: string, id: BackupId): Promise<Found> {
  const key = manifestKey(prefix, id);
  const text = await reader.readText(key);
  const backupId = formatBackupId(id);
  if (text === undefined) {
    return {
      ok: false,
      code: 'NOT_FOUND',
      message: `Backup ${backupId} does not exist or is incomplete (no manifest at ${key}).`,
    };
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(text);
  } catch (error) {
    return {
      ok: false,
      code: 'NOT_FOUND',
      message: `Backup ${backupId} has no usable manifest (${(error as Error).message}).`,
    };
  }
  if (manifest.id !== backupId || manifest.database !== id.database || manifest.tier !== id.tier) {
    return {
      ok: false,
      code: 'INVALID_ID',
      message: `The manifest at ${key} names backup ${manifest.id} of database ${manifest.database}, not ${backupId}; refusing to use it.`,
    };
  }
  return { ok: true, manifest, id };
}

/**
 * `latest`, as backupctl resolves it: the newest complete backup (by finish time) of exactly this
 * database in the scheduled tiers. Each listing ends in "/", so "app" never matches "app2".
 */
async function findLatest(reader: BackupReader, prefix: string, database: string): Promise<Found> {
  const ids: BackupId[] = [];
  for (const tier of SCHEDULED_TIERS) {
    const base = databaseTierPrefix(prefix, tier, database);
    for (const key of await reader.listKeys(base)) {
      const timestamp = /^([^/]+)\/manifest\.json$/.exec(key.slice(base.length))?.[1];
      if (!key.startsWith(base) || timestamp === undefined) continue;
      const id = parseBackupId(`${tier}/${database}/${timestamp}`);
      if (id.ok) ids.push(id.id);
    }
  }
  const found: { manifest: Manifest; id: BackupId }[] = [];
  for (let i = 0; i < ids.length; i += READ_CONCURRENCY) {
    const batch = await Promise.all(
      ids.slice(i, i + READ_CONCURRENCY).map((id) => readBackup(reader, prefix, id)),
    );
    for (const read of batch) if (read.ok) found.push(read);
  }
  found.sort(
    (a, b) =>
      b.manifest.finishedAt.localeCompare(a.manifest.finishedAt) ||
      b.manifest.id.localeCompare(a.manifest.id),
  );
  const newest = found[0];
  if (!newest) {
    return {
      ok: false,
      code: 'NOT_FOUND',
      message: `No complete backup of database ${database} exists (looked in ${SCHEDULED_TIERS.join(', ')}).`,
    };
  }
  return { ok: true, ...newest };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
