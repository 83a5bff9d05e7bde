/**
 * The manifest: the commit marker of a backup, written last. A backup exists only when its
 * manifest exists; everything that reads backups validates it with this schema.
 */
import { z } from 'zod';
import { databaseNameSchema, TIERS } from './ids.ts';

export const MANIFEST_FORMAT_VERSION = 1;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const isoTime = z.iso.datetime();
const count = z.number().int().nonnegative();

const artifactBase = {
  key: z.string().min(1),
  compression: z.literal('zstd'),
  bytes: count,
  sha256,
  durationMs: count,
};

export const tableRowCountSchema = z.object({ schema: z.string(), table: z.string(), rows: count });

export const postgresArtifactSchema = z.object({
  ...artifactBase,
  kind: z.literal('postgres'),
  format: z.literal('custom'),
  /** Rows per table, counted in the snapshot the dump was taken from. */
  tables: z.array(tableRowCountSchema),
  largeObjects: count,
});

export const mediaArtifactSchema = z.object({
  ...artifactBase,
  kind: z.literal('media'),
  format: z.literal('tar'),
  /** Non-directory entries in the archive. */
  fileCount: count,
  /** tar's own warnings (e.g. "file changed as we read it"); the archive is still complete. */
  warnings: z.array(z.string()),
});

export const artifactSchema = z.discriminatedUnion('kind', [postgresArtifactSchema, mediaArtifactSchema]);

export const manifestSchema = z.object({
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  id: z.string().min(1),
  tier: z.enum(TIERS),
  database: databaseNameSchema,
  startedAt: isoTime,
  finishedAt: isoTime,
  /** Server version (e.g. "15.18"); absent for a media-only backup. */
  serverVersion: z.string().optional(),
  pgDumpVersion: z.string().optional(),
  tool: z.object({ name: z.literal('backupctl'), version: z.string() }),
  artifacts: z.array(artifactSchema).min(1),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type Artifact = z.infer<typeof artifactSchema>;
export type PostgresArtifact = z.infer<typeof postgresArtifactSchema>;
export type MediaArtifact = z.infer<typeof mediaArtifactSchema>;
export type TableRowCount = z.infer<typeof tableRowCountSchema>;

/** Parses manifest JSON, throwing an Error that names the first invalid field. */
export function parseManifest(json: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new Error(`manifest is not JSON: ${(error as Error).message}`);
  }
  const result = manifestSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(
      `manifest is invalid: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? ''}`.trim(),
    );
  }
  return result.data;
}

export function totalRows(artifact: PostgresArtifact): number {
  return artifact.tables.reduce((sum, t) => sum + t.rows, 0);
}
