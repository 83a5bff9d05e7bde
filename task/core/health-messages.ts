/**
 * The health policy's words: the SNS alert and the weekly report made from a `HealthReport`
 * (task/core/health.ts decides; this only writes it down). Shared by the monitor Lambda and
 * `backupctl report`, so the shell prints exactly what the operators are emailed.
 */
import { formatHours, formatPercent, formatSize } from './format.ts';
import {
  CHECKS,
  type CheckName,
  type DatabaseSummary,
  type Finding,
  type HealthReport,
  medianOf,
  type OffsiteSummary,
  SEVERITY_RANK,
} from './health.ts';
import { SCHEDULED_TIERS, type ScheduledTier } from './ids.ts';
import { snsSubject } from './sns-subject.ts';

export interface MessageContext {
  /** Where the backups are, for the text (e.g. `s3://my-backups`). */
  readonly location?: string;
  /** The restore Lambda's name: adds the `aws lambda invoke` restore line. */
  readonly restoreFunctionName?: string;
}

export interface Message {
  /** An SNS subject (sns-subject.ts): at most 100 printable ASCII characters. */
  readonly subject: string;
  readonly body: string;
}

const CHECK_RANK: Readonly<Record<CheckName, number>> = Object.fromEntries(
  CHECKS.map((c, i) => [c, i]),
) as Record<CheckName, number>;

interface LocatedFinding extends Finding {
  readonly database: string;
  readonly tier: ScheduledTier;
}

function allFindings(report: HealthReport): LocatedFinding[] {
  return report.verdicts
    .flatMap((v) => v.findings.map((f) => ({ ...f, database: v.database, tier: v.tier })))
    .sort(
      (a, b) =>
        SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
        CHECK_RANK[a.check] - CHECK_RANK[b.check] ||
        a.database.localeCompare(b.database) ||
        SCHEDULED_TIERS.indexOf(a.tier) - SCHEDULED_TIERS.indexOf(b.tier),
    );
}

/**
 * The alert: the subject names the database and the worst problem; the body lists every finding,
 * the newest good backup of each database, and the commands to investigate and to restore.
 */
export function formatAlert(report: HealthReport, context: MessageContext = {}): Message {
  const findings = allFindings(report);
  const worst = findings[0];
  const subject = worst
    ? snsSubject(
        `Backup ${worst.severity.toUpperCase()} ${worst.database}: ${worst.message}`,
        findings.length > 1 ? ` (+${findings.length - 1} more)` : '',
      )
    : 'Backups healthy';
  const lines = [
    `Backups${context.location ? ` in ${context.location}` : ''} are ${report.healthy ? (findings.length > 0 ? 'healthy, with warnings' : 'healthy') : 'UNHEALTHY'} (checked ${report.checkedAt}).`,
    '',
    'Findings:',
    ...(findings.length > 0
      ? findings.map((f) => `  ${f.severity.toUpperCase().padEnd(8)}  ${f.database} ${f.tier}: ${f.message}`)
      : ['  none']),
    '',
    'Newest good backup:',
    ...report.databases.map((d) => `  ${d.database}: ${describeGood(d)}`),
    '',
    'Newest backup per tier:',
    ...report.verdicts.map(
      (v) =>
        `  ${v.database} ${v.tier.padEnd(7)}  ${v.newest ? `${v.newest.id}, ${formatHours(v.newest.ageHours)} ago, ${formatSize(v.newest.bytes)}` : 'none'}  (${v.count} complete)`,
    ),
  ];
  const affected = [
    ...new Set(
      findings.length > 0 ? findings.map((f) => f.database) : report.databases.map((d) => d.database),
    ),
  ];
  lines.push('', 'Investigate:', '  backupctl status');
  for (const database of affected) {
    lines.push(`  backupctl list --database ${database}`, `  PGDATABASE=${database} backupctl verify latest`);
  }
  for (const database of affected) {
    const good = report.databases.find((d) => d.database === database)?.newestGood;
    if (!good) continue;
    lines.push(
      '',
      `Restore ${database} from ${good.id} (replaces database ${database}; a pre-restore backup is taken first):`,
    );
    if (context.restoreFunctionName) {
      const payload = JSON.stringify({ database, backup: good.id, confirm: database });
      lines.push(
        `  aws lambda invoke --function-name ${context.restoreFunctionName} --cli-binary-format raw-in-base64-out --payload '${payload}' out.json`,
      );
    }
    lines.push(`  backupctl restore ${good.id} --confirm ${database}`);
  }
  return { subject, body: `${lines.join('\n')}\n` };
}

function describeOffsite(o: OffsiteSummary): string {
  if (o.state === 'replicated') return `${o.id} is in the replica`;
  if (o.state === 'failed') return `${o.id} FAILED to replicate`;
  return `${o.id} still replicating, ${formatHours(o.lagSeconds / 3600)} after it finished`;
}

function describeGood(d: DatabaseSummary): string {
  const g = d.newestGood;
  if (!g) return 'none: no backup passes the checks';
  return `${g.id}, finished ${g.finishedAt} (${formatHours(g.ageHours)} ago), ${formatSize(g.bytes)}, ${g.verified ? 'verified' : 'not verified'}`;
}

/**
 * The weekly report: per database its backups per tier, the newest, sizes and their trend, the last
 * verification and its restore time, and the storage used.
 */
export function formatWeeklyReport(report: HealthReport, context: MessageContext = {}): Message {
  const findings = allFindings(report);
  const totalStored = report.verdicts.reduce((sum, v) => sum + v.storedBytes, 0);
  const state = report.healthy
    ? findings.length > 0
      ? `${findings.length} warning(s)`
      : 'healthy'
    : 'UNHEALTHY';
  const subject = snsSubject(
    `Backup report ${report.checkedAt.slice(0, 10)}: ${report.databases.length} database${report.databases.length === 1 ? '' : 's'}, ${state}`,
  );
  const lines = [
    `Weekly backup report${context.location ? ` for ${context.location}` : ''}, ${report.checkedAt}.`,
    `Overall: ${state}; storage used ${formatSize(totalStored)}.`,
  ];
  for (const d of report.databases) {
    lines.push('', `== ${d.database} (${d.status}) ==`);
    for (const v of report.verdicts.filter((x) => x.database === d.database)) {
      const newest = v.newest
        ? `newest ${v.newest.id} (${formatHours(v.newest.ageHours)} ago, ${formatSize(v.newest.bytes)}, took ${Math.round(v.newest.durationSeconds)} s)`
        : 'no backup';
      lines.push(
        `  ${v.tier.padEnd(7)}  ${v.count} backup${v.count === 1 ? '' : 's'}, ${formatSize(v.storedBytes)} stored; ${newest}`,
        `           sizes, newest first: ${v.sizes.length > 0 ? v.sizes.map(formatSize).join(', ') : '-'}${trend(v.sizes)}`,
      );
    }
    const ver = d.verification;
    lines.push(
      ver
        ? `  last verification: ${ver.id} ${ver.ok ? 'passed' : 'FAILED'} ${formatHours(ver.ageHours)} ago${ver.restoreSeconds !== undefined ? `; test restore took ${Math.round(ver.restoreSeconds)} s` : ''}`
        : '  last verification: none',
      `  newest good backup: ${describeGood(d)}`,
    );
    if (d.offsite) lines.push(`  offsite: ${describeOffsite(d.offsite)}`);
  }
  lines.push('', 'Findings:');
  lines.push(
    ...(findings.length > 0
      ? findings.map((f) => `  ${f.severity.toUpperCase().padEnd(8)}  ${f.database} ${f.tier}: ${f.message}`)
      : ['  none']),
  );
  lines.push('', 'Details: backupctl status');
  return { subject, body: `${lines.join('\n')}\n` };
}

/** "; trend +12% against the median of the previous" or nothing without history. */
function trend(sizes: readonly number[]): string {
  const [newest, ...previous] = sizes;
  const median = medianOf(previous);
  if (newest === undefined || median === undefined || median === 0) return '';
  const change = (newest - median) / median;
  return `; ${change >= 0 ? '+' : '-'}${formatPercent(Math.abs(change))} against the median of the previous ${previous.length}`;
}
