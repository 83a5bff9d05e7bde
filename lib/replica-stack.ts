import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { SCHEDULED_TIERS } from '../task/core/ids.ts';
import { BackupBucket } from './backup-bucket.ts';
import { type BackupConfig, resolveReplicaRetention } from './config.ts';
import type { ReplicaPlacement } from './replica-placement.ts';
import { ReplicaRestore } from './replica-restore.ts';

export interface ReplicaStackProps extends StackProps {
  /** The validated configuration; must hold `replica`. */
  readonly config: BackupConfig;
  /** Names shared with the primary stack (lib/replica-placement.ts). */
  readonly placement: ReplicaPlacement;
}

/**
 * The offsite copy: a replica bucket in another region (and optionally another account) built
 * like the primary's (versioned, SSE-KMS with its own key, TLS-only, private, lifecycle per tier)
 * and always under Object Lock. Deployed before the primary stack, whose replication rules name
 * this bucket. Its bucket and key policies let the primary's replication role write replicas and
 * nothing else; no principal of the primary account may delete, read or change the replicas.
 * With `replica.restore` it also holds the restore Lambda and restore tasks (lib/replica-restore.ts),
 * so that a restore needs nothing of the primary region.
 */
export class ReplicaStack extends Stack {
  readonly bucket: BackupBucket;
  /** Present with `replica.restore`. */
  readonly restore?: ReplicaRestore;

  constructor(scope: Construct, id: string, props: ReplicaStackProps) {
    super(scope, id, props);
    const { config, placement } = props;
    if (!config.replica) throw new Error('config.replica must be set for a ReplicaStack, got: (missing)');
    const retention = resolveReplicaRetention(config);
    const shortest = Math.min(retention.dailyDays, retention.weeklyDays, retention.monthlyDays);
    this.bucket = new BackupBucket(this, 'Replica', {
      prefix: config.prefix,
      bucketName: placement.bucketName,
      keyAlias: placement.keyAlias,
      retentionDays: {
        daily: retention.dailyDays,
        weekly: retention.weeklyDays,
        monthly: retention.monthlyDays,
        // Not replicated; the rule is kept so the replica's lifecycle reads like the primary's.
        'pre-restore': config.retention.preRestoreDays,
      },
      monthlyGlacierTransitionDays: retention.monthlyGlacierTransitionDays,
      monthlyGlacierStorageClass: retention.monthlyGlacierStorageClass,
      noncurrentVersionDays: retention.noncurrentVersionDays,
      objectLockRetentionDays: Math.min(
        config.replica.objectLock.defaultRetentionDays ?? shortest,
        config.retention.preRestoreDays,
      ),
      objectLockMode: config.objectLock.mode,
    });

    // Trusted by account and role ARN condition, not by the role as principal: the role is created
    // after this stack (in the primary's deploy), and a policy naming a missing principal fails.
    const replication = new iam.AccountPrincipal(placement.sourceAccount).withConditions({
      ArnEquals: { 'aws:PrincipalArn': placement.replicationRoleArn },
    });
    const { bucket, key } = this.bucket;
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ReplicationWritesReplicas',
        principals: [replication],
        actions: [
          's3:ReplicateObject',
          's3:ReplicateTags',
          ...(placement.crossAccount ? ['s3:ObjectOwnerOverrideToBucketOwner'] : []),
        ],
        resources: SCHEDULED_TIERS.map((tier) => bucket.arnForObjects(`${this.bucket.prefix}${tier}/*`)),
      }),
    );
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ReplicationChecksVersioning',
        principals: [replication],
        actions: ['s3:GetBucketVersioning'],
        resources: [bucket.bucketArn],
      }),
    );
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ReplicationEncryptsReplicas',
        principals: [replication],
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${placement.region}.amazonaws.com` } },
      }),
    );

    // Same-account principals need no bucket or key policy statement: the restore roles' own
    // policies (least privilege, granted by Restore) are enough, and no statement here denies them.
    if (config.replica.restore)
      this.restore = new ReplicaRestore(this, 'Restore', { config, bucket: this.bucket });

    new CfnOutput(this, 'ReplicaBucketName', { value: bucket.bucketName });
    new CfnOutput(this, 'ReplicaKeyArn', { value: key.keyArn });
  }
}
