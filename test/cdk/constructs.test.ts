/** Props validation of the constructs: each refuses a bad value by naming the prop and the value. */
import { App, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { BackupBucket } from '../../lib/backup-bucket.ts';
import { BackupTask } from '../../lib/backup-task.ts';
import { BackupNetwork } from '../../lib/network.ts';

const retentionDays = { daily: 30, weekly: 90, monthly: 365, 'pre-restore': 30 };
const database = {
  name: 'app',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-AbCdEf',
  port: 5432,
};

function newStack(): Stack {
  return new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
}

describe('BackupBucket', () => {
  it('fails when a tier retention is below 1 day', () => {
    expect(
      () => new BackupBucket(newStack(), 'B', { retentionDays: { ...retentionDays, weekly: 0 } }),
    ).toThrow('retentionDays.weekly must be a whole number >= 1 day, got: 0');
  });

  it('fails when the Glacier transition is not before the monthly expiry', () => {
    expect(
      () => new BackupBucket(newStack(), 'B', { retentionDays, monthlyGlacierTransitionDays: 365 }),
    ).toThrow(
      'monthlyGlacierTransitionDays must be a whole number below the monthly retention (365), got: 365',
    );
  });

  it('fails when the Object Lock retention exceeds the shortest tier', () => {
    expect(() => new BackupBucket(newStack(), 'B', { retentionDays, objectLockRetentionDays: 31 })).toThrow(
      'objectLockRetentionDays must be 1-30 days, got: 31',
    );
  });
});

describe('BackupTask', () => {
  function newTask(props: {
    cpu?: number;
    memoryMiB?: number;
    pgMajorVersion?: number;
    ephemeralStorageGiB?: number;
  }) {
    const stack = newStack();
    const network = new BackupNetwork(stack, 'N', {
      vpc: {
        mode: 'import',
        vpcId: 'vpc-0123456789abcdef0',
        subnetIds: ['subnet-0123456789abcdef0'],
        assignPublicIp: false,
      },
    });
    const backupBucket = new BackupBucket(stack, 'B', { retentionDays });
    return new BackupTask(stack, 'T', { network, backupBucket, databases: [database], ...props });
  }

  it('fails when the memory does not fit the CPU size', () => {
    expect(() => newTask({ cpu: 512, memoryMiB: 512 })).toThrow(
      'memoryMiB must be 1024-4096 in steps of 1024 for cpu 512, got: 512',
    );
  });

  it('fails when the CPU size is not a Fargate size', () => {
    expect(() => newTask({ cpu: 300 })).toThrow(
      "cpu must be one of Fargate's CPU sizes (256, 512, 1024, 2048, 4096, 8192, 16384), got: 300",
    );
  });

  it.each([16, 19, 17.5])('fails when the PostgreSQL major version is %s, not 17 or 18', (major) => {
    expect(() => newTask({ pgMajorVersion: major })).toThrow(
      `pgMajorVersion must be 17 or 18, got: ${major}`,
    );
  });

  it.each([20, 201])("fails when the ephemeral storage is %i GiB, outside Fargate's 21-200", (size) => {
    expect(() => newTask({ ephemeralStorageGiB: size })).toThrow(
      `ephemeralStorageGiB must be a whole number from 21 to 200, got: ${size}`,
    );
  });
});
