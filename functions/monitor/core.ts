/**
 * Decides what one monitor run publishes: the health verdict as an alert (when unhealthy) or the
 * weekly report, and the CloudWatch metrics the alarms and the dashboard read. No AWS imports; the
 * handler reads the inventory and publishes what this returns.
 */
import { z } from 'zod';
import {
  evaluateHealth,
  type HealthInput,
  type HealthReport,
  type HealthThresholds,
  healthThresholdsSchema,
  type ReplicationObservation,
} from '../../task/core/health.ts';
import {
  formatAlert,
  formatWeeklyReport,
  type Message,
  type MessageContext,
} from '../../task/core/health-messages.ts';
import { databaseNameSchema } from '../../task/core/ids.ts';
import type { Manifest } from '../../task/core/manifest.ts';

/** CloudWatch namespace of every monitor metric; the `service` dimension is the stack name. */
export const METRIC_NAMESPACE = 'ServerlessPgBackup';

export const METRIC_NAMES = {
  /** Hours since the newest complete backup of a database and tier finished. */
  age: 'BackupAgeHours',
  /** Bytes of all artifacts of that backup. */
  size: 'BackupSizeBytes',
  /** Seconds from its start to its manifest. */
  duration: 'BackupDurationSeconds',
  /** 1 when the database's newest verification passed and is recent enough, else 0. Per database. */
  verifyOk: 'VerifyOk',
  /** Seconds the newest verification's test restore took. Per database. */
  restoreSeconds: 'RestoreSeconds',
  /** Runs without a manifest in the last day, all tiers. Per database. */
  failedRuns: 'FailedRunsLastDay',
  /** With a replica: seconds the newest backup has been waiting to be replicated (0 once it is). Per database. */
  replicationLag: 'ReplicationLagSeconds',
  /** With a replica: 1 when every object of the newest backup is in the replica, else 0. Per database. */
  replicated: 'Replicated',
} as const;

/** Powertools Metrics' unit names for the units used here. */
export type MetricUnitName = 'Count' | 'Bytes' | 'Seconds' | 'None';

export interface MetricDatum {
  readonly name: (typeof METRIC_NAMES)[keyof typeof METRIC_NAMES];
  readonly unit: MetricUnitName;
  readonly value: number;
  /**
   * `Database` and, for per-backup facts, `Tier`. Verification and failed runs are facts about the
   * database (the drill verifies the newest backup, whatever its tier), so they carry no `Tier`:
   * a dimension that moves between tiers would leave the alarm on it without data.
   */
  readonly dimensions: Readonly<Record<string, string>>;
}

/** `{ "mode": "check" }` every few hours; `{ "mode": "report" }` weekly. */
export const monitorEventSchema = z.strictObject({ mode: z.enum(['check', 'report']).default('check') });
export type MonitorEvent = z.infer<typeof monitorEventSchema>;

/** The deployment's facts, from the function's environment. */
export const monitorSettingsSchema = z.object({
  bucket: z.string().min(1),
  prefix: z.string(),
  topicArn: z.string().min(1),
  databases: z.array(databaseNameSchema).min(1),
  thresholds: healthThresholdsSchema,
  restoreFunctionName: z.string().min(1).optional(),
});
export type MonitorSettings = z.infer<typeof monitorSettingsSchema>;

export interface MonitorOutcome {
  readonly report: HealthReport;
  /** What to publish to the alert topic; absent when a check found nothing critical. */
  readonly publish?: Message;
  readonly metrics: readonly MetricDatum[];
}

export function decideMonitor(
  event: MonitorEvent,
  inventory: readonly HealthInput[],
  now: Date,
  thresholds: HealthThresholds,
  context: MessageContext = {},
  replication: readonly ReplicationObservation[] = [],
): MonitorOutcome {
  const report = evaluateHealth(inventory, now, thresholds, replication);
  const metrics = metricsOf(report);
  if (event.mode === 'report') return { report, publish: formatWeeklyReport(report, context), metrics };
  if (!report.healthy) return { report, publish: formatAlert(report, context), metrics };
  return { report, metrics };
}

export function metricsOf(report: HealthReport): MetricDatum[] {
  const metrics: MetricDatum[] = [];
  for (const v of report.verdicts) {
    if (!v.newest) continue;
    const dimensions = { Database: v.database, Tier: v.tier };
    metrics.push(
      { name: METRIC_NAMES.age, unit: 'None', value: round(v.newest.ageHours), dimensions },
      { name: METRIC_NAMES.size, unit: 'Bytes', value: v.newest.bytes, dimensions },
      { name: METRIC_NAMES.duration, unit: 'Seconds', value: round(v.newest.durationSeconds), dimensions },
    );
  }
  for (const d of report.databases) {
    const dimensions = { Database: d.database };
    const verdicts = report.verdicts.filter((v) => v.database === d.database);
    const verificationProblem = verdicts.some((v) => v.findings.some((f) => f.check === 'verification'));
    metrics.push({
      name: METRIC_NAMES.verifyOk,
      unit: 'Count',
      value: verificationProblem || d.verification?.ok === false ? 0 : 1,
      dimensions,
    });
    if (d.verification?.restoreSeconds !== undefined) {
      metrics.push({
        name: METRIC_NAMES.restoreSeconds,
        unit: 'Seconds',
        value: round(d.verification.restoreSeconds),
        dimensions,
      });
    }
    metrics.push({
      name: METRIC_NAMES.failedRuns,
      unit: 'Count',
      value: verdicts.reduce((sum, v) => sum + v.failedRuns, 0),
      dimensions,
    });
  }
  for (const d of report.databases) {
    if (!d.offsite) continue;
    const dimensions = { Database: d.database };
    metrics.push(
      { name: METRIC_NAMES.replicationLag, unit: 'Seconds', value: d.offsite.lagSeconds, dimensions },
      {
        name: METRIC_NAMES.replicated,
        unit: 'Count',
        value: d.offsite.state === 'replicated' ? 1 : 0,
        dimensions,
      },
    );
  }
  return metrics;
}

/** The backup whose replication is watched, per database: its newest complete one, any tier. */
export function newestBackups(inventory: readonly HealthInput[]): Manifest[] {
  const newest = new Map<string, Manifest>();
  for (const input of inventory) {
    const candidate = input.backups[0];
    const current = newest.get(input.database);
    if (candidate && (!current || candidate.finishedAt > current.finishedAt))
      newest.set(input.database, candidate);
  }
  return [...newest.values()];
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
