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
  const names = [...new Set([...Object.keys(backup.objects), ...Object.keys(restored.objects)])];
  for (const name of names.sort(byCodeUnit)) {
    const want = backup.objects[name];
    const got = restored.objects[name];
    if (!got) differences.push(`${name} is missing`);
    else if (!want) differences.push(`${name} is not in the backup`);
    else {
      const keys = [...new Set([...Object.keys(want), ...Object.keys(got)])].sort(byCodeUnit);
      const changed = keys
        .filter((key) => want[key] !== got[key])
        .map((key) => `${key} is ${got[key] ?? '(none)'}, the backup has ${want[key] ?? '(none)'}`);
      if (changed.length > 0) differences.push(`${name}: ${changed.join('; ')}`);
    }
  }
  return differences;
}
