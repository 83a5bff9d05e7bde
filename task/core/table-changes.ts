/**
 * How the tables of one backup differ from another's, by the row counts their manifests recorded:
 * tables added and removed, row counts changed, and which shrank most. The one place this is
 * decided: `backupctl diff` prints it, and the health policy names the tables that shrank most
 * in its drop and size findings. Pure; no imports beyond the manifest's types.
 */
import { formatCount } from './format.ts';
import type { TableRowCount } from './manifest.ts';

export interface TableRows {
  readonly schema: string;
  readonly table: string;
  readonly rows: number;
}

export interface RowCountChange {
  readonly schema: string;
  readonly table: string;
  readonly before: number;
  /** 0 for a removed table: its rows are gone from the backup. */
  readonly after: number;
  readonly change: number;
  /** The change as a percentage of `before`, one decimal; null when `before` was 0. */
  readonly percent: number | null;
}

export interface TableChanges {
  readonly added: readonly TableRows[];
  readonly removed: readonly TableRows[];
  /** Tables in both whose row count differs, the largest change (either way) first. */
  readonly changed: readonly RowCountChange[];
}

const nameOf = (t: { readonly schema: string; readonly table: string }) => `${t.schema}.${t.table}`;
const byName = (a: TableRows, b: TableRows) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0);

function changeOf(schema: string, table: string, before: number, after: number): RowCountChange {
  const change = after - before;
  const percent = before === 0 ? null : Math.round((change / before) * 1000) / 10;
  return { schema, table, before, after, change, percent };
}

/** Largest absolute change first; ties by name, so the order is the same on every run. */
function largestFirst(a: RowCountChange, b: RowCountChange): number {
  return Math.abs(b.change) - Math.abs(a.change) || byName({ ...a, rows: 0 }, { ...b, rows: 0 });
}

export function compareTables(
  before: readonly TableRowCount[],
  after: readonly TableRowCount[],
): TableChanges {
  const old = new Map(before.map((t) => [nameOf(t), t]));
  const now = new Map(after.map((t) => [nameOf(t), t]));
  const added = after.filter((t) => !old.has(nameOf(t))).map(rowsOnly);
  const removed = before.filter((t) => !now.has(nameOf(t))).map(rowsOnly);
  const changed = after
    .flatMap((t) => {
      const was = old.get(nameOf(t));
      return was && was.rows !== t.rows ? [changeOf(t.schema, t.table, was.rows, t.rows)] : [];
    })
    .sort(largestFirst);
  return { added: added.sort(byName), removed: removed.sort(byName), changed };
}

/**
 * The tables that lost rows, most rows lost first: those whose count fell, and those removed
 * (a dropped table lost every row it had). Tables that were empty and stayed so lost nothing.
 */
export function shrunkTables(changes: TableChanges): RowCountChange[] {
  return [
    ...changes.changed.filter((c) => c.change < 0),
    ...changes.removed.filter((t) => t.rows > 0).map((t) => changeOf(t.schema, t.table, t.rows, 0)),
  ].sort(largestFirst);
}

/** Whether any table lost more than `percent` of its rows (`diff --fail-on-drop`). */
export function lostMoreThan(changes: TableChanges, percent: number): RowCountChange[] {
  return shrunkTables(changes).filter((c) => c.percent !== null && -c.percent > percent);
}

/** `public.orders 3,000 → 0 rows (-100%)`, or `public.notes removed (had 10 rows)`. */
export function describeShrink(c: RowCountChange, removed: boolean): string {
  return removed
    ? `${nameOf(c)} removed (had ${formatCount(c.before)} rows)`
    : `${nameOf(c)} ${formatCount(c.before)} → ${formatCount(c.after)} rows (${c.percent ?? 0}%)`;
}

/**
 * The `limit` tables that shrank most from `before` to `after`, as one clause for a finding:
 * `tables that shrank most since daily/app/…: public.orders 3,000 → 0 rows (-100%), …`; empty
 * when none shrank.
 */
export function describeShrunkTables(changes: TableChanges, since: string, limit = 3): string {
  const shrunk = shrunkTables(changes);
  if (shrunk.length === 0) return '';
  const removed = new Set(changes.removed.map(nameOf));
  const named = shrunk.slice(0, limit).map((c) => describeShrink(c, removed.has(nameOf(c))));
  const more = shrunk.length > limit ? ` and ${shrunk.length - limit} more` : '';
  return `tables that shrank most since ${since}: ${named.join(', ')}${more}`;
}

function rowsOnly(t: TableRowCount): TableRows {
  return { schema: t.schema, table: t.table, rows: t.rows };
}
