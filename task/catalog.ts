/**
 * Finding backups. A backup exists only when its manifest exists and parses: list, verify,
 * restore and status all come through here, so none of them can see a half-written backup.
 */
import { formatBackupId, parseBackupId, TIERS, type Tier } from './core/ids.ts';
import { databaseTierPrefix, MANIFEST_FILE, manifestKey } from './core/keys.ts';
import { type Manifest, parseManifest } from './core/manifest.ts';
import { ConfigError, NotFoundError } from './errors.ts';
import type { Logger } from './log.ts';
import type { ObjectStore } from './store/store.ts';

export interface CatalogFilter {
  readonly tier?: Tier;
  readonly database?: string;
}

const READ_CONCURRENCY = 8;

/** Complete backups matching the filter, newest first. Cost: one listing per tier and database. */
export async function findBackups(
  store: ObjectStore,
  prefix: string,
  filter: CatalogFilter = {},
  logger?: Logger,
): Promise<Manifest[]> {
  const keys: string[] = [];
  for (const tier of filter.tier ? [filter.tier] : TIERS) {
    const databases = filter.database
      ? [filter.database]
      : (await store.listFolders(`${prefix}${tier}/`)).map((p) => p.slice(`${prefix}${tier}/`.length, -1));
    for (const database of databases) {
      for await (const object of store.list(databaseTierPrefix(prefix, tier, database))) {
        if (object.key.endsWith(`/${MANIFEST_FILE}`)) keys.push(object.key);
      }
    }
  }
  const manifests: Manifest[] = [];
  for (let i = 0; i < keys.length; i += READ_CONCURRENCY) {
    const batch = keys.slice(i, i + READ_CONCURRENCY);
    const read = await Promise.all(batch.map(async (key) => readManifestAt(store, key, logger)));
    for (const m of read) if (m) manifests.push(m);
  }
  return manifests.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt) || b.id.localeCompare(a.id));
}

async function readManifestAt(
  store: ObjectStore,
  key: string,
  logger?: Logger,
): Promise<Manifest | undefined> {
  try {
    return parseManifest(await store.getText(key));
  } catch (error) {
    logger?.warn('manifest skipped', { key, reason: (error as Error).message });
    return undefined;
  }
}

/**
 * Resolves `latest` or an id to a complete backup of `database`. `latest` is the newest complete
 * backup of exactly that database (any scheduled tier), never a prefix match of another name.
 */
export async function resolveBackup(
  store: ObjectStore,
  prefix: string,
  ref: string,
  database: string | undefined,
  logger?: Logger,
): Promise<Manifest> {
  if (ref === 'latest') {
    if (!database) throw new ConfigError('"latest" needs the database: set PGDATABASE.');
    const all = await findBackups(store, prefix, { database }, logger);
    const newest = all.find((m) => m.tier !== 'pre-restore');
    if (!newest)
      throw new NotFoundError(
        `No complete backup of database ${database} exists in ${store.location}/${prefix}.`,
      );
    return newest;
  }
  const parsed = parseBackupId(ref);
  if (!parsed.ok) throw new ConfigError(`${parsed.reason}.`);
  if (database && parsed.id.database !== database) {
    throw new ConfigError(`Backup ${ref} belongs to database ${parsed.id.database}, not ${database}.`);
  }
  const key = manifestKey(prefix, parsed.id);
  let text: string;
  try {
    text = await store.getText(key);
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new NotFoundError(
        `Backup ${ref} does not exist or is incomplete (no manifest at ${store.location}/${key}).`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  const manifest = parseManifest(text);
  if (manifest.id !== formatBackupId(parsed.id)) {
    throw new ConfigError(
      `The manifest at ${key} names backup ${manifest.id}, not ${ref}; refusing to use it.`,
    );
  }
  return manifest;
}
