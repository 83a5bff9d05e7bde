/**
 * Reads what the health policy (core/health.ts) needs from the store: per database and scheduled
 * tier, the newest manifests, their verification records, the folders without a manifest (failed
 * runs), and counts and bytes from the listing.
 *
 * Cost, per run: one listing of the tier folders per tier (skipped when the databases are given),
 * one listing per database and tier (one request per 1,000 objects, about 330 backups), and one GET
 * per manifest and verification record read, at most `readNewest` of each per database and tier.
 * It grows with the number of databases and tiers, not with the number of backups kept or of
 * objects elsewhere in the bucket; pre-restore backups are never listed.
 */
import type { HealthInput, OrphanFolder } from './core/health.ts';
import { DEFAULT_THRESHOLDS } from './core/health.ts';
import { formatBackupId, parseTimestamp, SCHEDULED_TIERS, type ScheduledTier } from './core/ids.ts';
import { databaseTierPrefix, MANIFEST_FILE, VERIFICATION_FILE } from './core/keys.ts';
import { type Manifest, parseManifest } from './core/manifest.ts';
import { type Verification, verificationSchema } from './core/verification.ts';
import type { ObjectStore } from './store/store.ts';

export interface InventoryLogger {
  warn(message: string, data?: Record<string, unknown>): void;
}

export interface InventoryOptions {
  /**
   * Manifests (and their verification records) read per database and tier, newest first: the
   * newest backup plus the history its drop check takes the median over.
   * @default DEFAULT_THRESHOLDS.dropHistory + 1 (8)
   */
  readonly readNewest?: number;
  /**
   * Databases reported beside the ones found when `databases` is not given, even with no backup
   * at all (then as missing): the one an operator's PGDATABASE names.
   * @default - none
   */
  readonly include?: readonly string[];
  readonly logger?: InventoryLogger;
}

const READ_CONCURRENCY = 8;

interface Folder {
  readonly timestamp: string;
  readonly keys: Set<string>;
  objects: number;
  bytes: number;
  lastModified: number;
}

/**
 * Collects the health input of every database in every scheduled tier (an input with no backups
 * when a tier has none, so the policy can report it missing).
 *
 * @param databases the configured databases; @default - every database folder found in any tier
 */
export async function collectInventory(
  store: ObjectStore,
  prefix: string,
  databases?: readonly string[],
  options: InventoryOptions = {},
): Promise<HealthInput[]> {
  const readNewest = options.readNewest ?? DEFAULT_THRESHOLDS.dropHistory + 1;
  const names = databases
    ? [...databases]
    : [...new Set([...(await discoverDatabases(store, prefix)), ...(options.include ?? [])])].sort();
  const inputs: HealthInput[] = [];
  for (const database of names) {
    for (const tier of SCHEDULED_TIERS) {
      inputs.push(await collectTier(store, prefix, database, tier, readNewest, options.logger));
    }
  }
  return inputs;
}

async function discoverDatabases(store: ObjectStore, prefix: string): Promise<string[]> {
  const names = new Set<string>();
  for (const tier of SCHEDULED_TIERS) {
    const tierPrefix = `${prefix}${tier}/`;
    for (const folder of await store.listFolders(tierPrefix)) names.add(folder.slice(tierPrefix.length, -1));
  }
  return [...names].sort();
}

async function collectTier(
  store: ObjectStore,
  prefix: string,
  database: string,
  tier: ScheduledTier,
  readNewest: number,
  logger?: InventoryLogger,
): Promise<HealthInput> {
  const base = databaseTierPrefix(prefix, tier, database);
  const folders = new Map<string, Folder>();
  let storedBytes = 0;
  for await (const object of store.list(base)) {
    storedBytes += object.size;
    const rest = object.key.slice(base.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) continue;
    const timestamp = rest.slice(0, slash);
    if (!parseTimestamp(timestamp)) continue;
    let folder = folders.get(timestamp);
    if (!folder) {
      folder = { timestamp, keys: new Set(), objects: 0, bytes: 0, lastModified: 0 };
      folders.set(timestamp, folder);
    }
    folder.keys.add(rest.slice(slash + 1));
    folder.objects++;
    folder.bytes += object.size;
    folder.lastModified = Math.max(folder.lastModified, object.lastModified.getTime());
  }

  const newestFirst = [...folders.values()].sort((a, b) => b.timestamp.localeCompare(a.timestamp));
  const complete = newestFirst.filter((f) => f.keys.has(MANIFEST_FILE));
  const orphans: OrphanFolder[] = newestFirst
    .filter((f) => !f.keys.has(MANIFEST_FILE))
    .map((f) => ({
      id: formatBackupId({ tier, database, timestamp: f.timestamp }),
      startedAt: (parseTimestamp(f.timestamp) as Date).toISOString(),
      lastModified: new Date(f.lastModified).toISOString(),
      objects: f.objects,
      bytes: f.bytes,
    }));

  const backups: Manifest[] = [];
  const unreadable: { id: string; reason: string }[] = [];
  const verifications: Record<string, Verification> = {};
  const toRead = complete.slice(0, readNewest);
  for (let i = 0; i < toRead.length; i += READ_CONCURRENCY) {
    const batch = toRead.slice(i, i + READ_CONCURRENCY);
    const read = await Promise.all(
      batch.map(async (folder) => {
        const id = formatBackupId({ tier, database, timestamp: folder.timestamp });
        const result = await readManifest(store, `${base}${folder.timestamp}/${MANIFEST_FILE}`, id, logger);
        const verification =
          'manifest' in result && folder.keys.has(VERIFICATION_FILE)
            ? await readVerification(store, `${base}${folder.timestamp}/${VERIFICATION_FILE}`, id, logger)
            : undefined;
        return { id, result, verification };
      }),
    );
    for (const { id, result, verification } of read) {
      if ('reason' in result) {
        unreadable.push({ id, reason: result.reason });
        continue;
      }
      backups.push(result.manifest);
      if (verification) verifications[id] = verification;
    }
  }

  const oldest = complete.at(-1);
  return {
    database,
    tier,
    backups,
    verifications,
    orphans,
    unreadable,
    completeCount: complete.length,
    ...(oldest ? { oldestStartedAt: (parseTimestamp(oldest.timestamp) as Date).toISOString() } : {}),
    storedBytes,
  };
}

/** The manifest, or why it cannot be used (also logged). */
async function readManifest(
  store: ObjectStore,
  key: string,
  id: string,
  logger?: InventoryLogger,
): Promise<{ manifest: Manifest } | { reason: string }> {
  let reason: string;
  try {
    const manifest = parseManifest(await store.getText(key));
    if (manifest.id === id) return { manifest };
    reason = `it names backup ${manifest.id}, not ${id}`;
  } catch (error) {
    reason = (error as Error).message;
  }
  logger?.warn('manifest skipped', { key, reason });
  return { reason };
}

async function readVerification(
  store: ObjectStore,
  key: string,
  id: string,
  logger?: InventoryLogger,
): Promise<Verification | undefined> {
  try {
    const result = verificationSchema.safeParse(JSON.parse(await store.getText(key)));
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new Error(
        `verification record is invalid: ${issue?.path.join('.') || '(root)'} ${issue?.message}`,
      );
    }
    if (result.data.id !== id) throw new Error(`it names backup ${result.data.id}, not ${id}`);
    return result.data;
  } catch (error) {
    logger?.warn('verification skipped', { key, reason: (error as Error).message });
    return undefined;
  }
}
