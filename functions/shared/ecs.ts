/** The ECS side of run-task.ts for the handlers: the SDK behind `EcsPort`, and the cluster settings from the environment. */
import { type ECSClient, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import { ENV } from '../../task/core/env-names.ts';
import type { EcsPort } from './run-task.ts';

export function ecsPort(ecs: ECSClient): EcsPort {
  return {
    async listActiveTasks(cluster, family) {
      const { taskArns = [] } = await ecs.send(
        new ListTasksCommand({ cluster, family, desiredStatus: 'RUNNING' }),
      );
      return taskArns;
    },
    async runTask(request) {
      const { tasks = [], failures = [] } = await ecs.send(new RunTaskCommand(request));
      return {
        taskArns: tasks.flatMap((task) => (task.taskArn ? [task.taskArn] : [])),
        failures: failures.map((f) => [f.arn, f.reason, f.detail].filter(Boolean).join(': ')),
      };
    },
  };
}

/** The fields of `clusterSettingsSchema` as the stack sets them (lib/launcher.ts, lib/restore.ts). */
export function clusterSettingsFromEnv(env: NodeJS.ProcessEnv = process.env) {
  return {
    clusterArn: env[ENV.clusterArn],
    containerName: env[ENV.containerName],
    subnetIds: (env[ENV.subnetIds] ?? '').split(',').filter(Boolean),
    assignPublicIp: env[ENV.assignPublicIp] === 'ENABLED',
  };
}
