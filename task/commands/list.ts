/** `backupctl list`: complete backups, newest first, as a table or JSON. */

import { formatSize } from '../core/format.ts';
import type { Manifest } from '../core/manifest.ts';

export interface BackupSummary {
  readonly id: string;
  readonly tier: string;
  readonly database: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly dbBytes?: number;
  readonly mediaBytes?: number;
  readonly mediaFiles?: number;
  readonly tables?: number;
  readonly rows?: number;
}

export function summarize(m: Manifest): BackupSummary {
  const db = m.artifacts.find((a) => a.kind === 'postgres');
  const media = m.artifacts.find((a) => a.kind === 'media');
  return {
    id: m.id,
    tier: m.tier,
    database: m.database,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    ...(db
      ? { dbBytes: db.bytes, tables: db.tables.length, rows: db.tables.reduce((s, t) => s + t.rows, 0) }
      : {}),
    ...(media ? { mediaBytes: media.bytes, mediaFiles: media.fileCount } : {}),
  };
}

export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatBackupList(manifests: readonly Manifest[]): string {
  if (manifests.length === 0) return 'No complete backups.';
  const header = ['ID', 'FINISHED (UTC)', 'DB SIZE', 'ROWS', 'MEDIA SIZE', 'FILES'];
  const rows = manifests
    .map(summarize)
    .map((s) => [
      s.id,
      s.finishedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      s.dbBytes === undefined ? '-' : formatSize(s.dbBytes),
      s.rows === undefined ? '-' : String(s.rows),
      s.mediaBytes === undefined ? '-' : formatSize(s.mediaBytes),
      s.mediaFiles === undefined ? '-' : String(s.mediaFiles),
    ]);
  return formatTable([header, ...rows]);
}
