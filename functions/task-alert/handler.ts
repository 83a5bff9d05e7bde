/**
 * Alerts on a failed backup task: reads the ECS Task State Change event, publishes to the alert
 * topic when the backupctl container's exit code is non-zero or missing.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { alertSettingsSchema, decideTaskAlert, TaskEventTracker } from './core.ts';

const logger = new Logger({ serviceName: 'task-alert' });
const sns = new SNSClient({});
const topicArn = process.env.TOPIC_ARN ?? '';
const settings = alertSettingsSchema.parse({
  logGroupName: process.env.LOG_GROUP_NAME,
  logStreamPrefix: process.env.LOG_STREAM_PREFIX,
  containerName: process.env.CONTAINER_NAME,
  families: JSON.parse(process.env.FAMILIES ?? '{}'),
});
// Module scope: survives warm invocations, which is where duplicate deliveries land (see core.ts).
const tracker = new TaskEventTracker();

export async function handler(event: unknown): Promise<{ action: string }> {
  const verdict = decideTaskAlert(event, settings, tracker);
  if (verdict.action === 'ignore') {
    logger.info('no alert', { reasons: verdict.reasons });
    return { action: 'ignore' };
  }
  await sns.send(
    new PublishCommand({ TopicArn: topicArn, Subject: verdict.subject, Message: verdict.message }),
  );
  // Only now: a failed publish throws, and Lambda's retry must not find the task marked as alerted.
  if (verdict.task) tracker.record(verdict.task.arn, verdict.task.version, true);
  logger.warn('alert published', { subject: verdict.subject, reasons: verdict.reasons });
  return { action: 'alert' };
}
