/**
 * Reads S3's replication status (HeadObject's ReplicationStatus) of each watched backup's objects:
 * its manifest and every artifact it names. A request that fails throws, as every read of the
 * monitor does: the run then publishes no metrics, which the alarms treat as breaching.
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ReplicationObservation } from '../../task/core/health.ts';
import { parseBackupId, type ScheduledTier } from '../../task/core/ids.ts';
import { manifestKey } from '../../task/core/keys.ts';
import type { Manifest } from '../../task/core/manifest.ts';

/** Each HeadObject is small; the SDK retries within this. */
const HEAD_DEADLINE_MS = 20_000;

export async function observeReplication(
  client: S3Client,
  bucket: string,
  prefix: string,
  backups: readonly Manifest[],
): Promise<ReplicationObservation[]> {
  return Promise.all(
    backups.map(async (manifest) => {
      const parsed = parseBackupId(manifest.id);
      if (!parsed.ok) throw new Error(`manifest id ${manifest.id} is not a backup id: ${parsed.reason}`);
      const keys = [manifestKey(prefix, parsed.id), ...manifest.artifacts.map((a) => a.key)];
      const statuses = await Promise.all(
        keys.map(async (key) => {
          const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
            abortSignal: AbortSignal.timeout(HEAD_DEADLINE_MS),
          });
          return [key, head.ReplicationStatus] as const;
        }),
      );
      return {
        database: manifest.database,
        tier: manifest.tier as ScheduledTier,
        id: manifest.id,
        finishedAt: manifest.finishedAt,
        statuses: Object.fromEntries(statuses),
      };
    }),
  );
}
