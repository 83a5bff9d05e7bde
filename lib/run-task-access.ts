/**
 * What a Lambda needs to start tasks in the backup cluster (functions/shared/run-task.ts): the
 * cluster settings in its environment, and a role that can run only the given task definitions,
 * only in that cluster, tag them only on create, and pass only their roles.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { ENV } from '../task/core/env-names.ts';
import { type BackupctlTasks, CONTAINER_NAME } from './backup-task.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import type { BackupNetwork } from './network.ts';

/** The variables functions/shared/ecs.ts reads (clusterSettingsFromEnv). */
export function clusterEnvironment(task: BackupctlTasks, network: BackupNetwork): Record<string, string> {
  return {
    [ENV.clusterArn]: task.cluster.clusterArn,
    [ENV.containerName]: CONTAINER_NAME,
    [ENV.subnetIds]: network.subnetIds.join(','),
    [ENV.assignPublicIp]: network.assignPublicIp ? 'ENABLED' : 'DISABLED',
  };
}

/** One entry of a function's TARGETS (taskTargetSchema). */
export function taskTarget(
  taskDefinition: ecs.TaskDefinition,
  securityGroupId: string,
  otherFamilies: readonly string[],
) {
  return {
    taskDefinitionArn: taskDefinition.taskDefinitionArn,
    family: taskDefinition.family,
    securityGroupId,
    otherFamilies: [...otherFamilies],
  };
}

export function grantRunTask(
  role: iam.IRole,
  cluster: ecs.ICluster,
  taskDefinitions: readonly ecs.TaskDefinition[],
): void {
  const inCluster = { ArnEquals: { 'ecs:cluster': cluster.clusterArn } };
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ecs:RunTask'],
      resources: taskDefinitions.map((t) => t.taskDefinitionArn),
      conditions: inCluster,
    }),
  );
  // ListTasks has no resource type to scope to; the cluster condition is the boundary.
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['ecs:ListTasks'], resources: ['*'], conditions: inCluster }),
  );
  // Tagging on create (database, tier or action) needs TagResource, allowed only as part of RunTask.
  const taskArns = Stack.of(role).formatArn({
    service: 'ecs',
    resource: 'task',
    resourceName: `${cluster.clusterName}/*`,
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ecs:TagResource'],
      resources: [taskArns],
      conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: taskDefinitions.flatMap((t) => [t.taskRole.roleArn, t.obtainExecutionRole().roleArn]),
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }),
  );
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'ecs:ListTasks supports no resource-level scoping; it is limited to the backup cluster by the ecs:cluster condition.',
  });
  acknowledgeWildcardResource(
    role,
    taskArns,
    'Task ARNs are unknown before RunTask; ecs:TagResource is limited to tasks of the backup cluster and to tagging on create (ecs:CreateAction = RunTask).',
  );
}
