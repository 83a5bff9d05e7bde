/**
 * `backupctl show`: what one backup holds, from its manifest and verification record alone (no
 * artifact is downloaded). Each table's share is its share of the backup's rows: pg_dump writes
 * its custom archive to a pipe here, and an archive written to a pipe has no data offsets in its
 * table of contents, so even reading the archive's head would not tell how many bytes a table
 * takes; the rows counted in the dump's snapshot are what the backup honestly knows.
 */
import type { Catalog } from '../catalog.ts';
import { formatCount, formatSize } from '../core/format.ts';
import { parseBackupId } from '../core/ids.ts';
import type { DatabaseProperties, Manifest } from '../core/manifest.ts';
import type { Verification } from '../core/verification.ts';
import { formatTable } from './list.ts';

export interface ShownTable {
  readonly schema: string;
  readonly table: string;
  readonly rows: number;
  /** Percent of the backup's rows, one decimal (0 when the backup holds no rows). */
  readonly rowPercent: number;
}

export interface ShownBackup {
  readonly id: string;
  readonly tier: string;
  readonly database: string;
  readonly formatVersion: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly versions: {
    readonly server: string | null;
    readonly pgDump: string | null;
    readonly backupctl: string;
  };
  readonly artifacts: readonly {
    readonly kind: string;
    readonly key: string;
    readonly bytes: number;
    readonly sha256: string;
  }[];
  /** Format 2 with a dump: the database's properties as CREATE DATABASE rebuilds them. */
  readonly properties: DatabaseProperties | null;
  /** Format 2 with a dump: the roles the database depends on, with their attributes. */
  readonly roles: readonly { readonly role: string; readonly attributes: Readonly<Record<string, string>> }[];
  /** `member in role`, from the catalog fingerprint. */
  readonly memberships: readonly string[];
  readonly schemas: readonly string[];
  readonly tables: readonly ShownTable[];
  readonly rows: number | null;
  readonly largeObjects: number | null;
  readonly media: { readonly files: number; readonly bytes: number; readonly warnings: number } | null;
  readonly verification: {
    readonly verifiedAt: string;
    readonly ok: boolean;
    readonly restoreSeconds: number | null;
    readonly failed: readonly string[];
  } | null;
}

/** The verification record of the manifest's folder, read through the catalog; undefined if none. */
export async function readVerification(
  catalog: Catalog,
  manifest: Manifest,
): Promise<Verification | undefined> {
  const parsed = parseBackupId(manifest.id);
  if (!parsed.ok) return undefined;
  const folder = (await catalog.folders(parsed.id.tier, parsed.id.database)).find(
    (f) => f.name === manifest.id,
  );
  return folder ? catalog.verification(folder) : undefined;
}

/** Code-unit order: the same on every machine, whatever its locale. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const ROLE = 'role ';
const MEMBERSHIP = 'membership of ';

export function describeBackup(manifest: Manifest, verification: Verification | undefined): ShownBackup {
  const dump = manifest.artifacts.find((a) => a.kind === 'postgres');
  const media = manifest.artifacts.find((a) => a.kind === 'media');
  const objects = manifest.fingerprint?.objects ?? {};
  const rows = dump ? dump.tables.reduce((sum, t) => sum + t.rows, 0) : null;
  const tables = (dump?.tables ?? [])
    .map((t) => ({
      schema: t.schema,
      table: t.table,
      rows: t.rows,
      rowPercent: rows ? Math.round((t.rows / rows) * 1000) / 10 : 0,
    }))
    .sort((a, b) => byCodeUnit(a.schema, b.schema) || byCodeUnit(a.table, b.table));
  return {
    id: manifest.id,
    tier: manifest.tier,
    database: manifest.database,
    formatVersion: manifest.formatVersion,
    startedAt: manifest.startedAt,
    finishedAt: manifest.finishedAt,
    versions: {
      server: manifest.serverVersion ?? null,
      pgDump: manifest.pgDumpVersion ?? null,
      backupctl: manifest.tool.version,
    },
    artifacts: manifest.artifacts.map((a) => ({
      kind: a.kind,
      key: a.key,
      bytes: a.bytes,
      sha256: a.sha256,
    })),
    properties: manifest.databaseProperties ?? null,
    roles: Object.keys(objects)
      .filter((name) => name.startsWith(ROLE))
      .map((name) => ({ role: name.slice(ROLE.length), attributes: objects[name] ?? {} })),
    memberships: Object.keys(objects)
      .filter((name) => name.startsWith(MEMBERSHIP))
      .map((name) => name.slice(MEMBERSHIP.length)),
    schemas: [...new Set(tables.map((t) => t.schema))],
    tables,
    rows,
    largeObjects: dump ? dump.largeObjects : null,
    media: media ? { files: media.fileCount, bytes: media.bytes, warnings: media.warnings.length } : null,
    verification: verification
      ? {
          verifiedAt: verification.verifiedAt,
          ok: verification.ok,
          restoreSeconds: verification.restoreSeconds ?? null,
          failed: verification.checks
            .filter((c) => !c.ok)
            .map((c) => `${c.artifact} ${c.name}${c.detail ? `: ${c.detail}` : ''}`),
        }
      : null,
  };
}

export function formatShow(s: ShownBackup): string {
  const lines = [
    `Backup ${s.id} (format ${s.formatVersion})`,
    `  started ${s.startedAt}, finished ${s.finishedAt}`,
    `  server ${s.versions.server ?? '-'}, pg_dump ${s.versions.pgDump ?? '-'}, backupctl ${s.versions.backupctl}`,
    '',
    formatTable([
      ['ARTIFACT', 'SIZE', 'BYTES', 'SHA-256', 'KEY'],
      ...s.artifacts.map((a) => [a.kind, formatSize(a.bytes), String(a.bytes), a.sha256, a.key]),
    ]),
  ];
  const p = s.properties;
  if (p) {
    lines.push(
      '',
      `Database ${s.database}: owner ${p.owner}, encoding ${p.encoding}, ${p.localeProvider} locale ${p.locale ?? p.collate}${p.locale ? '' : ` (ctype ${p.ctype})`}, tablespace ${p.tablespace}, connection limit ${p.connectionLimit}`,
      `  privileges: ${p.acl ? p.acl.join(' ') : 'the defaults'}`,
      `  settings: ${p.settings.join(' ') || 'none'}`,
      ...p.roleSettings.map((r) => `  settings of role ${r.role}: ${r.settings.join(' ')}`),
    );
  }
  if (s.roles.length > 0) {
    lines.push('', 'Roles:');
    for (const r of s.roles) {
      const on = Object.entries(r.attributes)
        .filter(([, value]) => value !== 'false')
        .map(([name, value]) => (value === 'true' ? name : `${name} ${value}`));
      lines.push(`  ${r.role}${on.length > 0 ? `: ${on.join(', ')}` : ''}`);
    }
    if (s.memberships.length > 0) lines.push(`  memberships: ${s.memberships.join(', ')}`);
  }
  if (s.rows !== null) {
    lines.push(
      '',
      formatTable([
        ['SCHEMA', 'TABLE', 'ROWS', 'SHARE OF ROWS'],
        ...s.tables.map((t) => [t.schema, t.table, formatCount(t.rows), `${t.rowPercent}%`]),
      ]),
      `${s.tables.length} tables in ${s.schemas.length} schemas, ${formatCount(s.rows)} rows, ${s.largeObjects} large objects`,
    );
  }
  if (s.media) {
    lines.push(
      '',
      `Media: ${formatCount(s.media.files)} files, ${formatSize(s.media.bytes)} compressed${s.media.warnings ? `, ${s.media.warnings} tar warnings` : ''}`,
    );
  }
  const v = s.verification;
  lines.push(
    '',
    v
      ? `Verification: ${v.ok ? 'passed' : 'FAILED'} at ${v.verifiedAt}${v.restoreSeconds === null ? '' : `, test restore ${v.restoreSeconds} s`}${v.failed.length ? ` (${v.failed.join('; ')})` : ''}`
      : 'Verification: none (backupctl verify proves a backup restorable)',
  );
  return lines.join('\n');
}
