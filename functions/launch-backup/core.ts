/**
 * Decides whether and how to start one database's backup task. No AWS imports: ECS is reached
 * through the `EcsPort` the handler passes in, so every branch is testable without mocks of the SDK.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { databaseNameSchema, SCHEDULED_TIERS, type ScheduledTier } from '../../task/core/ids.ts';

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
export const launchSettingsSchema = z.object({
  clusterArn: z.string().min(1),
  containerName: z.string().min(1),
  subnetIds: z.array(z.string().min(1)).min(1),
  assignPublicIp: z.boolean(),
  targets: z.record(
    z.string(),
    z.object({
      taskDefinitionArn: z.string().min(1),
      family: z.string().min(1),
      securityGroupId: z.string().min(1),
      /** Other task families of the database (its restore task): while one runs, nothing starts. */
      otherFamilies: z.array(z.string().min(1)).optional(),
    }),
  ),
});
export type LaunchSettings = z.infer<typeof launchSettingsSchema>;

/** The subset of ecs:RunTask this launcher uses, in the SDK's shape. */
export interface RunTaskRequest {
  readonly cluster: string;
  readonly taskDefinition: string;
  readonly launchType: 'FARGATE';
  readonly platformVersion: 'LATEST';
  readonly count: 1;
  readonly startedBy: string;
  readonly clientToken?: string;
  readonly networkConfiguration: {
    readonly awsvpcConfiguration: {
      readonly subnets: string[];
      readonly securityGroups: string[];
      readonly assignPublicIp: 'ENABLED' | 'DISABLED';
    };
  };
  readonly overrides: {
    readonly containerOverrides: { readonly name: string; readonly command: string[] }[];
  };
  readonly tags: { readonly key: string; readonly value: string }[];
  readonly enableECSManagedTags: true;
}

export interface EcsPort {
  /** ARNs of the tasks of this family in this cluster whose desired status is RUNNING (pending included). */
  listActiveTasks(cluster: string, family: string): Promise<string[]>;
  runTask(request: RunTaskRequest): Promise<{ taskArns: string[]; failures: string[] }>;
}

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

  // One task per database at a time: a second pg_dump would double the load and race the first, and
  // nothing may read the database or the media while a restore replaces them.
  const active: string[] = [];
  for (const family of [target.family, ...(target.otherFamilies ?? [])]) {
    active.push(...(await ecs.listActiveTasks(settings.clusterArn, family)));
  }
  if (active.length > 0) {
    return {
      status: 'refused',
      reasons: [
        `a task for database "${database}" is already running (${active.join(', ')}); ${run.label} not started`,
      ],
    };
  }

  const result = await ecs.runTask({
    cluster: settings.clusterArn,
    taskDefinition: target.taskDefinitionArn,
    launchType: 'FARGATE',
    platformVersion: 'LATEST',
    count: 1,
    startedBy: STARTED_BY,
    ...(scheduledTime ? { clientToken: clientToken(database, run.token, scheduledTime) } : {}),
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: [...settings.subnetIds],
        securityGroups: [target.securityGroupId],
        assignPublicIp: settings.assignPublicIp ? 'ENABLED' : 'DISABLED',
      },
    },
    overrides: {
      containerOverrides: [{ name: settings.containerName, command: run.command }],
    },
    tags: [{ key: 'database', value: database }, run.tag],
    enableECSManagedTags: true,
  });
  const taskArn = result.taskArns[0];
  if (result.failures.length > 0 || !taskArn) {
    const reasons = result.failures.length > 0 ? result.failures : ['RunTask returned no task'];
    return {
      status: 'failed',
      reasons: reasons.map((r) => `RunTask for database "${database}" failed: ${r}`),
    };
  }
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
