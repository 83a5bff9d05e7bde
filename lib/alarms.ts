import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Construct } from 'constructs';
import type { AlertTopic } from './alert-topic.ts';

export interface AlarmFactoryProps {
  /** Every alarm notifies this topic. */
  readonly alerts: AlertTopic;
  /**
   * Also notify when an alarm returns to OK, so an incident visibly ends.
   * @default true
   */
  readonly notifyOnRecovery?: boolean;
}

export interface BackupAlarmProps {
  /** What is wrong when the alarm fires and what to do (the alarm email and console show it). Required. */
  readonly description: string;
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly comparisonOperator: cloudwatch.ComparisonOperator;
  /**
   * Required, so that every alarm decides what silence means: BREACHING for a dead man's switch.
   */
  readonly treatMissingData: cloudwatch.TreatMissingData;
  /** @default 1 */
  readonly evaluationPeriods?: number;
}

/**
 * The one way alarms are made here: each has a description and notifies the alert topic.
 */
export class AlarmFactory extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  private readonly action: cloudwatchActions.SnsAction;
  private readonly notifyOnRecovery: boolean;

  constructor(scope: Construct, id: string, props: AlarmFactoryProps) {
    super(scope, id);
    this.action = new cloudwatchActions.SnsAction(props.alerts.topic);
    this.notifyOnRecovery = props.notifyOnRecovery ?? true;
  }

  addAlarm(id: string, props: BackupAlarmProps): cloudwatch.Alarm {
    if (props.description.trim() === '') {
      throw new Error(
        `description must say what is wrong and what to do, got: ${JSON.stringify(props.description)}`,
      );
    }
    const evaluationPeriods = props.evaluationPeriods ?? 1;
    const period = props.metric.toMetricConfig().metricStat?.period ?? Duration.minutes(5);
    if (!Number.isInteger(evaluationPeriods) || evaluationPeriods < 1) {
      throw new Error(`evaluationPeriods must be a whole number >= 1, got: ${evaluationPeriods}`);
    }
    // CloudWatch evaluates at most one day of data.
    if (period.toSeconds() * evaluationPeriods > Duration.days(1).toSeconds()) {
      throw new Error(
        `period x evaluationPeriods must be at most 1 day, got: ${period.toHumanString()} x ${evaluationPeriods}`,
      );
    }
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmDescription: props.description,
      metric: props.metric,
      threshold: props.threshold,
      comparisonOperator: props.comparisonOperator,
      treatMissingData: props.treatMissingData,
      evaluationPeriods,
    });
    alarm.addAlarmAction(this.action);
    if (this.notifyOnRecovery) alarm.addOkAction(this.action);
    this.alarms.push(alarm);
    return alarm;
  }
}
