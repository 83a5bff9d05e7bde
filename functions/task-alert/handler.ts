/**
 * The alerter. Two kinds of event reach it:
 * - an ECS Task State Change of a backup or restore task: publishes to the alert topic when the
 *   backupctl container's exit code is non-zero or missing;
 * - the failure destination's record of an asynchronous launcher or monitor invocation that failed
 *   after Lambda's retries: always publishes, in words instead of the record's JSON.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { ENV } from '../../task/core/env-names.ts';
import { alertSettingsSchema, decideTaskAlert, TaskEventTracker } from './core.ts';
import { decideInvocationAlert, invokerLogGroupsSchema, isInvocationRecord } from './invocation.ts';

const logger = new Logger({ serviceName: 'task-alert' });
const sns = new SNSClient({});
const topicArn = process.env[ENV.alertTopicArn] ?? '';
const settings = alertSettingsSchema.parse({
  logGroupName: process.env[ENV.logGroupName],
  logStreamPrefix: process.env[ENV.logStreamPrefix],
  containerName: process.env[ENV.containerName],
  families: JSON.parse(process.env[ENV.families] ?? '{}'),
});
const invokerLogGroups = invokerLogGroupsSchema.parse({
  launcher: process.env[ENV.launcherLogGroup] || undefined,
  monitor: process.env[ENV.monitorLogGroup] || undefined,
});
// Module scope: survives warm invocations, which is where duplicate deliveries land (see core.ts).
const tracker = new TaskEventTracker();

const publish = (subject: string, message: string) =>
  sns.send(new PublishCommand({ TopicArn: topicArn, Subject: subject, Message: message }));

export async function handler(event: unknown): Promise<{ action: string }> {
  if (isInvocationRecord(event)) {
    const alert = decideInvocationAlert(event, invokerLogGroups);
    await publish(alert.subject, alert.message);
    logger.warn('alert published', { subject: alert.subject, reasons: alert.reasons });
    return { action: 'alert' };
  }
  const verdict = decideTaskAlert(event, settings, tracker);
  if (verdict.action === 'ignore') {
    logger.info('no alert', { reasons: verdict.reasons });
    return { action: 'ignore' };
  }
  await publish(verdict.subject, verdict.message);
  // Only now: a failed publish throws, and Lambda's retry must not find the task marked as alerted.
  if (verdict.task) tracker.record(verdict.task.arn, verdict.task.version, true);
  logger.warn('alert published', { subject: verdict.subject, reasons: verdict.reasons });
  return { action: 'alert' };
}
