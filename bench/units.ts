/**
 * One set of units for the whole benchmark: MB = 10^6 bytes (so MB/s compares directly with
 * disk and network datasheets), MiB = 2^20 bytes only where sizes are chosen (1 MiB writes).
 */

export const MiB = 1024 * 1024;
export const MB = 1_000_000;

/** Elapsed seconds since a process.hrtime.bigint() reading. */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export function perSecond(amount: number, seconds: number): number {
  return seconds > 0 ? amount / seconds : 0;
}

/** 1234567 → '1,234,567' */
export function grouped(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fixed(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** Bytes as a short human size with binary prefixes, for labels ('100 B', '1 KiB', '1 GiB'). */
export function sizeLabel(bytes: number): string {
  if (bytes >= 1024 * MiB && bytes % (1024 * MiB) === 0) return `${bytes / (1024 * MiB)} GiB`;
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  if (bytes >= MB) return `${fixed(bytes / MB)} MB`;
  return `${bytes} B`;
}

/** The median of `values` (mean of the middle two for an even count); null for none. */
export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
