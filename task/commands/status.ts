/**
 * `backupctl status` and `backupctl report`: the monitor's health policy (task/core/health.ts)
 * from an operator's shell, over the same inventory the monitor Lambda reads.
 */

import type { Catalog } from '../catalog.ts';
import { formatHours, formatSize } from '../core/format.ts';
import { evaluateHealth, type HealthReport, type HealthThresholds } from '../core/health.ts';
import { formatWeeklyReport } from '../core/health-messages.ts';
import { NotFoundError } from '../errors.ts';
import { collectInventory } from '../inventory.ts';
import { formatTable } from './list.ts';

/**
 * The health report of `databases`, or of every database found plus `include`. Finding none at all
 * is an error, not a healthy report of nothing: the bucket or prefix is likely wrong.
 */
export async function checkHealth(
  catalog: Catalog,
  scope: { readonly databases?: readonly string[]; readonly include?: readonly string[] },
  now: Date,
  thresholds: HealthThresholds,
): Promise<HealthReport> {
  const inputs = await collectInventory(catalog, scope.databases, {
    readNewest: thresholds.dropHistory + 1,
    ...(scope.include ? { include: scope.include } : {}),
  });
  if (inputs.length === 0) {
    throw new NotFoundError(
      `No backups found in ${catalog.location}: check BACKUP_BUCKET and BACKUP_PREFIX, or name a database with --database or PGDATABASE to have it reported as missing.`,
    );
  }
  return evaluateHealth(inputs, now, thresholds);
}

/** A table per database and tier, every finding, and one clear healthy/unhealthy line last. */
export function formatStatus(report: HealthReport): string {
  const rows = report.verdicts.map((v) => [
    v.database,
    v.tier,
    v.status.toUpperCase(),
    String(v.count),
    v.newest?.id ?? '-',
    v.newest ? formatHours(v.newest.ageHours) : '-',
    v.newest ? formatSize(v.newest.bytes) : '-',
  ]);
  const lines = [formatTable([['DATABASE', 'TIER', 'STATUS', 'BACKUPS', 'NEWEST', 'AGE', 'SIZE'], ...rows])];
  for (const d of report.databases) {
    const v = d.verification;
    lines.push(
      `${d.database}: last verification ${v ? `${v.id} ${v.ok ? 'passed' : 'FAILED'} ${formatHours(v.ageHours)} ago${v.restoreSeconds === undefined ? '' : `, test restore ${v.restoreSeconds} s`}` : 'none'}`,
    );
  }
  const findings = report.verdicts.flatMap((v) => v.findings);
  if (findings.length > 0)
    lines.push('', ...findings.map((f) => `${f.severity.toUpperCase()}: ${f.message}`));
  const databases = report.databases.length;
  lines.push(
    '',
    report.healthy
      ? `HEALTHY: ${databases} database${databases === 1 ? '' : 's'}${findings.length > 0 ? `, ${findings.length} warning(s)` : ', no findings'}.`
      : `UNHEALTHY: ${findings.filter((f) => f.severity === 'critical').length} critical finding(s) across ${databases} database${databases === 1 ? '' : 's'}.`,
  );
  return lines.join('\n');
}

export function formatReport(report: HealthReport, location: string): string {
  const { subject, body } = formatWeeklyReport(report, { location });
  return `${subject}\n\n${body}`;
}
