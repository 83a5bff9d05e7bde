/**
 * Starting one database's task on Fargate, shared by the launcher (backups, the restore drill) and
 * the restore function. No AWS imports: ECS is reached through the `EcsPort` the handler passes in.
 */
import { z } from 'zod';

/** Where tasks run, from the function's environment. */
export const clusterSettingsSchema = z.object({
  clusterArn: z.string().min(1),
  containerName: z.string().min(1),
  subnetIds: z.array(z.string().min(1)).min(1),
  assignPublicIp: z.boolean(),
});
export type ClusterSettings = z.infer<typeof clusterSettingsSchema>;

/** One database's task definition. */
export const taskTargetSchema = z.object({
  taskDefinitionArn: z.string().min(1),
  family: z.string().min(1),
  securityGroupId: z.string().min(1),
  /** The database's other task families (backup, restore): while one runs, nothing starts. */
  otherFamilies: z.array(z.string().min(1)).default([]),
});
export type TaskTarget = z.infer<typeof taskTargetSchema>;

/** The subset of ecs:RunTask used here, in the SDK's shape. */
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

/**
 * The database's tasks now running, of any of its families. One task per database at a time: a
 * second pg_dump would double the load and race the first, and nothing may read the database or
 * the media while a restore replaces them.
 */
export async function activeTasks(
  ecs: EcsPort,
  settings: ClusterSettings,
  target: TaskTarget,
): Promise<string[]> {
  const active: string[] = [];
  for (const family of [target.family, ...target.otherFamilies]) {
    active.push(...(await ecs.listActiveTasks(settings.clusterArn, family)));
  }
  return active;
}

export interface TaskRun {
  readonly startedBy: string;
  readonly command: string[];
  readonly tags: { readonly key: string; readonly value: string }[];
  readonly clientToken?: string;
}

/** Runs one task of the target; the task's ARN, or why ECS started none. */
export async function startTask(
  ecs: EcsPort,
  settings: ClusterSettings,
  target: TaskTarget,
  run: TaskRun,
): Promise<
  { readonly ok: true; readonly taskArn: string } | { readonly ok: false; readonly reasons: string[] }
> {
  const result = await ecs.runTask({
    cluster: settings.clusterArn,
    taskDefinition: target.taskDefinitionArn,
    launchType: 'FARGATE',
    platformVersion: 'LATEST',
    count: 1,
    startedBy: run.startedBy,
    ...(run.clientToken ? { clientToken: run.clientToken } : {}),
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: [...settings.subnetIds],
        securityGroups: [target.securityGroupId],
        assignPublicIp: settings.assignPublicIp ? 'ENABLED' : 'DISABLED',
      },
    },
    overrides: { containerOverrides: [{ name: settings.containerName, command: run.command }] },
    tags: [...run.tags],
    enableECSManagedTags: true,
  });
  const taskArn = result.taskArns[0];
  if (result.failures.length > 0 || !taskArn) {
    return {
      ok: false,
      reasons: result.failures.length > 0 ? result.failures : ['RunTask returned no task'],
    };
  }
  return { ok: true, taskArn };
}
