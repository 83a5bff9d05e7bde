/**
 * The catalog fingerprint: what a restore must bring back besides rows (roles the database
 * depends on, owners, privileges, row-level security, default privileges, the database's own
 * properties), as named objects with properties, and a SHA-256 over their canonical text. Taken
 * at backup time from the dump's snapshot and again from a restored database; `diffFingerprints`
 * says what differs. Pure and shared; the SQL that reads it is task/pg-fingerprint.ts.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Bumped when what the fingerprint covers changes: fingerprints of different versions do not compare. */
export const FINGERPRINT_VERSION = 1;

/** Object (e.g. `table sales."order items"`) → its properties (e.g. `owner` → `app_owner`). */
export type FingerprintObjects = Readonly<Record<string, Readonly<Record<string, string>>>>;

export const fingerprintSchema = z.object({
  version: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256'),
  objects: z.record(z.string(), z.record(z.string(), z.string())),
});

export type CatalogFingerprint = z.infer<typeof fingerprintSchema>;

/** Code-unit order: the same on every machine, whatever its locale. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** One JSON line per object, objects and properties sorted: what the digest is taken over. */
export function canonicalText(objects: FingerprintObjects): string {
  return Object.keys(objects)
    .sort(byCodeUnit)
    .map((name) => {
      const props = objects[name] ?? {};
      const sorted = Object.keys(props)
        .sort(byCodeUnit)
        .map((key) => [key, props[key]]);
      return `${JSON.stringify([name, sorted])}\n`;
    })
    .join('');
}

export function fingerprintOf(objects: FingerprintObjects): CatalogFingerprint {
  const sorted: Record<string, Record<string, string>> = {};
  for (const name of Object.keys(objects).sort(byCodeUnit)) sorted[name] = { ...objects[name] };
  const sha256 = createHash('sha256').update(canonicalText(sorted)).digest('hex');
  return { version: FINGERPRINT_VERSION, sha256, objects: sorted };
}

/**
 * What differs between the backup's fingerprint and a restored database's, one sentence per
 * object, sorted; empty when they are equal.
 */
export function diffFingerprints(backup: CatalogFingerprint, restored: CatalogFingerprint): string[] {
  if (backup.version !== restored.version) {
    return [
      `the backup's fingerprint is of version ${backup.version}, this backupctl computes version ${restored.version}; they cannot be compared`,
    ];
  }
  const differences: string[] = [];
  if (fingerprintOf(backup.objects).sha256 !== backup.sha256) {
    differences.push(
      "the backup's fingerprint digest does not match its own details (the manifest was altered)",
    );
  }
  for (const c of fingerprintChanges(backup.objects, restored.objects)) {
    if (c.change === 'removed') differences.push(`${c.object} is missing`);
    else if (c.change === 'added') differences.push(`${c.object} is not in the backup`);
    else {
      const changed = (c.properties ?? []).map(
        (p) => `${p.name} is ${p.after ?? '(none)'}, the backup has ${p.before ?? '(none)'}`,
      );
      differences.push(`${c.object}: ${changed.join('; ')}`);
    }
  }
  return differences;
}

/** One object that differs between two fingerprints' details. */
export interface FingerprintChange {
  readonly object: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** For `changed`: every property that differs; null where the property is absent. */
  readonly properties?: readonly {
    readonly name: string;
    readonly before: string | null;
    readonly after: string | null;
  }[];
}

/** The objects that differ from `before` to `after`, in code-unit order of their names. */
export function fingerprintChanges(
  before: FingerprintObjects,
  after: FingerprintObjects,
): FingerprintChange[] {
  const changes: FingerprintChange[] = [];
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  for (const object of names.sort(byCodeUnit)) {
    const was = before[object];
    const now = after[object];
    if (!now) changes.push({ object, change: 'removed' });
    else if (!was) changes.push({ object, change: 'added' });
    else {
      const properties = [...new Set([...Object.keys(was), ...Object.keys(now)])]
        .sort(byCodeUnit)
        .filter((name) => was[name] !== now[name])
        .map((name) => ({ name, before: was[name] ?? null, after: now[name] ?? null }));
      if (properties.length > 0) changes.push({ object, change: 'changed', properties });
    }
  }
  return changes;
}
