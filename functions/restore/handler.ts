/**
 * Starts a restore on the operator's request (`aws lambda invoke`): checks it like backupctl would,
 * then runs the database's restore task with the resolved backup id. Refusals are returned, not
 * thrown, so the invoke output shows them as `{ ok: false, error: { code, message } }`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { ECSClient } from '@aws-sdk/client-ecs';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { normalizePrefix } from '../../task/core/keys.ts';
import { clusterSettingsFromEnv, ecsPort } from '../shared/ecs.ts';
import { type BackupReader, type RestoreResponse, requestRestore, restoreSettingsSchema } from './core.ts';

const logger = new Logger({ serviceName: 'restore' });
const s3 = new S3Client({});
const ecs = new ECSClient({});
const bucket = process.env.BACKUP_BUCKET ?? '';

const settings = restoreSettingsSchema.parse({
  ...clusterSettingsFromEnv(),
  region: process.env.AWS_REGION,
  prefix: normalizePrefix(process.env.BACKUP_PREFIX),
  logGroupName: process.env.LOG_GROUP_NAME,
  logStreamPrefix: process.env.LOG_STREAM_PREFIX,
  targets: JSON.parse(process.env.TARGETS ?? '{}'),
});

const reader: BackupReader = {
  async listKeys(prefix) {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  },
  async readText(key) {
    try {
      const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Body ? await Body.transformToString() : '';
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') return undefined;
      throw error;
    }
  },
};

const port = ecsPort(ecs);

export async function handler(event: unknown): Promise<RestoreResponse> {
  try {
    const response = await requestRestore(event, settings, { reader, ecs: port, now: new Date() });
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
        message: `The restore request could not be completed (${(error as Error).name}: ${(error as Error).message}); see the restore function's log group before retrying.`,
      },
    };
  }
}
