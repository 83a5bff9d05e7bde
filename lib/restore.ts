import { Duration, Stack } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../task/core/env-names.ts';
import { TIERS } from '../task/core/ids.ts';
import { databaseTierPrefix, MANIFEST_FILE } from '../task/core/keys.ts';
import { lockKey } from '../task/core/lock.ts';
import type { AlertTopic } from './alert-topic.ts';
import type { BackupBucket } from './backup-bucket.ts';
import { addMediaVolume, type BackupctlTasks, LOG_STREAM_PREFIX } from './backup-task.ts';
import type { DatabaseConfig } from './config.ts';
import { DEFAULT_TASK_SIZE } from './fargate-sizes.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import type { BackupNetwork } from './network.ts';
import { NodeFunction } from './node-function.ts';
import { clusterEnvironment, grantRunTask, taskTarget } from './run-task-access.ts';

export interface RestoreProps {
  /**
   * Where the restore tasks run and what they share with the database's other tasks: the backup
   * task (BackupTask), or, in the replica region, tasks of their own (lib/replica-restore.ts).
   */
  readonly task: BackupctlTasks;
  readonly network: BackupNetwork;
  readonly backupBucket: BackupBucket;
  /** The restore task publishes its result here; its failures alert through TaskAlerts. */
  readonly alerts: AlertTopic;
  /**
   * Each gets one restore task definition, with `restoreSecretArn` (else `secretArn`) as its
   * credentials; must be the databases `task` was built with.
   */
  readonly databases: readonly DatabaseConfig[];
  /**
   * Fargate CPU units of the restore task (validated by BackupTask's rules).
   * @default 1024
   */
  readonly cpu?: number;
  /**
   * Fargate memory in MiB of the restore task.
   * @default 2048
   */
  readonly memoryMiB?: number;
  /**
   * Retention of the restore function's log group.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /** Set when the bucket is a replica: hours a backup missing an artifact reads as "still replicating". */
  readonly replicationWindowHours?: number;
}

/** One database's restore task definition. */
export interface RestoreTarget {
  readonly database: string;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly securityGroup: ec2.ISecurityGroup;
}

/**
 * Restore: per database a restore task definition (the backup image, the restore credentials, the
 * media volume mounted read-write, a role that reads every tier of its database and writes only its
 * pre-restore safety backup and its lock, never deletes), and the restore Lambda an operator invokes
 * to check a request and start that task. The Lambda can start only these task definitions.
 */
export class Restore extends Construct {
  readonly targets: readonly RestoreTarget[];
  readonly function: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: RestoreProps) {
    super(scope, id);
    const { task } = props;
    const backupTargets = new Map(task.targets.map((t) => [t.database, t]));
    const missing = props.databases.filter((db) => !backupTargets.has(db.name)).map((db) => db.name);
    if (props.databases.length === 0 || missing.length > 0) {
      throw new Error(
        `databases must be the databases of the backup task, got: ${JSON.stringify(props.databases.map((db) => db.name))}`,
      );
    }
    this.targets = props.databases.map((database, index) => this.addDatabase(`Db${index}`, database, props));
    this.function = this.addFunction(props);
  }

  private addDatabase(id: string, database: DatabaseConfig, props: RestoreProps): RestoreTarget {
    const scope = new Construct(this, id);
    const backupTarget = props.task.targets.find((t) => t.database === database.name);
    if (!backupTarget) throw new Error(`database ${database.name} has no backup task`);
    // Restoring needs a role that may create and replace objects; the backup role is read-only.
    const secretArn = database.restoreSecretArn ?? database.secretArn;
    const secretKeyArn = database.restoreSecretArn
      ? database.restoreSecretKmsKeyArn
      : database.secretKmsKeyArn;
    const { taskDefinition, container } = props.task.addTaskDefinition(scope, {
      secretArn,
      secretKmsKeyArn: secretKeyArn,
      // The backup task's settings (the same bucket, TLS, media path) and where to report.
      environment: { ...backupTarget.environment, [ENV.alertTopicArn]: props.alerts.topic.topicArn },
      cpu: props.cpu ?? DEFAULT_TASK_SIZE.cpu,
      memoryMiB: props.memoryMiB ?? DEFAULT_TASK_SIZE.memoryMiB,
    });

    if (database.media) {
      // Read-write: a media restore extracts beside MEDIA_DIR and swaps the directories by renaming.
      addMediaVolume(taskDefinition, container, database.media, true);
    }
    props.backupBucket.grantRestoreAccess(taskDefinition.taskRole, database.name);
    props.alerts.grantPublish(taskDefinition.taskRole);
    // Same network path to the database and the file system as the backup task.
    return { database: database.name, taskDefinition, securityGroup: backupTarget.securityGroup };
  }

  private addFunction(props: RestoreProps): nodejs.NodejsFunction {
    const { task, backupBucket } = props;
    const stack = Stack.of(this);
    const targetsEnv = Object.fromEntries(
      this.targets.map((t) => {
        const backupTarget = task.targets.find((b) => b.database === t.database);
        return [
          t.database,
          {
            ...taskTarget(
              t.taskDefinition,
              t.securityGroup.securityGroupId,
              backupTarget?.taskDefinition ? [backupTarget.taskDefinition.family] : [],
            ),
            hasMedia: props.databases.some((db) => db.name === t.database && db.media !== undefined),
          },
        ];
      }),
    );
    const fn = new NodeFunction(this, 'Function', {
      name: 'restore',
      description: 'Checks a restore request and starts the restore task of one database',
      timeout: Duration.seconds(60),
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      environment: {
        ...clusterEnvironment(task, props.network),
        [ENV.bucket]: backupBucket.bucket.bucketName,
        ...(backupBucket.prefix ? { [ENV.prefix]: backupBucket.prefix } : {}),
        [ENV.logGroupName]: task.logGroup.logGroupName,
        [ENV.logStreamPrefix]: LOG_STREAM_PREFIX,
        [ENV.targets]: stack.toJsonString(targetsEnv),
        ...(props.replicationWindowHours
          ? { [ENV.replicationWindowHours]: String(props.replicationWindowHours) }
          : {}),
      },
    });
    const role = fn.role;
    grantRunTask(
      role,
      task.cluster,
      this.targets.map((t) => t.taskDefinition),
    );
    // Read-only, and only what the checks need: manifests and locks, never a dump or media archive.
    const manifests = this.targets.flatMap((t) =>
      TIERS.map((tier) =>
        backupBucket.bucket.arnForObjects(
          `${databaseTierPrefix(backupBucket.prefix, tier, t.database)}*/${MANIFEST_FILE}`,
        ),
      ),
    );
    iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['s3:GetObject'],
      resourceArns: [
        ...manifests,
        ...this.targets.map((t) =>
          backupBucket.bucket.arnForObjects(lockKey(backupBucket.prefix, t.database)),
        ),
      ],
    });
    // Unconditional: without ListBucket a missing lock or manifest reads as 403, not 404.
    iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['s3:ListBucket'],
      resourceArns: [backupBucket.bucket.bucketArn],
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [backupBucket.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }),
    );

    for (const resource of manifests) {
      acknowledgeWildcardResource(
        role,
        resource,
        'Manifests of one tier/database whose backup timestamps are made at run time; the wildcard is one path segment and the object name is fixed (manifest.json).',
      );
    }
    return fn.function;
  }
}
