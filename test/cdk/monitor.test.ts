/**
 * The monitor, its alarms and the dashboard, as the stack builds them from cdk.json (time zone
 * overridden to prove it reaches the schedules), with cdk-nag's checks run on synth.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { beforeAll, describe, expect, it } from 'vitest';
import { AlarmFactory } from '../../lib/alarms.ts';
import { AlertTopic } from '../../lib/alert-topic.ts';
import { BackupBucket } from '../../lib/backup-bucket.ts';
import { loadConfig } from '../../lib/config.ts';
import { Monitor, type MonitorProps } from '../../lib/monitor.ts';
import { DEFAULT_THRESHOLDS } from '../../task/core/health.ts';
import { CDK_JSON_CONTEXT, nagFindings, type Synthesized, synthesize } from './synth.ts';

let synth: Synthesized;
let template: Template;

beforeAll(() => {
  synth = synthesize({ 'backup.timeZone': 'Europe/Berlin', 'backup.health.dailyMaxAgeHours': 30 });
  template = synth.template;
});

type Resource = { Properties: Record<string, unknown> };
type Statement = { Action: string | string[]; Effect: string; Resource: unknown };

const monitorStatements = (): Statement[] =>
  Object.entries(template.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith('MonitorFunctionRole'))
    .flatMap(([, r]) => ((r as Resource).Properties.PolicyDocument as { Statement: Statement[] }).Statement);

describe('monitor function', () => {
  it('runs on Node.js 24 on ARM with the bucket, topic, databases, thresholds and restore function in its environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Environment: {
        Variables: Match.objectLike({
          BACKUP_BUCKET: Match.anyValue(),
          ALERT_TOPIC_ARN: Match.anyValue(),
          DATABASES: '["app"]',
          BACKUP_HEALTH_THRESHOLDS: Match.stringLikeRegexp('"daily":30'),
          METRICS_SERVICE: 'Test',
          RESTORE_FUNCTION_NAME: { Ref: Match.stringLikeRegexp('^RestoreFunction') },
        }),
      },
    });
  });

  it('grants no S3 write or delete and reads only manifests and verification records', () => {
    const statements = monitorStatements();
    const s3Actions = statements.flatMap((s) => [s.Action].flat()).filter((a) => a.startsWith('s3:'));
    expect(s3Actions.sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    const readable = JSON.stringify(statements.find((s) => s.Action === 's3:GetObject')?.Resource);
    const suffixes = [...readable.matchAll(/"(\/[a-z]+\/\*\/[a-z.]+)"/g)].map((m) => m[1]);
    expect(suffixes.sort()).toEqual([
      '/daily/*/manifest.json',
      '/daily/*/verification.json',
      '/monthly/*/manifest.json',
      '/monthly/*/verification.json',
      '/weekly/*/manifest.json',
      '/weekly/*/verification.json',
    ]);
  });

  it('limits listing to the scheduled tier prefixes', () => {
    expect(monitorStatements().find((s) => s.Action === 's3:ListBucket')).toMatchObject({
      Condition: { StringLike: { 's3:prefix': ['daily/*', 'weekly/*', 'monthly/*'] } },
    });
  });
});

describe('monitor schedules', () => {
  it.each([
    ['health check', 'rate(6 hours)', 'check'],
    ['weekly report', 'cron(0 9 ? * MON *)', 'report'],
  ])('invokes the %s on %s in the configured time zone', (_name, expression, mode) => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: expression,
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: Match.objectLike({ Input: JSON.stringify({ mode }) }),
    });
  });
});

describe('monitor alarms', () => {
  it('fires the daily age alarm when the age exceeds the configured limit or data is missing', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'ServerlessPgBackup',
      MetricName: 'BackupAgeHours',
      Dimensions: Match.arrayWith([
        { Name: 'Database', Value: 'app' },
        { Name: 'Tier', Value: 'daily' },
      ]),
      Threshold: 30,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
      AlarmDescription: Match.stringLikeRegexp('No daily backup of app'),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlertsTopic') }],
    });
  });

  it('fires the verify alarm below 1 or when data is missing', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'VerifyOk',
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmDescription: Match.stringLikeRegexp('verification of app'),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlertsTopic') }],
    });
  });

  it('fires the failed-runs alarm above 0', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'FailedRunsLastDay',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlertsTopic') }],
    });
  });

  it('gives every monitor alarm a description and the alert topic as alarm and OK action', () => {
    const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm'))
      .filter(([id]) => id.startsWith('MonitorAlarms'))
      .map(([, r]) => (r as Resource).Properties);
    expect(alarms).toHaveLength(3);
    for (const alarm of alarms) {
      expect(alarm.AlarmDescription).toEqual(expect.stringMatching(/\S/));
      expect(JSON.stringify(alarm.AlarmActions)).toMatch(/AlertsTopic/);
      expect(JSON.stringify(alarm.OKActions)).toMatch(/AlertsTopic/);
    }
  });
});

describe('dashboard', () => {
  it('shows backup age, size, duration, verify result and restore seconds per database', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as Resource[];
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const title of [
      'app: backup age (hours)',
      'app: backup size',
      'app: backup duration (seconds)',
      'app: verify result (1 = passed)',
      'app: test restore (seconds)',
    ]) {
      expect(body).toContain(title);
    }
  });
});

describe('checks', () => {
  it('reports zero unacknowledged cdk-nag findings with the monitor in the stack', () => {
    expect(nagFindings(synth.app)).toEqual([]);
  });
});

describe('props validation', () => {
  function parts() {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    const alerts = new AlertTopic(stack, 'A', { emails: ['ops@example.com'] });
    const bucket = new BackupBucket(stack, 'B', {
      retentionDays: { daily: 30, weekly: 90, monthly: 365, 'pre-restore': 30 },
    });
    const props: MonitorProps = {
      bucket,
      alerts,
      failureAlerts: { alertOnFailedInvocations: () => undefined },
      databases: ['app'],
      thresholds: DEFAULT_THRESHOLDS,
      expressions: { check: 'rate(6 hours)', report: 'cron(0 9 ? * MON *)' },
      timeZone: 'UTC',
    };
    return { stack, alerts, props };
  }

  it('fails an alarm without a description', () => {
    const { stack, alerts } = parts();
    const factory = new AlarmFactory(stack, 'F', { alerts });
    expect(() =>
      factory.addAlarm('X', {
        description: ' ',
        metric: new cloudwatch.Metric({ namespace: 'N', metricName: 'M' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
    ).toThrow('description must say what is wrong and what to do, got: " "');
  });

  it('fails an alarm that would evaluate more than one day', () => {
    const { stack, alerts } = parts();
    const factory = new AlarmFactory(stack, 'F', { alerts });
    expect(() =>
      factory.addAlarm('X', {
        description: 'd',
        metric: new cloudwatch.Metric({ namespace: 'N', metricName: 'M', period: Duration.hours(12) }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        evaluationPeriods: 3,
      }),
    ).toThrow('period x evaluationPeriods must be at most 1 day, got: 12 hours x 3');
  });

  it.each([
    [{ databases: [] }, 'databases must list at least one database, got: []'],
    [{ alarmPeriod: Duration.minutes(30) }, 'alarmPeriod must be 1-24 hours, got: 30 minutes'],
    [
      { thresholds: { ...DEFAULT_THRESHOLDS, maxDropShare: 2 } },
      'thresholds.maxDropShare Too big: expected number to be <=1',
    ],
  ])('fails a monitor with %j', (override, message) => {
    const { stack, props } = parts();
    expect(() => new Monitor(stack, 'M', { ...props, ...override })).toThrow(message);
  });
});

describe('health configuration', () => {
  it('defaults to the documented thresholds', () => {
    expect(loadConfig(CDK_JSON_CONTEXT).health).toEqual({
      dailyMaxAgeHours: 26,
      weeklyMaxAgeHours: 192,
      monthlyMaxAgeHours: 768,
      verifyMaxAgeHours: 26,
      minArtifactBytes: 102400,
      maxDropShare: 0.5,
      runGraceHours: 6,
      replicationWarnMinutes: 15,
      replicationCriticalHours: 3,
    });
  });

  it.each([
    ['backup.health.maxDropShare', 1.5, 'health.maxDropShare must be a share between 0 and 1, got: 1.5'],
    ['backup.health.dailyMaxAgeHours', 0, 'health.dailyMaxAgeHours must be > 0 hours, got: 0'],
    ['backup.health.minArtifactBytes', -1, 'health.minArtifactBytes must be >= 0, got: -1'],
  ])('fails %s = %s', (key, value, message) => {
    expect(() => loadConfig({ ...CDK_JSON_CONTEXT, [key]: value })).toThrow(message);
  });
});
