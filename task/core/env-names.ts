/**
 * The names of the settings that cross from the CDK stack (lib/) to the Lambdas (functions/) and the
 * backupctl task (task/config.ts), stated once: the stack sets them by these constants and every
 * reader reads them by the same ones, so a rename cannot leave a reader behind. A setting means the
 * same under the same name wherever it is read (the bucket is BACKUP_BUCKET for the task and for
 * the monitor alike), so an operator's shell can take a function's variable as it is.
 */
export const ENV = {
  // ---- the backups: task, monitor and restore Lambda ----
  /** Bucket name. */
  bucket: 'BACKUP_BUCKET',
  /** Key prefix of every backup and lock ('' or segments ending in '/'; core/keys.ts normalizePrefix). */
  prefix: 'BACKUP_PREFIX',
  /** SNS topic for alerts, reports and restore results. */
  alertTopicArn: 'ALERT_TOPIC_ARN',
  /** The health policy's thresholds as JSON (core/health.ts healthThresholdsSchema). */
  healthThresholds: 'BACKUP_HEALTH_THRESHOLDS',
  /**
   * Whole hours after a backup finished during which a missing or short artifact reads as "still
   * replicating" rather than incomplete (task and restore Lambda reading a replica; 0 elsewhere).
   */
  replicationWindowHours: 'BACKUP_REPLICATION_WINDOW_HOURS',

  // ---- the task only ----
  /** KMS key every put asks SSE-KMS with. */
  kmsKeyId: 'BACKUP_SSE_KMS_KEY_ID',
  /** Media directory; media is skipped when unset. */
  mediaDir: 'MEDIA_DIR',

  // ---- the Lambdas that start tasks (functions/shared/ecs.ts) ----
  clusterArn: 'CLUSTER_ARN',
  containerName: 'CONTAINER_NAME',
  /** Comma-separated subnet ids. */
  subnetIds: 'SUBNET_IDS',
  /** `ENABLED` or `DISABLED`. */
  assignPublicIp: 'ASSIGN_PUBLIC_IP',
  /** JSON: per database, the task definition and network to run (functions/shared/run-task.ts). */
  targets: 'TARGETS',
  /** The task log group, and its awslogs stream prefix, for links to a task's log. */
  logGroupName: 'LOG_GROUP_NAME',
  logStreamPrefix: 'LOG_STREAM_PREFIX',

  // ---- the monitor ----
  /** JSON list of the configured database names. */
  databases: 'DATABASES',
  /** The metrics' `service` dimension: the stack name. */
  metricsService: 'METRICS_SERVICE',
  /** The restore Lambda's name, for the restore command in alerts. */
  restoreFunctionName: 'RESTORE_FUNCTION_NAME',

  // ---- the task-failure alerter ----
  /** JSON: task definition family → database. */
  families: 'FAMILIES',
  /** Log groups of the invokers whose failed invocations it reports. */
  launcherLogGroup: 'LAUNCHER_LOG_GROUP',
  monitorLogGroup: 'MONITOR_LOG_GROUP',
} as const;
