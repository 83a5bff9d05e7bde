import { CfnOutput, Stack } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../task/core/env-names.ts';
import { AlertTopic } from './alert-topic.ts';
import type { BackupBucket } from './backup-bucket.ts';
import { BackupctlTasks } from './backup-task.ts';
import { type BackupConfig, objectLockDays } from './config.ts';
import { BackupNetwork } from './network.ts';
import { Restore } from './restore.ts';
import { TaskAlerts } from './task-alerts.ts';

export interface ReplicaRestoreProps {
  /** The validated configuration; must hold `replica.restore`. */
  readonly config: BackupConfig;
  /** The replica bucket the restores read, and where their locks and safety backups go. */
  readonly bucket: BackupBucket;
}

/**
 * A restore that needs nothing of the primary region: in the replica's region, a network, a cluster
 * running the same backupctl image, per database a restore task definition reading the replica
 * bucket with the replica's key (built by Restore, as in the primary), the restore Lambda pointed
 * at the replica, and an alert topic there for the restore results and for failed restore tasks.
 */
export class ReplicaRestore extends Construct {
  readonly network: BackupNetwork;
  readonly alerts: AlertTopic;
  readonly tasks: BackupctlTasks;
  readonly restore: Restore;
  readonly taskAlerts: TaskAlerts;

  constructor(scope: Construct, id: string, props: ReplicaRestoreProps) {
    super(scope, id);
    const { config, bucket } = props;
    const settings = config.replica?.restore;
    if (!settings) {
      throw new Error('config.replica.restore must be set for a ReplicaRestore, got: (missing)');
    }
    const logRetention = config.task.logRetentionDays as logs.RetentionDays;
    // Replication does not preserve order: within this window a backup missing an artifact is
    // "still replicating", after it incomplete (as the monitor's critical limit). The restore
    // tasks and the restore Lambda read the replica with it alike.
    const replicationWindowHours = Math.ceil(config.health.replicationCriticalHours);
    this.network = new BackupNetwork(this, 'Network', { vpc: settings.vpc, flowLogRetention: logRetention });
    this.alerts = new AlertTopic(this, 'Alerts', { emails: settings.alertEmails ?? config.alertEmails });
    this.tasks = new BackupctlTasks(this, 'Tasks', {
      network: this.network,
      backupBucket: bucket,
      databases: settings.databases,
      pgMajorVersion: config.task.pgMajorVersion,
      logRetention,
      // The primary's per-tier locks (a replica needs them on): the safety backup a restore writes.
      objectLock: { mode: config.objectLock.mode, days: objectLockDays(config) },
      purpose: 'restore',
      environment: { [ENV.replicationWindowHours]: String(replicationWindowHours) },
    });
    this.restore = new Restore(this, 'Restore', {
      task: this.tasks,
      network: this.network,
      backupBucket: bucket,
      alerts: this.alerts,
      databases: settings.databases,
      cpu: config.task.cpu,
      memoryMiB: config.task.memoryMiB,
      logRetention,
      replicationWindowHours,
    });
    this.taskAlerts = new TaskAlerts(this, 'TaskAlerts', {
      task: this.tasks,
      alerts: this.alerts,
      additionalTargets: this.restore.targets,
    });

    const stack = Stack.of(this);
    new CfnOutput(stack, 'RestoreFunctionName', { value: this.restore.function.functionName });
    new CfnOutput(stack, 'RestoreClusterName', { value: this.tasks.cluster.clusterName });
    new CfnOutput(stack, 'RestoreLogGroup', { value: this.tasks.logGroup.logGroupName });
    new CfnOutput(stack, 'AlertTopicArn', { value: this.alerts.topic.topicArn });
  }
}
