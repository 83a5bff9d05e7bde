import { Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SCHEDULED_TIERS, type ScheduledTier } from '../task/core/ids.ts';
import { AlarmFactory } from './alarms.ts';
import type { AlertTopic } from './alert-topic.ts';
import { acknowledgeWildcardResource } from './nag.ts';

export interface BackupSchedulesProps {
  /** Database names; each gets one schedule per tier. */
  readonly databases: readonly string[];
  readonly launcher: lambda.IFunction;
  /** Scheduler expression per tier, e.g. `cron(0 2 * * ? *)`. */
  readonly expressions: Readonly<Record<ScheduledTier, string>>;
  /**
   * Scheduler expression of the restore drill (`backupctl verify latest`) of each database; keep it
   * after the backups so it checks the night's backup.
   * @default 'cron(0 6 * * ? *)'
   */
  readonly verifyExpression?: string;
  /** IANA time zone the cron expressions are read in. */
  readonly timeZone: string;
  /** The dead-letter queue alarm notifies here. */
  readonly alerts: AlertTopic;
  /**
   * Scheduler's retries when invoking the launcher fails.
   * @default 3
   */
  readonly retryAttempts?: number;
  /**
   * How long Scheduler keeps retrying one invocation.
   * @default Duration.hours(1)
   */
  readonly maxEventAge?: Duration;
}

/**
 * EventBridge Scheduler schedules, one per tier per database, in the operator's time zone, each
 * invoking the launcher with `{ database, tier, scheduledTime }`, and one restore drill per database
 * invoking it with `{ database, action: "verify", scheduledTime }`. An invocation Scheduler could not
 * deliver lands in a dead-letter queue, and a message there raises an alarm on the alert topic.
 */
export class BackupSchedules extends Construct {
  readonly schedules: readonly scheduler.Schedule[];
  readonly deadLetterQueue: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: BackupSchedulesProps) {
    super(scope, id);
    if (props.databases.length === 0) throw new Error('databases must list at least one database, got: []');
    const retryAttempts = props.retryAttempts ?? 3;
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 185) {
      throw new Error(`retryAttempts must be 0-185, got: ${retryAttempts}`);
    }

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is Scheduler's dead-letter queue (not an SQS redrive target, which the rule looks for); it needs none of its own.",
    });
    // Scheduler's role: created here so it can be acknowledged; LambdaInvoke adds invoke and send-to-DLQ.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'Invokes the backup launcher on schedule',
    });
    acknowledgeWildcardResource(
      role,
      `${props.launcher.functionArn}:*`,
      'Added by the Scheduler LambdaInvoke target (function versions and aliases); only this one function.',
    );
    const timeZone = TimeZone.of(props.timeZone);
    const schedule = (id: string, description: string, expression: string, input: object) =>
      new scheduler.Schedule(this, id, {
        description,
        schedule: scheduler.ScheduleExpression.expression(expression, timeZone),
        target: new schedulerTargets.LambdaInvoke(props.launcher, {
          input: scheduler.ScheduleTargetInput.fromObject({
            ...input,
            scheduledTime: scheduler.ContextAttribute.scheduledTime,
          }),
          deadLetterQueue: this.deadLetterQueue,
          role,
          retryAttempts,
          maxEventAge: props.maxEventAge ?? Duration.hours(1),
        }),
      });
    const schedules: scheduler.Schedule[] = [];
    for (const database of props.databases) {
      for (const tier of SCHEDULED_TIERS) {
        schedules.push(
          schedule(`${database}-${tier}`, `${tier} backup of database ${database}`, props.expressions[tier], {
            database,
            tier,
          }),
        );
      }
    }
    for (const database of props.databases) {
      schedules.push(
        schedule(
          `${database}-verify`,
          `Restore drill (verify latest) of database ${database}`,
          props.verifyExpression ?? 'cron(0 6 * * ? *)',
          { database, action: 'verify' },
        ),
      );
    }
    this.schedules = schedules;

    this.deadLetterAlarm = new AlarmFactory(this, 'Alarms', { alerts: props.alerts }).addAlarm(
      'DeadLetterAlarm',
      {
        description:
          'A scheduled backup or restore drill could not be handed to the launcher, so it did not run. ' +
          "Read the message in the schedules' dead-letter queue (it names the schedule and the error), " +
          'fix the cause (the launcher function missing or throttled, its permissions), then start the ' +
          'run by hand with aws lambda invoke of the launcher.',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
  }
}
