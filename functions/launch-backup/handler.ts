/**
 * Starts one database's backup task: `{ database, tier }` (a backup) or `{ database, action:
 * "verify" }` (the restore drill) in, task ARN out. Anything but a started
 * task throws, so Lambda's asynchronous retries and failure destination (the
 * alerter, which mails it) see it.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ENV } from '../../task/core/env-names.ts';
import { clusterSettingsFromEnv, ecsPort } from '../shared/ecs.ts';
import { launchBackup, launchSettingsSchema } from './core.ts';

const logger = new Logger({ serviceName: 'launch-backup' });
const ecs = new ECSClient({});

const settings = launchSettingsSchema.parse({
  ...clusterSettingsFromEnv(),
  targets: JSON.parse(process.env[ENV.targets] ?? '{}'),
});
const port = ecsPort(ecs);

export async function handler(event: unknown): Promise<{ taskArn: string }> {
  const verdict = await launchBackup(event, settings, port);
  if (verdict.status !== 'started') {
    logger.error('backup not started', { status: verdict.status, reasons: verdict.reasons, event });
    throw new Error(`Backup not started (${verdict.status}): ${verdict.reasons.join('; ')}`);
  }
  logger.info('backup task started', {
    taskArn: verdict.taskArn,
    database: verdict.database,
    ...('tier' in verdict ? { tier: verdict.tier } : { action: verdict.action }),
  });
  return { taskArn: verdict.taskArn };
}
