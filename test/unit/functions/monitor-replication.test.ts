/**
 * The monitor watches the offsite copy: HeadObject's ReplicationStatus of the newest backup's
 * objects (mocked S3 answers) becomes the findings, the offsite line of the weekly report, and
 * the ReplicationLagSeconds / Replicated metrics per database.
 */
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { decideMonitor, METRIC_NAMES, newestBackups } from '../../../functions/monitor/core.ts';
import { observeReplication } from '../../../functions/monitor/replication.ts';
import { DEFAULT_THRESHOLDS, type HealthInput, type HealthThresholds } from '../../../task/core/health.ts';
import { formatTimestamp } from '../../../task/core/ids.ts';
import type { Manifest } from '../../../task/core/manifest.ts';
import { manifestFor } from '../../support/manifests.ts';

const s3 = mockClient(S3Client);
const NOW = new Date('2026-11-26T12:00:00Z');
const MINUTE = 60_000;
const THRESHOLDS: HealthThresholds = {
  ...DEFAULT_THRESHOLDS,
  minArtifactBytes: 0,
  replication: { warnMinutes: 15, criticalHours: 3 },
};

afterEach(() => s3.reset());

/** A daily backup of app that finished `minutes` before NOW, with a dump and a media archive. */
function backupFinished(minutes: number): Manifest {
  const started = new Date(NOW.getTime() - (minutes + 10) * MINUTE);
  return manifestFor(`daily/app/${formatTimestamp(started)}`, { minutes: 10 });
}

const inventoryOf = (newest: Manifest, older?: Manifest): HealthInput[] =>
  (['daily', 'weekly', 'monthly'] as const).map((tier) => ({
    database: 'app',
    tier,
    backups: tier === 'daily' ? [newest, ...(older ? [older] : [])] : [],
    verifications: {},
    orphans: [],
  }));

/** S3 answers HeadObject with `status(key)` for every key. */
function answer(status: (key: string) => string | undefined): void {
  s3.on(HeadObjectCommand).callsFake((input: { Key: string }) => ({ ReplicationStatus: status(input.Key) }));
}

async function monitorRun(newest: Manifest, mode: 'check' | 'report' = 'check', older?: Manifest) {
  const inventory = inventoryOf(newest, older);
  const client = new S3Client({ region: 'eu-west-1' });
  const observed = await observeReplication(client, 'my-backups', '', newestBackups(inventory));
  return decideMonitor({ mode }, inventory, NOW, THRESHOLDS, {}, observed);
}

const replicationFindings = (outcome: Awaited<ReturnType<typeof monitorRun>>) =>
  outcome.report.verdicts.flatMap((v) => v.findings.filter((f) => f.check === 'replication'));
const metric = (outcome: Awaited<ReturnType<typeof monitorRun>>, name: string) =>
  outcome.metrics.find((m) => m.name === name && m.dimensions.Database === 'app')?.value;

describe('the monitor with a replica', () => {
  it('asks S3 for the manifest and every artifact of the newest backup only', async () => {
    answer(() => 'COMPLETED');
    const newest = backupFinished(60);
    await monitorRun(newest, 'check', backupFinished(24 * 60));
    expect(
      s3
        .commandCalls(HeadObjectCommand)
        .map((c) => c.args[0].input.Key)
        .sort(),
    ).toEqual(
      [`${newest.id}/db.dump.zst`, `${newest.id}/manifest.json`, `${newest.id}/media.tar.zst`].sort(),
    );
  });

  it('reports no finding, Replicated 1 and lag 0 when every object is COMPLETED', async () => {
    answer(() => 'COMPLETED');
    const outcome = await monitorRun(backupFinished(60));
    expect(replicationFindings(outcome)).toEqual([]);
    expect(outcome.report.healthy).toBe(true);
    expect(metric(outcome, METRIC_NAMES.replicated)).toBe(1);
    expect(metric(outcome, METRIC_NAMES.replicationLag)).toBe(0);
  });

  it('reports nothing yet while an object is PENDING within the RTC window', async () => {
    answer((key) => (key.endsWith('media.tar.zst') ? 'PENDING' : 'COMPLETED'));
    const outcome = await monitorRun(backupFinished(5));
    expect(replicationFindings(outcome)).toEqual([]);
    expect(metric(outcome, METRIC_NAMES.replicated)).toBe(0);
    expect(metric(outcome, METRIC_NAMES.replicationLag)).toBe(300);
  });

  it('warns when an object is still PENDING past the RTC window', async () => {
    answer((key) => (key.endsWith('media.tar.zst') ? 'PENDING' : 'COMPLETED'));
    const newest = backupFinished(40);
    const outcome = await monitorRun(newest);
    expect(replicationFindings(outcome)).toEqual([
      {
        check: 'replication',
        severity: 'warning',
        message: `newest backup of app (${newest.id}) is not in the replica 0.7 h after it finished (media.tar.zst PENDING; limit 15 min)`,
      },
    ]);
    expect(outcome.report.healthy).toBe(true);
    expect(metric(outcome, METRIC_NAMES.replicationLag)).toBe(2400);
  });

  it('is critical and alerts when an object is still PENDING hours later', async () => {
    answer((key) => (key.endsWith('manifest.json') ? 'COMPLETED' : 'PENDING'));
    const outcome = await monitorRun(backupFinished(4 * 60));
    expect(replicationFindings(outcome)).toEqual([
      expect.objectContaining({
        severity: 'critical',
        message: expect.stringMatching(
          /not in the replica 4\.0 h after it finished \(db\.dump\.zst PENDING, media\.tar\.zst PENDING; limit 3 h\)/,
        ),
      }),
    ]);
    expect(outcome.report.healthy).toBe(false);
    expect(outcome.publish?.subject).toMatch(
      /^Backup CRITICAL app: newest backup of app .* is not in the replica/,
    );
    expect(metric(outcome, METRIC_NAMES.replicated)).toBe(0);
    expect(metric(outcome, METRIC_NAMES.replicationLag)).toBe(4 * 3600);
  });

  it('is critical at once when S3 reports FAILED, naming the object', async () => {
    answer((key) => (key.endsWith('db.dump.zst') ? 'FAILED' : 'COMPLETED'));
    const newest = backupFinished(2);
    const outcome = await monitorRun(newest);
    expect(replicationFindings(outcome)).toEqual([
      expect.objectContaining({
        severity: 'critical',
        message: expect.stringContaining(
          `(${newest.id}) failed to replicate to the replica (${newest.id}/db.dump.zst)`,
        ),
      }),
    ]);
    expect(outcome.report.healthy).toBe(false);
    expect(metric(outcome, METRIC_NAMES.replicated)).toBe(0);
  });

  it('treats an object without a replication status as not replicated', async () => {
    answer((key) => (key.endsWith('db.dump.zst') ? undefined : 'COMPLETED'));
    const outcome = await monitorRun(backupFinished(4 * 60));
    expect(replicationFindings(outcome)).toEqual([
      expect.objectContaining({
        severity: 'critical',
        message: expect.stringContaining('db.dump.zst not covered by a replication rule'),
      }),
    ]);
  });

  it('states the offsite state of the database in the weekly report', async () => {
    answer(() => 'COMPLETED');
    const newest = backupFinished(60);
    const outcome = await monitorRun(newest, 'report');
    expect(outcome.publish?.body).toContain(`  offsite: ${newest.id} is in the replica`);
  });

  it('reads no replication status and emits no replication metric without a replica', async () => {
    answer(() => 'FAILED');
    const inventory = inventoryOf(backupFinished(4 * 60));
    const { replication: _none, ...withoutReplica } = THRESHOLDS;
    const outcome = decideMonitor({ mode: 'check' }, inventory, NOW, withoutReplica, {}, []);
    expect(outcome.metrics.map((m) => m.name)).not.toContain(METRIC_NAMES.replicated);
    expect(replicationFindings(outcome)).toEqual([]);
  });
});
