/**
 * The catalog of backups: the one reader of the bucket's contents. backupctl's list, verify,
 * restore and status, the monitor Lambda and the restore Lambda all find backups here, so "what
 * is a backup" is decided once:
 *
 * A backup is a folder `<prefix><tier>/<database>/<timestamp>/` holding a manifest that
 * - is at most MAX_MANIFEST_BYTES and parses,
 * - names exactly the backup its key names (id, database and tier),
 * - puts every artifact at the key the layout gives its kind, one artifact per kind,
 * - and whose artifacts are all present with the manifest's byte counts.
 * Anything else is either absent (no manifest: a failed or running backup) or unusable (with the
 * reason). In a replica, where S3 Replication may deliver a manifest before its artifacts, an
 * incomplete backup within the replication window is `replicating` rather than `incomplete`:
 * unusable all the same, but not (yet) damage. No AWS imports: it reads through ObjectReader.
 */
import {
  type BackupId,
  formatBackupId,
  parseBackupId,
  parseTimestamp,
  SCHEDULED_TIERS,
  TIERS,
  type Tier,
} from './core/ids.ts';
import {
  type ArtifactKind,
  artifactKey,
  databaseTierPrefix,
  MANIFEST_FILE,
  VERIFICATION_FILE,
} from './core/keys.ts';
import { type Manifest, parseManifest } from './core/manifest.ts';
import { type Verification, verificationSchema } from './core/verification.ts';
import { BackupError, CheckFailedError, ConfigError, NotFoundError } from './errors.ts';
import type { ObjectInfo, ObjectReader } from './store/store.ts';

/** A manifest is small (row counts, properties, a fingerprint); a larger one is refused unread. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const MAX_VERIFICATION_BYTES = 1024 * 1024;
const READ_CONCURRENCY = 8;

export interface CatalogLogger {
  warn(message: string, data?: Record<string, unknown>): void;
}

/** One folder of a database in a tier, as one listing saw it. */
export interface BackupFolder {
  readonly id: BackupId;
  /** `<tier>/<database>/<timestamp>` */
  readonly name: string;
  /** The folder's objects by file name (`manifest.json`, `db.dump.zst` …). */
  readonly objects: ReadonlyMap<string, ObjectInfo>;
  readonly bytes: number;
  readonly lastModified: Date;
}

export type Opened =
  | { readonly ok: true; readonly manifest: Manifest }
  | { readonly ok: false; readonly reason: string; readonly problem: UnusableProblem };

/**
 * Why a backup with a manifest cannot be used. `unreadable`: too large, not JSON, invalid;
 * `foreign`: it names another backup; `misplaced`: an artifact is not where its kind belongs;
 * `incomplete`: an artifact is missing or of another size than recorded; `replicating`: the same,
 * in a replica within the replication window after the backup finished.
 */
export type UnusableProblem = 'unreadable' | 'foreign' | 'misplaced' | 'incomplete' | 'replicating';

export interface CatalogOptions {
  /**
   * Hours after a backup finished during which missing or short artifacts read as `replicating`.
   * @default 0 - a primary bucket: the manifest is written last, so an artifact missing is damage
   */
  readonly replicationWindowHours?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** A backup whose manifest exists but must not be trusted; names the backup and the reason. */
export class UnusableBackupError extends CheckFailedError {
  constructor(
    readonly backupId: string,
    readonly problem: UnusableProblem,
    reason: string,
  ) {
    super(`Backup ${backupId} cannot be used: ${reason}; refusing to use it.`);
  }
}

/** The newest backup lacks a part the operation needs (e.g. the database for a restore). */
export class MissingPartError extends CheckFailedError {}

export interface CatalogFilter {
  readonly tier?: Tier;
  readonly database?: string;
}

export interface ResolveOptions {
  /**
   * Parts the backup must hold. `latest` is then the newest backup holding all of them, and an
   * explicit id without them is refused naming the missing part. @default - none
   */
  readonly needs?: readonly ArtifactKind[];
}

export const PART_NAMES: Record<ArtifactKind, string> = {
  postgres: 'database dump',
  globals: 'roles file (globals)',
  media: 'media archive',
};

export class Catalog {
  constructor(
    readonly store: ObjectReader,
    readonly prefix: string,
    private readonly logger?: CatalogLogger,
    private readonly options: CatalogOptions = {},
  ) {}

  /** Where the backups are, for messages: `s3://bucket/prefix/`. */
  get location(): string {
    return `${this.store.location}/${this.prefix}`;
  }

  /** Database folder names found in `tiers`, sorted. One listing per tier. */
  async databases(tiers: readonly Tier[] = SCHEDULED_TIERS): Promise<string[]> {
    const names = new Set<string>();
    for (const tier of tiers) {
      const base = `${this.prefix}${tier}/`;
      for (const folder of await this.store.listFolders(base)) names.add(folder.slice(base.length, -1));
    }
    return [...names].sort();
  }

  /** Every backup folder of `database` in `tier`, newest timestamp first. One listing. */
  async folders(tier: Tier, database: string): Promise<BackupFolder[]> {
    return this.scan(databaseTierPrefix(this.prefix, tier, database), tier, database);
  }

  /** Reads and checks a folder's manifest; never throws for what the folder holds. */
  async open(folder: BackupFolder): Promise<Opened> {
    const unusable = (problem: UnusableProblem, reason: string): Opened => {
      this.logger?.warn('backup skipped', { id: folder.name, problem, reason });
      return { ok: false, problem, reason };
    };
    const info = folder.objects.get(MANIFEST_FILE);
    if (!info) return unusable('incomplete', 'it has no manifest');
    if (info.size > MAX_MANIFEST_BYTES) {
      return unusable(
        'unreadable',
        `its manifest is ${info.size} bytes, more than the ${MAX_MANIFEST_BYTES} a manifest may have`,
      );
    }
    let manifest: Manifest;
    try {
      manifest = parseManifest(await this.store.getText(`${this.keyOf(folder)}${MANIFEST_FILE}`));
    } catch (error) {
      if (error instanceof BackupError) throw error; // the store failed: not a verdict on the backup
      return unusable('unreadable', (error as Error).message);
    }
    const problem = checkManifest(manifest, folder, this.prefix);
    if (!problem) return { ok: true, manifest };
    const window = this.options.replicationWindowHours ?? 0;
    const sinceMs = (this.options.now?.() ?? new Date()).getTime() - Date.parse(manifest.finishedAt);
    if (problem.problem === 'incomplete' && sinceMs < window * 3_600_000) {
      return unusable(
        'replicating',
        `it is still replicating (${problem.reason}, ${Math.max(0, Math.round(sinceMs / 60_000))} min after it finished, within the ${window} h replication window)`,
      );
    }
    return unusable(problem.problem, problem.reason);
  }

  /** The verification record of a folder, or undefined when there is none or it is unusable. */
  async verification(folder: BackupFolder): Promise<Verification | undefined> {
    const info = folder.objects.get(VERIFICATION_FILE);
    if (!info) return undefined;
    const key = `${this.keyOf(folder)}${VERIFICATION_FILE}`;
    try {
      if (info.size > MAX_VERIFICATION_BYTES) throw new Error(`it is ${info.size} bytes`);
      const result = verificationSchema.safeParse(JSON.parse(await this.store.getText(key)));
      if (!result.success) {
        const issue = result.error.issues[0];
        throw new Error(
          `verification record is invalid: ${issue?.path.join('.') || '(root)'} ${issue?.message}`,
        );
      }
      if (result.data.id !== folder.name)
        throw new Error(`it names backup ${result.data.id}, not ${folder.name}`);
      return result.data;
    } catch (error) {
      if (error instanceof BackupError) throw error;
      this.logger?.warn('verification skipped', { key, reason: (error as Error).message });
      return undefined;
    }
  }

  /** Usable backups matching the filter, newest (by finish time) first. */
  async list(filter: CatalogFilter = {}): Promise<Manifest[]> {
    const tiers = filter.tier ? [filter.tier] : TIERS;
    const folders: BackupFolder[] = [];
    for (const tier of tiers) {
      const databases = filter.database ? [filter.database] : await this.databases([tier]);
      for (const database of databases) folders.push(...(await this.folders(tier, database)));
    }
    return (await this.openAll(folders.filter((f) => f.objects.has(MANIFEST_FILE)))).usable;
  }

  /**
   * `latest` or an id, resolved to a usable backup of `database`. `latest` is the newest usable
   * backup of exactly that database in the scheduled tiers that holds every part in `needs`.
   */
  async resolve(ref: string, database: string | undefined, options: ResolveOptions = {}): Promise<Manifest> {
    const needs = options.needs ?? [];
    if (ref === 'latest') {
      if (!database) throw new ConfigError('"latest" needs the database: set PGDATABASE.');
      return this.latest(database, needs);
    }
    const parsed = parseBackupId(ref);
    if (!parsed.ok) throw new ConfigError(`${capitalize(parsed.reason)}.`);
    const { id } = parsed;
    if (database && id.database !== database) {
      throw new ConfigError(`Backup ${ref} belongs to database ${id.database}, not ${database}.`);
    }
    const name = formatBackupId(id);
    const folder = (await this.scan(`${this.prefix}${name}/`, id.tier, id.database)).find(
      (f) => f.name === name,
    );
    if (!folder?.objects.has(MANIFEST_FILE)) {
      throw new NotFoundError(
        `Backup ${name} does not exist or is incomplete (no manifest at ${this.location}${name}/${MANIFEST_FILE}).`,
      );
    }
    const opened = await this.open(folder);
    if (!opened.ok) throw new UnusableBackupError(name, opened.problem, opened.reason);
    const missing = needs.filter((kind) => !holds(opened.manifest, kind));
    if (missing.length > 0) {
      throw new MissingPartError(
        `Backup ${name} holds no ${missing.map((k) => PART_NAMES[k]).join(' and no ')}; choose another backup${needs.includes('postgres') && !needs.includes('media') ? '' : ' or other parts'}.`,
      );
    }
    return opened.manifest;
  }

  private async latest(database: string, needs: readonly ArtifactKind[]): Promise<Manifest> {
    // One listing per tier, all at once: each is a round trip to S3.
    const folders = (await Promise.all(SCHEDULED_TIERS.map((tier) => this.folders(tier, database)))).flat();
    const { usable, skipped } = await this.openAll(folders.filter((f) => f.objects.has(MANIFEST_FILE)));
    const newest = usable.find((m) => needs.every((kind) => holds(m, kind)));
    if (newest) return newest;
    if (usable.length === 0) {
      const why = skipped.length
        ? `; ${skipped.length} cannot be used (${skipped
            .slice(0, 3)
            .map((s) => `${s.name}: ${s.reason}`)
            .join('; ')})`
        : '';
      throw new NotFoundError(
        `No complete backup of database ${database} exists in ${this.location} (looked in ${SCHEDULED_TIERS.join(', ')})${why}.`,
      );
    }
    const wanted = needs.map((k) => PART_NAMES[k]).join(' and a ');
    throw new MissingPartError(
      `No backup of database ${database} holds a ${wanted} (the newest, ${usable[0]?.id}, holds only ${usable[0]?.artifacts.map((a) => PART_NAMES[a.kind]).join(' and ')}); take one with backupctl backup.`,
    );
  }

  /** Opens the folders, READ_CONCURRENCY at a time: usable manifests newest first, and the rest. */
  private async openAll(
    folders: readonly BackupFolder[],
  ): Promise<{ usable: Manifest[]; skipped: { name: string; reason: string }[] }> {
    const usable: Manifest[] = [];
    const skipped: { name: string; reason: string }[] = [];
    for (let i = 0; i < folders.length; i += READ_CONCURRENCY) {
      const batch = folders.slice(i, i + READ_CONCURRENCY);
      const opened = await Promise.all(batch.map((f) => this.open(f)));
      opened.forEach((o, j) => {
        if (o.ok) usable.push(o.manifest);
        else skipped.push({ name: batch[j]?.name ?? '', reason: o.reason });
      });
    }
    return { usable: newestFirst(usable), skipped };
  }

  /** Groups the objects below `base` into backup folders of `database` in `tier`. */
  private async scan(base: string, tier: Tier, database: string): Promise<BackupFolder[]> {
    const tierBase = databaseTierPrefix(this.prefix, tier, database);
    const folders = new Map<
      string,
      { objects: Map<string, ObjectInfo>; bytes: number; lastModified: number }
    >();
    for await (const object of this.store.list(base)) {
      const rest = object.key.slice(tierBase.length);
      const slash = rest.indexOf('/');
      if (!object.key.startsWith(tierBase) || slash <= 0) continue;
      const timestamp = rest.slice(0, slash);
      if (!parseTimestamp(timestamp)) continue;
      let folder = folders.get(timestamp);
      if (!folder) {
        folder = { objects: new Map(), bytes: 0, lastModified: 0 };
        folders.set(timestamp, folder);
      }
      folder.objects.set(rest.slice(slash + 1), object);
      folder.bytes += object.size;
      folder.lastModified = Math.max(folder.lastModified, object.lastModified.getTime());
    }
    return [...folders.entries()]
      .sort(([a], [b]) => b.localeCompare(a))
      .map(([timestamp, f]) => {
        const id: BackupId = { tier, database, timestamp };
        return {
          id,
          name: formatBackupId(id),
          objects: f.objects,
          bytes: f.bytes,
          lastModified: new Date(f.lastModified),
        };
      });
  }

  private keyOf(folder: BackupFolder): string {
    return `${this.prefix}${folder.name}/`;
  }
}

/** Whether the manifest belongs where it was found; the first problem, or undefined. */
function checkManifest(
  manifest: Manifest,
  folder: BackupFolder,
  prefix: string,
): { problem: UnusableProblem; reason: string } | undefined {
  const { id } = folder;
  if (manifest.id !== folder.name || manifest.database !== id.database || manifest.tier !== id.tier) {
    return {
      problem: 'foreign',
      reason: `its manifest names backup ${manifest.id} of database ${manifest.database} (tier ${manifest.tier}), not ${folder.name}`,
    };
  }
  const seen = new Set<ArtifactKind>();
  for (const artifact of manifest.artifacts) {
    if (seen.has(artifact.kind)) {
      return { problem: 'misplaced', reason: `its manifest lists two ${PART_NAMES[artifact.kind]}s` };
    }
    seen.add(artifact.kind);
    const expected = artifactKey(prefix, id, artifact.kind);
    if (artifact.key !== expected) {
      return {
        problem: 'misplaced',
        reason: `its manifest puts the ${PART_NAMES[artifact.kind]} at ${artifact.key}, not at ${expected}`,
      };
    }
    const stored = folder.objects.get(expected.slice(expected.lastIndexOf('/') + 1));
    if (!stored)
      return { problem: 'incomplete', reason: `its ${PART_NAMES[artifact.kind]} ${expected} is missing` };
    if (stored.size !== artifact.bytes) {
      return {
        problem: 'incomplete',
        reason: `its ${PART_NAMES[artifact.kind]} ${expected} is ${stored.size} bytes, the manifest recorded ${artifact.bytes}`,
      };
    }
  }
  return undefined;
}

/**
 * The parts a restore (the CLI's and the Lambda's) needs: the database dump unless --only media.
 * A format-2 dump's globals, properties and fingerprint come with it (the manifest's schema
 * requires them); a format-1 backup is restorable without them.
 */
export function restoreNeeds(only?: 'db' | 'media'): ArtifactKind[] {
  return [only === 'media' ? 'media' : 'postgres'];
}

export function holds(manifest: Manifest, kind: ArtifactKind): boolean {
  return manifest.artifacts.some((a) => a.kind === kind);
}

function newestFirst(manifests: Manifest[]): Manifest[] {
  return manifests.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt) || b.id.localeCompare(a.id));
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
