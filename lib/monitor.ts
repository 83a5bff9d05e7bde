import { Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import { METRIC_NAMES, METRIC_NAMESPACE } from '../functions/monitor/core.ts';
import { ENV } from '../task/core/env-names.ts';
import { type HealthThresholds, healthThresholdsSchema } from '../task/core/health.ts';
import { SCHEDULED_TIERS, type ScheduledTier } from '../task/core/ids.ts';
import { ARTIFACT_FILES, MANIFEST_FILE, VERIFICATION_FILE } from '../task/core/keys.ts';
import { AlarmFactory } from './alarms.ts';
import type { AlertTopic } from './alert-topic.ts';
import type { BackupBucket } from './backup-bucket.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import { NodeFunction } from './node-function.ts';
import type { FailedInvocationAlerts } from './task-alerts.ts';

export type MonitorMetricName = (typeof METRIC_NAMES)[keyof typeof METRIC_NAMES];

export interface MonitorProps {
  readonly bucket: BackupBucket;
  readonly alerts: AlertTopic;
  /** Alerts on a scheduled run that still failed after Lambda's retries. */
  readonly failureAlerts: FailedInvocationAlerts;
  /** Database names; each gets its alarms. */
  readonly databases: readonly string[];
  /** The health policy's thresholds (task/core/health.ts); the daily age alarm uses the daily limit. */
  readonly thresholds: HealthThresholds;
  /** Scheduler expressions: `check` runs the health check, `report` sends the weekly report. */
  readonly expressions: { readonly check: string; readonly report: string };
  /** IANA time zone the cron expressions are read in. */
  readonly timeZone: string;
  /**
   * The restore Lambda, named in alerts with the exact `aws lambda invoke` line.
   * @default - alerts give the `backupctl restore` command only
   */
  readonly restoreFunction?: lambda.IFunction;
  /**
   * Period of the alarms. Longer than the check interval so one late run does not fire them; a
   * monitor that stops reporting fires the dead man's switches within one to two periods.
   * @default Duration.hours(12)
   */
  readonly alarmPeriod?: Duration;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The monitor Lambda, its two schedules (health check, weekly report), and the alarms on its
 * metrics. It can list the backup tier prefixes and read manifests and verification records, never
 * a dump or a media archive, and write nothing but its logs and the alert topic.
 */
export class Monitor extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly schedules: { readonly check: scheduler.Schedule; readonly report: scheduler.Schedule };
  readonly alarms: AlarmFactory;
  /** The `service` dimension of every metric: the stack name, so two deployments never mix. */
  readonly service: string;
  /** The daily age limit the age alarms use, for the dashboard's annotation. */
  readonly dailyMaxAgeHours: number;
  private readonly alarmPeriod: Duration;

  constructor(scope: Construct, id: string, props: MonitorProps) {
    super(scope, id);
    if (props.databases.length === 0) throw new Error('databases must list at least one database, got: []');
    const parsed = healthThresholdsSchema.safeParse(props.thresholds);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `thresholds.${issue?.path.join('.')} ${issue?.message}, got: ${JSON.stringify(props.thresholds)}`,
      );
    }
    const { prefix } = props.bucket;
    this.alarmPeriod = props.alarmPeriod ?? Duration.hours(12);
    if (this.alarmPeriod.toSeconds() < 3600 || this.alarmPeriod.toSeconds() > 86400) {
      throw new Error(`alarmPeriod must be 1-24 hours, got: ${this.alarmPeriod.toHumanString()}`);
    }
    const stack = Stack.of(this);
    this.service = stack.stackName;
    this.dailyMaxAgeHours = props.thresholds.maxAgeHours.daily;

    const fn = new NodeFunction(this, 'Function', {
      name: 'monitor',
      description: 'Checks backup health, emits backup metrics, alerts and sends the weekly report',
      timeout: Duration.minutes(2),
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      environment: {
        [ENV.bucket]: props.bucket.bucket.bucketName,
        [ENV.prefix]: prefix,
        [ENV.alertTopicArn]: props.alerts.topic.topicArn,
        [ENV.databases]: JSON.stringify(props.databases),
        [ENV.healthThresholds]: JSON.stringify(props.thresholds),
        [ENV.metricsService]: this.service,
        ...(props.restoreFunction ? { [ENV.restoreFunctionName]: props.restoreFunction.functionName } : {}),
      },
    });
    this.function = fn.function;
    this.role = fn.role;

    // Read-only, and only what the policy reads: the tier listings and two small JSON files per backup.
    const tierPrefixes = SCHEDULED_TIERS.map((tier) => `${prefix}${tier}/`);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [props.bucket.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': tierPrefixes.map((p) => `${p}*`) } },
      }),
    );
    // With a replica, HeadObject of the artifacts reads their replication status; HeadObject needs
    // s3:GetObject, so the monitor may then read the artifacts too (through S3's KMS use only).
    const files = [
      MANIFEST_FILE,
      VERIFICATION_FILE,
      ...(props.thresholds.replication ? Object.values(ARTIFACT_FILES) : []),
    ];
    const readable = tierPrefixes.flatMap((p) =>
      files.map((file) => props.bucket.bucket.arnForObjects(`${p}*/${file}`)),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: readable }),
    );
    for (const resource of readable) {
      acknowledgeWildcardResource(
        this.role,
        resource,
        props.thresholds.replication
          ? 'Backup files sit below <tier>/<database>/<timestamp>/, named at run time; only the backup file names are readable, and the artifacts only because HeadObject (their replication status) needs s3:GetObject.'
          : 'Manifests and verification records sit below <tier>/<database>/<timestamp>/, named at run time; only these two file names are readable, never the backups themselves.',
      );
    }
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [props.bucket.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }),
    );
    props.alerts.grantPublish(this.role);
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: "Added by Topic.grantPublish (the monitor's alerts) and limited to the alert topic's own key.",
    });
    // If the monitor itself keeps failing, the operator hears of it now, not when the alarms fire.
    props.failureAlerts.alertOnFailedInvocations('monitor', fn, {
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
    });

    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'Invokes the backup monitor on schedule',
    });
    acknowledgeWildcardResource(
      schedulerRole,
      `${this.function.functionArn}:*`,
      'Added by the Scheduler LambdaInvoke target (function versions and aliases); only this one function.',
    );
    const timeZone = TimeZone.of(props.timeZone);
    const schedule = (
      scheduleId: string,
      mode: 'check' | 'report',
      expression: string,
      description: string,
    ) =>
      new scheduler.Schedule(this, scheduleId, {
        description,
        schedule: scheduler.ScheduleExpression.expression(expression, timeZone),
        target: new schedulerTargets.LambdaInvoke(this.function, {
          input: scheduler.ScheduleTargetInput.fromObject({ mode }),
          role: schedulerRole,
          retryAttempts: 3,
          maxEventAge: Duration.hours(1),
        }),
      });
    this.schedules = {
      check: schedule('Check', 'check', props.expressions.check, 'Backup health check'),
      report: schedule('Report', 'report', props.expressions.report, 'Weekly backup report'),
    };

    this.alarms = new AlarmFactory(this, 'Alarms', { alerts: props.alerts });
    const hoursText = Math.round(this.alarmPeriod.toHours({ integral: false }) * 10) / 10;
    for (const database of props.databases) {
      this.alarms.addAlarm(`${database}-daily-age`, {
        description: `No daily backup of ${database} in the last ${props.thresholds.maxAgeHours.daily} h, or the backup monitor reported nothing for ${hoursText} h. Run "backupctl status" and check the monitor's and the backup task's logs.`,
        metric: this.metric(METRIC_NAMES.age, database, 'daily', cloudwatch.Stats.MAXIMUM),
        threshold: props.thresholds.maxAgeHours.daily,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      this.alarms.addAlarm(`${database}-verify`, {
        description: `The newest verification of ${database}'s backups failed or is overdue, or the backup monitor reported nothing for ${hoursText} h. Run "PGDATABASE=${database} backupctl verify latest".`,
        metric: this.metric(METRIC_NAMES.verifyOk, database, undefined, cloudwatch.Stats.MINIMUM),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      this.alarms.addAlarm(`${database}-failed-runs`, {
        description: `A backup run of ${database} in the last day left objects but no manifest (it failed). Run "backupctl list --database ${database}" and check the backup task's logs.`,
        metric: this.metric(METRIC_NAMES.failedRuns, database, undefined, cloudwatch.Stats.MAXIMUM),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        // The age and verify alarms are the dead man's switches; this one speaks only when there is data.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
  }

  /** A monitor metric of one database (and tier, for per-backup metrics), as the alarms and dashboard read it. */
  metric(
    name: MonitorMetricName,
    database: string,
    tier?: ScheduledTier,
    statistic: string = cloudwatch.Stats.MAXIMUM,
    period: Duration = this.alarmPeriod,
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName: name,
      dimensionsMap: { service: this.service, Database: database, ...(tier ? { Tier: tier } : {}) },
      statistic,
      period,
    });
  }
}
