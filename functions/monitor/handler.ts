/**
 * The monitor: reads the manifests (task/inventory.ts), applies the health policy, emits the
 * metrics the alarms and the dashboard read, and publishes an alert when something is critical
 * (`check`) or the weekly report (`report`). A failure to read throws: the run's metrics are then
 * missing, which the alarms treat as breaching.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { Catalog } from '../../task/catalog.ts';
import { ENV } from '../../task/core/env-names.ts';
import { collectInventory } from '../../task/inventory.ts';
import { createS3Client, S3Reader } from '../../task/store/s3-reader.ts';
import {
  decideMonitor,
  METRIC_NAMESPACE,
  monitorEventSchema,
  monitorSettingsSchema,
  newestBackups,
} from './core.ts';
import { observeReplication } from './replication.ts';

const logger = new Logger({ serviceName: 'monitor' });
const metrics = new Metrics({ namespace: METRIC_NAMESPACE, serviceName: process.env[ENV.metricsService] });
const sns = new SNSClient({});
const UNITS = {
  Count: MetricUnit.Count,
  Bytes: MetricUnit.Bytes,
  Seconds: MetricUnit.Seconds,
  None: MetricUnit.NoUnit,
} as const;

const settings = monitorSettingsSchema.parse({
  bucket: process.env[ENV.bucket],
  prefix: process.env[ENV.prefix] ?? '',
  topicArn: process.env[ENV.alertTopicArn],
  databases: JSON.parse(process.env[ENV.databases] ?? '[]'),
  thresholds: JSON.parse(process.env[ENV.healthThresholds] ?? '{}'),
  ...(process.env[ENV.restoreFunctionName]
    ? { restoreFunctionName: process.env[ENV.restoreFunctionName] }
    : {}),
});
const s3 = { bucket: settings.bucket, region: process.env.AWS_REGION ?? '' };
const s3Client = createS3Client(s3);
const catalog = new Catalog(new S3Reader(s3Client, s3), settings.prefix, {
  warn: (message, data) => logger.warn(message, data ?? {}),
});

export interface MonitorResult {
  readonly mode: 'check' | 'report';
  readonly healthy: boolean;
  readonly worst: string;
  readonly published: boolean;
}

export async function handler(event: unknown): Promise<MonitorResult> {
  const request = monitorEventSchema.parse(event ?? {});
  const inventory = await collectInventory(catalog, settings.databases, {
    readNewest: settings.thresholds.dropHistory + 1,
  });
  // With a replica (the thresholds then hold its limits), watch the newest backup of each database.
  const replication = settings.thresholds.replication
    ? await observeReplication(s3Client, settings.bucket, settings.prefix, newestBackups(inventory))
    : [];
  const outcome = decideMonitor(
    request,
    inventory,
    new Date(),
    settings.thresholds,
    {
      location: catalog.location,
      ...(settings.restoreFunctionName ? { restoreFunctionName: settings.restoreFunctionName } : {}),
    },
    replication,
  );

  // One EMF document per dimension set: Powertools applies the stored dimensions to every metric.
  const groups = new Map<string, typeof outcome.metrics>();
  for (const datum of outcome.metrics) {
    const key = JSON.stringify(datum.dimensions);
    groups.set(key, [...(groups.get(key) ?? []), datum]);
  }
  for (const data of groups.values()) {
    for (const [name, value] of Object.entries(data[0]?.dimensions ?? {})) metrics.addDimension(name, value);
    for (const datum of data) metrics.addMetric(datum.name, UNITS[datum.unit], datum.value);
    metrics.publishStoredMetrics();
  }

  const findings = outcome.report.verdicts.flatMap((v) =>
    v.findings.map((f) => ({ database: v.database, tier: v.tier, ...f })),
  );
  logger.info('health evaluated', {
    mode: request.mode,
    healthy: outcome.report.healthy,
    worst: outcome.report.worst,
    findings,
  });
  if (outcome.publish) {
    await sns.send(
      new PublishCommand({
        TopicArn: settings.topicArn,
        Subject: outcome.publish.subject,
        Message: outcome.publish.body,
      }),
    );
    logger.info(request.mode === 'report' ? 'report published' : 'alert published', {
      subject: outcome.publish.subject,
    });
  }
  return {
    mode: request.mode,
    healthy: outcome.report.healthy,
    worst: outcome.report.worst,
    published: outcome.publish !== undefined,
  };
}
