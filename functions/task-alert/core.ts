/**
 * Turns an ECS "Task State Change" event of a backup task into an alert, or into nothing. No AWS
 * imports: the handler publishes what this returns.
 */
import { z } from 'zod';
import { EXIT, EXIT_CODE_MEANINGS } from '../../task/core/exit-codes.ts';
import { snsSubject } from '../../task/core/sns-subject.ts';

export const taskStateChangeSchema = z.object({
  'detail-type': z.literal('ECS Task State Change'),
  region: z.string().min(1),
  detail: z.object({
    taskArn: z.string().min(1),
    taskDefinitionArn: z.string().min(1),
    lastStatus: z.string(),
    version: z.number().int(),
    stopCode: z.string().optional(),
    stoppedReason: z.string().optional(),
    startedAt: z.string().optional(),
    stoppedAt: z.string().optional(),
    overrides: z
      .object({
        containerOverrides: z
          .array(z.object({ name: z.string(), command: z.array(z.string()).optional() }))
          .optional(),
      })
      .optional(),
    containers: z
      .array(
        z.object({ name: z.string(), exitCode: z.number().int().optional(), reason: z.string().optional() }),
      )
      .default([]),
  }),
});
export type TaskStateChange = z.infer<typeof taskStateChangeSchema>;

export const alertSettingsSchema = z.object({
  logGroupName: z.string().min(1),
  logStreamPrefix: z.string().min(1),
  containerName: z.string().min(1),
  /** Task definition family → database name. */
  families: z.record(z.string(), z.string()),
});
export type AlertSettings = z.infer<typeof alertSettingsSchema>;

export type AlertVerdict =
  | { readonly action: 'ignore'; readonly reasons: readonly string[] }
  | {
      readonly action: 'alert';
      readonly subject: string;
      readonly message: string;
      readonly reasons: readonly string[];
      /** Record it with `tracker.record(arn, version, true)` once the alert is published, not before. */
      readonly task?: { readonly arn: string; readonly version: number };
    };

/**
 * Ordering and idempotency by `detail.version`. EventBridge delivers at least once, ECS may emit
 * more than one event with lastStatus STOPPED for one task (later versions add details), and
 * deliveries can arrive out of order. STOPPED is terminal, so one alert per task is the goal: an
 * event whose version is not newer than one already handled for the same task is a duplicate or
 * stale, and a task already alerted on is not alerted again.
 *
 * The memory is per execution environment (kept across warm invocations, bounded). A duplicate
 * that lands in a second, concurrent environment sends one more identical email: accepted rather
 * than adding a table whose only job would be to suppress that.
 */
export class TaskEventTracker {
  private readonly seen = new Map<string, { version: number; alerted: boolean }>();

  constructor(private readonly capacity = 1000) {}

  /** Returns why this event must be skipped, or undefined when it is new. */
  check(taskArn: string, version: number): string | undefined {
    const previous = this.seen.get(taskArn);
    if (!previous) return undefined;
    if (version <= previous.version) {
      return `version ${version} of task ${taskArn} is not newer than the handled version ${previous.version} (duplicate or out-of-order delivery)`;
    }
    if (previous.alerted) return `task ${taskArn} was already alerted on at version ${previous.version}`;
    return undefined;
  }

  record(taskArn: string, version: number, alerted: boolean): void {
    const previous = this.seen.get(taskArn);
    this.seen.delete(taskArn);
    this.seen.set(taskArn, { version, alerted: alerted || (previous?.alerted ?? false) });
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }
}

/** Per backupctl command: the alert's title, what a failure means, and what to do about it. */
/** The drill itself failed (exit 3): say so, without condemning the backup. */
const DRILL_NOT_RUN = {
  title: 'Restore drill',
  means:
    'the drill could not run to a verdict (S3 read, disk, memory or the scratch server failed); the backup was not judged and its last verification stands.',
  todo: 'fix the cause the log names (e.g. "No space left on device": raise task.ephemeralStorageGiB), then run the drill again: backupctl verify <id>.',
};

const OPERATIONS: Readonly<Record<string, { title: string; means: string; todo: string }>> &
  Record<'backup', { title: string; means: string; todo: string }> = {
  backup: {
    title: 'Backup',
    means:
      'no new backup exists from this run (nothing is written under a final key without its manifest); earlier backups are untouched.',
    todo: 'fix the cause, then start the backup again with aws lambda invoke of the launcher ({"database","tier"}).',
  },
  verify: {
    title: 'Restore drill',
    means:
      'the newest backup of this database could not be proven restorable; treat it as unusable until a verify passes.',
    todo: 'run backupctl verify <id> on the id in the log; if the backup itself is bad, take a new one at once and restore only from a backup whose verification passed.',
  },
  restore: {
    title: 'Restore',
    means:
      'the restore did not complete; the backup is built into a new database beside the live one and swapped in only after its rows and catalog matched the manifest, so the live database is as it was unless the log shows the swap (then the replaced one is kept as <db>__before_<timestamp>); the media directory is swapped only after it was fully extracted.',
    todo: 'read the log for the cause; a leftover <db>__restoring_<timestamp> database is dropped by the next restore; the undo command is in the log once the swap was done.',
  },
};

export function decideTaskAlert(
  event: unknown,
  settings: AlertSettings,
  tracker: TaskEventTracker,
): AlertVerdict {
  const parsed = taskStateChangeSchema.safeParse(event);
  if (!parsed.success) {
    // Not silently dropped: an event we cannot read may well be a failure.
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    return {
      action: 'alert',
      subject: 'Backup task event could not be read',
      message: `A backup task state change could not be parsed (${problems}).\n\n${JSON.stringify(event, null, 2)}`,
      reasons: [`unreadable event: ${problems}`],
    };
  }
  const { region, detail } = parsed.data;
  if (detail.lastStatus !== 'STOPPED') {
    return { action: 'ignore', reasons: [`lastStatus is ${detail.lastStatus}, not STOPPED`] };
  }
  const skip = tracker.check(detail.taskArn, detail.version);
  if (skip) return { action: 'ignore', reasons: [skip] };

  const container = detail.containers.find((c) => c.name === settings.containerName);
  const exitCode = container?.exitCode;
  if (exitCode === 0) {
    tracker.record(detail.taskArn, detail.version, false);
    return { action: 'ignore', reasons: ['container exited 0'] };
  }

  const family = /:task-definition\/([^:]+)/.exec(detail.taskDefinitionArn)?.[1] ?? '';
  const database = settings.families[family] ?? `unknown (family ${family || detail.taskDefinitionArn})`;
  const command =
    detail.overrides?.containerOverrides?.find((o) => o.name === settings.containerName)?.command ?? [];
  const tierIndex = command.indexOf('--tier');
  const tier = tierIndex >= 0 ? command[tierIndex + 1] : undefined;
  const operation = command[0] ?? 'task';
  const taskId = detail.taskArn.split('/').at(-1) ?? detail.taskArn;
  const logStream = `${settings.logStreamPrefix}/${settings.containerName}/${taskId}`;
  const exitText =
    exitCode === undefined
      ? 'missing (the container did not start or did not exit on its own)'
      : `${exitCode}${EXIT_CODE_MEANINGS[exitCode] ? ` (${EXIT_CODE_MEANINGS[exitCode]})` : ''}`;

  const what =
    operation === 'verify' && exitCode === EXIT.drillNotRun
      ? DRILL_NOT_RUN
      : (OPERATIONS[operation] ?? OPERATIONS.backup);
  const subject = snsSubject(
    `${what.title} FAILED: ${database}${tier ? ` ${tier}` : ''}, exit ${exitCode ?? 'missing'}`,
  );
  const lines = [
    `The ${what.title.toLowerCase()} task of database ${database} failed.`,
    '',
    `What it means: ${what.means}`,
    `What to do: read the task's log (link below) for the one-sentence cause; ${exitCode === 137 ? 'exit 137 is usually memory: raise task.memoryMiB, or task.ephemeralStorageGiB if the log ends with "No space left on device"; ' : ''}${what.todo}`,
    '',
    `Database:       ${database}`,
    `Operation:      ${command.length > 0 ? command.join(' ') : '(image default)'}`,
    `Tier:           ${tier ?? '-'}`,
    `Exit code:      ${exitText}`,
    `Stop code:      ${detail.stopCode ?? '-'}`,
    `Stopped reason: ${detail.stoppedReason ?? '-'}`,
    `Container:      ${container?.reason ?? '-'}`,
    `Started at:     ${detail.startedAt ?? 'never'}`,
    `Stopped at:     ${detail.stoppedAt ?? '-'}`,
    `Task:           ${detail.taskArn}`,
    '',
    `Logs: ${logsConsoleUrl(region, settings.logGroupName, logStream)}`,
    `      (log group ${settings.logGroupName}, stream ${logStream})`,
  ];
  return {
    action: 'alert',
    subject,
    message: lines.join('\n'),
    reasons: [`exit code ${exitCode ?? 'missing'}`],
    task: { arn: detail.taskArn, version: detail.version },
  };
}

/** CloudWatch console link to one log stream; the console wants URI components encoded twice, '%' as '$'. */
export function logsConsoleUrl(region: string, logGroup: string, logStream: string): string {
  const encode = (value: string) => encodeURIComponent(encodeURIComponent(value)).replace(/%/g, '$');
  return (
    `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}` +
    `#logsV2:log-groups/log-group/${encode(logGroup)}/log-events/${encode(logStream)}`
  );
}
