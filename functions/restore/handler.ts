/**
 * Starts a restore on the operator's request (`aws lambda invoke`): checks it like backupctl would,
 * then runs the database's restore task with the resolved backup id. Refusals are returned, not
 * thrown, so the invoke output shows them as `{ ok: false, error: { code, message } }`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { ECSClient } from '@aws-sdk/client-ecs';
import { Catalog } from '../../task/catalog.ts';
import { ENV } from '../../task/core/env-names.ts';
import { normalizePrefix } from '../../task/core/keys.ts';
import { BackupError } from '../../task/errors.ts';
import { createS3Client, S3Reader } from '../../task/store/s3-reader.ts';
import { clusterSettingsFromEnv, ecsPort } from '../shared/ecs.ts';
import { type RestoreResponse, requestRestore, restoreSettingsSchema } from './core.ts';

const logger = new Logger({ serviceName: 'restore' });
const ecs = new ECSClient({});

const settings = restoreSettingsSchema.parse({
  ...clusterSettingsFromEnv(),
  region: process.env.AWS_REGION,
  prefix: normalizePrefix(process.env[ENV.prefix]),
  logGroupName: process.env[ENV.logGroupName],
  logStreamPrefix: process.env[ENV.logStreamPrefix],
  replicationWindowHours: process.env[ENV.replicationWindowHours],
  targets: JSON.parse(process.env[ENV.targets] ?? '{}'),
});

const s3 = { bucket: process.env[ENV.bucket] ?? '', region: settings.region };
const catalog = new Catalog(
  new S3Reader(createS3Client(s3), s3),
  settings.prefix,
  { warn: (message, data) => logger.warn(message, data ?? {}) },
  { replicationWindowHours: settings.replicationWindowHours },
);
const port = ecsPort(ecs);

export async function handler(event: unknown): Promise<RestoreResponse> {
  try {
    const response = await requestRestore(event, settings, { catalog, ecs: port, now: new Date() });
    if (response.ok) {
      logger.info('restore task started', {
        taskArn: response.taskArn,
        database: response.database,
        backupId: response.backupId,
        parts: response.parts,
      });
    } else {
      logger.warn('restore refused', { ...response.error, event });
    }
    return response;
  } catch (error) {
    logger.error('restore request failed', { error: error as Error, event });
    return {
      ok: false,
      error: {
        code: 'INTERNAL_ERROR',
        // A BackupError (S3 refused or unreachable) is already a sentence naming the cause.
        message: `The restore request could not be completed (${error instanceof BackupError ? error.message : `${(error as Error).name}: ${(error as Error).message}`}); see the restore function's log group before retrying.`,
      },
    };
  }
}
