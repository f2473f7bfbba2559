import { promises as fs } from 'node:fs';

/** Whether `p` exists (any error reaching it counts as no). */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}
