/**
 * `backupctl diff`: two backups of one database side by side, from their manifests alone (no
 * artifact is downloaded): tables added and removed and row counts changed (task/core/
 * table-changes.ts, the comparison the monitor's findings use too), the roles, owners, grants and
 * settings that changed (the catalog fingerprints' detail), and the artifacts' sizes. The older
 * backup is always the "before", whatever the order the two are named in.
 *
 * What manifests do not record is not compared: column definitions, indexes, functions' bodies.
 */

import { type FingerprintChange, fingerprintChanges } from '../core/fingerprint.ts';
import { formatCount, formatSize } from '../core/format.ts';
import type { Manifest } from '../core/manifest.ts';
import {
  compareTables,
  describeShrink,
  lostMoreThan,
  type TableChanges,
  type TableRows,
} from '../core/table-changes.ts';
import { CheckFailedError, ConfigError } from '../errors.ts';
import { formatTable } from './list.ts';

export interface BackupDiff {
  readonly database: string;
  readonly before: string;
  readonly after: string;
  /** Null when either backup holds no database dump. */
  readonly tables: TableChanges | null;
  readonly rows: { readonly before: number | null; readonly after: number | null };
  /**
   * Objects of the catalog fingerprint that differ. Null when they cannot be compared: a format-1
   * or media-only backup has none, and fingerprints of different versions cover different things.
   */
  readonly catalog: readonly FingerprintChange[] | null;
  readonly artifacts: readonly {
    readonly kind: string;
    readonly before: number | null;
    readonly after: number | null;
  }[];
  readonly mediaFiles: { readonly before: number | null; readonly after: number | null };
}

/** The older of the two first. */
export function inOrder(a: Manifest, b: Manifest): [Manifest, Manifest] {
  if (a.database !== b.database) {
    throw new ConfigError(
      `Backups ${a.id} and ${b.id} are of different databases (${a.database}, ${b.database}); diff compares two backups of one database.`,
    );
  }
  return a.finishedAt <= b.finishedAt ? [a, b] : [b, a];
}

export function diffBackups(before: Manifest, after: Manifest): BackupDiff {
  const dump = (m: Manifest) => m.artifacts.find((a) => a.kind === 'postgres');
  const media = (m: Manifest) => m.artifacts.find((a) => a.kind === 'media');
  const [was, now] = [dump(before), dump(after)];
  const total = (d: typeof was) => (d ? d.tables.reduce((sum, t) => sum + t.rows, 0) : null);
  const kinds = [...new Set([...before.artifacts, ...after.artifacts].map((a) => a.kind))];
  const bytes = (m: Manifest, kind: string) => m.artifacts.find((a) => a.kind === kind)?.bytes ?? null;
  const comparable =
    before.fingerprint && after.fingerprint && before.fingerprint.version === after.fingerprint.version;
  return {
    database: after.database,
    before: before.id,
    after: after.id,
    tables: was && now ? compareTables(was.tables, now.tables) : null,
    rows: { before: total(was), after: total(now) },
    catalog: comparable
      ? fingerprintChanges(before.fingerprint?.objects ?? {}, after.fingerprint?.objects ?? {})
      : null,
    artifacts: kinds.map((kind) => ({ kind, before: bytes(before, kind), after: bytes(after, kind) })),
    mediaFiles: { before: media(before)?.fileCount ?? null, after: media(after)?.fileCount ?? null },
  };
}

/** `--fail-on-drop PCT` as a number, checked before anything is read. */
export function parseDropPercent(value: string): number {
  const percent = Number(value);
  if (value.trim() === '' || !Number.isFinite(percent) || percent < 0 || percent > 100) {
    throw new ConfigError(`--fail-on-drop must be a percentage from 0 to 100, got: ${value}`, {
      hint: 'backupctl diff --help',
    });
  }
  return percent;
}

/** `--fail-on-drop`: throws (exit 1) naming the tables that lost more than `percent` of their rows. */
export function assertNoDrop(diff: BackupDiff, percent: number): void {
  if (!diff.tables) return;
  const lost = lostMoreThan(diff.tables, percent);
  if (lost.length === 0) return;
  const removed = new Set(diff.tables.removed.map((t) => `${t.schema}.${t.table}`));
  const named = lost.map((c) => describeShrink(c, removed.has(`${c.schema}.${c.table}`)));
  throw new CheckFailedError(
    `${lost.length} table${lost.length === 1 ? '' : 's'} of ${diff.database} lost more than ${percent}% of ${lost.length === 1 ? 'its' : 'their'} rows from ${diff.before} to ${diff.after}: ${named.join(', ')}.`,
  );
}

const size = (bytes: number | null) => (bytes === null ? '-' : formatSize(bytes));
const count = (n: number | null) => (n === null ? '-' : formatCount(n));
const name = (t: { readonly schema: string; readonly table: string }) => `${t.schema}.${t.table}`;

export function formatDiff(d: BackupDiff): string {
  const lines = [`Database ${d.database}: ${d.before} → ${d.after}`, ''];
  lines.push(
    formatTable([
      ['ARTIFACT', 'BEFORE', 'AFTER'],
      ...d.artifacts.map((a) => [a.kind, size(a.before), size(a.after)]),
      ['rows', count(d.rows.before), count(d.rows.after)],
      ...(d.mediaFiles.before === null && d.mediaFiles.after === null
        ? []
        : [['media files', count(d.mediaFiles.before), count(d.mediaFiles.after)]]),
    ]),
  );
  const t = d.tables;
  if (!t) lines.push('', 'Tables: not compared (one of the backups holds no database dump).');
  else {
    const listed = (title: string, list: readonly TableRows[]) =>
      list.length > 0
        ? ['', `${title}:`, ...list.map((x) => `  ${name(x)} (${formatCount(x.rows)} rows)`)]
        : [];
    lines.push(...listed('Tables added', t.added), ...listed('Tables removed', t.removed));
    lines.push(
      '',
      t.changed.length > 0
        ? formatTable([
            ['TABLE', 'BEFORE', 'AFTER', 'CHANGE', '%'],
            ...t.changed.map((c) => [
              name(c),
              formatCount(c.before),
              formatCount(c.after),
              `${c.change > 0 ? '+' : ''}${formatCount(c.change)}`,
              c.percent === null ? 'new' : `${c.percent > 0 ? '+' : ''}${c.percent}%`,
            ]),
          ])
        : 'Row counts: unchanged in every table both hold.',
    );
  }
  if (!d.catalog) {
    lines.push(
      '',
      'Roles, owners, grants and settings: not compared (a backup without a comparable fingerprint).',
    );
  } else if (d.catalog.length === 0) {
    lines.push('', 'Roles, owners, grants and settings: unchanged.');
  } else {
    lines.push('', 'Roles, owners, grants and settings:');
    for (const c of d.catalog) {
      if (c.change !== 'changed') lines.push(`  ${c.object}: ${c.change}`);
      else {
        const props = (c.properties ?? []).map(
          (p) => `${p.name} ${p.before ?? '(none)'} → ${p.after ?? '(none)'}`,
        );
        lines.push(`  ${c.object}: ${props.join('; ')}`);
      }
    }
  }
  return lines.join('\n');
}
