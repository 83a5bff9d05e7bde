/**
 * Reads what the health policy (core/health.ts) needs, through the catalog: per database and
 * scheduled tier, the newest backups, their verification records, the folders without a manifest
 * (failed runs), the unusable ones with their reasons, and counts and bytes from the listing.
 *
 * Cost, per run: one listing of the tier folders per tier (skipped when the databases are given),
 * one listing per database and tier (one request per 1,000 objects, about 330 backups), and one GET
 * per manifest and verification record read, at most `readNewest` of each per database and tier.
 * It grows with the number of databases and tiers, not with the number of backups kept or of
 * objects elsewhere in the bucket; pre-restore backups are never listed.
 */
import type { Catalog } from './catalog.ts';
import type { HealthInput, OrphanFolder } from './core/health.ts';
import { DEFAULT_THRESHOLDS } from './core/health.ts';
import { parseTimestamp, SCHEDULED_TIERS, type ScheduledTier } from './core/ids.ts';
import { MANIFEST_FILE } from './core/keys.ts';
import type { Manifest } from './core/manifest.ts';
import type { Verification } from './core/verification.ts';

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
}

const READ_CONCURRENCY = 8;

/**
 * Collects the health input of every database in every scheduled tier (an input with no backups
 * when a tier has none, so the policy can report it missing).
 *
 * @param databases the configured databases; @default - every database folder found in any tier
 */
export async function collectInventory(
  catalog: Catalog,
  databases?: readonly string[],
  options: InventoryOptions = {},
): Promise<HealthInput[]> {
  const readNewest = options.readNewest ?? DEFAULT_THRESHOLDS.dropHistory + 1;
  const names = databases
    ? [...databases]
    : [...new Set([...(await catalog.databases()), ...(options.include ?? [])])].sort();
  const inputs: HealthInput[] = [];
  for (const database of names) {
    for (const tier of SCHEDULED_TIERS) inputs.push(await collectTier(catalog, database, tier, readNewest));
  }
  return inputs;
}

async function collectTier(
  catalog: Catalog,
  database: string,
  tier: ScheduledTier,
  readNewest: number,
): Promise<HealthInput> {
  const folders = await catalog.folders(tier, database);
  const complete = folders.filter((f) => f.objects.has(MANIFEST_FILE));
  const orphans: OrphanFolder[] = folders
    .filter((f) => !f.objects.has(MANIFEST_FILE))
    .map((f) => ({
      id: f.name,
      startedAt: timestampTime(f.id.timestamp),
      lastModified: f.lastModified.toISOString(),
      objects: f.objects.size,
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
        const opened = await catalog.open(folder);
        const verification = opened.ok ? await catalog.verification(folder) : undefined;
        return { folder, opened, verification };
      }),
    );
    for (const { folder, opened, verification } of read) {
      if (!opened.ok) {
        // Still arriving in a replica: not restorable, and not a finding until the window is over.
        if (opened.problem !== 'replicating') unreadable.push({ id: folder.name, reason: opened.reason });
        continue;
      }
      backups.push(opened.manifest);
      if (verification) verifications[folder.name] = verification;
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
    ...(oldest ? { oldestStartedAt: timestampTime(oldest.id.timestamp) } : {}),
    storedBytes: folders.reduce((sum, f) => sum + f.bytes, 0),
  };
}

/** Folders are found only under valid timestamps. */
function timestampTime(timestamp: string): string {
  return (parseTimestamp(timestamp) as Date).toISOString();
}
