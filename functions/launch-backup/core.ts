/**
 * Decides whether and how to start one database's backup task. No AWS imports: ECS is reached
 * through the `EcsPort` the handler passes in, so every branch is testable without mocks of the SDK.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { databaseNameSchema, SCHEDULED_TIERS, type ScheduledTier } from '../../task/core/ids.ts';

/** What a schedule (or an operator's `aws lambda invoke`) sends. */
export const launchRequestSchema = z.strictObject({
  database: databaseNameSchema,
  tier: z.enum(SCHEDULED_TIERS),
  /** The schedule's `<aws.scheduler.scheduled-time>`: makes a redelivered invocation start nothing new. */
  scheduledTime: z.iso.datetime({ offset: true }).optional(),
});
export type LaunchRequest = z.infer<typeof launchRequestSchema>;

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
  | { readonly status: 'invalid' | 'refused' | 'failed'; readonly reasons: readonly string[] };

/** Value of `startedBy` on every task this launcher starts. */
export const STARTED_BY = 'launch-backup';

export async function launchBackup(
  event: unknown,
  settings: LaunchSettings,
  ecs: EcsPort,
): Promise<LaunchVerdict> {
  const parsed = launchRequestSchema.safeParse(event);
  if (!parsed.success) {
    return {
      status: 'invalid',
      reasons: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'event'}: ${issue.message}`),
    };
  }
  const { database, tier, scheduledTime } = parsed.data;
  const target = settings.targets[database];
  if (!target) {
    const known = Object.keys(settings.targets).join(', ');
    return {
      status: 'invalid',
      reasons: [`database "${database}" is not configured (configured: ${known})`],
    };
  }

  // One task per database at a time: a second pg_dump would double the load and race the first.
  const active = await ecs.listActiveTasks(settings.clusterArn, target.family);
  if (active.length > 0) {
    return {
      status: 'refused',
      reasons: [
        `a task for database "${database}" is already running (${active.join(', ')}); ${tier} backup not started`,
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
    ...(scheduledTime ? { clientToken: clientToken(database, tier, scheduledTime) } : {}),
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: [...settings.subnetIds],
        securityGroups: [target.securityGroupId],
        assignPublicIp: settings.assignPublicIp ? 'ENABLED' : 'DISABLED',
      },
    },
    overrides: {
      containerOverrides: [{ name: settings.containerName, command: ['backup', '--tier', tier] }],
    },
    tags: [
      { key: 'database', value: database },
      { key: 'tier', value: tier },
    ],
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
  return { status: 'started', taskArn, database, tier };
}

/** RunTask idempotency token (<= 64 characters): the same scheduled run never starts twice. */
export function clientToken(database: string, tier: string, scheduledTime: string): string {
  return createHash('sha256').update(`${database}\n${tier}\n${scheduledTime}`).digest('hex');
}
