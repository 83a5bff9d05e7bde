/** Human-readable numbers for logs, tables and emails. Shared; no imports. */

/** Binary units, one decimal: 1536 → "1.5 KiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** "31.0 h" below two days, "9.2 days" from there. */
export function formatHours(hoursValue: number): string {
  return hoursValue < 48 ? `${hoursValue.toFixed(1)} h` : `${(hoursValue / 24).toFixed(1)} days`;
}

/** A configured limit: "26 h", "8 days". */
export function formatLimit(hoursValue: number): string {
  return hoursValue >= 48 && hoursValue % 24 === 0 ? `${hoursValue / 24} days` : `${hoursValue} h`;
}

/** A count with thousands separators: 1234567 → "1,234,567". */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** A share as a whole percentage: 0.5 → "50%". */
export function formatPercent(share: number): string {
  return `${Math.round(share * 100)}%`;
}
