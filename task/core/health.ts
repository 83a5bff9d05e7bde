/**
 * The health policy: what "the backups are healthy" means, decided once and shared by the monitor
 * Lambda (alerts, metrics, weekly report) and `backupctl status`. Pure: the caller reads the
 * manifests and verification records (task/inventory.ts) and passes `now`; nothing here touches
 * AWS, the clock or the file system.
 *
 * Severity: a `critical` finding makes the report unhealthy (the monitor alerts, `status` exits 1);
 * a `warning` is reported (status, weekly report, and inside any alert) but alerts on its own never,
 * because it describes the past (a gap that rolls out of retention over months) rather than a risk
 * to the next restore.
 *
 * What the operators read (the alert, the weekly report) is made from the report in
 * health-messages.ts.
 */

import { z } from 'zod';
import { formatCount, formatHours, formatLimit, formatPercent, formatSize } from './format.ts';
import { SCHEDULED_TIERS, type ScheduledTier } from './ids.ts';
import { type Artifact, type Manifest, type PostgresArtifact, totalRows } from './manifest.ts';
import { compareTables, describeShrunkTables } from './table-changes.ts';
import type { Verification } from './verification.ts';

export type Severity = 'ok' | 'warning' | 'critical';

export const CHECKS = [
  'missing',
  'age',
  'unreadable',
  'size',
  'drop',
  'verification',
  'failed runs',
  'replication',
  'count',
] as const;
export type CheckName = (typeof CHECKS)[number];

const hours = z.number().positive();

export const healthThresholdsSchema = z.strictObject({
  /** A tier's newest complete backup older than this is critical. */
  maxAgeHours: z.strictObject({ daily: hours, weekly: hours, monthly: hours }),
  /** An artifact of the newest backup smaller than this is critical (0 turns the check off). */
  minArtifactBytes: z.number().int().nonnegative(),
  /** Share (0-1) by which size or total rows may fall below the median of the previous backups. */
  maxDropShare: z.number().min(0).max(1),
  /** How many previous backups of the tier the median is taken over. */
  dropHistory: z.number().int().min(1),
  /** The newest verification of a database older than this (or failed) is critical. */
  verifyMaxAgeHours: hours,
  /**
   * Lifecycle retention per tier. Once the retention window is full (the oldest backup is at least
   * retention minus one interval old) the tier must hold retention / interval backups.
   */
  retentionDays: z.strictObject({
    daily: z.number().int().positive(),
    weekly: z.number().int().positive(),
    monthly: z.number().int().positive(),
  }),
  /**
   * A backup folder without a manifest counts as a failed run only once it started this long ago:
   * before that it may be a backup still uploading.
   */
  runGraceHours: hours,
  /**
   * With a replica: the newest backup of a database not replicated this long after it finished is
   * a warning (`warnMinutes`, Replication Time Control's 15 minutes) and then critical
   * (`criticalHours`). @default - no replica: replication is not checked
   */
  replication: z.strictObject({ warnMinutes: z.number().positive(), criticalHours: hours }).optional(),
});

export type HealthThresholds = z.infer<typeof healthThresholdsSchema>;

export const DEFAULT_THRESHOLDS: HealthThresholds = {
  maxAgeHours: { daily: 26, weekly: 8 * 24, monthly: 32 * 24 },
  minArtifactBytes: 100 * 1024,
  maxDropShare: 0.5,
  dropHistory: 7,
  // The verify drill runs daily; two hours of slack for the drill's own run time.
  verifyMaxAgeHours: 26,
  retentionDays: { daily: 30, weekly: 90, monthly: 365 },
  runGraceHours: 6,
};

/** Days between two scheduled backups of a tier (monthly: the longest month). */
export const TIER_INTERVAL_DAYS: Readonly<Record<ScheduledTier, number>> = {
  daily: 1,
  weekly: 7,
  monthly: 31,
};

/** Window in which a backup folder without a manifest is reported as a failed run. */
export const FAILED_RUN_WINDOW_HOURS = 24;

/** A backup folder that has objects but no manifest: a run that failed (or is still running). */
export interface OrphanFolder {
  /** The backup id the folder would have had (`daily/app/20261126T020000Z`). */
  readonly id: string;
  /** When the run started (from the folder name), ISO 8601. */
  readonly startedAt: string;
  /** The newest object in the folder, ISO 8601. */
  readonly lastModified: string;
  readonly objects: number;
  readonly bytes: number;
}

/** What the policy needs to know about one database in one scheduled tier. */
export interface HealthInput {
  readonly database: string;
  readonly tier: ScheduledTier;
  /** Complete backups, newest first; the newest `dropHistory + 1` are enough. */
  readonly backups: readonly Manifest[];
  /** Verification records by backup id. */
  readonly verifications: Readonly<Record<string, Verification>>;
  readonly orphans: readonly OrphanFolder[];
  /**
   * Backups whose manifest exists but cannot be read (not JSON, invalid, another backup's): left
   * out of `backups`, and no restore can use them. @default - none
   */
  readonly unreadable?: readonly { readonly id: string; readonly reason: string }[];
  /** Complete backups in the tier, including those not read. @default backups.length */
  readonly completeCount?: number;
  /** Start of the oldest complete backup in the tier, ISO 8601. @default - the oldest of `backups` */
  readonly oldestStartedAt?: string;
  /** Bytes of every object below the tier's prefix for this database. @default - sum of `backups` */
  readonly storedBytes?: number;
}

/** S3's replication status of the newest backup's objects (HeadObject's x-amz-replication-status). */
export interface ReplicationObservation {
  readonly database: string;
  readonly tier: ScheduledTier;
  /** The backup observed: the database's newest complete one. */
  readonly id: string;
  readonly finishedAt: string;
  /** Status per object key (manifest and artifacts); undefined where S3 reported none. */
  readonly statuses: Readonly<Record<string, string | undefined>>;
}

/** Where the newest backup of a database stands offsite. */
export interface OffsiteSummary {
  readonly id: string;
  readonly state: 'replicated' | 'replicating' | 'failed';
  /** Seconds since the backup finished while it is not wholly replicated; 0 once it is. */
  readonly lagSeconds: number;
}

export interface Finding {
  readonly check: CheckName;
  readonly severity: Exclude<Severity, 'ok'>;
  /** One sentence with the numbers, naming the database and tier. */
  readonly message: string;
}

export interface BackupSummary {
  readonly id: string;
  readonly finishedAt: string;
  readonly ageHours: number;
  /** Bytes of all artifacts. */
  readonly bytes: number;
  readonly durationSeconds: number;
}

export interface VerificationSummary {
  readonly id: string;
  readonly verifiedAt: string;
  readonly ok: boolean;
  readonly ageHours: number;
  readonly restoreSeconds?: number;
  /** The failed checks, one line each (empty when ok). */
  readonly failures: readonly string[];
}

export interface TierVerdict {
  readonly database: string;
  readonly tier: ScheduledTier;
  readonly status: Severity;
  readonly findings: readonly Finding[];
  readonly newest?: BackupSummary;
  readonly count: number;
  readonly storedBytes: number;
  /** Total bytes of the backups read, newest first: the size trend. */
  readonly sizes: readonly number[];
  /** Runs without a manifest reported by the failed-runs check. */
  readonly failedRuns: number;
}

export interface DatabaseSummary {
  readonly database: string;
  readonly status: Severity;
  /** The newest backup that passes its own checks (size, drop, verification): the one to restore. */
  readonly newestGood?: BackupSummary & { readonly tier: ScheduledTier; readonly verified: boolean };
  /** The newest verification of any of the database's backups. */
  readonly verification?: VerificationSummary;
  /** With a replica: the replication state of the database's newest backup. */
  readonly offsite?: OffsiteSummary;
}

export interface HealthReport {
  readonly checkedAt: string;
  /** False when any finding is critical. */
  readonly healthy: boolean;
  readonly worst: Severity;
  readonly verdicts: readonly TierVerdict[];
  readonly databases: readonly DatabaseSummary[];
}

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { ok: 0, warning: 1, critical: 2 };
const HOUR_MS = 3_600_000;

export function worstOf(severities: Iterable<Severity>): Severity {
  let worst: Severity = 'ok';
  for (const s of severities) if (SEVERITY_RANK[s] > SEVERITY_RANK[worst]) worst = s;
  return worst;
}

/** Applies every check to every database and tier. Inputs of the pre-restore tier are not expected. */
export function evaluateHealth(
  inputs: readonly HealthInput[],
  now: Date,
  thresholds: HealthThresholds = DEFAULT_THRESHOLDS,
  replication: readonly ReplicationObservation[] = [],
): HealthReport {
  const byDatabase = new Map<string, HealthInput[]>();
  for (const input of inputs) {
    const list = byDatabase.get(input.database) ?? [];
    list.push(input);
    byDatabase.set(input.database, list);
  }
  const verdicts: TierVerdict[] = [];
  const databases: DatabaseSummary[] = [];
  for (const [database, list] of [...byDatabase].sort(([a], [b]) => a.localeCompare(b))) {
    const tiers = [...list].sort((a, b) => SCHEDULED_TIERS.indexOf(a.tier) - SCHEDULED_TIERS.indexOf(b.tier));
    const databaseStart = earliest(tiers.flatMap((t) => startOf(t) ?? []));
    const verification = newestVerification(tiers, now);
    // A verification is about the database (the drill verifies its newest backup, whatever the
    // tier), so its finding goes on the most frequent tier's verdict: one finding, not three.
    const verificationFindings = checkVerification(database, verification, databaseStart, now, thresholds);
    const observed = replication.find((r) => r.database === database);
    const offsite =
      observed && thresholds.replication
        ? checkReplication(observed, now, thresholds.replication)
        : undefined;
    const dbVerdicts = tiers.map((input, i) =>
      evaluateTier(input, now, thresholds, databaseStart, [
        ...(i === 0 ? verificationFindings : []),
        ...(offsite?.finding && observed?.tier === input.tier ? [offsite.finding] : []),
      ]),
    );
    verdicts.push(...dbVerdicts);
    databases.push({
      database,
      status: worstOf(dbVerdicts.map((v) => v.status)),
      ...optional('newestGood', newestGood(tiers, now, thresholds)),
      ...optional('verification', verification),
      ...optional('offsite', offsite?.summary),
    });
  }
  const worst = worstOf(verdicts.map((v) => v.status));
  return { checkedAt: now.toISOString(), healthy: worst !== 'critical', worst, verdicts, databases };
}

function evaluateTier(
  input: HealthInput,
  now: Date,
  t: HealthThresholds,
  databaseStart: number | undefined,
  extra: readonly Finding[],
): TierVerdict {
  const { database, tier, backups } = input;
  const findings: Finding[] = [];
  const newest = backups[0];
  const limit = t.maxAgeHours[tier];
  if (!newest) {
    const runningHours = databaseStart === undefined ? undefined : hoursBetween(databaseStart, now);
    if (runningHours === undefined) {
      findings.push({
        check: 'missing',
        severity: 'critical',
        message: `no complete ${tier} backup of ${database} exists`,
      });
    } else if (runningHours > limit) {
      findings.push({
        check: 'missing',
        severity: 'critical',
        message: `no complete ${tier} backup of ${database} exists, although its backups started ${formatHours(runningHours)} ago (limit ${formatLimit(limit)})`,
      });
    }
  } else {
    const age = ageHours(newest.finishedAt, now);
    if (age > limit) {
      findings.push({
        check: 'age',
        severity: 'critical',
        message: `newest ${tier} backup of ${database} is ${formatHours(age)} old (limit ${formatLimit(limit)})`,
      });
    }
    findings.push(...checkBackup(newest, backups.slice(1, 1 + t.dropHistory), t));
  }

  const unreadable = input.unreadable ?? [];
  if (unreadable.length > 0) {
    findings.push({
      check: 'unreadable',
      severity: 'critical',
      message: `${unreadable.length} ${tier} backup${unreadable.length === 1 ? '' : 's'} of ${database} cannot be restored (${unreadable.map((u) => `${u.id}: ${u.reason}`).join('; ')})`,
    });
  }

  const failed = input.orphans.filter((o) => {
    const started = ageHours(o.startedAt, now);
    return started >= t.runGraceHours && ageHours(o.lastModified, now) <= FAILED_RUN_WINDOW_HOURS;
  });
  if (failed.length > 0) {
    findings.push({
      check: 'failed runs',
      severity: 'critical',
      message: `${failed.length} ${tier} run${failed.length === 1 ? '' : 's'} of ${database} in the last ${FAILED_RUN_WINDOW_HOURS} h left objects but no manifest (${failed.map((o) => o.id).join(', ')})`,
    });
  }

  const count = input.completeCount ?? backups.length;
  const oldest = startOf(input);
  const retention = t.retentionDays[tier];
  const interval = TIER_INTERVAL_DAYS[tier];
  const expected = Math.floor(retention / interval);
  if (oldest !== undefined && hoursBetween(oldest, now) >= (retention - interval) * 24 && count < expected) {
    findings.push({
      check: 'count',
      severity: 'warning',
      message: `${tier} tier of ${database} holds ${count} complete backup${count === 1 ? '' : 's'}; ${retention}-day retention at one per ${interval === 1 ? 'day' : `${interval} days`} implies at least ${expected}`,
    });
  }

  findings.push(...extra);
  return {
    database,
    tier,
    status: worstOf(findings.map((f) => f.severity)),
    findings,
    ...optional('newest', newest && summarize(newest, now)),
    count,
    storedBytes: input.storedBytes ?? backups.reduce((sum, m) => sum + backupBytes(m), 0),
    sizes: backups.map(backupBytes),
    failedRuns: failed.length,
  };
}

/** Size and drop checks of one backup against the previous ones of its tier (newest first). */
function checkBackup(backup: Manifest, previous: readonly Manifest[], t: HealthThresholds): Finding[] {
  const findings: Finding[] = [];
  // The database's size and drop findings name the tables that shrank most since the backup
  // before, so the operator sees at once whether rows were lost or only bloat went away.
  const shrunk = shrinkNote(backup, previous[0]);
  const aboutTables = (kind: Artifact['kind']) => (kind === 'postgres' && shrunk ? `; ${shrunk}` : '');
  for (const artifact of backup.artifacts) {
    // A list of roles is a few KiB and shrinks when roles are dropped: neither is a warning sign.
    if (artifact.kind === 'globals') continue;
    if (artifact.bytes < t.minArtifactBytes) {
      findings.push({
        check: 'size',
        severity: 'critical',
        message: `${ARTIFACT_NAMES[artifact.kind]} of ${backup.id} is ${formatSize(artifact.bytes)}, below the ${formatSize(t.minArtifactBytes)} minimum${aboutTables(artifact.kind)}`,
      });
    }
    const history = previous.flatMap((m) => m.artifacts.filter((a) => a.kind === artifact.kind));
    const median = medianOf(history.map((a) => a.bytes));
    const drop = dropShare(artifact.bytes, median);
    if (median !== undefined && drop > t.maxDropShare) {
      findings.push({
        check: 'drop',
        severity: 'critical',
        message: `${ARTIFACT_NAMES[artifact.kind]} of ${backup.id} is ${formatSize(artifact.bytes)}, ${formatPercent(drop)} below the median ${formatSize(median)} of the previous ${history.length} ${backup.tier} backups (limit ${formatPercent(t.maxDropShare)})${aboutTables(artifact.kind)}`,
      });
    }
  }
  const rows = rowsOf(backup);
  if (rows !== undefined) {
    const history = previous.flatMap((m) => rowsOf(m) ?? []);
    const median = medianOf(history);
    const drop = dropShare(rows, median);
    if (median !== undefined && drop > t.maxDropShare) {
      findings.push({
        check: 'drop',
        severity: 'critical',
        message: `${backup.id} holds ${formatCount(rows)} rows in total, ${formatPercent(drop)} below the median ${formatCount(median)} of the previous ${history.length} ${backup.tier} backups (limit ${formatPercent(t.maxDropShare)})${aboutTables('postgres')}`,
      });
    }
  }
  return findings;
}

function checkVerification(
  database: string,
  verification: VerificationSummary | undefined,
  databaseStart: number | undefined,
  now: Date,
  t: HealthThresholds,
): Finding[] {
  const limit = formatLimit(t.verifyMaxAgeHours);
  if (!verification) {
    // Nothing to verify yet is not a verification problem; the missing check reports it.
    if (databaseStart === undefined) return [];
    const waiting = hoursBetween(databaseStart, now);
    if (waiting <= t.verifyMaxAgeHours) return [];
    return [
      {
        check: 'verification',
        severity: 'critical',
        message: `no backup of ${database} has been verified, although its backups started ${formatHours(waiting)} ago (limit ${limit})`,
      },
    ];
  }
  if (!verification.ok) {
    return [
      {
        check: 'verification',
        severity: 'critical',
        message: `newest verification of ${database} (${verification.id}, ${formatHours(verification.ageHours)} ago) failed: ${verification.failures.join('; ') || 'no check passed'}`,
      },
    ];
  }
  if (verification.ageHours > t.verifyMaxAgeHours) {
    return [
      {
        check: 'verification',
        severity: 'critical',
        message: `newest verification of ${database} is ${formatHours(verification.ageHours)} old (limit ${limit})`,
      },
    ];
  }
  return [];
}

/**
 * The replication check of a database's newest backup: FAILED is critical at once (S3 does not
 * retry it); not yet COMPLETED is a warning past Replication Time Control's window and critical
 * after `criticalHours`. An object without a status is not covered by a replication rule.
 */
function checkReplication(
  observed: ReplicationObservation,
  now: Date,
  limits: NonNullable<HealthThresholds['replication']>,
): { summary: OffsiteSummary; finding?: Finding } {
  const { database, id } = observed;
  const entries = Object.entries(observed.statuses);
  const failed = entries.filter(([, status]) => status === 'FAILED').map(([key]) => key);
  const waiting = entries.filter(([, status]) => status !== 'COMPLETED' && status !== 'FAILED');
  const lagHours = ageHours(observed.finishedAt, now);
  const lagSeconds = Math.round(lagHours * 3600);
  if (failed.length > 0) {
    return {
      summary: { id, state: 'failed', lagSeconds },
      finding: {
        check: 'replication',
        severity: 'critical',
        message: `newest backup of ${database} (${id}) failed to replicate to the replica (${failed.join(', ')}); S3 does not retry a failed replication: fix the cause (README, "Offsite copy") and take a new backup`,
      },
    };
  }
  if (waiting.length === 0) return { summary: { id, state: 'replicated', lagSeconds: 0 } };
  const summary: OffsiteSummary = { id, state: 'replicating', lagSeconds };
  const severity =
    lagHours > limits.criticalHours ? 'critical' : lagHours * 60 > limits.warnMinutes ? 'warning' : undefined;
  if (!severity) return { summary };
  const what = waiting.map(
    ([key, status]) =>
      `${key.slice(key.lastIndexOf('/') + 1)} ${status ?? 'not covered by a replication rule'}`,
  );
  return {
    summary,
    finding: {
      check: 'replication',
      severity,
      message: `newest backup of ${database} (${id}) is not in the replica ${formatHours(lagHours)} after it finished (${what.join(', ')}; limit ${severity === 'critical' ? formatLimit(limits.criticalHours) : `${limits.warnMinutes} min`})`,
    },
  };
}

function newestVerification(inputs: readonly HealthInput[], now: Date): VerificationSummary | undefined {
  const all = inputs.flatMap((i) => Object.values(i.verifications));
  const newest = all.sort((a, b) => b.verifiedAt.localeCompare(a.verifiedAt))[0];
  if (!newest) return undefined;
  return {
    id: newest.id,
    verifiedAt: newest.verifiedAt,
    ok: newest.ok,
    ageHours: ageHours(newest.verifiedAt, now),
    ...optional('restoreSeconds', newest.restoreSeconds),
    failures: newest.checks
      .filter((c) => !c.ok)
      .map((c) => `${c.artifact} ${c.name}${c.detail ? `: ${c.detail}` : ''}`),
  };
}

/**
 * The newest backup, over every tier, that is not suspect: not failed verification, no artifact
 * below the minimum, no drop against the backups before it. An emptied database's backup is the
 * newest, and the one not to restore.
 */
function newestGood(
  inputs: readonly HealthInput[],
  now: Date,
  t: HealthThresholds,
): DatabaseSummary['newestGood'] | undefined {
  const candidates = inputs
    .flatMap((input) => input.backups.map((backup, i) => ({ input, backup, i })))
    .sort((a, b) => b.backup.finishedAt.localeCompare(a.backup.finishedAt));
  for (const { input, backup, i } of candidates) {
    const verification = input.verifications[backup.id];
    if (verification && !verification.ok) continue;
    if (checkBackup(backup, input.backups.slice(i + 1, i + 1 + t.dropHistory), t).length > 0) continue;
    return { ...summarize(backup, now), tier: input.tier, verified: verification?.ok === true };
  }
  return undefined;
}

function summarize(m: Manifest, now: Date): BackupSummary {
  return {
    id: m.id,
    finishedAt: m.finishedAt,
    ageHours: ageHours(m.finishedAt, now),
    bytes: backupBytes(m),
    durationSeconds: Math.max(0, (Date.parse(m.finishedAt) - Date.parse(m.startedAt)) / 1000),
  };
}

export function backupBytes(m: Manifest): number {
  return m.artifacts.reduce((sum, a) => sum + a.bytes, 0);
}

function tablesOf(m: Manifest): PostgresArtifact['tables'] | undefined {
  return m.artifacts.find((a): a is PostgresArtifact => a.kind === 'postgres')?.tables;
}

/** The tables that shrank most from `before` to `backup`, as a clause; '' when none did. */
function shrinkNote(backup: Manifest, before: Manifest | undefined): string {
  const now = tablesOf(backup);
  const then = before && tablesOf(before);
  return now && then ? describeShrunkTables(compareTables(then, now), before.id) : '';
}

function rowsOf(m: Manifest): number | undefined {
  const pg = m.artifacts.find((a) => a.kind === 'postgres');
  return pg?.kind === 'postgres' ? totalRows(pg) : undefined;
}

function startOf(input: HealthInput): number | undefined {
  if (input.oldestStartedAt) return Date.parse(input.oldestStartedAt);
  return earliest(input.backups.map((m) => Date.parse(m.startedAt)));
}

function earliest(times: readonly number[]): number | undefined {
  return times.length === 0 ? undefined : Math.min(...times);
}

function ageHours(iso: string, now: Date): number {
  return hoursBetween(Date.parse(iso), now);
}

function hoursBetween(from: number, now: Date): number {
  // A clock a little ahead of ours must not make a backup look older, or negative.
  return Math.max(0, (now.getTime() - from) / HOUR_MS);
}

export function medianOf(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** How far `value` fell below `median`, as a share; 0 when it did not fall or there is no baseline. */
function dropShare(value: number, median: number | undefined): number {
  if (median === undefined || median <= 0) return 0;
  return Math.max(0, (median - value) / median);
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

const ARTIFACT_NAMES: Readonly<Record<Artifact['kind'], string>> = {
  postgres: 'database dump',
  globals: 'roles (globals)',
  media: 'media archive',
};
