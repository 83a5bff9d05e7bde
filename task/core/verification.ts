/**
 * The verification record: what `backupctl verify` proved about one backup, written next to its
 * manifest. The monitor reads it to report the last restore drill. Shared; no AWS imports.
 */
import { z } from 'zod';
import type { TableRowCount } from './manifest.ts';

/** 'fingerprint': the restored catalog (roles, owners, privileges, policies) equals the backup's. */
export const CHECK_NAMES = [
  'checksum',
  'decode',
  'archive',
  'restore',
  'row counts',
  'fingerprint',
  'file count',
] as const;

export const checkSchema = z.object({
  artifact: z.enum(['postgres', 'media']),
  name: z.enum(CHECK_NAMES),
  ok: z.boolean(),
  ms: z.number().int().nonnegative(),
  detail: z.string().optional(),
});

export const verificationSchema = z.object({
  formatVersion: z.literal(1),
  id: z.string(),
  verifiedAt: z.iso.datetime(),
  ok: z.boolean(),
  checks: z.array(checkSchema),
  /** Seconds the test restore of the database took: the restore time to expect in an emergency. */
  restoreSeconds: z.number().nonnegative().optional(),
  tool: z.object({ name: z.literal('backupctl'), version: z.string() }),
});

export type Check = z.infer<typeof checkSchema>;
export type Verification = z.infer<typeof verificationSchema>;

/** Differences between the row counts a manifest recorded and those found, one line each. */
export function diffRowCounts(
  expected: readonly TableRowCount[],
  actual: readonly TableRowCount[],
): string[] {
  const name = (t: TableRowCount) => `${t.schema}.${t.table}`;
  const found = new Map(actual.map((t) => [name(t), t.rows]));
  const problems: string[] = [];
  for (const t of expected) {
    const rows = found.get(name(t));
    if (rows === undefined) problems.push(`${name(t)} is missing`);
    else if (rows !== t.rows) problems.push(`${name(t)} has ${rows} rows, the backup recorded ${t.rows}`);
  }
  return problems;
}
