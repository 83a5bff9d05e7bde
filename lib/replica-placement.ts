/**
 * Where the offsite copy lives, derived once from the configuration: both stacks name the replica
 * bucket, its key alias and the replication role before either exists (the primary's replication
 * rules point at a bucket in another region, perhaps another account; the replica's policies trust
 * a role of the primary's), so the names are fixed, not generated.
 */
import { Aws } from 'aws-cdk-lib';
import type { BackupConfig } from './config.ts';

export interface ReplicaPlacement {
  readonly stackName: string;
  readonly region: string;
  /** The replica's account: the configured one, else the primary's (possibly a token). */
  readonly account: string;
  /** True when the replica belongs to another account than the primary. */
  readonly crossAccount: boolean;
  /** The primary's account (possibly a token when both are the same account). */
  readonly sourceAccount: string;
  readonly bucketName: string;
  readonly bucketArn: string;
  /** `alias/...` of the replica bucket's key. */
  readonly keyAlias: string;
  /** The replication role's name in the primary account. */
  readonly replicationRoleName: string;
  readonly replicationRoleArn: string;
}

/**
 * @param primaryAccount the primary's account id, or undefined when unknown at synth time (then
 *   `AWS::AccountId`, which is right in both stacks only when they share the account)
 */
export function replicaPlacement(
  replica: NonNullable<BackupConfig['replica']>,
  primaryStackName: string,
  primaryAccount: string | undefined,
): ReplicaPlacement {
  const sourceAccount = primaryAccount ?? Aws.ACCOUNT_ID;
  const account = replica.account ?? sourceAccount;
  const crossAccount =
    replica.account !== undefined && (primaryAccount === undefined || replica.account !== primaryAccount);
  const base = primaryStackName.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  // 20 + 9 + 12 + 1 + at most 14 (the longest region name) stays within S3's 63 characters.
  const bucketName = replica.bucketName ?? `${base.slice(0, 20)}-replica-${account}-${replica.region}`;
  const replicationRoleName = `${primaryStackName.slice(0, 45)}-s3-replication`;
  return {
    stackName: replica.stackName ?? `${primaryStackName}Replica`,
    region: replica.region,
    account,
    crossAccount,
    sourceAccount,
    bucketName,
    bucketArn: `arn:${Aws.PARTITION}:s3:::${bucketName}`,
    keyAlias: `alias/${primaryStackName}/replica`,
    replicationRoleName,
    replicationRoleArn: `arn:${Aws.PARTITION}:iam::${sourceAccount}:role/${replicationRoleName}`,
  };
}
