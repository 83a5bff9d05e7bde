/**
 * The manifest: the commit marker of a backup, written last. A backup exists only when its
 * manifest exists; everything that reads backups validates it with this schema.
 */
import { z } from 'zod';
import { type CatalogFingerprint, fingerprintSchema } from './fingerprint.ts';
import { databaseNameSchema, TIERS } from './ids.ts';

/**
 * 2: a backup of a database also holds the globals artifact, the database's properties and the
 * catalog fingerprint. Format-1 manifests still parse; they restore without those guarantees.
 */
export const MANIFEST_FORMAT_VERSION = 2;

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

/** `pg_dumpall --globals-only --no-role-passwords`: roles, their attributes, settings and memberships. */
export const globalsArtifactSchema = z.object({
  ...artifactBase,
  kind: z.literal('globals'),
  format: z.literal('sql'),
});

export const artifactSchema = z.discriminatedUnion('kind', [
  postgresArtifactSchema,
  globalsArtifactSchema,
  mediaArtifactSchema,
]);

/**
 * What CREATE DATABASE and the statements after it need to rebuild the database as it was, read
 * in the dump's snapshot. Settings are `name=value`, as PostgreSQL stores them.
 */
export const databasePropertiesSchema = z.object({
  owner: z.string().min(1),
  encoding: z.string().min(1),
  collate: z.string(),
  ctype: z.string(),
  localeProvider: z.enum(['libc', 'icu', 'builtin']),
  /** The ICU locale (15, 16) or the provider's locale (17+), when the provider is not libc. */
  locale: z.string().optional(),
  icuRules: z.string().optional(),
  connectionLimit: z.number().int(),
  /** The database's ACL items (`app_rw=c/app_owner`); null: never granted or revoked, the default. */
  acl: z.array(z.string()).nullable(),
  tablespace: z.string().min(1),
  /** ALTER DATABASE … SET. */
  settings: z.array(z.string()),
  /** ALTER ROLE … IN DATABASE … SET. */
  roleSettings: z.array(z.object({ role: z.string().min(1), settings: z.array(z.string()) })),
  /** The source server's bootstrap superuser: a server role, never created by a restore. */
  bootstrapSuperuser: z.string().min(1),
});

export const manifestSchema = z
  .object({
    formatVersion: z.union([z.literal(1), z.literal(MANIFEST_FORMAT_VERSION)]),
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
    /** Format 2, with a database dump. */
    databaseProperties: databasePropertiesSchema.optional(),
    /** Format 2, with a database dump: from the dump's snapshot. */
    fingerprint: fingerprintSchema.optional(),
  })
  .superRefine((m, ctx) => {
    const captured = {
      'artifacts (globals)': m.artifacts.some((a) => a.kind === 'globals'),
      databaseProperties: m.databaseProperties !== undefined,
      fingerprint: m.fingerprint !== undefined,
    };
    // Format 1 has none of them; a format-2 backup of a database has all (a restore onto a bare
    // server needs every one), a media-only one none.
    const expected = m.formatVersion !== 1 && m.artifacts.some((a) => a.kind === 'postgres');
    for (const [field, present] of Object.entries(captured)) {
      if (present !== expected)
        ctx.addIssue({
          code: 'custom',
          path: [field.split(' ')[0] ?? field],
          message: `${present ? 'must not be' : 'must be'} present in a format-${m.formatVersion} ${
            m.artifacts.some((a) => a.kind === 'postgres') ? 'database' : 'media-only'
          } backup (${field})`,
        });
    }
  });

export type Manifest = z.infer<typeof manifestSchema>;
export type Artifact = z.infer<typeof artifactSchema>;
export type PostgresArtifact = z.infer<typeof postgresArtifactSchema>;
export type GlobalsArtifact = z.infer<typeof globalsArtifactSchema>;
export type DatabaseProperties = z.infer<typeof databasePropertiesSchema>;
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

/** What a format-2 backup captured for a restore; undefined for format 1 or a media-only backup. */
export interface DatabaseCapture {
  readonly globals: GlobalsArtifact;
  readonly databaseProperties: DatabaseProperties;
  readonly fingerprint: CatalogFingerprint;
}

export function databaseCapture(manifest: Manifest): DatabaseCapture | undefined {
  const globals = manifest.artifacts.find((a): a is GlobalsArtifact => a.kind === 'globals');
  const { databaseProperties, fingerprint } = manifest;
  return globals && databaseProperties && fingerprint
    ? { globals, databaseProperties, fingerprint }
    : undefined;
}

export function totalRows(artifact: PostgresArtifact): number {
  return artifact.tables.reduce((sum, t) => sum + t.rows, 0);
}
