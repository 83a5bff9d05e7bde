import { describe, expect, it } from 'vitest';
import {
  DEFAULT_THRESHOLDS,
  evaluateHealth,
  type Finding,
  type HealthInput,
  type HealthThresholds,
  type OrphanFolder,
} from '../../../task/core/health.ts';
import { formatAlert, formatWeeklyReport } from '../../../task/core/health-messages.ts';
import { formatTimestamp, type ScheduledTier } from '../../../task/core/ids.ts';
import type { Manifest } from '../../../task/core/manifest.ts';
import type { Verification } from '../../../task/core/verification.ts';

const NOW = new Date('2026-11-26T12:00:00Z');
const HOUR = 3_600_000;
const MB = 1024 * 1024;

const hoursAgo = (h: number) => new Date(NOW.getTime() - h * HOUR);

function manifest(options: {
  finishedHoursAgo: number;
  tier?: ScheduledTier;
  database?: string;
  bytes?: number;
  rows?: number;
  mediaBytes?: number;
  durationSeconds?: number;
}): Manifest {
  const tier = options.tier ?? 'daily';
  const database = options.database ?? 'app';
  const finished = hoursAgo(options.finishedHoursAgo);
  const started = new Date(finished.getTime() - (options.durationSeconds ?? 600) * 1000);
  const id = `${tier}/${database}/${formatTimestamp(started)}`;
  const artifacts: Manifest['artifacts'] = [
    {
      kind: 'postgres',
      key: `${id}/db.dump.zst`,
      compression: 'zstd',
      bytes: options.bytes ?? 10 * MB,
      sha256: 'a'.repeat(64),
      durationMs: 1000,
      format: 'custom',
      tables: [{ schema: 'public', table: 'orders', rows: options.rows ?? 1000 }],
      largeObjects: 0,
    },
  ];
  if (options.mediaBytes !== undefined) {
    artifacts.push({
      kind: 'media',
      key: `${id}/media.tar.zst`,
      compression: 'zstd',
      bytes: options.mediaBytes,
      sha256: 'b'.repeat(64),
      durationMs: 1000,
      format: 'tar',
      fileCount: 10,
      warnings: [],
    });
  }
  return {
    formatVersion: 1,
    id,
    tier,
    database,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    serverVersion: '15.18',
    pgDumpVersion: '17.2',
    tool: { name: 'backupctl', version: '0.1.0' },
    artifacts,
  };
}

function verification(id: string, verifiedHoursAgo: number, ok = true, restoreSeconds = 42): Verification {
  return {
    formatVersion: 1,
    id,
    verifiedAt: hoursAgo(verifiedHoursAgo).toISOString(),
    ok,
    checks: [
      { artifact: 'postgres', name: 'checksum', ok: true, ms: 10 },
      {
        artifact: 'postgres',
        name: 'row counts',
        ok,
        ms: 10,
        ...(ok ? {} : { detail: 'public.orders has 0 rows, the backup recorded 1000' }),
      },
    ],
    restoreSeconds,
    tool: { name: 'backupctl', version: '0.1.0' },
  };
}

/** A daily series: one backup per day, the newest `newestHoursAgo` old, each overridable. */
function dailySeries(
  count: number,
  newestHoursAgo = 10,
  newest: Partial<Parameters<typeof manifest>[0]> = {},
) {
  return Array.from({ length: count }, (_, i) =>
    manifest({ finishedHoursAgo: newestHoursAgo + i * 24, ...(i === 0 ? newest : {}) }),
  );
}

/** The inputs of a healthy database: a week of dailies, a weekly, a monthly, a recent verification. */
function healthyInputs(overrides: Partial<Record<ScheduledTier, Partial<HealthInput>>> = {}): HealthInput[] {
  const daily = dailySeries(8);
  const base: Record<ScheduledTier, HealthInput> = {
    daily: {
      database: 'app',
      tier: 'daily',
      backups: daily,
      verifications: { [daily[0]?.id ?? '']: verification(daily[0]?.id ?? '', 9) },
      orphans: [],
    },
    weekly: {
      database: 'app',
      tier: 'weekly',
      backups: [manifest({ tier: 'weekly', finishedHoursAgo: 80 })],
      verifications: {},
      orphans: [],
    },
    monthly: {
      database: 'app',
      tier: 'monthly',
      backups: [manifest({ tier: 'monthly', finishedHoursAgo: 500 })],
      verifications: {},
      orphans: [],
    },
  };
  return (['daily', 'weekly', 'monthly'] as const).map((tier) => ({ ...base[tier], ...overrides[tier] }));
}

const findingsOf = (inputs: HealthInput[], thresholds: HealthThresholds = DEFAULT_THRESHOLDS): Finding[] =>
  evaluateHealth(inputs, NOW, thresholds).verdicts.flatMap((v) => v.findings);

describe('evaluateHealth', () => {
  it('reports a database with recent, verified, steady backups as healthy without findings', () => {
    const report = evaluateHealth(healthyInputs(), NOW, DEFAULT_THRESHOLDS);

    expect(report.healthy).toBe(true);
    expect(report.worst).toBe('ok');
    expect(report.verdicts.map((v) => [v.tier, v.status])).toEqual([
      ['daily', 'ok'],
      ['weekly', 'ok'],
      ['monthly', 'ok'],
    ]);
    expect(report.databases[0]?.newestGood).toMatchObject({ tier: 'daily', verified: true });
  });

  it.each([
    ['daily', 25.9, []],
    ['daily', 26, []],
    ['daily', 26.1, ['newest daily backup of app is 26.1 h old (limit 26 h)']],
    ['daily', 31, ['newest daily backup of app is 31.0 h old (limit 26 h)']],
    ['weekly', 8 * 24 - 0.1, []],
    ['weekly', 8 * 24 + 0.1, ['newest weekly backup of app is 8.0 days old (limit 8 days)']],
    ['monthly', 32 * 24 - 0.1, []],
    ['monthly', 32 * 24 + 0.1, ['newest monthly backup of app is 32.0 days old (limit 32 days)']],
  ] as const)('checks the age of the newest %s backup at %s h', (tier, age, expected) => {
    const daily = dailySeries(8, tier === 'daily' ? age : 10);
    const inputs = healthyInputs({
      daily: {
        backups: daily,
        verifications: { [daily[0]?.id ?? '']: verification(daily[0]?.id ?? '', 1) },
      },
      ...(tier === 'daily' ? {} : { [tier]: { backups: [manifest({ tier, finishedHoursAgo: age })] } }),
    });

    const ages = findingsOf(inputs).filter((f) => f.check === 'age');

    expect(ages.map((f) => f.message)).toEqual(expected);
    expect(ages.every((f) => f.severity === 'critical')).toBe(true);
  });

  it.each([
    ['has no backup at all', undefined, 'no complete weekly backup of app exists'],
    ['started 8.0 days ago', 8 * 24 - 1, undefined],
    ['started 8.1 days ago', 8 * 24 + 2, 'no complete weekly backup of app exists, although its backups'],
  ])('reports a tier without any backup when the database %s', (_case, oldestDailyHoursAgo, expected) => {
    const daily =
      oldestDailyHoursAgo === undefined
        ? []
        : [manifest({ finishedHoursAgo: 10 }), manifest({ finishedHoursAgo: oldestDailyHoursAgo })];
    const inputs = healthyInputs({
      daily: { backups: daily, verifications: {} },
      weekly: { backups: [] },
      monthly: { backups: [] },
    });

    const missing = findingsOf(inputs).filter((f) => f.check === 'missing' && f.message.includes('weekly'));

    expect(missing.map((f) => f.message.slice(0, expected?.length))).toEqual(expected ? [expected] : []);
  });

  it.each([
    [102_399, ['database dump of daily/app/']],
    [102_400, []],
    [0, ['database dump of daily/app/']],
  ])('checks the minimum artifact size at %s bytes', (bytes, expected) => {
    const daily = dailySeries(1, 10, { bytes });
    const inputs = healthyInputs({ daily: { backups: daily } });

    const sizes = findingsOf(inputs).filter((f) => f.check === 'size');

    expect(sizes.map((f) => f.message.slice(0, 27))).toEqual(expected);
    expect(sizes.map((f) => f.message.endsWith('below the 100.0 KiB minimum'))).toEqual(
      expected.map(() => true),
    );
  });

  it.each([
    ['size down 49%', { bytes: 5.1 * MB }, []],
    ['size down exactly 50%', { bytes: 5 * MB }, []],
    ['size down 51%', { bytes: 4.9 * MB }, ['database dump of']],
    ['rows down 51%', { rows: 490 }, ['daily/app/']],
    ['rows down exactly 50%', { rows: 500 }, []],
    ['an emptied database (0 rows)', { rows: 0 }, ['daily/app/']],
    ['size up 300%', { bytes: 40 * MB, rows: 4000 }, []],
  ])('checks the drop against the median of the previous seven: %s', (_case, newest, expected) => {
    const inputs = healthyInputs({ daily: { backups: dailySeries(8, 10, newest) } });

    const drops = findingsOf(inputs).filter((f) => f.check === 'drop');

    expect(drops.map((f) => expected.find((prefix) => f.message.startsWith(prefix)) ?? f.message)).toEqual(
      expected,
    );
    expect(
      drops.every((f) => f.severity === 'critical' && f.message.includes('previous 7 daily backups')),
    ).toBe(true);
  });

  it('words an emptied database as a drop in total rows to zero', () => {
    const inputs = healthyInputs({ daily: { backups: dailySeries(8, 10, { rows: 0 }) } });

    const [drop] = findingsOf(inputs).filter((f) => f.check === 'drop');

    expect(drop?.message).toMatch(
      /^daily\/app\/\S+ holds 0 rows in total, 100% below the median 1,000 of the previous 7 daily backups \(limit 50%\); tables that shrank most since daily\/app\/\S+: public\.orders 1,000 → 0 rows \(-100%\)$/,
    );
  });

  it('names the emptied table in the Backup CRITICAL email, not only the total', () => {
    const withTables = (m: Manifest, orders: number): Manifest => ({
      ...m,
      artifacts: m.artifacts.map((a) =>
        a.kind === 'postgres'
          ? {
              ...a,
              tables: [
                { schema: 'public', table: 'customers', rows: 400 },
                { schema: 'public', table: 'notes', rows: 5 },
                { schema: 'sales', table: 'orders', rows: orders },
              ],
            }
          : a,
      ),
    });
    const series = dailySeries(8).map((m, i) => withTables(m, i === 0 ? 0 : 1000));

    const { subject, body } = formatAlert(evaluateHealth(healthyInputs({ daily: { backups: series } }), NOW));

    expect(subject).toMatch(/^Backup CRITICAL app: /);
    expect(body).toContain(
      `CRITICAL  app daily: ${series[0]?.id} holds 405 rows in total, 71% below the median 1,405 of the previous 7 daily backups (limit 50%); tables that shrank most since ${series[1]?.id}: sales.orders 1,000 → 0 rows (-100%)\n`,
    );
  });

  it('names the tables that shrank most in the size finding of a dump below the minimum', () => {
    const series = dailySeries(8, 10, { bytes: 50_000, rows: 10 });

    const [size] = findingsOf(healthyInputs({ daily: { backups: series } })).filter(
      (f) => f.check === 'size',
    );

    expect(size?.message).toBe(
      `database dump of ${series[0]?.id} is 48.8 KiB, below the 100.0 KiB minimum; tables that shrank most since ${series[1]?.id}: public.orders 1,000 → 10 rows (-99%)`,
    );
  });

  it('takes the median, so one outlier among the previous backups does not hide a drop', () => {
    const series = dailySeries(8, 10, { bytes: 4 * MB });
    series[3] = manifest({ finishedHoursAgo: 10 + 3 * 24, bytes: 1 * MB });

    const drops = findingsOf(healthyInputs({ daily: { backups: series } })).filter((f) => f.check === 'drop');

    expect(drops).toHaveLength(1);
  });

  it('points the restore at the newest backup before an emptied one', () => {
    const series = dailySeries(8, 10, { rows: 0 });

    const report = evaluateHealth(healthyInputs({ daily: { backups: series, verifications: {} } }), NOW);

    expect(report.healthy).toBe(false);
    expect(report.databases[0]?.newestGood?.id).toBe(series[1]?.id);
  });

  it.each([
    ['passed 25.9 h ago', { hours: 25.9, ok: true }, []],
    [
      'passed 26.1 h ago',
      { hours: 26.1, ok: true },
      ['newest verification of app is 26.1 h old (limit 26 h)'],
    ],
    ['failed 1 h ago', { hours: 1, ok: false }, ['newest verification of app (']],
    ['is missing, backups for 20 h', { missingFor: 20 }, []],
    ['is missing, backups for 27 h', { missingFor: 27 }, ['no backup of app has been verified, although']],
  ])('checks that the newest verification %s', (_case, v, expected) => {
    const daily =
      'missingFor' in v
        ? [manifest({ finishedHoursAgo: 2 }), manifest({ finishedHoursAgo: v.missingFor })]
        : dailySeries(8);
    const verifications =
      'hours' in v ? { [daily[0]?.id ?? '']: verification(daily[0]?.id ?? '', v.hours, v.ok) } : {};
    const inputs = healthyInputs({
      daily: { backups: daily, verifications },
      weekly: { backups: [manifest({ tier: 'weekly', finishedHoursAgo: 3 })] },
      monthly: { backups: [manifest({ tier: 'monthly', finishedHoursAgo: 3 })] },
    });

    const found = findingsOf(inputs).filter((f) => f.check === 'verification');

    expect(found.map((f) => expected.find((p) => f.message.startsWith(p)) ?? f.message)).toEqual(expected);
  });

  it('names the failed check of a failed verification', () => {
    const daily = dailySeries(8);
    const inputs = healthyInputs({
      daily: {
        backups: daily,
        verifications: { [daily[0]?.id ?? '']: verification(daily[0]?.id ?? '', 1, false) },
      },
    });

    const [finding] = findingsOf(inputs).filter((f) => f.check === 'verification');

    expect(finding?.message).toContain('failed: postgres row counts: public.orders has 0 rows');
  });

  it('reports a verification finding once per database, on its daily verdict', () => {
    const inputs = healthyInputs({ daily: { verifications: {} } });
    inputs[0] = { ...inputs[0], backups: dailySeries(8, 10) } as HealthInput;

    const report = evaluateHealth(inputs, NOW);

    expect(report.verdicts.map((v) => v.findings.filter((f) => f.check === 'verification').length)).toEqual([
      1, 0, 0,
    ]);
  });

  const orphan = (startedHoursAgo: number, lastModifiedHoursAgo: number): OrphanFolder => ({
    id: `daily/app/${formatTimestamp(hoursAgo(startedHoursAgo))}`,
    startedAt: hoursAgo(startedHoursAgo).toISOString(),
    lastModified: hoursAgo(lastModifiedHoursAgo).toISOString(),
    objects: 1,
    bytes: 1000,
  });

  it.each([
    ['started 5.9 h ago (may still be running)', orphan(5.9, 5), 0],
    ['started 6.1 h ago', orphan(6.1, 6), 1],
    ['last written 23.9 h ago', orphan(30, 23.9), 1],
    ['last written 24.1 h ago', orphan(30, 24.1), 0],
  ])('counts a folder without a manifest %s as a failed run accordingly', (_case, folder, failed) => {
    const inputs = healthyInputs({ daily: { orphans: [folder] } });

    const report = evaluateHealth(inputs, NOW);

    expect(report.verdicts[0]?.failedRuns).toBe(failed);
    expect(report.healthy).toBe(failed === 0);
  });

  it('is critical when a backup has a manifest that cannot be read, even though older ones are fresh', () => {
    const inputs = healthyInputs({
      daily: { unreadable: [{ id: 'daily/app/20261126T020000Z', reason: 'manifest is not JSON' }] },
    });

    const report = evaluateHealth(inputs, NOW);

    expect(report.healthy).toBe(false);
    expect(report.verdicts[0]?.findings).toEqual([
      {
        check: 'unreadable',
        severity: 'critical',
        message:
          '1 daily backup of app cannot be restored (daily/app/20261126T020000Z: manifest is not JSON)',
      },
    ]);
  });

  it.each([
    ['daily', 29, 29 * 24 - 1, []],
    [
      'daily',
      29,
      29 * 24 + 1,
      ['daily tier of app holds 29 complete backups; 30-day retention at one per day implies at least 30'],
    ],
    ['daily', 30, 29 * 24 + 1, []],
    [
      'weekly',
      11,
      83 * 24 + 1,
      [
        'weekly tier of app holds 11 complete backups; 90-day retention at one per 7 days implies at least 12',
      ],
    ],
    ['weekly', 12, 83 * 24 + 1, []],
    [
      'monthly',
      10,
      334 * 24 + 1,
      [
        'monthly tier of app holds 10 complete backups; 365-day retention at one per 31 days implies at least 11',
      ],
    ],
  ] as const)(
    'checks the %s count (%s backups, oldest %s h) once the retention window is full',
    (tier, count, oldestHours, expected) => {
      const inputs = healthyInputs({
        [tier]: { completeCount: count, oldestStartedAt: hoursAgo(oldestHours).toISOString() },
      });

      const counts = findingsOf(inputs).filter((f) => f.check === 'count');

      expect(counts.map((f) => f.message)).toEqual(expected);
      expect(counts.every((f) => f.severity === 'warning')).toBe(true);
    },
  );

  it('stays healthy with only warnings, and reports them', () => {
    const inputs = healthyInputs({
      daily: { completeCount: 10, oldestStartedAt: hoursAgo(40 * 24).toISOString() },
    });

    const report = evaluateHealth(inputs, NOW);

    expect(report).toMatchObject({ healthy: true, worst: 'warning' });
  });

  it('does not report a clock running ahead as an old backup', () => {
    const inputs = healthyInputs({ daily: { backups: dailySeries(8, -0.5) } });

    const report = evaluateHealth(inputs, NOW);

    expect(report.verdicts[0]?.newest?.ageHours).toBe(0);
    expect(report.healthy).toBe(true);
  });
});

describe('formatAlert', () => {
  function unhealthyReport() {
    const daily = dailySeries(8, 31);
    return evaluateHealth(
      healthyInputs({
        daily: {
          backups: daily,
          verifications: { [daily[0]?.id ?? '']: verification(daily[0]?.id ?? '', 30) },
        },
      }),
      NOW,
    );
  }

  it('names the database and the worst problem in a subject of at most 100 characters', () => {
    const { subject } = formatAlert(unhealthyReport());

    expect(subject).toBe(
      'Backup CRITICAL app: newest daily backup of app is 31.0 h old (limit 26 h) (+1 more)',
    );
    expect(subject.length).toBeLessThanOrEqual(100);
  });

  it('cuts a long subject to 100 printable ASCII characters', () => {
    const inputs = healthyInputs({
      daily: { backups: dailySeries(8, 10, { rows: 0 }), database: 'a_very_long_database_name_for_subjects' },
    }).map((i) => ({ ...i, database: 'a_very_long_database_name_for_subjects' }));

    const { subject } = formatAlert(evaluateHealth(inputs, NOW));

    expect(subject.length).toBeLessThanOrEqual(100);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
    expect(subject).toContain('...');
  });

  it('lists every finding, the newest good backup and the commands to investigate and restore', () => {
    const report = unhealthyReport();
    const good = report.databases[0]?.newestGood?.id;

    const { body } = formatAlert(report, {
      location: 's3://backups/',
      restoreFunctionName: 'Stack-RestoreFn',
    });

    expect(body).toContain('CRITICAL  app daily: newest daily backup of app is 31.0 h old (limit 26 h)');
    expect(body).toContain('CRITICAL  app daily: newest verification of app is 30.0 h old (limit 26 h)');
    expect(body).toContain(`app: ${good}, finished`);
    expect(body).toContain('  backupctl status\n');
    expect(body).toContain('  backupctl list --database app\n');
    expect(body).toContain('  PGDATABASE=app backupctl verify latest\n');
    expect(body).toContain(
      `aws lambda invoke --function-name Stack-RestoreFn --cli-binary-format raw-in-base64-out --payload '{"database":"app","backup":"${good}","confirm":"app"}' out.json`,
    );
    expect(body).toContain(`  backupctl restore ${good} --confirm app\n`);
  });

  it('leaves out the Lambda restore line when no restore function is named', () => {
    const { body } = formatAlert(unhealthyReport());

    expect(body).not.toContain('aws lambda invoke');
    expect(body).toContain('backupctl restore daily/app/');
  });
});

describe('formatWeeklyReport', () => {
  it('summarises backups per tier, newest, sizes and trend, last verification, restore time and storage', () => {
    const inputs = healthyInputs({
      daily: { backups: dailySeries(8, 10, { bytes: 11 * MB }), storedBytes: 90 * MB, completeCount: 30 },
    });
    inputs[0] = {
      ...(inputs[0] as HealthInput),
      verifications: {
        [inputs[0]?.backups[0]?.id ?? '']: verification(inputs[0]?.backups[0]?.id ?? '', 9, true, 42),
      },
    };

    const { subject, body } = formatWeeklyReport(evaluateHealth(inputs, NOW), { location: 's3://backups/' });

    expect(subject).toBe('Backup report 2026-11-26: 1 database, healthy');
    expect(body).toContain('== app (ok) ==');
    expect(body).toMatch(
      /daily {4}30 backups, 90\.0 MiB stored; newest daily\/app\/\S+ \(10\.0 h ago, 11\.0 MiB, took 600 s\)/,
    );
    expect(body).toContain('sizes, newest first: 11.0 MiB, 10.0 MiB');
    expect(body).toContain('+10% against the median of the previous 7');
    expect(body).toMatch(/last verification: daily\/app\/\S+ passed 9\.0 h ago; test restore took 42 s/);
    expect(body).toMatch(/Overall: healthy; storage used \d/);
  });
});
