/**
 * Decides whether and how to start one database's backup task. No AWS imports: ECS is reached
 * through the `EcsPort` the handler passes in, so every branch is testable without mocks of the SDK.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { databaseNameSchema, SCHEDULED_TIERS, type ScheduledTier } from '../../task/core/ids.ts';
import {
  activeTasks,
  clusterSettingsSchema,
  type EcsPort,
  startTask,
  taskTargetSchema,
} from '../shared/run-task.ts';

export type { EcsPort, RunTaskRequest } from '../shared/run-task.ts';

/** The schedule's `<aws.scheduler.scheduled-time>`: makes a redelivered invocation start nothing new. */
const scheduledTimeSchema = z.iso.datetime({ offset: true }).optional();

/** A backup, as a backup schedule (or an operator's `aws lambda invoke`) sends it. */
export const launchRequestSchema = z.strictObject({
  database: databaseNameSchema,
  tier: z.enum(SCHEDULED_TIERS),
  scheduledTime: scheduledTimeSchema,
});
export type LaunchRequest = z.infer<typeof launchRequestSchema>;

/** The restore drill (`backupctl verify latest`), as the verify schedule sends it. */
export const verifyRequestSchema = z.strictObject({
  database: databaseNameSchema,
  action: z.literal('verify'),
  scheduledTime: scheduledTimeSchema,
});
export type VerifyRequest = z.infer<typeof verifyRequestSchema>;

/** The deployment's facts, from the function's environment. */
export const launchSettingsSchema = clusterSettingsSchema.extend({
  targets: z.record(z.string(), taskTargetSchema),
});
export type LaunchSettings = z.infer<typeof launchSettingsSchema>;

export type LaunchVerdict =
  | {
      readonly status: 'started';
      readonly taskArn: string;
      readonly database: string;
      readonly tier: ScheduledTier;
    }
  | {
      readonly status: 'started';
      readonly taskArn: string;
      readonly database: string;
      readonly action: 'verify';
    }
  | { readonly status: 'invalid' | 'refused' | 'failed'; readonly reasons: readonly string[] };

/** Value of `startedBy` on every task this launcher starts. */
export const STARTED_BY = 'launch-backup';

export async function launchBackup(
  event: unknown,
  settings: LaunchSettings,
  ecs: EcsPort,
): Promise<LaunchVerdict> {
  // Chosen by the presence of `action`, not a zod union, so a refusal names the offending key.
  const isVerify = typeof event === 'object' && event !== null && 'action' in event;
  const parsed = (isVerify ? verifyRequestSchema : launchRequestSchema).safeParse(event);
  if (!parsed.success) {
    return {
      status: 'invalid',
      reasons: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'event'}: ${issue.message}`),
    };
  }
  const request: LaunchRequest | VerifyRequest = parsed.data;
  const { database, scheduledTime } = request;
  const run =
    'tier' in request
      ? {
          label: `${request.tier} backup`,
          token: request.tier,
          command: ['backup', '--tier', request.tier],
          tag: { key: 'tier', value: request.tier },
        }
      : {
          label: 'verify',
          token: 'verify',
          command: ['verify', 'latest'],
          tag: { key: 'action', value: 'verify' },
        };
  const target = settings.targets[database];
  if (!target) {
    const known = Object.keys(settings.targets).join(', ');
    return {
      status: 'invalid',
      reasons: [`database "${database}" is not configured (configured: ${known})`],
    };
  }

  const active = await activeTasks(ecs, settings, target);
  if (active.length > 0) {
    return {
      status: 'refused',
      reasons: [
        `a task for database "${database}" is already running (${active.join(', ')}); ${run.label} not started`,
      ],
    };
  }

  const started = await startTask(ecs, settings, target, {
    startedBy: STARTED_BY,
    command: run.command,
    tags: [{ key: 'database', value: database }, run.tag],
    ...(scheduledTime ? { clientToken: clientToken(database, run.token, scheduledTime) } : {}),
  });
  if (!started.ok) {
    return {
      status: 'failed',
      reasons: started.reasons.map((r) => `RunTask for database "${database}" failed: ${r}`),
    };
  }
  const { taskArn } = started;
  return 'tier' in request
    ? { status: 'started', taskArn, database, tier: request.tier }
    : { status: 'started', taskArn, database, action: 'verify' };
}

/**
 * RunTask idempotency token (<= 64 characters): the same scheduled run never starts twice.
 * `run` is the tier of a backup, or "verify".
 */
export function clientToken(database: string, run: string, scheduledTime: string): string {
  return createHash('sha256').update(`${database}\n${run}\n${scheduledTime}`).digest('hex');
}
