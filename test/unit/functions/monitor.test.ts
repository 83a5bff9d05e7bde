import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { decideMonitor, type MetricDatum, monitorEventSchema } from '../../../functions/monitor/core.ts';
import { DEFAULT_THRESHOLDS, type HealthInput } from '../../../task/core/health.ts';
import { formatTimestamp, type ScheduledTier } from '../../../task/core/ids.ts';
import type { Manifest } from '../../../task/core/manifest.ts';
import type { Verification } from '../../../task/core/verification.ts';

const NOW = new Date('2026-11-26T12:00:00Z');
const HOUR = 3_600_000;

function manifest(tier: ScheduledTier, finishedHoursAgo: number, bytes = 5_000_000): Manifest {
  const finished = new Date(NOW.getTime() - finishedHoursAgo * HOUR);
  const started = new Date(finished.getTime() - 90_000);
  const id = `${tier}/app/${formatTimestamp(started)}`;
  return {
    formatVersion: 1,
    id,
    tier,
    database: 'app',
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    tool: { name: 'backupctl', version: '0.1.0' },
    artifacts: [
      {
        kind: 'postgres',
        key: `${id}/db.dump.zst`,
        compression: 'zstd',
        bytes,
        sha256: 'a'.repeat(64),
        durationMs: 1,
        format: 'custom',
        tables: [{ schema: 'public', table: 't', rows: 10 }],
        largeObjects: 0,
      },
    ],
  };
}

function verification(id: string, ok: boolean, hoursAgo = 2): Verification {
  return {
    formatVersion: 1,
    id,
    verifiedAt: new Date(NOW.getTime() - hoursAgo * HOUR).toISOString(),
    ok,
    checks: [{ artifact: 'postgres', name: 'restore', ok, ms: 1 }],
    restoreSeconds: 37.5,
    tool: { name: 'backupctl', version: '0.1.0' },
  };
}

function inventory(
  options: { dailyAgeHours?: number; verifyOk?: boolean; orphans?: number } = {},
): HealthInput[] {
  const daily = manifest('daily', options.dailyAgeHours ?? 5);
  return [
    {
      database: 'app',
      tier: 'daily',
      backups: [daily],
      verifications: { [daily.id]: verification(daily.id, options.verifyOk ?? true) },
      orphans: Array.from({ length: options.orphans ?? 0 }, (_, i) => ({
        id: `daily/app/2026112${i}T000000Z`,
        startedAt: new Date(NOW.getTime() - 10 * HOUR).toISOString(),
        lastModified: new Date(NOW.getTime() - 9 * HOUR).toISOString(),
        objects: 1,
        bytes: 1,
      })),
    },
    { database: 'app', tier: 'weekly', backups: [manifest('weekly', 50)], verifications: {}, orphans: [] },
    { database: 'app', tier: 'monthly', backups: [manifest('monthly', 300)], verifications: {}, orphans: [] },
  ];
}

const metric = (metrics: readonly MetricDatum[], name: string, tier?: string) =>
  metrics.find((m) => m.name === name && m.dimensions.Tier === tier);

describe('decideMonitor', () => {
  it('publishes nothing on a check when everything is healthy', () => {
    const outcome = decideMonitor({ mode: 'check' }, inventory(), NOW, DEFAULT_THRESHOLDS);

    expect(outcome.report.healthy).toBe(true);
    expect(outcome.publish).toBeUndefined();
  });

  it('publishes one alert on a check when a finding is critical', () => {
    const outcome = decideMonitor(
      { mode: 'check' },
      inventory({ dailyAgeHours: 30 }),
      NOW,
      DEFAULT_THRESHOLDS,
      {
        restoreFunctionName: 'restore-fn',
      },
    );

    expect(outcome.publish?.subject).toBe(
      'Backup CRITICAL app: newest daily backup of app is 30.0 h old (limit 26 h)',
    );
    expect(outcome.publish?.body).toContain('aws lambda invoke --function-name restore-fn');
  });

  it('always publishes the weekly report, healthy or not', () => {
    const outcome = decideMonitor({ mode: 'report' }, inventory(), NOW, DEFAULT_THRESHOLDS);

    expect(outcome.publish?.subject).toBe('Backup report 2026-11-26: 1 database, healthy');
  });

  it('emits age, size and duration per database and tier', () => {
    const { metrics } = decideMonitor({ mode: 'check' }, inventory(), NOW, DEFAULT_THRESHOLDS);

    expect(metric(metrics, 'BackupAgeHours', 'daily')).toEqual({
      name: 'BackupAgeHours',
      unit: 'None',
      value: 5,
      dimensions: { Database: 'app', Tier: 'daily' },
    });
    expect(metric(metrics, 'BackupAgeHours', 'monthly')?.value).toBe(300);
    expect(metric(metrics, 'BackupSizeBytes', 'weekly')).toMatchObject({ unit: 'Bytes', value: 5_000_000 });
    expect(metric(metrics, 'BackupDurationSeconds', 'daily')).toMatchObject({ unit: 'Seconds', value: 90 });
  });

  it.each([
    ['passed', { verifyOk: true }, 1],
    ['failed', { verifyOk: false }, 0],
  ])('emits VerifyOk per database when the newest verification %s', (_case, options, value) => {
    const { metrics } = decideMonitor({ mode: 'check' }, inventory(options), NOW, DEFAULT_THRESHOLDS);

    expect(metric(metrics, 'VerifyOk')).toEqual({
      name: 'VerifyOk',
      unit: 'Count',
      value,
      dimensions: { Database: 'app' },
    });
    expect(metric(metrics, 'RestoreSeconds')?.value).toBe(37.5);
  });

  it('emits the failed runs of the last day summed over the tiers', () => {
    const { metrics } = decideMonitor({ mode: 'check' }, inventory({ orphans: 2 }), NOW, DEFAULT_THRESHOLDS);

    expect(metric(metrics, 'FailedRunsLastDay')).toMatchObject({ value: 2, dimensions: { Database: 'app' } });
  });

  it('emits no age for a tier without backups, so the dead man switch sees missing data', () => {
    const inputs = inventory().map((i) =>
      i.tier === 'daily' ? { ...i, backups: [], verifications: {} } : i,
    );

    const { metrics } = decideMonitor({ mode: 'check' }, inputs, NOW, DEFAULT_THRESHOLDS);

    expect(metric(metrics, 'BackupAgeHours', 'daily')).toBeUndefined();
  });

  it.each([
    [{}, 'check'],
    [{ mode: 'report' }, 'report'],
  ])('reads the event %j as mode %s', (event, mode) => {
    expect(monitorEventSchema.parse(event).mode).toBe(mode);
  });

  it.each([[{ mode: 'restore' }], [{ mode: 'check', database: 'app' }]])(
    'fails validation on %j',
    (event) => {
      expect(monitorEventSchema.safeParse(event).success).toBe(false);
    },
  );
});

describe('monitor handler', () => {
  const s3 = mockClient(S3Client);
  const sns = mockClient(SNSClient);
  let handler: (event: unknown) => Promise<{ healthy: boolean; published: boolean; worst: string }>;
  let emitted: string[];

  beforeAll(async () => {
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('BACKUP_BUCKET', 'backups');
    vi.stubEnv('BACKUP_PREFIX', '');
    vi.stubEnv('ALERT_TOPIC_ARN', 'arn:aws:sns:eu-west-1:123456789012:alerts');
    vi.stubEnv('DATABASES', JSON.stringify(['app']));
    vi.stubEnv('BACKUP_HEALTH_THRESHOLDS', JSON.stringify(DEFAULT_THRESHOLDS));
    vi.stubEnv('RESTORE_FUNCTION_NAME', 'Stack-Restore');
    vi.stubEnv('METRICS_SERVICE', 'Stack');
    // Dev mode sends Powertools output to the global console, where the test reads the EMF lines.
    vi.stubEnv('POWERTOOLS_DEV', 'true');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    ({ handler } = await import('../../../functions/monitor/handler.ts'));
  });

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
    emitted = [];
    vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
      if (typeof line === 'string' && line.includes('CloudWatchMetrics')) emitted.push(line);
    });
    s3.reset();
    sns.reset();
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  afterAll(() => {
    vi.unstubAllEnvs();
  });

  /** Serves one complete daily backup of `app`, finished `ageHours` ago, from the mocked bucket. */
  function serveDaily(ageHours: number): Manifest {
    const m = manifest('daily', ageHours);
    const key = `${m.id}/manifest.json`;
    s3.on(ListObjectsV2Command, { Prefix: 'daily/app/' }).resolves({
      Contents: [
        { Key: `${m.id}/db.dump.zst`, Size: 5_000_000, LastModified: new Date(m.finishedAt) },
        { Key: key, Size: 900, LastModified: new Date(m.finishedAt) },
      ],
    });
    s3.on(GetObjectCommand, { Key: key }).resolves({
      Body: { transformToString: async () => JSON.stringify(m) } as never,
      ETag: '"e"',
    });
    return m;
  }

  it('publishes nothing when healthy and emits the metrics as EMF', async () => {
    // Prepare: a fresh daily backup; the empty weekly and monthly tiers are not due, backups began 5 h ago
    serveDaily(5);
    // Act
    const result = await handler({ mode: 'check' });
    // Assess
    expect(result).toMatchObject({ healthy: true, published: false });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
    const age = emitted.map((line) => JSON.parse(line)).find((doc) => 'BackupAgeHours' in doc);
    expect(age).toMatchObject({ service: 'Stack', Database: 'app', Tier: 'daily', BackupAgeHours: 5 });
    expect(age._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'ServerlessPgBackup',
      Dimensions: [['service', 'Database', 'Tier']],
    });
  });

  it('publishes one alert naming the database and the problem when a backup is too old', async () => {
    const m = serveDaily(31);

    const result = await handler({ mode: 'check' });

    expect(result).toMatchObject({ healthy: false, published: true, worst: 'critical' });
    const calls = sns.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input?.TopicArn).toBe('arn:aws:sns:eu-west-1:123456789012:alerts');
    expect(input?.Subject).toMatch(/^Backup CRITICAL app: newest daily backup of app is 31\.0 h old/);
    expect(input?.Message).toContain(
      `aws lambda invoke --function-name Stack-Restore --cli-binary-format raw-in-base64-out --payload '{"database":"app","backup":"${m.id}","confirm":"app"}' out.json`,
    );
  });

  it('publishes the weekly report on a report run even when healthy', async () => {
    serveDaily(5);

    await handler({ mode: 'report' });

    expect(sns.commandCalls(PublishCommand)[0]?.args[0].input.Subject).toMatch(/^Backup report 2026-11-26/);
  });

  it('reads the bucket without writing to it, and never reads an artifact', async () => {
    serveDaily(5);

    await handler({});

    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    const keys = s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key);
    expect(keys.every((key) => key?.endsWith('/manifest.json') || key?.endsWith('/verification.json'))).toBe(
      true,
    );
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.Prefix)).toEqual([
      'daily/app/',
      'weekly/app/',
      'monthly/app/',
    ]);
  });

  it('throws when the bucket cannot be listed, so the run emits no metrics and the alarms fire', async () => {
    s3.on(ListObjectsV2Command).rejects(new Error('AccessDenied'));

    await expect(handler({ mode: 'check' })).rejects.toThrow(/listing of daily\/app\//);
    expect(emitted).toEqual([]);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('rejects an unknown mode without reading the bucket', async () => {
    await expect(handler({ mode: 'purge' })).rejects.toThrow();
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(0);
  });
});
