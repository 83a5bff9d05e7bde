/**
 * Backups as the bucket holds them, without running a backup: a manifest for an id and the
 * objects of a complete backup (artifacts of the manifest's sizes, then the manifest), for tests
 * of the catalog and of its readers (inventory, restore Lambda).
 */
import { parseBackupId, parseTimestamp } from '../../task/core/ids.ts';
import { artifactKey, manifestKey } from '../../task/core/keys.ts';
import type { Artifact, Manifest } from '../../task/core/manifest.ts';

export interface ManifestOptions {
  readonly prefix?: string;
  /** @default ['postgres', 'media'] */
  readonly parts?: readonly ('postgres' | 'media')[];
  /** Minutes from the id's timestamp to finishedAt. @default 10 */
  readonly minutes?: number;
  /** Bytes of each artifact. @default 4096 */
  readonly bytes?: number;
}

export function idParts(id: string) {
  const parsed = parseBackupId(id);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.id;
}

export function manifestFor(id: string, options: ManifestOptions = {}): Manifest {
  const backupId = idParts(id);
  const prefix = options.prefix ?? '';
  const started = parseTimestamp(backupId.timestamp) as Date;
  const common = {
    compression: 'zstd' as const,
    bytes: options.bytes ?? 4096,
    sha256: 'a'.repeat(64),
    durationMs: 100,
  };
  const artifacts = (options.parts ?? ['postgres', 'media']).map(
    (kind): Artifact =>
      kind === 'postgres'
        ? {
            ...common,
            kind,
            key: artifactKey(prefix, backupId, kind),
            format: 'custom',
            tables: [{ schema: 'public', table: 'users', rows: 3 }],
            largeObjects: 0,
          }
        : {
            ...common,
            kind,
            key: artifactKey(prefix, backupId, kind),
            format: 'tar',
            fileCount: 2,
            warnings: [],
          },
  );
  return {
    formatVersion: 1,
    id,
    tier: backupId.tier,
    database: backupId.database,
    startedAt: started.toISOString(),
    finishedAt: new Date(started.getTime() + (options.minutes ?? 10) * 60_000).toISOString(),
    serverVersion: '15.18',
    pgDumpVersion: '15.18',
    tool: { name: 'backupctl', version: '0.1.0' },
    artifacts,
  };
}

/** The objects of a complete backup: every artifact (of its recorded size), then the manifest. */
export function backupObjects(manifest: Manifest, prefix = ''): [key: string, body: string][] {
  return [
    ...manifest.artifacts.map((a): [string, string] => [a.key, 'x'.repeat(a.bytes)]),
    [manifestKey(prefix, idParts(manifest.id)), JSON.stringify(manifest)],
  ];
}

export function manifestKeyOf(id: string, prefix = ''): string {
  return manifestKey(prefix, idParts(id));
}
