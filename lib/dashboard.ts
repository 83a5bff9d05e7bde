import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { METRIC_NAMES } from '../functions/monitor/core.ts';
import { SCHEDULED_TIERS } from '../task/core/ids.ts';
import type { Monitor } from './monitor.ts';

export interface BackupDashboardProps {
  readonly monitor: Monitor;
  readonly databases: readonly string[];
  /**
   * Dashboard name, unique in the account and region.
   * @default - `<stack name>-backups`
   */
  readonly dashboardName?: string;
  /**
   * Time range shown when the dashboard opens.
   * @default Duration.days(35)
   */
  readonly range?: Duration;
  /**
   * Adds the offsite row (replication lag and state of the newest backup) per database.
   * @default false
   */
  readonly offsite?: boolean;
}

const WIDTH = 8;
const HEIGHT = 6;

/**
 * One row per database: backup age (with the daily limit), size trend, duration, verify result and
 * test-restore seconds, from the monitor's metrics.
 */
export class BackupDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: BackupDashboardProps) {
    super(scope, id);
    if (props.databases.length === 0) throw new Error('databases must list at least one database, got: []');
    const { monitor } = props;
    const hourly = Duration.hours(6);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? `${monitor.service}-backups`,
      defaultInterval: props.range ?? Duration.days(35),
    });
    for (const database of props.databases) {
      const perTier = (name: (typeof METRIC_NAMES)[keyof typeof METRIC_NAMES], statistic: string) =>
        SCHEDULED_TIERS.map((tier) =>
          monitor.metric(name, database, tier, statistic, hourly).with({ label: tier }),
        );
      const perDatabase = (
        name: (typeof METRIC_NAMES)[keyof typeof METRIC_NAMES],
        statistic: string,
        label: string,
      ) => [monitor.metric(name, database, undefined, statistic, hourly).with({ label })];
      this.dashboard.addWidgets(
        new cloudwatch.TextWidget({
          markdown: `## ${database}\nFrom the backup monitor (every check run). Details: \`backupctl status\`.`,
          width: 24,
          height: 2,
        }),
      );
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${database}: backup age (hours)`,
          left: perTier(METRIC_NAMES.age, cloudwatch.Stats.MAXIMUM),
          leftYAxis: { min: 0, showUnits: false },
          leftAnnotations: [
            { value: monitor.dailyMaxAgeHours, label: 'daily limit', color: cloudwatch.Color.RED },
          ],
          width: WIDTH,
          height: HEIGHT,
        }),
        new cloudwatch.GraphWidget({
          title: `${database}: backup size`,
          left: perTier(METRIC_NAMES.size, cloudwatch.Stats.MAXIMUM),
          leftYAxis: { min: 0 },
          width: WIDTH,
          height: HEIGHT,
        }),
        new cloudwatch.GraphWidget({
          title: `${database}: backup duration (seconds)`,
          left: perTier(METRIC_NAMES.duration, cloudwatch.Stats.MAXIMUM),
          leftYAxis: { min: 0 },
          width: WIDTH,
          height: HEIGHT,
        }),
      );
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${database}: verify result (1 = passed)`,
          left: perDatabase(METRIC_NAMES.verifyOk, cloudwatch.Stats.MINIMUM, 'verify ok'),
          leftYAxis: { min: 0, max: 1, showUnits: false },
          width: WIDTH,
          height: HEIGHT,
        }),
        new cloudwatch.GraphWidget({
          title: `${database}: test restore (seconds)`,
          left: perDatabase(METRIC_NAMES.restoreSeconds, cloudwatch.Stats.MAXIMUM, 'restore seconds'),
          leftYAxis: { min: 0 },
          width: WIDTH,
          height: HEIGHT,
        }),
        new cloudwatch.GraphWidget({
          title: `${database}: failed runs (last day)`,
          left: perDatabase(METRIC_NAMES.failedRuns, cloudwatch.Stats.MAXIMUM, 'failed runs'),
          leftYAxis: { min: 0, showUnits: false },
          width: WIDTH,
          height: HEIGHT,
        }),
      );
      if (props.offsite) {
        this.dashboard.addWidgets(
          new cloudwatch.GraphWidget({
            title: `${database}: offsite replication lag (seconds)`,
            left: perDatabase(METRIC_NAMES.replicationLag, cloudwatch.Stats.MAXIMUM, 'lag'),
            leftYAxis: { min: 0 },
            width: WIDTH,
            height: HEIGHT,
          }),
          new cloudwatch.GraphWidget({
            title: `${database}: newest backup in the replica (1 = yes)`,
            left: perDatabase(METRIC_NAMES.replicated, cloudwatch.Stats.MINIMUM, 'replicated'),
            leftYAxis: { min: 0, max: 1, showUnits: false },
            width: WIDTH,
            height: HEIGHT,
          }),
        );
      }
    }
  }
}
