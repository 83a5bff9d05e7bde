import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { ENV } from '../task/core/env-names.ts';
import type { AlertTopic } from './alert-topic.ts';
import { type BackupctlTasks, CONTAINER_NAME, LOG_STREAM_PREFIX } from './backup-task.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import { NodeFunction } from './node-function.ts';

export interface TaskAlertsProps {
  /** Its scheduled (backup) task definitions are watched, if it has any. */
  readonly task: BackupctlTasks;
  readonly alerts: AlertTopic;
  /**
   * More task definitions in the backup cluster, logging to the task log group, whose failures
   * alert the same way (the restore tasks).
   * @default - the backup task definitions only
   */
  readonly additionalTargets?: readonly {
    readonly database: string;
    readonly taskDefinition: ecs.TaskDefinition;
  }[];
}

/** The functions whose failed asynchronous invocations the alerter turns into alerts. */
export type Invoker = 'launcher' | 'monitor';

/** The variable that names each invoker's log group for the alerter (functions/task-alert/handler.ts). */
const INVOKER_LOG_GROUP_ENV: Readonly<Record<Invoker, string>> = {
  launcher: ENV.launcherLogGroup,
  monitor: ENV.monitorLogGroup,
};

/** Lambda's handling of a failed asynchronous invocation before it becomes an alert. */
export interface AsyncRetryOptions {
  readonly retryAttempts: number;
  readonly maxEventAge: Duration;
}

/** What the launcher and the monitor need of TaskAlerts. */
export interface FailedInvocationAlerts {
  alertOnFailedInvocations(invoker: Invoker, fn: NodeFunction, options: AsyncRetryOptions): void;
}

/**
 * Failure alerts: every STOPPED state change of a backup task goes to a Lambda that publishes to
 * the alert topic when the backupctl container's exit code is non-zero or missing (start failure,
 * out of memory, stopped). Success is decided by the exit code alone, as backupctl defines it.
 * The same Lambda is the failure destination of the launcher and the monitor (see
 * `alertOnFailedInvocations`).
 */
export class TaskAlerts extends Construct implements FailedInvocationAlerts {
  readonly function: nodejs.NodejsFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: TaskAlertsProps) {
    super(scope, id);
    const { task, alerts } = props;
    const watched = [
      ...task.targets.flatMap(({ database, taskDefinition }) =>
        taskDefinition ? [{ database, taskDefinition }] : [],
      ),
      ...(props.additionalTargets ?? []),
    ];
    const fn = new NodeFunction(this, 'Function', {
      name: 'task-alert',
      description:
        'Alerts when a backup task stops with a non-zero or missing exit code, or the launcher or monitor fails',
      environment: {
        [ENV.alertTopicArn]: alerts.topic.topicArn,
        [ENV.logGroupName]: task.logGroup.logGroupName,
        [ENV.logStreamPrefix]: LOG_STREAM_PREFIX,
        [ENV.containerName]: CONTAINER_NAME,
        [ENV.families]: Stack.of(this).toJsonString(
          Object.fromEntries(watched.map((t) => [t.taskDefinition.family, t.database])),
        ),
      },
    });
    this.function = fn.function;
    alerts.grantPublish(fn.role);
    Validations.of(fn.role).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason:
        "Added by Topic.grantPublish (the alerts it sends, and its own SNS failure destination) and limited to the alert topic's own key.",
    });
    // If the alerter itself keeps failing, its event still reaches the operator (as raw JSON).
    this.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new destinations.SnsDestination(alerts.topic),
    });

    const stack = Stack.of(this);
    this.rule = new events.Rule(this, 'TaskStopped', {
      description: 'A backup task stopped',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [task.cluster.clusterArn],
          lastStatus: ['STOPPED'],
          taskDefinitionArn: watched.map((t) => ({
            prefix: stack.formatArn({
              service: 'ecs',
              resource: 'task-definition',
              resourceName: `${t.taskDefinition.family}:`,
            }),
          })),
        },
      },
      targets: [
        new targets.LambdaFunction(this.function, { retryAttempts: 8, maxEventAge: Duration.hours(6) }),
      ],
    });
  }

  /**
   * Sends the asynchronous invocations of `fn` that still fail after Lambda's retries (or outgrow
   * `maxEventAge`) to the alerter, which mails what was not done and what to do, with the command
   * that runs it again, instead of the invocation record's JSON.
   */
  alertOnFailedInvocations(invoker: Invoker, fn: NodeFunction, options: AsyncRetryOptions): void {
    fn.function.configureAsyncInvoke({
      ...options,
      onFailure: new destinations.LambdaDestination(this.function),
    });
    acknowledgeWildcardResource(
      fn.role,
      `${this.function.functionArn}:*`,
      'Added by the Lambda failure destination (grantInvoke: function versions and aliases); only the alerter.',
    );
    this.function.addEnvironment(INVOKER_LOG_GROUP_ENV[invoker], fn.logGroup.logGroupName);
  }
}
