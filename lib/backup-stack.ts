import { CfnOutput, Stack, type StackProps, Token } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DEFAULT_THRESHOLDS } from '../task/core/health.ts';
import { AlertTopic } from './alert-topic.ts';
import { BackupBucket } from './backup-bucket.ts';
import { BackupTask } from './backup-task.ts';
import { type BackupConfig, objectLockDays } from './config.ts';
import { BackupDashboard } from './dashboard.ts';
import { Launcher } from './launcher.ts';
import { Monitor } from './monitor.ts';
import { BackupNetwork } from './network.ts';
import { type ReplicaPlacement, replicaPlacement } from './replica-placement.ts';
import { BucketReplication } from './replication.ts';
import { Restore } from './restore.ts';
import { BackupSchedules } from './schedules.ts';
import { TaskAlerts } from './task-alerts.ts';

export interface BackupStackProps extends StackProps {
  /** The validated configuration (see lib/config.ts `loadConfig`). */
  readonly config: BackupConfig;
}

/**
 * Composes the backup system, one construct per concern. Later concerns (restore drill schedule,
 * restore Lambda, monitor with alarms and dashboard) are further constructs wired to the same
 * `bucket`, `task`, `launcher` and `alerts`, which are exposed for that.
 */
export class BackupStack extends Stack {
  readonly network: BackupNetwork;
  readonly bucket: BackupBucket;
  readonly alerts: AlertTopic;
  readonly task: BackupTask;
  readonly restore: Restore;
  readonly launcher: Launcher;
  readonly schedules: BackupSchedules;
  readonly taskAlerts: TaskAlerts;
  readonly monitor: Monitor;
  readonly dashboard: BackupDashboard;
  /** Where the offsite copy lives, when `replica` is configured; the ReplicaStack takes the same. */
  readonly replica?: ReplicaPlacement;
  readonly replication?: BucketReplication;

  constructor(scope: Construct, id: string, props: BackupStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetention = config.task.logRetentionDays as logs.RetentionDays;
    if (config.replica) {
      this.replica = replicaPlacement(
        config.replica,
        this.stackName,
        Token.isUnresolved(this.account) ? undefined : this.account,
      );
    }

    this.network = new BackupNetwork(this, 'Network', { vpc: config.vpc, flowLogRetention: logRetention });
    this.bucket = new BackupBucket(this, 'Backups', {
      prefix: config.prefix,
      retentionDays: {
        daily: config.retention.dailyDays,
        weekly: config.retention.weeklyDays,
        monthly: config.retention.monthlyDays,
        'pre-restore': config.retention.preRestoreDays,
      },
      monthlyGlacierTransitionDays: config.retention.monthlyGlacierTransitionDays,
      monthlyGlacierStorageClass: config.retention.monthlyGlacierStorageClass,
      noncurrentVersionDays: config.retention.noncurrentVersionDays,
      ...(config.objectLock.enabled
        ? {
            objectLockRetentionDays:
              config.objectLock.retentionDays ??
              Math.min(
                config.retention.dailyDays,
                config.retention.weeklyDays,
                config.retention.monthlyDays,
                config.retention.preRestoreDays,
              ),
          }
        : {}),
    });
    this.alerts = new AlertTopic(this, 'Alerts', { emails: config.alertEmails });
    this.task = new BackupTask(this, 'Task', {
      network: this.network,
      backupBucket: this.bucket,
      databases: config.databases,
      cpu: config.task.cpu,
      memoryMiB: config.task.memoryMiB,
      pgMajorVersion: config.task.pgMajorVersion,
      ephemeralStorageGiB: config.task.ephemeralStorageGiB,
      logRetention,
      ...(config.objectLock.enabled
        ? { objectLock: { mode: config.objectLock.mode, days: objectLockDays(config) } }
        : {}),
    });
    this.restore = new Restore(this, 'Restore', {
      task: this.task,
      network: this.network,
      backupBucket: this.bucket,
      alerts: this.alerts,
      databases: config.databases,
      cpu: config.task.cpu,
      memoryMiB: config.task.memoryMiB,
      logRetention,
    });
    this.taskAlerts = new TaskAlerts(this, 'TaskAlerts', {
      task: this.task,
      alerts: this.alerts,
      additionalTargets: this.restore.targets,
    });
    this.launcher = new Launcher(this, 'Launcher', {
      task: this.task,
      network: this.network,
      failureAlerts: this.taskAlerts,
      exclusiveWith: this.restore.targets,
    });
    this.schedules = new BackupSchedules(this, 'Schedules', {
      databases: config.databases.map((db) => db.name),
      launcher: this.launcher.function,
      expressions: config.schedules,
      verifyExpression: config.schedules.verify,
      timeZone: config.timeZone,
      alerts: this.alerts,
    });
    const databases = config.databases.map((db) => db.name);
    this.monitor = new Monitor(this, 'Monitor', {
      bucket: this.bucket,
      alerts: this.alerts,
      failureAlerts: this.taskAlerts,
      databases,
      restoreFunction: this.restore.function,
      thresholds: {
        maxAgeHours: {
          daily: config.health.dailyMaxAgeHours,
          weekly: config.health.weeklyMaxAgeHours,
          monthly: config.health.monthlyMaxAgeHours,
        },
        minArtifactBytes: config.health.minArtifactBytes,
        maxDropShare: config.health.maxDropShare,
        dropHistory: DEFAULT_THRESHOLDS.dropHistory,
        verifyMaxAgeHours: config.health.verifyMaxAgeHours,
        retentionDays: {
          daily: config.retention.dailyDays,
          weekly: config.retention.weeklyDays,
          monthly: config.retention.monthlyDays,
        },
        runGraceHours: config.health.runGraceHours,
        ...(config.replica
          ? {
              replication: {
                warnMinutes: config.health.replicationWarnMinutes,
                criticalHours: config.health.replicationCriticalHours,
              },
            }
          : {}),
      },
      expressions: { check: config.schedules.monitor, report: config.schedules.report },
      timeZone: config.timeZone,
      logRetention,
    });
    if (this.replica) {
      this.replication = new BucketReplication(this, 'Replication', {
        prefix: this.bucket.prefix,
        source: this.bucket,
        replica: this.replica,
        alarms: this.monitor.alarms,
      });
    }
    this.dashboard = new BackupDashboard(this, 'Dashboard', {
      monitor: this.monitor,
      databases,
      offsite: this.replica !== undefined,
    });

    new CfnOutput(this, 'BucketName', { value: this.bucket.bucket.bucketName });
    new CfnOutput(this, 'ClusterName', { value: this.task.cluster.clusterName });
    new CfnOutput(this, 'TaskLogGroup', { value: this.task.logGroup.logGroupName });
    new CfnOutput(this, 'AlertTopicArn', { value: this.alerts.topic.topicArn });
    new CfnOutput(this, 'LauncherFunctionName', { value: this.launcher.function.functionName });
    new CfnOutput(this, 'RestoreFunctionName', { value: this.restore.function.functionName });
    new CfnOutput(this, 'MonitorFunctionName', { value: this.monitor.function.functionName });
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboard.dashboardName });
    if (this.replica) new CfnOutput(this, 'ReplicaBucketName', { value: this.replica.bucketName });
  }
}
