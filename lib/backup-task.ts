import { IgnoreMode, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '../task/core/env-names.ts';
import type { Tier } from '../task/core/ids.ts';
import { DEFAULT_IMAGE_PG_MAJOR, IMAGE_PG_MAJORS } from '../task/core/pg-majors.ts';
import type { BackupBucket } from './backup-bucket.ts';
import type { DatabaseConfig, MediaConfig } from './config.ts';
import { DEFAULT_EPHEMERAL_STORAGE_GIB, DEFAULT_TASK_SIZE, fargateSizeProblem } from './fargate-sizes.ts';
import type { BackupNetwork } from './network.ts';
import { REPO_ROOT } from './repo-root.ts';

/** Name of the one container in every backup task definition (the target of command overrides). */
export const CONTAINER_NAME = 'backupctl';
/** awslogs stream prefix: a task's stream is `<prefix>/<container>/<task id>`. */
export const LOG_STREAM_PREFIX = 'backup';
/** Where the image keeps the RDS global CA bundle (task/Dockerfile downloads it there). */
export const RDS_CA_BUNDLE_PATH = '/etc/ssl/certs/rds-global-bundle.pem';
/** Where a database's EFS media volume is mounted (read-only for backup, read-write for restore). */
export const MEDIA_MOUNT_PATH = '/mnt/media';
/** The media directory below the access point root when `media.path` is "/". */
export const DEFAULT_MEDIA_SUBDIRECTORY = 'current';
/** The task-local scratch directory (the root filesystem is read-only). */
export const TMP_PATH = '/tmp';

/**
 * MEDIA_DIR for a media configuration: always a subdirectory of the mount, because a restore swaps
 * the directory by renaming it and its staging sibling, and a mount point cannot be renamed.
 */
export function mediaDirectory(media: MediaConfig): string {
  const path = media.path.replace(/^\/+|\/+$/g, '');
  return `${MEDIA_MOUNT_PATH}/${path === '' ? DEFAULT_MEDIA_SUBDIRECTORY : path}`;
}

export interface BackupctlTasksProps {
  readonly network: BackupNetwork;
  /** The bucket every task of these databases reads and writes (BACKUP_BUCKET). */
  readonly backupBucket: BackupBucket;
  /** Each gets its plain task environment and a security group (its network path to the database). */
  readonly databases: readonly DatabaseConfig[];
  /**
   * PostgreSQL major version of pg_dump, pg_restore and the drill's scratch server in the image;
   * one of IMAGE_PG_MAJORS, and >= the major of every server backed up.
   * @default 18
   */
  readonly pgMajorVersion?: number;
  /**
   * Retention of the task log group.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Object Lock for every object backupctl writes below a tier: this mode, for that tier's days.
   * @default - none (the bucket's default retention, if any, applies)
   */
  readonly objectLock?: {
    readonly mode: 'GOVERNANCE' | 'COMPLIANCE';
    readonly days: Readonly<Record<Tier, number>>;
  };
  /**
   * What these tasks are for, as their security groups describe them.
   * @default 'backup'
   */
  readonly purpose?: 'backup' | 'restore';
  /**
   * More non-secret settings for every task (e.g. a replica's BACKUP_REPLICATION_WINDOW_HOURS).
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
}

export interface BackupTaskProps extends Omit<BackupctlTasksProps, 'purpose'> {
  /**
   * Fargate CPU units.
   * @default 1024
   */
  readonly cpu?: number;
  /**
   * Fargate memory in MiB; must be valid for `cpu`.
   * @default 2048
   */
  readonly memoryMiB?: number;
  /**
   * Fargate ephemeral storage in GiB (21-200), backing /tmp: the verify drill restores the whole
   * database into a scratch cluster there.
   * @default 50
   */
  readonly ephemeralStorageGiB?: number;
}

/** What every task of one database shares: its settings and its network path. */
export interface DatabaseTasks {
  readonly database: string;
  readonly securityGroup: ec2.SecurityGroup;
  /** The container's plain (non-secret) environment, for every task definition of this database. */
  readonly environment: Readonly<Record<string, string>>;
  /** The database's scheduled backup task, which must not run beside its restore. @default - none */
  readonly taskDefinition?: ecs.FargateTaskDefinition;
}

/** What a launcher needs to start the backup task of one database. */
export interface BackupTarget extends DatabaseTasks {
  readonly taskDefinition: ecs.FargateTaskDefinition;
}

/**
 * Where backupctl runs: an ECS cluster (Container Insights on), the image built from
 * task/Dockerfile, one log group, and per database the plain settings (bucket, key, region, TLS,
 * media path) and a security group without ingress that the database (and its file system) admit.
 * Task definitions are added with `addTaskDefinition`: the backup tasks (BackupTask), the restore
 * tasks (lib/restore.ts), here or in the replica region (lib/replica-restore.ts).
 */
export class BackupctlTasks extends Construct {
  readonly cluster: ecs.Cluster;
  readonly logGroup: logs.LogGroup;
  readonly image: ecrAssets.DockerImageAsset;
  readonly targets: readonly DatabaseTasks[];

  constructor(scope: Construct, id: string, props: BackupctlTasksProps) {
    super(scope, id);
    const pgMajorVersion = props.pgMajorVersion ?? DEFAULT_IMAGE_PG_MAJOR;
    if (!(IMAGE_PG_MAJORS as readonly number[]).includes(pgMajorVersion)) {
      throw new Error(`pgMajorVersion must be ${IMAGE_PG_MAJORS.join(' or ')}, got: ${pgMajorVersion}`);
    }
    if (props.databases.length === 0) throw new Error('databases must list at least one database, got: []');

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.network.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
    });
    this.image = new ecrAssets.DockerImageAsset(this, 'Image', {
      directory: REPO_ROOT,
      file: 'task/Dockerfile',
      platform: ecrAssets.Platform.LINUX_AMD64,
      buildArgs: { PG_MAJOR: String(pgMajorVersion) },
      // Docker-style allow-list: the build needs the lockfile and the task sources only.
      ignoreMode: IgnoreMode.DOCKER,
      exclude: ['*', '!package.json', '!package-lock.json', '!task', 'task/**/*.test.ts'],
    });
    this.targets = props.databases.map((database, index) =>
      this.addDatabase(new Construct(this, `Db${index}`), database, props),
    );
  }

  /**
   * A task definition running backupctl from the image: the non-root user, a read-only root
   * filesystem with a task-local /tmp, the task log group, and the database credentials as ECS
   * secrets. Used for the backup tasks here and the restore tasks (lib/restore.ts).
   */
  addTaskDefinition(
    scope: Construct,
    options: {
      readonly secretArn: string;
      readonly secretKmsKeyArn?: string | undefined;
      /** Non-secret settings only. */
      readonly environment: Record<string, string>;
      readonly cpu: number;
      readonly memoryMiB: number;
      readonly ephemeralStorageGiB?: number;
    },
  ): { taskDefinition: ecs.FargateTaskDefinition; container: ecs.ContainerDefinition } {
    const secret = secretsmanager.Secret.fromSecretAttributes(scope, 'Secret', {
      secretCompleteArn: options.secretArn,
      ...(options.secretKmsKeyArn
        ? { encryptionKey: kms.Key.fromKeyArn(scope, 'SecretKey', options.secretKmsKeyArn) }
        : {}),
    });
    const taskDefinition = new ecs.FargateTaskDefinition(scope, 'TaskDefinition', {
      cpu: options.cpu,
      memoryLimitMiB: options.memoryMiB,
      ...(options.ephemeralStorageGiB ? { ephemeralStorageGiB: options.ephemeralStorageGiB } : {}),
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      volumes: [{ name: 'tmp' }],
    });
    const container = taskDefinition.addContainer('Container', {
      containerName: CONTAINER_NAME,
      image: ecs.ContainerImage.fromDockerImageAsset(this.image),
      essential: true,
      // The image's "node" user; repeated here so a changed image cannot silently run as root.
      user: '1000:1000',
      readonlyRootFilesystem: true,
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: LOG_STREAM_PREFIX }),
      environment: options.environment,
      // Keys of the RDS secret format; never plain environment, never a RunTask override.
      secrets: libpqSecrets(secret),
    });
    // The root filesystem is read-only; pg_dump, tar and node get a task-local scratch /tmp.
    container.addMountPoints({ containerPath: TMP_PATH, sourceVolume: 'tmp', readOnly: false });
    Validations.of(taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: `The environment holds only non-secret settings (${Object.keys(options.environment).join(', ')}); the database credentials are ECS secrets from Secrets Manager.`,
    });
    Validations.of(taskDefinition.obtainExecutionRole()).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken (pulling the task image) has no resource-level permissions.',
    });
    return { taskDefinition, container };
  }

  private addDatabase(scope: Construct, database: DatabaseConfig, props: BackupctlTasksProps): DatabaseTasks {
    const { backupBucket } = props;
    const purpose = props.purpose ?? 'backup';
    const environment: Record<string, string> = {
      [ENV.bucket]: backupBucket.bucket.bucketName,
      ...(backupBucket.prefix ? { [ENV.prefix]: backupBucket.prefix } : {}),
      [ENV.kmsKeyId]: backupBucket.key.keyArn,
      AWS_REGION: Stack.of(this).region,
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: RDS_CA_BUNDLE_PATH,
      // initdb of the verify drill's scratch cluster, pg_dump and tar write below this.
      TMPDIR: TMP_PATH,
      ...props.environment,
    };
    if (database.media) environment[ENV.mediaDir] = mediaDirectory(database.media);
    if (props.objectLock) {
      environment.BACKUP_OBJECT_LOCK_MODE = props.objectLock.mode;
      environment.BACKUP_OBJECT_LOCK_DAYS = JSON.stringify(props.objectLock.days);
    }

    const securityGroup = new ec2.SecurityGroup(scope, 'SecurityGroup', {
      vpc: props.network.vpc,
      description: `${purpose === 'backup' ? 'Backup' : 'Restore'} task of database ${database.name}: no ingress`,
      allowAllOutbound: true,
    });
    if (database.securityGroupId) {
      const databaseGroup = ec2.SecurityGroup.fromSecurityGroupId(
        scope,
        'DatabaseSecurityGroup',
        database.securityGroupId,
      );
      databaseGroup.addIngressRule(
        securityGroup,
        ec2.Port.tcp(database.port),
        `PostgreSQL from the ${purpose} task of ${database.name}`,
      );
    }
    if (database.media?.securityGroupId) {
      const mediaGroup = ec2.SecurityGroup.fromSecurityGroupId(
        scope,
        'MediaSecurityGroup',
        database.media.securityGroupId,
      );
      mediaGroup.addIngressRule(
        securityGroup,
        ec2.Port.tcp(2049),
        `NFS from the ${purpose} task of ${database.name}`,
      );
    }
    return { database: database.name, securityGroup, environment };
  }
}

/**
 * The backups: per database a task definition that runs `backupctl` as a non-root user on a
 * read-only root filesystem, with the database credentials injected as ECS secrets, its media
 * volume (EFS) mounted read-only, and a role that may write its backups but never delete.
 */
export class BackupTask extends BackupctlTasks {
  declare readonly targets: readonly BackupTarget[];

  constructor(scope: Construct, id: string, props: BackupTaskProps) {
    const cpu = props.cpu ?? DEFAULT_TASK_SIZE.cpu;
    const memoryMiB = props.memoryMiB ?? DEFAULT_TASK_SIZE.memoryMiB;
    const size = fargateSizeProblem(cpu, memoryMiB);
    if (size) throw new Error(`${size.message}, got: ${size.key === 'cpu' ? cpu : memoryMiB}`);
    const ephemeralStorageGiB = props.ephemeralStorageGiB ?? DEFAULT_EPHEMERAL_STORAGE_GIB;
    if (!Number.isInteger(ephemeralStorageGiB) || ephemeralStorageGiB < 21 || ephemeralStorageGiB > 200) {
      throw new Error(
        `ephemeralStorageGiB must be a whole number from 21 to 200, got: ${ephemeralStorageGiB}`,
      );
    }
    super(scope, id, props);
    const databases = new Map(props.databases.map((database) => [database.name, database]));
    // Until reassigned below, `targets` holds what the base built: settings and security groups.
    const bases: readonly DatabaseTasks[] = this.targets;
    this.targets = bases.map((target, index) => {
      const database = databases.get(target.database);
      if (!database) throw new Error(`database ${target.database} has no settings`);
      const scope = this.node.findChild(`Db${index}`);
      const { taskDefinition, container } = this.addTaskDefinition(scope, {
        secretArn: database.secretArn,
        secretKmsKeyArn: database.secretKmsKeyArn,
        environment: { ...target.environment },
        cpu,
        memoryMiB,
        ephemeralStorageGiB,
      });
      props.backupBucket.grantBackupAccess(taskDefinition.taskRole, database.name);
      // ClientMount without ClientWrite: EFS itself enforces read-only, not just the mount option.
      if (database.media) addMediaVolume(taskDefinition, container, database.media, false);
      return { ...target, taskDefinition };
    });
  }
}

/** libpq's variables from the keys of an RDS-format secret; never plain environment, never an override. */
export function libpqSecrets(secret: secretsmanager.ISecret): Record<string, ecs.Secret> {
  return {
    PGHOST: ecs.Secret.fromSecretsManager(secret, 'host'),
    PGPORT: ecs.Secret.fromSecretsManager(secret, 'port'),
    PGUSER: ecs.Secret.fromSecretsManager(secret, 'username'),
    PGPASSWORD: ecs.Secret.fromSecretsManager(secret, 'password'),
    PGDATABASE: ecs.Secret.fromSecretsManager(secret, 'dbname'),
  };
}

/**
 * Mounts the database's EFS media access point at MEDIA_MOUNT_PATH (TLS, IAM authorization) and
 * grants the task role ClientMount, plus ClientWrite when `write` (restore swaps the directory).
 */
export function addMediaVolume(
  taskDefinition: ecs.TaskDefinition,
  container: ecs.ContainerDefinition,
  media: MediaConfig,
  write: boolean,
): void {
  const { fileSystemId, accessPointId } = media;
  taskDefinition.addVolume({
    name: 'media',
    efsVolumeConfiguration: {
      fileSystemId,
      transitEncryption: 'ENABLED',
      authorizationConfig: { accessPointId, iam: 'ENABLED' },
    },
  });
  container.addMountPoints({ containerPath: MEDIA_MOUNT_PATH, sourceVolume: 'media', readOnly: !write });
  const role = taskDefinition.taskRole;
  const stack = Stack.of(role);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['elasticfilesystem:ClientMount', ...(write ? ['elasticfilesystem:ClientWrite'] : [])],
      resources: [
        stack.formatArn({
          service: 'elasticfilesystem',
          resource: 'file-system',
          resourceName: media.fileSystemId,
        }),
      ],
      conditions: {
        StringEquals: {
          'elasticfilesystem:AccessPointArn': stack.formatArn({
            service: 'elasticfilesystem',
            resource: 'access-point',
            resourceName: media.accessPointId,
          }),
        },
      },
    }),
  );
}
