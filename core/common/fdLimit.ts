import * as fs from 'node:fs';

/** The soft limit on open files (ulimit -n), from /proc on Linux; null elsewhere. */
export function readFdLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
