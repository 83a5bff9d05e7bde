import { Duration, FeatureFlags, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { TIERS, type Tier } from '../task/core/ids.ts';
import { databaseTierPrefix, normalizePrefix } from '../task/core/keys.ts';
import { lockKey } from '../task/core/lock.ts';
import { acknowledgeWildcardResource } from './nag.ts';

/** S3 storage classes the monthly tier may move to. */
export type GlacierStorageClass = 'GLACIER_IR' | 'GLACIER' | 'DEEP_ARCHIVE';

export interface BackupBucketProps {
  /**
   * Key prefix of every backup and lock (path segments, e.g. `prod/`): lifecycle rules, grants,
   * the task (BACKUP_PREFIX) and the Lambdas all use it, so several deployments can share a
   * bucket's key space without one's rules reaching the other's backups.
   * @default '' - backups at the bucket root
   */
  readonly prefix?: string;
  /** Days after which a backup of each tier expires (its objects become noncurrent versions). */
  readonly retentionDays: Readonly<Record<Tier, number>>;
  /**
   * Days after which monthly backups move to a Glacier storage class; must be less than the
   * monthly retention.
   * @default 90
   */
  readonly monthlyGlacierTransitionDays?: number;
  /**
   * Glacier class for monthly backups. Instant Retrieval keeps every backup restorable without a
   * thaw step, which is what "restore with one invoke" needs.
   * @default 'GLACIER_IR'
   */
  readonly monthlyGlacierStorageClass?: GlacierStorageClass;
  /**
   * Days a noncurrent (expired or overwritten) object version is kept before it is deleted.
   * @default 7
   */
  readonly noncurrentVersionDays?: number;
  /**
   * Enables S3 Object Lock in governance mode with this default retention in days. Cannot be
   * turned off later; must not exceed the shortest tier retention.
   * @default - no Object Lock
   */
  readonly objectLockRetentionDays?: number;
  /**
   * Mode of that default retention.
   * @default 'GOVERNANCE'
   */
  readonly objectLockMode?: ObjectLockMode;
  /**
   * A fixed bucket name (a replica's, which the primary's replication rules name before it exists).
   * @default - a name CloudFormation generates
   */
  readonly bucketName?: string;
  /**
   * An alias for the bucket's key (`alias/...`), so another stack can name the key before it exists.
   * @default - no alias
   */
  readonly keyAlias?: string;
}

export type ObjectLockMode = 'GOVERNANCE' | 'COMPLIANCE';

const STORAGE_CLASSES: Record<GlacierStorageClass, s3.StorageClass> = {
  GLACIER_IR: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
  GLACIER: s3.StorageClass.GLACIER,
  DEEP_ARCHIVE: s3.StorageClass.DEEP_ARCHIVE,
};

/**
 * The backup bucket: SSE-KMS with a rotated customer-managed key and an S3 bucket key, versioned,
 * private, TLS-only, with server access logs and lifecycle retention per tier prefix. Retained when
 * the stack is deleted: backups must outlive the stack that made them.
 */
export class BackupBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly key: kms.Key;
  readonly accessLogsBucket: s3.Bucket;
  /** Normalized key prefix: '' or ending in '/'. */
  readonly prefix: string;
  /** Object Lock is on: writers then also need s3:PutObjectRetention to lock each object. */
  readonly objectLockEnabled: boolean;

  constructor(scope: Construct, id: string, props: BackupBucketProps) {
    super(scope, id);
    try {
      this.prefix = normalizePrefix(props.prefix);
    } catch {
      throw new Error(
        `prefix must be path segments of letters, digits, "_", ".", "=" or "-", got: ${props.prefix}`,
      );
    }
    for (const tier of TIERS) {
      const days = props.retentionDays[tier];
      if (!Number.isInteger(days) || days < 1) {
        throw new Error(`retentionDays.${tier} must be a whole number >= 1 day, got: ${days}`);
      }
    }
    const transitionDays = props.monthlyGlacierTransitionDays ?? 90;
    if (
      !Number.isInteger(transitionDays) ||
      transitionDays < 0 ||
      transitionDays >= props.retentionDays.monthly
    ) {
      throw new Error(
        `monthlyGlacierTransitionDays must be a whole number below the monthly retention (${props.retentionDays.monthly}), got: ${transitionDays}`,
      );
    }
    const lockDays = props.objectLockRetentionDays;
    const shortest = Math.min(...TIERS.map((tier) => props.retentionDays[tier]));
    this.objectLockEnabled = lockDays !== undefined;
    if (lockDays !== undefined && (!Number.isInteger(lockDays) || lockDays < 1 || lockDays > shortest)) {
      throw new Error(`objectLockRetentionDays must be 1-${shortest} days, got: ${lockDays}`);
    }

    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the PostgreSQL and media backups',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      ...(props.keyAlias ? { alias: props.keyAlias } : {}),
    });

    // cdk.json turns on log delivery by bucket policy (ACLs off); without that flag CDK grants the
    // log delivery group an ACL, which needs object-writer ownership.
    const logsByPolicy = FeatureFlags.of(this).isEnabled(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY);
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      // Server access log delivery supports SSE-S3 only.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: logsByPolicy
        ? s3.ObjectOwnership.BUCKET_OWNER_ENFORCED
        : s3.ObjectOwnership.OBJECT_WRITER,
      enforceSSL: true,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log target of the backup bucket; logging it into itself would loop.',
    });

    const noncurrentDays = props.noncurrentVersionDays ?? 7;
    const tierRule = (tier: Tier): s3.LifecycleRule => ({
      id: `expire-${tier}`,
      prefix: `${this.prefix}${tier}/`,
      expiration: Duration.days(props.retentionDays[tier]),
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...(props.bucketName ? { bucketName: props.bucketName } : {}),
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'backup-bucket/',
      ...(lockDays === undefined
        ? {}
        : {
            objectLockEnabled: true,
            objectLockDefaultRetention:
              props.objectLockMode === 'COMPLIANCE'
                ? s3.ObjectLockRetention.compliance(Duration.days(lockDays))
                : s3.ObjectLockRetention.governance(Duration.days(lockDays)),
          }),
      lifecycleRules: [
        tierRule('daily'),
        tierRule('weekly'),
        {
          ...tierRule('monthly'),
          transitions: [
            {
              storageClass: STORAGE_CLASSES[props.monthlyGlacierStorageClass ?? 'GLACIER_IR'],
              transitionAfter: Duration.days(transitionDays),
            },
          ],
        },
        tierRule('pre-restore'),
        {
          id: 'clean-up',
          abortIncompleteMultipartUploadAfter: Duration.days(1),
          noncurrentVersionExpiration: Duration.days(noncurrentDays),
          expiredObjectDeleteMarker: true,
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Encrypted-only: refuse puts that ask for another encryption or another key. "IfExists" because
    // UploadPart (also s3:PutObject) carries no encryption header, and a strict Null-deny would block
    // every multipart upload; a put without the header gets the bucket default, this same key.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyOtherEncryption',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyOtherKmsKey',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: {
          StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': this.key.keyArn },
        },
      }),
    );
  }

  /**
   * What one database's backup task may do: write (put, abort) and read its own backups in every
   * tier, list the bucket, and use the bucket key through S3 only. Never delete: deletion is
   * lifecycle's job, so a compromised task cannot destroy existing backups.
   *
   * The pre-restore tier is granted for every database, because a restore into another database
   * (`--target-database`) first backs that target up under its own name.
   */
  grantBackupAccess(grantee: iam.IRole, database: string): void {
    const objectResources = [
      ...TIERS.filter((tier) => tier !== 'pre-restore').map((tier) =>
        this.bucket.arnForObjects(`${databaseTierPrefix(this.prefix, tier, database)}*`),
      ),
      this.bucket.arnForObjects(`${this.prefix}pre-restore/*`),
    ];
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject', ...this.lockWrites()],
      resourceArns: objectResources,
    });
    for (const resource of objectResources) {
      acknowledgeWildcardResource(
        grantee,
        resource,
        'Backups are objects below one tier/database prefix whose names (timestamps) are made at run time; the prefix is the narrowest scope.',
      );
    }
    this.grantLockAndList(grantee, database);
  }

  /**
   * What one database's restore task may do: read every tier of that database (pre-restore too, so
   * a restore can be undone), write only its pre-restore safety backup and its lock, list the
   * bucket, and use the bucket key through S3 only. Never delete.
   */
  grantRestoreAccess(grantee: iam.IRole, database: string): void {
    const readResources = TIERS.map((tier) =>
      this.bucket.arnForObjects(`${databaseTierPrefix(this.prefix, tier, database)}*`),
    );
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: readResources });
    const safetyBackups = this.bucket.arnForObjects(
      `${databaseTierPrefix(this.prefix, 'pre-restore', database)}*`,
    );
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject', 's3:AbortMultipartUpload', ...this.lockWrites()],
      resourceArns: [safetyBackups],
    });
    for (const resource of readResources) {
      acknowledgeWildcardResource(
        grantee,
        resource,
        'A restore reads the backups below one tier/database prefix, whose names (timestamps) are made at run time; the prefix is the narrowest scope.',
      );
    }
    this.grantLockAndList(grantee, database);
  }

  /**
   * Setting an object's retention on write takes s3:PutObjectRetention. Without
   * s3:BypassGovernanceRetention it can only lengthen a lock, never shorten or remove one.
   */
  private lockWrites(): string[] {
    return this.objectLockEnabled ? ['s3:PutObjectRetention'] : [];
  }

  private grantLockAndList(grantee: iam.IRole, database: string): void {
    // The lock is taken and renewed with conditional puts and read back; never deleted.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject'],
      resourceArns: [this.bucket.arnForObjects(lockKey(this.prefix, database))],
    });
    // Unconditional: without ListBucket, S3 answers a read of a missing key (no lock yet, no
    // manifest yet) with 403 instead of 404, and backupctl could not tell "absent" from "denied".
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [this.bucket.bucketArn] });
    grantee.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }
}
