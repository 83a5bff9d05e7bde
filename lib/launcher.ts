import { Duration, Stack } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { ENV } from '../task/core/env-names.ts';
import type { BackupTask } from './backup-task.ts';
import type { BackupNetwork } from './network.ts';
import { NodeFunction } from './node-function.ts';
import { clusterEnvironment, grantRunTask, taskTarget } from './run-task-access.ts';
import type { FailedInvocationAlerts } from './task-alerts.ts';

export interface LauncherProps {
  readonly task: BackupTask;
  readonly network: BackupNetwork;
  /** Alerts on a launch that still failed after Lambda's retries. */
  readonly failureAlerts: FailedInvocationAlerts;
  /**
   * Other task definitions per database (its restore task): while one of them runs, no backup or
   * verify of that database starts. The launcher never starts them.
   * @default - only the backup task definition is checked
   */
  readonly exclusiveWith?: readonly {
    readonly database: string;
    readonly taskDefinition: ecs.TaskDefinition;
  }[];
  /**
   * Lambda's retries of a failed asynchronous invocation (a refused or failed launch).
   * @default 2
   */
  readonly retryAttempts?: number;
}

/**
 * The launcher Lambda: `{ database, tier }` (backup) or `{ database, action: "verify" }` (restore
 * drill) in, `ecs:RunTask` of that database's task definition out, one task per database at a time. It can start only the backup task definitions, only in the
 * backup cluster, and pass only their roles.
 */
export class Launcher extends Construct {
  readonly function: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: LauncherProps) {
    super(scope, id);
    const retryAttempts = props.retryAttempts ?? 2;
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 2) {
      throw new Error(`retryAttempts must be 0, 1 or 2, got: ${retryAttempts}`);
    }
    const { cluster, targets } = props.task;
    const targetsEnv = Object.fromEntries(
      targets.map((t) => [
        t.database,
        taskTarget(
          t.taskDefinition,
          t.securityGroup.securityGroupId,
          (props.exclusiveWith ?? [])
            .filter((other) => other.database === t.database)
            .map((other) => other.taskDefinition.family),
        ),
      ]),
    );
    const fn = new NodeFunction(this, 'Function', {
      name: 'launch-backup',
      description: 'Starts the backup task of one database (one at a time)',
      environment: {
        ...clusterEnvironment(props.task, props.network),
        [ENV.targets]: Stack.of(this).toJsonString(targetsEnv),
      },
    });
    this.function = fn.function;
    const role = fn.role;
    grantRunTask(
      role,
      cluster,
      targets.map((t) => t.taskDefinition),
    );
    props.failureAlerts.alertOnFailedInvocations('launcher', fn, {
      retryAttempts,
      maxEventAge: Duration.hours(1),
    });
  }
}
