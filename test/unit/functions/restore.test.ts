import { ECSClient, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RestoreResponse, RestoreSettings } from '../../../functions/restore/core.ts';
import { formatTimestamp } from '../../../task/core/ids.ts';
import type { Lock } from '../../../task/core/lock.ts';
import type { Manifest } from '../../../task/core/manifest.ts';
import { backupObjects, type ManifestOptions, manifestFor, manifestKeyOf } from '../../support/manifests.ts';

const CLUSTER = 'arn:aws:ecs:eu-west-1:123456789012:cluster/backups';
const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/backups/0123456789abcdef';
const target = (db: string, hasMedia: boolean) => ({
  taskDefinitionArn: `arn:aws:ecs:eu-west-1:123456789012:task-definition/restore-${db}:2`,
  family: `restore-${db}`,
  securityGroupId: `sg-${db}`,
  otherFamilies: [`backup-${db}`],
  hasMedia,
});
const settings: Omit<RestoreSettings, 'region' | 'prefix'> = {
  clusterArn: CLUSTER,
  containerName: 'backupctl',
  subnetIds: ['subnet-a'],
  assignPublicIp: false,
  logGroupName: 'Test-TaskLogs',
  logStreamPrefix: 'backup',
  replicationWindowHours: 0,
  targets: { app: target('app', true), app2: target('app2', false), empty: target('empty', false) },
};

const manifest = (id: string, options: ManifestOptions = {}): Manifest => manifestFor(id, options);
const keyOf = (id: string) => manifestKeyOf(id);

/** The bucket every test starts from; `latest` of app is daily/app/20261126T020000Z. */
function baseBucket(): Map<string, string> {
  const objects = new Map<string, string>();
  const put = (m: Manifest) => {
    for (const [key, body] of backupObjects(m)) objects.set(key, body);
  };
  put(manifest('daily/app/20261125T020000Z'));
  put(manifest('daily/app/20261126T020000Z'));
  put(manifest('weekly/app/20261122T030000Z'));
  // Newer, but of a database whose name starts with "app": never app's latest.
  put(manifest('daily/app2/20261127T020000Z'));
  // Newer, but a safety backup: restorable by id, never "latest".
  put(manifest('pre-restore/app/20261127T100000Z'));
  // Newer, but incomplete: artifacts without a manifest.
  objects.set('daily/app/20261127T020000Z/db.dump.zst', 'PGDMP');
  // A db-only backup.
  put(manifest('monthly/app/20261101T040000Z', { parts: ['postgres'] }));
  return objects;
}

const lock = (changes: Partial<Lock>): string =>
  JSON.stringify({
    database: 'app',
    operation: 'backup',
    owner: 'ip-10-0-0-1 pid 7: daily backup',
    acquiredAt: new Date(Date.now() - 60_000).toISOString(),
    expiresAt: new Date(Date.now() + 10 * 60_000).toISOString(),
    released: false,
    ...changes,
  } satisfies Lock);

describe('restore handler', () => {
  const s3Mock = mockClient(S3Client);
  const ecsMock = mockClient(ECSClient);
  let handler: (event: unknown) => Promise<RestoreResponse>;
  let objects: Map<string, string>;

  beforeAll(async () => {
    vi.stubEnv('CLUSTER_ARN', CLUSTER);
    vi.stubEnv('CONTAINER_NAME', 'backupctl');
    vi.stubEnv('SUBNET_IDS', 'subnet-a');
    vi.stubEnv('ASSIGN_PUBLIC_IP', 'DISABLED');
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('BACKUP_BUCKET', 'backups');
    vi.stubEnv('LOG_GROUP_NAME', settings.logGroupName);
    vi.stubEnv('LOG_STREAM_PREFIX', settings.logStreamPrefix);
    vi.stubEnv('TARGETS', JSON.stringify(settings.targets));
    vi.stubEnv('POWERTOOLS_DEV', 'false');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    ({ handler } = await import('../../../functions/restore/handler.ts'));
  });

  beforeEach(() => {
    objects = baseBucket();
    s3Mock.reset();
    ecsMock.reset();
    // An S3 served from `objects`: prefix listing in two pages, NoSuchKey for a missing key.
    s3Mock.on(ListObjectsV2Command).callsFake(({ Prefix = '', ContinuationToken }) => {
      const keys = [...objects.keys()].filter((k) => k.startsWith(Prefix)).sort();
      const page = ContinuationToken ? keys.slice(2) : keys.slice(0, 2);
      return {
        Contents: page.map((Key) => ({ Key, Size: Buffer.byteLength(objects.get(Key) ?? '') })),
        IsTruncated: !ContinuationToken && keys.length > 2,
        ...(!ContinuationToken && keys.length > 2 ? { NextContinuationToken: 'page-2' } : {}),
      };
    });
    s3Mock.on(GetObjectCommand).callsFake(({ Key }) => {
      const text = objects.get(Key);
      if (text === undefined)
        throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
      return { Body: { transformToString: async () => text } };
    });
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
    ecsMock.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }], failures: [] });
  });

  afterAll(() => {
    vi.unstubAllEnvs();
  });

  const request = (changes: Record<string, unknown> = {}) => ({
    database: 'app',
    backup: 'latest',
    confirm: 'app',
    ...changes,
  });
  const runTaskInput = () => ecsMock.commandCalls(RunTaskCommand)[0]?.args[0].input;

  describe('starts the restore', () => {
    it('resolves latest to the newest complete backup of exactly that database and restores that id', async () => {
      // Act
      const response = await handler(request());
      // Assess
      expect(response).toEqual({
        ok: true,
        taskArn: TASK_ARN,
        database: 'app',
        backupId: 'daily/app/20261126T020000Z',
        parts: ['db', 'media'],
        logs: {
          logGroup: 'Test-TaskLogs',
          logStream: 'backup/backupctl/0123456789abcdef',
          consoleUrl: expect.stringContaining('https://eu-west-1.console.aws.amazon.com/cloudwatch/home'),
          followCommand:
            'aws logs tail Test-TaskLogs --log-stream-names backup/backupctl/0123456789abcdef --follow',
        },
        next: expect.stringContaining('keeping the replaced database as the undo'),
      });
      expect(runTaskInput()).toMatchObject({
        cluster: CLUSTER,
        taskDefinition: settings.targets.app?.taskDefinitionArn,
        launchType: 'FARGATE',
        startedBy: 'restore',
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: ['subnet-a'],
            securityGroups: ['sg-app'],
            assignPublicIp: 'DISABLED',
          },
        },
        overrides: {
          containerOverrides: [
            { name: 'backupctl', command: ['restore', 'daily/app/20261126T020000Z', '--confirm', 'app'] },
          ],
        },
      });
    });

    it('picks the newest by finish time, as backupctl does', async () => {
      // Prepare: the 25th's backup finished after the 26th's (it ran a day and a half)
      objects.set(
        keyOf('daily/app/20261125T020000Z'),
        JSON.stringify(manifest('daily/app/20261125T020000Z', { minutes: 36 * 60 })),
      );

      const response = await handler(request());

      expect(response).toMatchObject({ ok: true, backupId: 'daily/app/20261125T020000Z' });
    });

    it('passes create for a disaster recovery onto a server without the database', async () => {
      const response = await handler(request({ create: true }));

      expect(response).toMatchObject({
        ok: true,
        next: expect.stringContaining('creates the missing roles'),
      });
      expect(runTaskInput()?.overrides?.containerOverrides?.[0]?.command).toEqual([
        'restore',
        'daily/app/20261126T020000Z',
        '--confirm',
        'app',
        '--create',
      ]);
    });

    it('starts a table restore into a side database with the names as separate arguments, no shell', async () => {
      const response = await handler(
        request({
          tables: ['sales.orders', 'public.x; rm -rf /'],
          schemas: ['audit'],
          targetDatabase: 'app_tables',
          confirm: 'app_tables',
        }),
      );

      expect(response).toMatchObject({
        ok: true,
        parts: ['db'],
        next: expect.stringContaining('app is not touched'),
      });
      expect(runTaskInput()?.overrides?.containerOverrides?.[0]?.command).toEqual([
        'restore',
        'daily/app/20261126T020000Z',
        '--table=sales.orders',
        '--table=public.x; rm -rf /',
        '--schema=audit',
        '--target-database=app_tables',
        '--create',
        '--confirm=app_tables',
      ]);
    });

    it('skips for latest a newer manifest copied from another database, as backupctl does', async () => {
      // Prepare: app2's manifest planted, unchanged, as app's newest backup
      for (const [key] of backupObjects(manifest('daily/app/20261128T020000Z')))
        objects.set(key, 'x'.repeat(4096));
      objects.set(
        keyOf('daily/app/20261128T020000Z'),
        JSON.stringify(manifest('daily/app2/20261127T020000Z')),
      );

      const response = await handler(request());

      expect(response).toMatchObject({ ok: true, backupId: 'daily/app/20261126T020000Z' });
    });

    it('skips for latest a newer backup without the database dump', async () => {
      for (const [key, body] of backupObjects(manifest('daily/app/20261128T020000Z', { parts: ['media'] })))
        objects.set(key, body);

      const response = await handler(request());

      expect(response).toMatchObject({
        ok: true,
        backupId: 'daily/app/20261126T020000Z',
        parts: ['db', 'media'],
      });
    });

    it('restores a format-2 database backup as the db part alone (its globals come with the database)', async () => {
      // Prepare: the newest backup is db-only, with the globals artifact and what format 2 captures
      const id = 'daily/app/20261127T030000Z';
      const base = manifest(id);
      const dump = base.artifacts[0];
      if (dump?.kind !== 'postgres') throw new Error('no dump');
      const v2: Manifest = {
        ...base,
        formatVersion: 2,
        artifacts: [
          dump,
          { ...dump, kind: 'globals', format: 'sql', key: dump.key.replace('db.dump', 'globals.sql') },
        ],
        databaseProperties: {
          owner: 'app',
          encoding: 'UTF8',
          collate: 'C',
          ctype: 'C',
          localeProvider: 'libc',
          connectionLimit: -1,
          acl: null,
          tablespace: 'pg_default',
          settings: [],
          roleSettings: [],
          bootstrapSuperuser: 'postgres',
        },
        fingerprint: { version: 1, sha256: 'b'.repeat(64), objects: {} },
      };
      for (const [key, body] of backupObjects(v2)) objects.set(key, body);

      const response = await handler(request());

      expect(response).toMatchObject({ ok: true, backupId: id, parts: ['db'] });
    });

    it('restores an explicit id, also a pre-restore safety backup (undo), and passes --only', async () => {
      const response = await handler(request({ backup: 'pre-restore/app/20261127T100000Z', only: 'db' }));

      expect(response).toMatchObject({
        ok: true,
        backupId: 'pre-restore/app/20261127T100000Z',
        parts: ['db'],
      });
      expect(runTaskInput()?.overrides?.containerOverrides?.[0]?.command).toEqual([
        'restore',
        'pre-restore/app/20261127T100000Z',
        '--confirm',
        'app',
        '--only',
        'db',
      ]);
    });

    it.each([
      ['released', { released: true }],
      ['expired', { expiresAt: new Date(Date.now() - 60_000).toISOString() }],
    ])('starts when the lock is %s', async (_case, changes) => {
      objects.set('locks/app.json', lock(changes));

      const response = await handler(request());

      expect(response.ok).toBe(true);
      expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(1);
    });

    it('checks the backup and the restore task families of the database for running tasks', async () => {
      await handler(request());

      expect(ecsMock.commandCalls(ListTasksCommand).map((c) => c.args[0].input)).toEqual([
        { cluster: CLUSTER, family: 'restore-app', desiredStatus: 'RUNNING' },
        { cluster: CLUSTER, family: 'backup-app', desiredStatus: 'RUNNING' },
      ]);
    });
  });

  describe('refuses before RunTask', () => {
    type Setup = (objects: Map<string, string>) => void;
    const none: Setup = () => {};
    const cases: [string, Record<string, unknown> | string, string, Setup?][] = [
      ['a payload that is not an object', 'restore app please', 'INVALID_INPUT'],
      ['a missing confirm', { database: 'app', backup: 'latest' }, 'INVALID_INPUT'],
      ['an extra key such as a command', request({ command: ['sh'] }), 'INVALID_INPUT'],
      ['an unknown part', request({ only: 'everything' }), 'INVALID_INPUT'],
      ['create with media only', request({ create: true, only: 'media' }), 'INVALID_INPUT'],
      ['create that is not a boolean', request({ create: 'yes' }), 'INVALID_INPUT'],
      ['a database name with a path', request({ database: '../app', confirm: '../app' }), 'INVALID_INPUT'],
      [
        'a database that is not configured',
        request({ database: 'ghost', confirm: 'ghost' }),
        'UNKNOWN_DATABASE',
      ],
      ['a traversal in the id', request({ backup: 'daily/../app2' }), 'INVALID_ID'],
      ['an encoded traversal in the id', request({ backup: 'daily/%2e%2e/20261126T020000Z' }), 'INVALID_ID'],
      [
        'an id with extra segments',
        request({ backup: 'daily/app/20261126T020000Z/../../app2' }),
        'INVALID_ID',
      ],
      ['an id of another database', request({ backup: 'daily/app2/20261127T020000Z' }), 'INVALID_ID'],
      ['an id with an unknown tier', request({ backup: 'hourly/app/20261126T020000Z' }), 'INVALID_ID'],
      ['an id with an invalid timestamp', request({ backup: 'daily/app/2026-11-26' }), 'INVALID_ID'],
      ['a confirmation in another case', request({ confirm: 'App' }), 'CONFIRMATION_MISMATCH'],
      ['a confirmation naming another database', request({ confirm: 'app2' }), 'CONFIRMATION_MISMATCH'],
      ['an id without a backup', request({ backup: 'daily/app/20200101T000000Z' }), 'NOT_FOUND'],
      ['an incomplete backup (no manifest)', request({ backup: 'daily/app/20261127T020000Z' }), 'NOT_FOUND'],
      ['latest of a database without backups', request({ database: 'empty', confirm: 'empty' }), 'NOT_FOUND'],
      [
        'a manifest that is not valid',
        request({ backup: 'daily/app/20261125T020000Z' }),
        'NOT_FOUND',
        (o) => o.set(keyOf('daily/app/20261125T020000Z'), '{"formatVersion":1}'),
      ],
      [
        'a manifest that names another backup',
        request({ backup: 'daily/app/20261125T020000Z' }),
        'INVALID_ID',
        (o) =>
          o.set(keyOf('daily/app/20261125T020000Z'), JSON.stringify(manifest('daily/app/20261126T020000Z'))),
      ],
      [
        'media requested from a db-only backup',
        request({ backup: 'monthly/app/20261101T040000Z', only: 'media' }),
        'KIND_MISMATCH',
      ],
      [
        'a dump whose key is not where the layout puts it',
        request({ backup: 'daily/app/20261125T020000Z', only: 'db' }),
        'KIND_MISMATCH',
        (o) => {
          const m = manifest('daily/app/20261125T020000Z');
          const [db, media] = m.artifacts;
          if (!db || !media) throw new Error('fixture');
          o.set(
            keyOf(m.id),
            JSON.stringify({
              ...m,
              artifacts: [{ ...db, key: 'daily/app2/20261127T020000Z/db.dump.zst' }, media],
            }),
          );
        },
      ],
      [
        'a dump listed as the media archive',
        request({ backup: 'daily/app/20261125T020000Z', only: 'media' }),
        'KIND_MISMATCH',
        (o) => {
          const m = manifest('daily/app/20261125T020000Z');
          const [db, media] = m.artifacts;
          if (!db || !media) throw new Error('fixture');
          o.set(keyOf(m.id), JSON.stringify({ ...m, artifacts: [db, { ...media, key: db.key }] }));
        },
      ],
      [
        'media for a database without a media volume',
        request({ database: 'app2', confirm: 'app2' }),
        'KIND_MISMATCH',
      ],
      ['a held lock', request(), 'LOCKED', (o) => o.set('locks/app.json', lock({}))],
      [
        'a held restore lock',
        request(),
        'LOCKED',
        (o) => o.set('locks/app.json', lock({ operation: 'restore' })),
      ],
    ];

    it.each(cases)('fails on %s', async (_case, event, code, setup = none) => {
      // Prepare
      setup(objects);
      // Act
      const response = await handler(event);
      // Assess
      expect(response).toEqual({
        ok: false,
        error: { code, message: expect.stringMatching(/Nothing was started\.$/) },
      });
      expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
    });

    it.each([
      [
        'the live database as the side database',
        { tables: ['sales.orders'], targetDatabase: 'app' },
        /never writes into the live database app/,
      ],
      ['tables without a side database', { tables: ['sales.orders'] }, /with "targetDatabase"/],
      [
        'a table name without its schema',
        { tables: ['orders'], targetDatabase: 'app_t', confirm: 'app_t' },
        /must be schema\.name/,
      ],
      [
        'a confirmation naming the live database',
        { tables: ['sales.orders'], targetDatabase: 'app_t' },
        /expected app_t, got: app/,
      ],
    ])('refuses a table restore with %s, starting nothing', async (_case, changes, message) => {
      const response = await handler(request(changes));

      expect(response).toMatchObject({ ok: false, error: { message: expect.stringMatching(message) } });
      expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
    });

    it('fails when a backup task of the database is running', async () => {
      ecsMock
        .on(ListTasksCommand, { family: 'backup-app' })
        .resolves({ taskArns: ['arn:aws:ecs:eu-west-1:123456789012:task/backups/running'] });

      const response = await handler(request());

      expect(response).toEqual({
        ok: false,
        error: { code: 'LOCKED', message: expect.stringContaining('task/backups/running') },
      });
      expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
    });

    it('fails with a message naming the lock holder', async () => {
      objects.set('locks/app.json', lock({}));

      const response = await handler(request());

      expect(response).toMatchObject({
        ok: false,
        error: {
          code: 'LOCKED',
          message: expect.stringContaining('a backup of database app is running (ip-10-0-0-1 pid 7'),
        },
      });
    });

    it('fails on a stale lock saying the holder stopped renewing it and how to clear it', async () => {
      objects.set(
        'locks/app.json',
        lock({
          acquiredAt: new Date(Date.now() - 40 * 60_000).toISOString(),
          expiresAt: new Date(Date.now() + 4 * 60_000).toISOString(),
        }),
      );

      const response = await handler(request());

      expect(response).toMatchObject({
        ok: false,
        error: {
          code: 'LOCKED',
          message: expect.stringContaining('stopped renewing it at'),
        },
      });
      expect(response.ok || response.error.message).toContain('run `aws s3 rm s3://backups/locks/app.json`');
    });

    it('fails with a message naming the database an id belongs to', async () => {
      const response = await handler(request({ backup: 'daily/app2/20261127T020000Z' }));

      expect(response).toMatchObject({
        error: {
          message:
            'Backup daily/app2/20261127T020000Z belongs to database app2, not app. Nothing was started.',
        },
      });
    });
  });

  describe('reports failures as output', () => {
    it('fails with RUN_TASK_FAILED and the reason when RunTask returns a failure', async () => {
      ecsMock
        .on(RunTaskCommand)
        .resolves({ tasks: [], failures: [{ arn: 'arn:x', reason: 'RESOURCE:MEMORY' }] });

      const response = await handler(request());

      expect(response).toEqual({
        ok: false,
        error: { code: 'RUN_TASK_FAILED', message: 'RunTask failed: arn:x: RESOURCE:MEMORY.' },
      });
    });

    it('fails with INTERNAL_ERROR, not a thrown error, when S3 denies access', async () => {
      s3Mock
        .on(ListObjectsV2Command)
        .rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }));

      const response = await handler(request());

      expect(response).toEqual({
        ok: false,
        error: { code: 'INTERNAL_ERROR', message: expect.stringContaining('failed: Access Denied') },
      });
      expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
    });
  });

  describe('reading a replica (BACKUP_REPLICATION_WINDOW_HOURS set, as the replica stack does)', () => {
    let replicaHandler: typeof handler;
    beforeAll(async () => {
      vi.stubEnv('BACKUP_REPLICATION_WINDOW_HOURS', '3');
      vi.resetModules();
      ({ handler: replicaHandler } = await import('../../../functions/restore/handler.ts'));
    });

    // A backup that finished 10 minutes ago (started 20) whose dump has not arrived yet.
    const recent = formatTimestamp(new Date(Date.now() - 20 * 60_000));
    const id = `daily/app/${recent}`;
    const withoutDump = () => {
      for (const [key, body] of backupObjects(manifest(id))) {
        if (!key.endsWith('db.dump.zst')) objects.set(key, body);
      }
    };

    it('refuses a backup still arriving as replicating: wait, it is not damaged', async () => {
      withoutDump();
      const response = await replicaHandler(request({ backup: id }));
      expect(response).toEqual({
        ok: false,
        error: {
          code: 'NOT_FOUND',
          message: expect.stringMatching(/still replicating.*3 h replication window/),
        },
      });
      expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
    });

    it('in the primary region (no window) calls the same backup incomplete', async () => {
      withoutDump();
      const response = await handler(request({ backup: id }));
      expect(response).toEqual({
        ok: false,
        error: { code: 'NOT_FOUND', message: expect.not.stringMatching(/replicating/) },
      });
    });
  });
});
