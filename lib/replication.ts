/**
 * S3 Replication from the backup bucket to the replica: one rule per scheduled tier prefix (never
 * `locks/` or `pre-restore/`), Replication Time Control (15 minutes) with its metrics, objects
 * re-encrypted with the replica's own key, delete markers kept home, and, when the replica belongs
 * to another account, the replicas handed to that account. The role may read exactly what it
 * replicates and write only replicas; the alarms fire on failed replication and on RTC misses.
 */
import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { SCHEDULED_TIERS, type ScheduledTier } from '../task/core/ids.ts';
import type { AlarmFactory } from './alarms.ts';
import type { BackupBucket } from './backup-bucket.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import type { ReplicaPlacement } from './replica-placement.ts';

/** S3 Replication Time Control's threshold: 99.99 % of objects within 15 minutes. */
export const RTC_MINUTES = 15;

export interface BucketReplicationProps {
  readonly source: BackupBucket;
  readonly replica: ReplicaPlacement;
  /** Alarms on failed replication and RTC misses go through this factory. */
  readonly alarms: AlarmFactory;
  /**
   * Key prefix of the backups ('' or ending in '/').
   * @default ''
   */
  readonly prefix?: string;
}

export class BucketReplication extends Construct {
  readonly role: iam.Role;
  /** Rule id per tier, as S3's replication metrics name them (the RuleId dimension). */
  readonly ruleIds: Readonly<Record<ScheduledTier, string>>;

  constructor(scope: Construct, id: string, props: BucketReplicationProps) {
    super(scope, id);
    const prefix = props.prefix ?? '';
    if (prefix !== '' && !prefix.endsWith('/'))
      throw new Error(`prefix must be '' or end in '/', got: ${prefix}`);
    const { source, replica } = props;
    const stack = Stack.of(this);
    if (!Token.isUnresolved(stack.region) && replica.region === stack.region) {
      throw new Error(`replica.region must differ from the primary's region, got: ${replica.region}`);
    }
    const tierPrefixes = SCHEDULED_TIERS.map((tier) => `${prefix}${tier}/`);
    this.ruleIds = Object.fromEntries(SCHEDULED_TIERS.map((tier) => [tier, `replicate-${tier}`])) as Record<
      ScheduledTier,
      string
    >;

    this.role = new iam.Role(this, 'Role', {
      // Fixed: the replica's bucket and key policies trust this role by ARN before it exists.
      roleName: replica.replicationRoleName,
      description: 'S3 Replication of the backup tiers to the offsite replica',
      assumedBy: new iam.ServicePrincipal('s3.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    });
    const sourceObjects = tierPrefixes.map((p) => source.bucket.arnForObjects(`${p}*`));
    const replicaObjects = tierPrefixes.map((p) => `${replica.bucketArn}/${p}*`);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
        resources: [source.bucket.bucketArn],
      }),
    );
    // Object Lock retention and legal holds are read so the replica keeps each object's lock.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          's3:GetObjectVersionForReplication',
          's3:GetObjectVersionAcl',
          's3:GetObjectVersionTagging',
          's3:GetObjectRetention',
          's3:GetObjectLegalHold',
        ],
        resources: sourceObjects,
      }),
    );
    // No s3:ReplicateDelete: delete markers are not replicated, so a delete at home never reaches the copy.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          's3:ReplicateObject',
          's3:ReplicateTags',
          ...(replica.crossAccount ? ['s3:ObjectOwnerOverrideToBucketOwner'] : []),
        ],
        resources: replicaObjects,
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [source.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }),
    );
    // The replica's key is named by its alias (its id is made in the other stack, perhaps account).
    const replicaKeys = `arn:${stack.partition}:kms:${replica.region}:${replica.account}:key/*`;
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [replicaKeys],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${replica.region}.amazonaws.com` },
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': replica.keyAlias },
        },
      }),
    );
    for (const resource of [...sourceObjects, ...replicaObjects]) {
      acknowledgeWildcardResource(
        this.role,
        resource,
        'Replication reads and writes the objects below one scheduled tier prefix, whose names are made at run time; the tier prefix is the narrowest scope and locks/ and pre-restore/ stay out.',
      );
    }
    acknowledgeWildcardResource(
      this.role,
      replicaKeys,
      "The replica's key is created in the replica stack (another region, perhaps another account); the kms:ResourceAliases condition limits this to that one key.",
    );

    const cfnBucket = source.bucket.node.defaultChild as s3.CfnBucket;
    cfnBucket.replicationConfiguration = {
      role: this.role.roleArn,
      rules: SCHEDULED_TIERS.map((tier, i) => ({
        id: this.ruleIds[tier],
        priority: i + 1,
        status: 'Enabled',
        filter: { prefix: tierPrefixes[i] },
        deleteMarkerReplication: { status: 'Disabled' },
        sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: 'Enabled' } },
        destination: {
          bucket: replica.bucketArn,
          ...(replica.crossAccount
            ? { account: replica.account, accessControlTranslation: { owner: 'Destination' } }
            : {}),
          encryptionConfiguration: {
            replicaKmsKeyId: `arn:${stack.partition}:kms:${replica.region}:${replica.account}:${replica.keyAlias}`,
          },
          replicationTime: { status: 'Enabled', time: { minutes: RTC_MINUTES } },
          metrics: { status: 'Enabled', eventThreshold: { minutes: RTC_MINUTES } },
        },
      })),
    };

    const perRule = (metricName: string, statistic: string) =>
      Object.fromEntries(
        SCHEDULED_TIERS.map((tier) => [
          tier,
          new cloudwatch.Metric({
            namespace: 'AWS/S3',
            metricName,
            dimensionsMap: {
              SourceBucket: source.bucket.bucketName,
              DestinationBucket: replica.bucketName,
              RuleId: this.ruleIds[tier],
            },
            statistic,
            period: Duration.minutes(5),
          }),
        ]),
      );
    props.alarms.addAlarm('replication-failed', {
      description: `S3 failed to replicate backup objects to the replica bucket ${replica.bucketName} (${replica.region}). Check the replication role, the replica's bucket and key policies (README, "Offsite copy") and the S3 replication failure events; backups made meanwhile are not offsite.`,
      metric: new cloudwatch.MathExpression({
        expression: SCHEDULED_TIERS.join(' + '),
        usingMetrics: perRule('OperationsFailedReplication', cloudwatch.Stats.SUM),
        label: 'failed replications',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      // No replication in a period (no backup written) publishes nothing: not a failure.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    props.alarms.addAlarm('replication-late', {
      description: `Backup objects took longer than Replication Time Control's ${RTC_MINUTES} minutes to reach the replica bucket ${replica.bucketName} (${replica.region}). Run "backupctl status" against the replica (README, "Primary region lost") to see which backups are there.`,
      metric: new cloudwatch.MathExpression({
        expression: `MAX([${SCHEDULED_TIERS.join(', ')}])`,
        usingMetrics: perRule('ReplicationLatency', cloudwatch.Stats.MAXIMUM),
        label: 'replication latency (seconds)',
        period: Duration.minutes(5),
      }),
      threshold: RTC_MINUTES * 60,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
